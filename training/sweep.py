"""Search a topology's hyper-parameters with Optuna; every trial is a tracked run nested under one sweep run.

    python -m training.sweep many_to_one --space training/sweeps/many_to_one.toml --trials 30
    python -m training.sweep many_to_one --space training/sweeps/many_to_one.toml --trials 3 --dry-run
    python -m training.sweep many_to_one --space … --trials 40 --study <name>   # continue a study up to 40 trials
    python -m training.sweep many_to_one --space … --trials 30 --storage postgresql://host/optuna   # shared study

Optuna's TPE sampler (seeded) proposes each trial's settings; the median rule prunes a trial whose validation
score, from its second epoch on, is below the median of earlier trials at the same epoch. The study lives in an
Optuna storage (default: ``optuna.db`` beside a sqlite tracking store, else in the cache folder; any SQLAlchemy
URL), so a second command with the same ``--study`` continues it; ``--trials`` counts its complete and pruned
trials. The sweep run holds the search space; each trial run holds its settings and per-epoch metrics, so the
dashboard reads a sweep from MLflow alone (models.sweep_store).

Trials are never crowned champion automatically: they train on a short budget, and the best of many validation
scores is biased upward by the choice itself. Promote one by hand (``python -m training.train <topology> --promote
<trial run id>``), or train its settings as a full run (the trial's ``--set`` arguments).

The space file (TOML) names, per parameter, a type and a range or choices; an optional ``config`` (a training TOML,
relative to the repository) and ``[fixed]`` table set what every trial shares:

    config = "training/configs/many_to_one/gru.toml"
    [fixed]
    epochs = 4
    [parameters.lr]
    type = "float"        # int | float | categorical
    low = 1e-3
    high = 1e-2
    log = true            # sampled on a log scale (int and float)
    [parameters."model.cell"]
    type = "categorical"
    choices = ["rnn", "gru", "lstm"]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path

import optuna
from mlflow.exceptions import MlflowException

from models import store
from models.sweep_store import (
    CONFIG_TAG,
    OBJECTIVE_TAG,
    PARENT_TAG,
    SPACE_TAG,
    STATE_TAG,
    STUDY_TAG,
    SWEEP_KIND,
    SWEEP_SUFFIX,
    TRIAL_TAG,
    Parameter,
    parameter_importance,
    read_sweep,
    space_json,
)
from training import tracking, train
from training.config import flatten, override, parse_assignments
from training.tasks import task_module
from training.trainer import StopRun

PARENT_RUN_ATTR = "mlflow_parent_run_id"  # the study's user attribute naming its sweep run, so a continuation reuses it
PRUNE_FROM_EPOCH = 2  # the first epoch's score mostly measures the learning-rate warm-up, not the settings
PRUNE_AFTER_TRIALS = 5  # complete trials before the median means anything
KINDS = ("int", "float", "categorical")


class SweepStopped(Exception):
    """A trial's run ended the whole sweep (Ctrl-C, kill, a full disk): Optuna records an Exception as a failed
    trial, where a SystemExit would leave it RUNNING in the study for ever. Carries the exit code or message."""


@dataclass(frozen=True)
class Space:
    parameters: list[Parameter]
    config: str | None  # the training TOML every trial starts from, relative to the repository
    fixed: dict[str, object]  # settings every trial shares, after config
    text: str  # the file as written, kept with the sweep run


def setting_types(config, prefix: str = "") -> dict[str, type]:
    """Every setting of a config dataclass by dotted name (``model.hidden``), with its type."""
    hints = typing.get_type_hints(type(config))
    types = {}
    for name, kind in hints.items():
        value = getattr(config, name)
        if hasattr(value, "__dataclass_fields__"):
            types.update(setting_types(value, f"{prefix}{name}."))
        else:
            types[f"{prefix}{name}"] = kind
    return types


def parse_parameter(name: str, spec: dict, kind_of_setting: type) -> Parameter:
    """One ``[parameters.<name>]`` table, checked against the setting it searches."""
    kind = spec.get("type")
    if kind not in KINDS:
        raise SystemExit(f"error: parameter {name}: type must be one of {', '.join(KINDS)}, not {kind!r}")
    unknown = set(spec) - ({"type", "choices"} if kind == "categorical" else {"type", "low", "high", "log"})
    if unknown:
        raise SystemExit(f"error: parameter {name} ({kind}): unexpected {', '.join(sorted(unknown))}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SystemExit(f"error: parameter {name}: a categorical parameter needs a non-empty list of choices")
        return Parameter(name, kind, choices=tuple(choices))
    if kind_of_setting is not (int if kind == "int" else float):
        setting = getattr(kind_of_setting, "__name__", kind_of_setting)
        raise SystemExit(
            f"error: parameter {name}: the setting is a {setting}, so it cannot be searched as {kind} "
            "(use categorical choices)"
        )
    low, high, log = spec.get("low"), spec.get("high"), bool(spec.get("log", False))
    if (
        not all(isinstance(bound, (int, float)) and not isinstance(bound, bool) for bound in (low, high))
        or not low < high
    ):
        raise SystemExit(f"error: parameter {name}: needs numbers low < high, got low={low!r}, high={high!r}")
    if log and low <= 0:
        raise SystemExit(f"error: parameter {name}: a log scale needs low > 0, got {low}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise SystemExit(f"error: parameter {name}: an int parameter needs whole bounds, got {low} and {high}")
    return Parameter(name, kind, low=low, high=high, log=log)


def load_space(path: Path, config_class) -> Space:
    """The space file, checked against the topology's settings: an unknown name is refused with the known ones."""
    try:
        text = Path(path).read_text()
        document = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SystemExit(f"error: cannot read the space file {path}: {error}") from None
    unexpected = set(document) - {"config", "fixed", "parameters"}
    if unexpected:
        raise SystemExit(
            f"error: {path}: unexpected {', '.join(sorted(unexpected))}; "
            "a space file holds config, [fixed] and [parameters.<name>]"
        )
    types = setting_types(config_class())
    parameters_table = document.get("parameters", {})
    fixed = document.get("fixed", {})
    unknown = sorted(set(parameters_table) - set(types)) + sorted(flat_keys(fixed) - set(types))
    if unknown:
        raise SystemExit(
            f"error: {path}: unknown parameter {', '.join(unknown)}; the settings of "
            f"{config_class.__module__.rsplit('.', 1)[-1]} are: {', '.join(sorted(types))}"
        )
    if not parameters_table:
        raise SystemExit(f"error: {path}: no [parameters.<name>] table; nothing to search")
    parameters = [parse_parameter(name, spec, types[name]) for name, spec in parameters_table.items()]
    return Space(parameters, document.get("config"), fixed, text)


