"""Train one topology and track the run in MLflow.

    python -m training.train one_to_one --config training/configs/one_to_one/cnn.toml --set epochs=3
    python -m training.train one_to_one --dry-run          # two tiny batches, in seconds
    python -m training.train one_to_one --resume <run_id>  # continue an interrupted run
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import signal
import sys
import time

import numpy as np
import torch

from models import store
from training import tracking
from training.config import load_config, override
from training.tasks import Pretraining, task_module
from training.trainer import Trainer


DRY_RUN_TAG = "rnnlab.dry_run"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def interrupt_on_sigterm() -> None:
    """`kill` ends a run like Ctrl-C does, so MLflow records it as KILLED instead of leaving it RUNNING."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def pretrain(stage: Pretraining, config, logger: tracking.MlflowRunLogger) -> None:
    """Run a task's first stage to its end (no early stop), its metrics logged as ``pretrain_*``."""
    stage_config = dataclasses.replace(config, epochs=stage.epochs, patience=stage.epochs)
    Trainer(stage_config, stage.model, stage.train_batches, lambda m: stage.evaluate(m, "val"),
            stage.selection_metric, tracking.StageLogger(logger, "pretrain_")).fit()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("topology")
    parser.add_argument("--config", help="TOML file of overrides (see training/configs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    parser.add_argument("--dry-run", action="store_true",
                        help="two tiny batches, one epoch; logs to a -dry-run experiment")
    parser.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run from its last epoch")
    parser.add_argument("--run-name", help="the MLflow run name (default: from the config)")
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    module = task_module(args.topology)
    tracking.set_tracking()
    client = store.client()
    resume_state = None
    dry_run = args.dry_run
    if args.resume:
        run = client.get_run(args.resume)
        params = {k: v for k, v in run.data.params.items() if k != "model.parameters"}
        config = override(module.Config(), params)
        dry_run = run.data.tags.get(DRY_RUN_TAG) == "true"
        resume_state = tracking.load_resume_state(args.resume)
        run_id = args.resume
        client.update_run(run_id, status="RUNNING")
    else:
        config = load_config(module.Config, args.config, args.set)
        if dry_run:
            config = dataclasses.replace(config, epochs=1, max_batches=2, batch_size=min(config.batch_size, 16))
        experiment_id = tracking.ensure_experiment(args.topology, "-dry-run" if dry_run else "")
        run_name = args.run_name or getattr(config.model, "arch", None) or args.topology
        run_id = client.create_run(experiment_id, run_name=run_name).info.run_id
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    task = module.prepare(config, dry_run=dry_run)
    if not args.resume:
        for key, value in {**tracking.flatten(config), **{"model.parameters": sum(
                p.numel() for p in task.model.parameters())}}.items():
            client.log_param(run_id, key, value)
        tags = {**tracking.machine_tags(), **task.info, "rnnlab.topology": args.topology, store.KIND_TAG: "trained",
                DRY_RUN_TAG: str(dry_run).lower(),
                store.SELECTION_TAG: f"best_val_{task.selection_metric}"}
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        client.log_text(run_id, task.dataset_card, "dataset_card.md")

    logger = tracking.MlflowRunLogger(run_id, args.topology, task.model_config or config.model, task.extra_files)
    interrupt_on_sigterm()
    started = time.perf_counter()
    try:
        if task.pretraining and resume_state is None:  # a resumed run's weights already hold what it learnt
            pretrain(task.pretraining, config, logger)
        trainer = Trainer(config, task.model, task.train_batches, lambda m: task.evaluate(m, "val"),
                          task.selection_metric, logger, resume_state)
        best = trainer.fit()
        test_metrics = {f"{split}_{k}": v for split in task.test_splits
                        for k, v in task.evaluate(task.model, split).items()}
        test_metrics[f"best_val_{task.selection_metric}"] = best
        logger.log_metrics(test_metrics, step=trainer.epoch)
        for name, artefact in task.report(task.model).items():
            if isinstance(artefact, dict):
                client.log_dict(run_id, artefact, f"report/{name}.json")
            else:
                client.log_figure(run_id, artefact, f"report/{name}.html")
    except KeyboardInterrupt:
        client.set_terminated(run_id, "KILLED")
        print(f"\ninterrupted; continue with: python -m training.train {args.topology} --resume {run_id}",
              file=sys.stderr)
        raise SystemExit(130)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    crowned = False if dry_run else tracking.register_and_crown(args.topology, run_id)
    summary = {"run_id": run_id, "seconds": round(time.perf_counter() - started, 1),
               **{k: round(v, 4) for k, v in test_metrics.items()}, "champion": crowned}
    print(json.dumps(summary))
    return run_id


if __name__ == "__main__":
    main()
