"""One trainer for every topology (in the spirit of minGPT's): it knows models that return ``(logits, loss)``,
batches that are dicts of tensors, and a validation function; nothing about images, text or video."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable, Protocol

import torch
from tqdm import tqdm

from training.distributed import SINGLE, World, resolve_device


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters every task shares; a task's config subclasses it and adds its own."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    schedule: str = "cosine"  # "cosine" (after linear warm-up) | "constant"
    # Recurrent nets multiply by the same weights at every step, so one unlucky batch can produce a huge gradient
    # that undoes many good steps; clipping the global norm bounds each update.
    grad_clip: float = 1.0
    patience: int = 3  # epochs without a better validation score before stopping early
    seed: int = 0
    threads: int = 2
    max_batches: int = 0  # batches per epoch; 0 means all (--dry-run sets 2)
    device: str = "auto"  # "auto" (a GPU when torch sees one, else the CPU) | "cpu" | "cuda"


class StopRun(Exception):
    """What an ``on_epoch`` callback raises to end training on purpose (a sweep pruning a hopeless trial); the
    message says why. The trainer lets it through after the epoch is logged; its caller decides how the run ends."""


EpochCallback = Callable[[int, dict[str, float]], None]  # (epoch, that epoch's metrics incl. val_*) -> None


class RunLogger(Protocol):
    """Where the trainer reports; training.tracking implements it with MLflow."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def save_state(self, state: dict) -> None: ...

    def save_best(self, model: torch.nn.Module) -> None: ...