def flat_keys(table: dict, prefix: str = "") -> set[str]:
    """The dotted names a nested TOML table sets (``[fixed.model] hidden = 32`` sets ``model.hidden``)."""
    keys = set()
    for key, value in table.items():
        keys |= flat_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
    return keys


def default_storage() -> str:
    """Beside a sqlite tracking store (so one folder holds both), else in the cache folder."""
    database = store.sqlite_path()
    folder = database.parent if database else store.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def shown(storage: str) -> str:
    """The storage URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(storage).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: nothing it could hide either
        return storage


def suggest(trial, parameter: Parameter):
    if parameter.kind == "categorical":
        return trial.suggest_categorical(parameter.name, parameter.choices)
    if parameter.kind == "int":
        return trial.suggest_int(parameter.name, int(parameter.low), int(parameter.high), log=parameter.log)
    return trial.suggest_float(parameter.name, parameter.low, parameter.high, log=parameter.log)


def median_pruning(trial, metric: str):
    """The trainer's on_epoch callback: report the epoch's validation score to Optuna and stop the run when the
    pruner says so."""

    def report(epoch: int, metrics: dict[str, float]) -> None:
        trial.report(metrics[metric], epoch)
        if trial.should_prune():
            raise StopRun(
                f"pruned by the sweep at epoch {epoch}: {metric} {metrics[metric]:.4f} is below the "
                "median of earlier trials at that epoch"
            )

    return report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("topology")
    parser.add_argument("--space", required=True, help="TOML search space (see training/sweeps/)")
    parser.add_argument(
        "--trials",
        type=int,
        required=True,
        help="complete and pruned trials the study should have; a continued study runs the rest",
    )
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite beside the tracking store)")
    parser.add_argument("--study", help="study name; an existing one is continued (default: <topology>-<time>)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting of every trial (after the space file's config and [fixed])",
    )
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    parser.add_argument("--dry-run", action="store_true", help="each trial two tiny batches, one epoch")
    return parser.parse_args(argv)


def base_config(module, space: Space, assignments: list[str]):
    """What every trial starts from: the Config defaults, the space's config file, [fixed], then --set."""
    config = module.Config()
    if space.config:
        config = override(config, tomllib.loads((store.REPO_ROOT / space.config).read_text()))
    set_values = parse_assignments(assignments)
    swept = sorted({p.name for p in space.parameters} & set(set_values))
    if swept:
        raise SystemExit(f"error: {', '.join(swept)} is searched by the space file; --set cannot fix it")
    return override(override(config, space.fixed), set_values)


def sweep_parent(client, study, args, space: Space, config) -> str:
    """The study's sweep run: the one it was started under, reopened, or a new one (when that run is not in this
    tracking store)."""
    existing = study.user_attrs.get(PARENT_RUN_ATTR)
    try:
        if existing and client.get_run(existing).info.lifecycle_stage == "active":
            client.update_run(existing, status="RUNNING")
            client.set_tag(existing, store.PROCESS_TAG, store.process_identity())  # this process owns it now
            return existing
    except MlflowException:
        pass  # the study was started against another tracking store
    experiment = tracking.ensure_experiment(
        args.topology, SWEEP_SUFFIX + (store.DRY_RUN_SUFFIX if args.dry_run else "")
    )
    # The process tag lets store.end_dead_runs end the sweep run KILLED if this process dies without a word.
    tags = {
        **tracking.machine_tags(),
        "rnnlab.topology": args.topology,
        store.KIND_TAG: SWEEP_KIND,
        store.PROCESS_TAG: store.process_identity(),
        store.DRY_RUN_TAG: str(args.dry_run).lower(),
        STUDY_TAG: study.study_name,
        SPACE_TAG: space_json(space.parameters),
        "rnnlab.sweep.sampler": f"TPE seed {args.seed}",
        "rnnlab.sweep.pruner": f"median from epoch {PRUNE_FROM_EPOCH} after {PRUNE_AFTER_TRIALS} trials",
    }
    if space.config:
        tags[CONFIG_TAG] = space.config
    run_id = client.create_run(experiment, run_name=study.study_name, tags=tags).info.run_id
    for key, value in flatten(config).items():
        client.log_param(run_id, key, value)
    client.log_text(run_id, space.text, "sweep_space.toml")
    study.set_user_attr(PARENT_RUN_ATTR, run_id)
    return run_id


