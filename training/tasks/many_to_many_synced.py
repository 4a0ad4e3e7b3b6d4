"""Many to many, synced: label the camera motion of every frame of generated clips over real photos."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from models import many_to_many_synced
from models.many_to_many_synced import CAMERA_MOTIONS
from training.batching import TensorBatches
from training.data.camera_motion import GeneratorConfig, clip_set, generator_card
from training.evaluation import predict_labels
from training.metrics import classification_scores, confusion_report, segmentation_scores
from training.tasks import Task
from training.trainer import TrainConfig

# A mirror image turns a pan left into a pan right (and a tilt up into a tilt down) and changes nothing else,
# which doubles the variety of the training clips for free.
MIRRORED = {"pan left": "pan right", "pan right": "pan left"}
FLIPPED = {"tilt up": "tilt down", "tilt down": "tilt up"}


def label_permutation(swaps: dict[str, str]) -> torch.Tensor:
    return torch.tensor([CAMERA_MOTIONS.index(swaps.get(name, name)) for name in CAMERA_MOTIONS])


@dataclass(frozen=True)
class Config(TrainConfig):
    model: many_to_many_synced.Config = field(default_factory=many_to_many_synced.Config)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    epochs: int = 12
    batch_size: int = 16  # clips; × clip_frames frames per batch
    lr: float = 3e-3
    patience: int = 4
    train_clips: int = 1200
    clip_frames: int = 64
    val_clips: int = 150
    test_clips: int = 200
    eval_clip_frames: int = 128  # validation and test clips are longer: more boundaries per clip, as in real footage
    augment: bool = True


def mirror_and_flip(batch: dict) -> dict:
    frames, labels = batch["frames"], batch["labels"]
    mirror = torch.rand(len(frames)) < 0.5
    flip = torch.rand(len(frames)) < 0.5
    frames = torch.where(mirror[:, None, None, None], frames.flip(-1), frames)
    labels = torch.where(mirror[:, None], label_permutation(MIRRORED)[labels], labels)
    frames = torch.where(flip[:, None, None, None], frames.flip(-2), frames)
    labels = torch.where(flip[:, None], label_permutation(FLIPPED)[labels], labels)
    return {"frames": frames, "labels": labels}


def prepare(config: Config, dry_run: bool = False) -> Task:
    if config.model.frame_size != config.generator.frame_size:
        raise SystemExit("model.frame_size and generator.frame_size must agree")
    sizes = {
        "train": (config.train_clips, config.clip_frames),
        "val": (config.val_clips, config.eval_clip_frames),
        "test": (config.test_clips, config.eval_clip_frames),
    }
    if dry_run:  # a handful of short clips, generated in a second and not cached
        sizes = {split: (4, 24) for split in sizes}
    clips = {
        split: clip_set(split, n, frames, config.generator, use_cache=not dry_run)
        for split, (n, frames) in sizes.items()
    }
    tensors = {split: (torch.from_numpy(c.frames), torch.from_numpy(c.labels)) for split, c in clips.items()}
    model = many_to_many_synced.build_model(config.model)

    def predictions(model: torch.nn.Module, split: str) -> tuple[np.ndarray, float]:
        frames, labels = tensors[split]
        return predict_labels(model, TensorBatches({"frames": frames, "labels": labels}, 32))

    def evaluate(model: torch.nn.Module, split: str) -> dict[str, float]:
        predicted, loss = predictions(model, split)
        truth = tensors[split][1].numpy()
        return {
            "loss": loss,
            **classification_scores(truth.ravel(), predicted.ravel(), config.model.n_classes),
            **segmentation_scores(list(truth), list(predicted)),
        }

    def report(model: torch.nn.Module) -> dict[str, object]:
        predicted, _ = predictions(model, "test")
        truth = tensors["test"][1].numpy()
        report = confusion_report(
            truth.ravel(), predicted.ravel(), config.model.labels, "Confusion matrix (test frames)"
        )
        matrix = np.array(report["confusion_matrix_data"]["matrix"])
        hits, claimed = np.diag(matrix), matrix.sum(0) + matrix.sum(1)  # F1 = 2 TP / (predicted + true)
        per_label = {name: float(2 * hits[i] / max(claimed[i], 1)) for i, name in enumerate(config.model.labels)}
        return {**report, "per_label_f1": per_label}

    frames, labels = tensors["train"]
    counts = np.bincount(clips["test"].labels.ravel(), minlength=config.model.n_classes)
    return Task(
        model=model,
        train_batches=TensorBatches(
            {"frames": frames, "labels": labels},
            config.batch_size,
            shuffle=True,
            transform=mirror_and_flip if config.augment else None,
        ),
        evaluate=evaluate,
        selection_metric="macro_f1",
        dataset_card=generator_card(config.generator, {s: f"{n} clips × {t} frames" for s, (n, t) in sizes.items()}),
        report=report,
        info={f"data.{split}_clips": str(n) for split, (n, _) in sizes.items()}
        | {"data.test_frames_per_label": ", ".join(f"{name} {count}" for name, count in zip(CAMERA_MOTIONS, counts))},
    )
