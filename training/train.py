"""Train one topology and track the run in MLflow.

    python -m training.train one_to_one --config training/configs/one_to_one/cnn.toml --set epochs=3
    python -m training.train one_to_one --dry-run          # two tiny batches, in seconds
    python -m training.train one_to_one --resume <run_id>  # continue an interrupted run (or start it over)
    python -m training.train one_to_one --promote <run_id> # crown a run by hand

A run becomes champion automatically only when it is the best on validation among comparable runs (same data set,
same selection metric), and never when it is a dry run or its validation set is tiny (store.MIN_VAL_EXAMPLES).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import random
import signal
import sys
import time

import numpy as np
import torch

from models import store
from training import tracking
from training.config import flatten, load_config, override
from training.distributed import SINGLE, World
from training.tasks import Pretraining, task_module
from training.trainer import EpochCallback, StopRun, Trainer

PARAMETERS_PARAM = "model.parameters"  # logged once the model is built; a run without it has nothing to resume


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Interrupts:
    """While entered, SIGTERM (`kill`) ends a run as Ctrl-C does, so MLflow records it as KILLED instead of leaving
    it RUNNING; either signal arriving inside ``held()`` waits until the block ends, so an epoch's metrics, best
    checkpoint and resume state are written whole or not at all."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.holding, self.pending = False, None

    def __enter__(self) -> "Interrupts":
        self.previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def _handle(self, signum, frame):
        if self.holding:
            self.pending = signum
            return
        raise KeyboardInterrupt(f"signal {signum}")

    @contextlib.contextmanager
    def held(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise KeyboardInterrupt(f"signal {signum}")


def pretrain(
    stage: Pretraining, config, logger: tracking.MlflowRunLogger | None, interrupts: Interrupts, world: World = SINGLE
) -> None:
    """Run a task's first stage to its end (no early stop), its metrics logged as ``pretrain_*`` (by rank 0: the
    other ranks of a torchrun run have no logger)."""
    stage_config = dataclasses.replace(config, epochs=stage.epochs, patience=stage.epochs)
    Trainer(
        stage_config,
        stage.model,
        stage.train_batches,
        lambda m: stage.evaluate(m, "val"),
        stage.selection_metric,
        tracking.StageLogger(logger, "pretrain_"),
        bookkeeping=interrupts.held,
        world=world,
    ).fit()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("topology")
    parser.add_argument("--config", help="TOML file of overrides (see training/configs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    parser.add_argument(
        "--dry-run", action="store_true", help="two tiny batches, one epoch; logs to a -dry-run experiment"
    )
    parser.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run from its last epoch")
    parser.add_argument("--run-name", help="the MLflow run name (default: from the config)")
    parser.add_argument(
        "--promote",
        metavar="RUN_ID",
        help="make a finished run its data set's champion by hand; the automatic rule then keeps it",
    )
    return parser.parse_args(argv)


def interrupted_run(client, module, run_id: str):
    """The config, dry-run flag and last resume state (None: none saved yet, so the run starts over from epoch 0
    under the same id) of a run to resume; exits in one line when there is nothing to resume."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SystemExit(f"error: no run {run_id} in {store.tracking_uri()}") from None
    command = f"python -m training.train {run.data.tags.get('rnnlab.topology', '<topology>')} …"
    if run.info.status == "FINISHED":
        raise SystemExit(f"error: run {run_id} has finished; nothing to resume (start a new one: {command})")
    identity = run.data.tags.get(store.PROCESS_TAG)
    if run.info.status == "RUNNING" and identity and store.process_alive(identity):
        raise SystemExit(f"error: run {run_id} is still being trained by process {identity}; stop it first")
    if PARAMETERS_PARAM not in run.data.params:
        raise SystemExit(
            f"error: run {run_id} stopped before it logged its settings; nothing to resume (start a new one: {command})"
        )
    params = {k: v for k, v in run.data.params.items() if k != PARAMETERS_PARAM}
    return (
        override(module.Config(), params),
        run.data.tags.get(store.DRY_RUN_TAG) == "true",
        tracking.load_resume_state(run_id),
    )


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def log_settings(client, run_id: str, topology: str, config, task, dry_run: bool) -> None:
    """The params the run uses (not another data set's settings), and the tags that say what it is."""
    params = {key: value for key, value in flatten(config).items() if key not in task.unused_settings}
    for key, value in {**params, PARAMETERS_PARAM: parameter_count(task.model)}.items():
        client.log_param(run_id, key, value)
    tags = {
        **tracking.machine_tags(),
        **task.info,
        store.TOPOLOGY_TAG: topology,
        store.KIND_TAG: "trained",
        store.DRY_RUN_TAG: str(dry_run).lower(),
        store.SELECTION_TAG: f"best_val_{task.selection_metric}",
    }
    if task.dataset:
        tags[store.DATASET_TAG] = task.dataset
    if "data.val_size" in task.info:  # kept in bundles, unlike data.* tags, so that imports apply the same rule
        tags[store.VAL_EXAMPLES_TAG] = task.info["data.val_size"]
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    client.log_text(run_id, task.dataset_card, "dataset_card.md")


def main(argv=None) -> str:
    args = parse_args(argv)
    module = task_module(args.topology)
    world = World.from_environment()  # torchrun's; a world of one otherwise
    if world.distributed and (args.resume or args.promote):
        raise SystemExit("error: --resume and --promote run in one process, not under torchrun")
    if not world.is_main:
        return train_replica(module, args, world)
    tracking.set_tracking()
    client = store.client()
    if args.promote:
        print(f"run {args.promote} is now {tracking.promote(args.topology, args.promote)} of {args.topology}")
        return args.promote
    store.end_dead_runs(args.topology)
    resume_state = None
    dry_run = args.dry_run
    if args.resume:
        config, dry_run, resume_state = interrupted_run(client, module, args.resume)
    else:
        config = load_config(module.Config, args.config, args.set)
        if dry_run:
            config = dry_run_config(config)
    task = prepare_task(module, config, dry_run)
    if args.resume:
        run_id = args.resume
        logged = client.get_run(run_id).data.params[PARAMETERS_PARAM]
        if logged != str(parameter_count(task.model)):
            raise SystemExit(
                f"error: run {run_id} logged a model of {logged} parameters, but its settings now "
                f"build one of {parameter_count(task.model)} (the code changed?); start a new run"
            )
        if resume_state is None:
            print(f"run {run_id} saved no epoch yet: starting it over from epoch 0", file=sys.stderr)
        client.update_run(run_id, status="RUNNING")
    else:
        run_name = args.run_name or getattr(config.model, "arch", None) or args.topology
        run_id = create_run(args.topology, config, task, dry_run, run_name)
    started = time.perf_counter()
    try:
        test_metrics = fit_and_test(args.topology, run_id, config, task, resume_state, world=world)
    finally:
        world.stop()
    crowned, why = tracking.register_and_crown(args.topology, run_id)
    summary = {
        "run_id": run_id,
        "seconds": round(time.perf_counter() - started, 1),
        **{k: round(v, 4) for k, v in test_metrics.items()},
        "champion": crowned,
        "champion_rule": why,
        "memory": measure_memory(args.topology, run_id, dry_run),
    }
    print(json.dumps(summary))
    return run_id


def measure_memory(topology: str, run_id: str, dry_run: bool) -> list[str]:
    """The finished run's memory span and unit index (training.memory_span), logged as its memory/ artifacts so
    the page's Memory tab and span comparison show it; returns the files logged. A failure here is reported and
    the run kept as it is: its weights and scores are saved already."""
    from training import memory_span  # imported here: it pulls in every topology's tracer

    try:
        return memory_span.log_to_run(topology, run_id, dry_run)
    except Exception as error:  # any failure of this extra measurement must not fail the run
        print(f"warning: the memory span of run {run_id} was not measured: {error!r}", file=sys.stderr)
        return []


def train_replica(module, args, world: World) -> str:
    """A rank other than 0 of a torchrun run: the same task and steps as rank 0, which alone validates, tracks and
    saves; returns no run id."""
    config = load_config(module.Config, args.config, args.set)
    if args.dry_run:
        config = dry_run_config(config)
    task = prepare_task(module, config, args.dry_run)
    with Interrupts() as interrupts:
        try:
            if task.pretraining:
                pretrain(task.pretraining, config, None, interrupts, world)
            Trainer(
                config,
                task.model,
                task.train_batches,
                lambda m: task.evaluate(m, "val"),
                task.selection_metric,
                None,
                bookkeeping=interrupts.held,
                world=world,
            ).fit()
        finally:
            world.stop()
    return ""


def dry_run_config(config):
    """The config of a dry run: two tiny batches, one epoch."""
    return dataclasses.replace(config, epochs=1, max_batches=2, batch_size=min(config.batch_size, 16))


def prepare_task(module, config, dry_run: bool):
    """The task a run trains, built under the config's threads and seed."""
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    return module.prepare(config, dry_run=dry_run)


def create_run(
    topology: str,
    config,
    task,
    dry_run: bool,
    run_name: str,
    experiment_suffix: str = "",
    tags: dict[str, str] | None = None,
) -> str:
    """A new run in the topology's experiment (``experiment_suffix``: a sibling one, such as a sweep's), its
    settings logged; returns its id."""
    suffix = experiment_suffix + (store.DRY_RUN_SUFFIX if dry_run else "")
    experiment_id = tracking.ensure_experiment(topology, suffix)
    run_id = store.client().create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
    log_settings(store.client(), run_id, topology, config, task, dry_run)
    return run_id


def fit_and_test(
    topology: str,
    run_id: str,
    config,
    task,
    resume_state: dict | None = None,
    on_epoch: EpochCallback | None = None,
    world: World = SINGLE,
) -> dict[str, float]:
    """Train the run to its end and log its test metrics and reports; returns the test metrics and the best
    validation score. Ends the run FINISHED, KILLED (Ctrl-C or kill: exits 130; or StopRun from ``on_epoch``,
    re-raised) or FAILED."""
    client = store.client()
    client.set_tag(run_id, store.PROCESS_TAG, store.process_identity())
    logger = tracking.MlflowRunLogger(
        run_id,
        topology,
        task.model_config or config.model,
        task.extra_files,
        saved_epoch=resume_state["epoch"] if resume_state else 0,
    )
    continue_with = f"python -m training.train {topology} --resume {run_id}"
    with Interrupts() as interrupts:
        try:
            if task.pretraining and resume_state is None:  # a resumed run's weights already hold what it learnt
                pretrain(task.pretraining, config, logger, interrupts, world)
            trainer = Trainer(
                config,
                task.model,
                task.train_batches,
                lambda m: task.evaluate(m, "val"),
                task.selection_metric,
                logger,
                resume_state,
                bookkeeping=interrupts.held,
                on_epoch=on_epoch,
                world=world,
            )
            best = trainer.fit()
            test_metrics = {
                f"{split}_{k}": v for split in task.test_splits for k, v in task.evaluate(task.model, split).items()
            }
            test_metrics[f"best_val_{task.selection_metric}"] = best
            with interrupts.held():
                logger.log_metrics(test_metrics, step=trainer.epoch)
                for name, artefact in task.report(task.model).items():
                    if isinstance(artefact, dict):
                        client.log_dict(run_id, artefact, f"report/{name}.json")
                    else:
                        client.log_figure(run_id, artefact, f"report/{name}.html")
        except StopRun as stop:
            client.set_tag(run_id, store.ENDED_TAG, str(stop))
            client.set_terminated(run_id, "KILLED")
            raise
        except KeyboardInterrupt:
            client.set_terminated(run_id, "KILLED")
            print(f"\ninterrupted; {resume_hint(logger.saved_epoch, continue_with)}", file=sys.stderr)
            raise SystemExit(130) from None
        except OSError as error:
            client.set_terminated(run_id, "FAILED")
            if error.errno != errno.ENOSPC:
                raise
            raise SystemExit(
                f"error: the disk is full ({error}); run {run_id} stopped. Free some space, then "
                f"{resume_hint(logger.saved_epoch, continue_with)}"
            ) from None
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
    client.set_terminated(run_id, "FINISHED")
    return test_metrics


def resume_hint(saved_epoch: int, continue_with: str) -> str:
    if saved_epoch:
        return f"continue after epoch {saved_epoch} with: {continue_with}"
    return f"no epoch was saved yet; start the same run over with: {continue_with}"


if __name__ == "__main__":
    main()