class Unlogged:
    """A RunLogger that keeps nothing, for a model trained only to be scored or used, never shipped: a
    leave-one-domain-out fold, a teacher whose verdicts become another model's training targets."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def save_state(self, state: dict) -> None:
        pass

    def save_best(self, model: torch.nn.Module) -> None:
        pass


def lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Linear warm-up then cosine decay to zero, as a multiplier of the base learning rate per optimiser step."""
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    total = max(warmup + 1, config.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / (total - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        model: torch.nn.Module,
        train_batches: Iterable[dict],
        evaluate: Callable[[torch.nn.Module], dict[str, float]],
        selection_metric: str,
        logger: RunLogger,
        resume_state: dict | None = None,
        bookkeeping: Callable[[], ContextManager] = contextlib.nullcontext,
        on_epoch: EpochCallback | None = None,
        world: World = SINGLE,
    ):
        # ``bookkeeping()`` wraps each epoch's metrics, best checkpoint and resume state, so that the caller can
        # hold an interruption until all three are written and a resume never finds half an epoch.
        self.bookkeeping = bookkeeping
        self.on_epoch = on_epoch  # called after each epoch is logged and saved; may raise StopRun
        self.config, self.model, self.train_batches = config, model, train_batches
        self.evaluate, self.selection_metric, self.logger = evaluate, selection_metric, logger
        # Data parallel: every rank walks the same shuffled batches (seeded per epoch) and trains on every
        # world.size-th, so each step's gradients, averaged by DDP, are those of world.size batches.
        self.world = world
        self.device = resolve_device(config.device, world.local_rank)
        self.steps_per_epoch = len(train_batches)
        if config.max_batches:
            self.steps_per_epoch = min(self.steps_per_epoch, config.max_batches)
        if self.steps_per_epoch < world.size:
            raise ValueError(f"{self.steps_per_epoch} batches per epoch cannot feed {world.size} processes")
        self.steps_per_epoch //= world.size
        model.to(self.device)
        self.network = model  # what the training steps call: the model itself, or its DDP wrapper
        if world.distributed:
            world.start(self.device)
            self.network = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        # Mixed precision on a GPU: bfloat16 where it is native, else float16 with a scaled loss.
        cuda = self.device.type == "cuda"
        self.autocast_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and self.autocast_dtype == torch.float16)
        # No weight decay on biases and norm gains: decaying them only fights the normalisation.
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(config, self.steps_per_epoch))
        self.epoch = 0
        self.best_score = -math.inf
        self.best_state = copy.deepcopy(model.state_dict())
        self.epochs_since_best = 0
        if resume_state:
            self.load_state(resume_state)

    def state(self) -> dict:
        """Everything needed to continue after an interruption; plain tensors and numbers (weights_only-safe), on
        the CPU, so that a run trained on a GPU resumes anywhere."""
        return on_cpu(
            {
                "epoch": self.epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "best_score": self.best_score,
                "best_model": self.best_state,
                "epochs_since_best": self.epochs_since_best,
            }
        )

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best_score = state["epoch"], state["best_score"]
        self.best_state, self.epochs_since_best = state["best_model"], state["epochs_since_best"]

    def fit(self) -> float:
        """Train until the epochs run out or validation stops improving; leaves the best weights in the model, on
        the CPU."""
        config = self.config
        remaining = (config.epochs - self.epoch) * self.steps_per_epoch
        with tqdm(total=remaining, unit="batch", dynamic_ncols=True, desc="training") as progress:
            while self.epoch < config.epochs and self.epochs_since_best < config.patience:
                self.epoch += 1
                metrics = self._train_epoch(progress)
                # Rank 0 alone validates; every rank takes its scores, so all stop early at the same epoch.
                scores = self.evaluate(self._model_on_cpu()) if self.world.is_main else None
                metrics.update({f"val_{k}": v for k, v in self.world.from_main(scores).items()})
                score = metrics[f"val_{self.selection_metric}"]
                improved = score > self.best_score
                if improved:
                    self.best_score, self.epochs_since_best = score, 0
                    self.best_state = copy.deepcopy(self.model.state_dict())
                else:
                    self.epochs_since_best += 1
                with self.bookkeeping():
                    if self.world.is_main:  # the other ranks hold the same weights; one reports them
                        self.logger.log_metrics(metrics, step=self.epoch)  # first: a failed save loses no metrics
                        if improved:
                            self.logger.save_best(self._model_on_cpu())
                        self.logger.save_state(self.state())
                progress.set_postfix(
                    epoch=self.epoch, loss=f"{metrics['train_loss']:.4f}", **{self.selection_metric: f"{score:.4f}"}
                )
                if self.on_epoch:
                    self.on_epoch(self.epoch, metrics)
        self.model.load_state_dict(self.best_state)
        self.model.cpu()  # where the tasks test and report it
        return self.best_score

    def _model_on_cpu(self) -> torch.nn.Module:
        """The model as the tasks' evaluation and the checkpoint expect it: on the CPU (a copy when it trains on
        a GPU)."""
        return self.model if self.device.type == "cpu" else copy.deepcopy(self.model).cpu()

    def _train_epoch(self, progress: tqdm) -> dict[str, float]:
        # Seeding per epoch makes the shuffle of epoch k the same whether or not the run was resumed before it.
        torch.manual_seed(self.config.seed * 1000 + self.epoch)
        self.model.train()
        started, total_loss, samples = time.perf_counter(), 0.0, 0
        for step, batch in enumerate(self.train_batches):
            if step >= self.steps_per_epoch * self.world.size:
                break
            if step % self.world.size != self.world.rank:
                continue
            batch = self._on_device(batch)
            with torch.autocast(self.device.type, self.autocast_dtype, enabled=self.device.type == "cuda"):
                _, loss = self.network(**batch)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            batch_size = len(next(iter(batch.values())))
            total_loss += loss.item() * batch_size
            samples += batch_size
            progress.update(1)
            progress.set_postfix(epoch=self.epoch, loss=f"{loss.item():.4f}", refresh=False)
        seconds = time.perf_counter() - started
        total_loss, samples = self.world.total([total_loss, samples], self.device)
        return {
            "train_loss": total_loss / max(samples, 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "epoch_seconds": seconds,
            "samples_per_sec": samples / max(seconds, 1e-9),
        }

    def _on_device(self, batch: dict) -> dict:
        """A batch's tensors on the training device; through pinned memory to a GPU, so the copy runs alongside."""
        if self.device.type == "cpu":
            return batch
        return {
            key: value.pin_memory().to(self.device, non_blocking=True) if torch.is_tensor(value) else value
            for key, value in batch.items()
        }


def on_cpu(value):
    """Tensors anywhere inside nested dicts and lists, moved to the CPU."""
    if torch.is_tensor(value):
        return value.cpu()
    if isinstance(value, dict):
        return {key: on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(item) for item in value)
    return value