def run_trial(trial, topology: str, module, config, space: Space, dry_run: bool, parent_id: str) -> float:
    """Optuna's objective: one tracked training run with the trial's settings; returns its best validation
    score."""
    client = store.client()
    config = override(config, {p.name: suggest(trial, p) for p in space.parameters})
    if dry_run:
        config = train.dry_run_config(config)
    task = train.prepare_task(module, config, dry_run)
    metric = f"val_{task.selection_metric}"
    client.set_tag(parent_id, OBJECTIVE_TAG, metric)
    tags = {
        PARENT_TAG: parent_id,
        STUDY_TAG: trial.study.study_name,
        TRIAL_TAG: str(trial.number),
        STATE_TAG: "running",
    }
    run_id = train.create_run(
        topology, config, task, dry_run, f"{trial.study.study_name}-{trial.number}", SWEEP_SUFFIX, tags
    )
    trial.set_user_attr("mlflow_run_id", run_id)
    try:
        metrics = train.fit_and_test(topology, run_id, config, task, on_epoch=median_pruning(trial, metric))
    except StopRun as stop:
        client.set_tag(run_id, STATE_TAG, "pruned")
        raise optuna.TrialPruned(str(stop)) from None
    except SystemExit as stop:
        client.set_tag(run_id, STATE_TAG, "failed")
        raise SweepStopped(stop.code) from None
    except BaseException:
        client.set_tag(run_id, STATE_TAG, "failed")
        raise
    client.set_tag(run_id, STATE_TAG, "complete")
    return metrics[f"best_val_{task.selection_metric}"]


def counted_trials(study) -> int:
    return len(
        study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    )


def main(argv=None) -> str:
    """Runs the sweep; returns its parent run id."""
    args = parse_args(argv)
    module = task_module(args.topology)
    space = load_space(args.space, module.Config)
    config = base_config(module, space, args.set)
    tracking.set_tracking()
    storage = args.storage or default_storage()
    study_name = args.study or f"{args.topology}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize", load_if_exists=True)
    except Exception as error:  # a bad URL, a server that does not answer, a missing driver
        raise SystemExit(f"error: cannot open the Optuna storage {shown(storage)}: {error}") from None
    # A continued study reseeds by its size, so it does not draw the same random start-up settings again.
    study.sampler = optuna.samplers.TPESampler(seed=args.seed + len(study.trials))
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_FROM_EPOCH)
    client = store.client()
    parent_id = sweep_parent(client, study, args, space, config)
    remaining = max(0, args.trials - counted_trials(study))
    started = time.perf_counter()
    continue_with = (
        f"python -m training.sweep {args.topology} --space {args.space} --trials {args.trials} "
        f"--study {study_name} --storage {shown(storage)}"
    )
    with train.Interrupts():
        try:
            study.optimize(
                lambda trial: run_trial(trial, args.topology, module, config, space, args.dry_run, parent_id),
                n_trials=remaining,
            )
        except (KeyboardInterrupt, SweepStopped) as stop:
            killed = isinstance(stop, KeyboardInterrupt) or stop.args[0] == 130
            client.set_terminated(parent_id, "KILLED" if killed else "FAILED")
            message = "interrupted" if killed else str(stop.args[0])
            print(f"{message}; continue the sweep with: {continue_with}", file=sys.stderr)
            raise SystemExit(130 if killed else 1) from None
        except BaseException:
            client.set_terminated(parent_id, "FAILED")
            raise
    client.set_terminated(parent_id, "FINISHED")
    sweep = read_sweep(client, parent_id)
    importance, rests_on = parameter_importance(sweep)
    best = sweep.best_trial
    summary = {
        "sweep_run_id": parent_id,
        "study": study_name,
        "storage": shown(storage),
        "seconds": round(time.perf_counter() - started, 1),
        "trials": {state: len(sweep.trials_in(state)) for state in ("complete", "pruned", "failed")},
        "best": best and {"run_id": best.run_id, "value": round(best.value, 4), "params": best.params},
        "importance": {name: round(share, 3) for name, share in importance.items()},
        "importance_rests_on": rests_on,
    }
    print(json.dumps(summary))
    return parent_id


if __name__ == "__main__":
    main()
