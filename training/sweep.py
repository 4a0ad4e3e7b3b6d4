"""Search a topology's hyper-parameters with Optuna; every trial is a tracked run nested under one sweep run.

    python -m training.sweep many_to_one --space training/sweeps/many_to_one.toml --trials 30
    python -m training.sweep many_to_one --space training/sweeps/many_to_one.toml --trials 3 --dry-run
    python -m training.sweep many_to_one --space … --trials 40 --study <name>   # continue a study up to 40 trials
    python -m training.sweep many_to_one --space … --trials 30 --study s1 --storage postgresql+psycopg://host/optuna
                                                      # run it on several machines: they share one study

Optuna's TPE sampler (seeded) proposes each trial's settings; the median rule prunes a trial whose validation
score, from its second epoch on, is below the median of earlier trials at the same epoch. The study lives in an
Optuna storage (default: ``optuna.db`` beside a sqlite tracking store, else in the cache folder; any SQLAlchemy
URL), so a second command with the same ``--study`` continues it; ``--trials`` counts its complete and pruned
trials. The sweep run holds the search space; each trial run holds its settings and per-epoch metrics, so the
dashboard reads a sweep from MLflow alone (models.sweep_store).

Several workers (processes, on one machine or many) may run the same command against one storage and tracking
server: they share the study, its one sweep run and its trial count. A worker starts a trial only while the
complete, pruned and running trials are fewer than ``--trials``, then waits for the running ones. Each running
trial sends a heartbeat to the storage; the trial of a worker that died (``kill -9``, a lost machine) goes silent,
and after three missed heartbeats another worker marks it failed (in Optuna and MLflow) and runs a trial in its
place.

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
import contextlib
import json
import os
import sys
import time
import tomllib
import typing
import warnings
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
MISSED_HEARTBEATS = 3  # a running trial silent for this many heartbeats belongs to a worker that died
PARENT_WAIT_S = 60  # how long a joining worker waits for the worker that created the study to open its sweep run
WORKER_ATTR = "rnnlab_worker"  # a trial's user attribute naming the worker process that runs it
KINDS = ("int", "float", "categorical")
COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)  # what --trials counts
TAKING_A_PLACE = (*COUNTED, optuna.trial.TrialState.RUNNING)  # what a worker counts before it starts one more


class SweepStopped(Exception):
    """A trial's run ended the whole sweep (Ctrl-C, kill, a full disk): Optuna records an Exception as a failed
    trial, where a SystemExit would leave it RUNNING in the study for ever. Carries the exit code or message."""


class SurplusTrial(Exception):
    """Two workers started a trial at the same moment for the study's last place: the later one (by trial number)
    gives its place back before training. Optuna records it as a failed trial with no MLflow run."""


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
        help="complete and pruned trials the study should have, counted over all its workers; a continued study "
        "runs the rest",
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
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        metavar="SECONDS",
        help=f"how often a running trial tells the storage it is alive; one silent for {MISSED_HEARTBEATS} heartbeats "
        "is failed and replaced (default 10)",
    )
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


def sweep_parent(client, study, created: bool, args, space: Space, config) -> str:
    """The study's sweep run: the one it was started under, reopened (a continued study, or a worker joining one);
    else a new one (the study is new, or its sweep run is not in this tracking store)."""
    existing = study.user_attrs.get(PARENT_RUN_ATTR)
    # Only the worker that created the study opens its sweep run (creating a study is atomic in the storage); a
    # worker that joined at the same moment waits for it rather than opening a second one.
    deadline = time.monotonic() + (0 if created else PARENT_WAIT_S)
    while existing is None and time.monotonic() < deadline:
        time.sleep(0.5)
        existing = study.user_attrs.get(PARENT_RUN_ATTR)
    try:
        if existing and client.get_run(existing).info.lifecycle_stage == "active":
            keep_parent_open(client, existing)
            return existing
    except MlflowException:
        pass  # the study was started against another tracking store
    experiment = tracking.ensure_experiment(
        args.topology, SWEEP_SUFFIX + (store.DRY_RUN_SUFFIX if args.dry_run else "")
    )
    # The process tag lets store.end_dead_runs end the sweep run KILLED if this process dies without a word.
    tags = {
        **tracking.machine_tags(),
        store.TOPOLOGY_TAG: args.topology,
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


def keep_parent_open(client, parent_id: str) -> None:
    """The sweep run stays RUNNING while any worker works on it: a worker takes it over (its process tag, which
    store.end_dead_runs reads) when it was ended, or when the worker that owned it is gone."""
    run = client.get_run(parent_id)
    if run.info.status != "RUNNING" or store.process_alive(run.data.tags.get(store.PROCESS_TAG, "")) is False:
        client.update_run(parent_id, status="RUNNING")
        client.set_tag(parent_id, store.PROCESS_TAG, store.process_identity())


def set_shared_tag(client, run_id: str, key: str, value: str) -> None:
    """Set a tag on the sweep run that every worker shares. Two workers that set a tag it lacks at the same moment
    both insert it, and a SQL store refuses the second on its unique key (seen with two workers on PostgreSQL);
    by then the tag exists, so once more takes the store's update path."""
    try:
        client.set_tag(run_id, key, value)
    except MlflowException:
        client.set_tag(run_id, key, value)


def run_trial(trial, topology: str, module, config, space: Space, dry_run: bool, parent_id: str, target: int) -> float:
    """Optuna's objective: one tracked training run with the trial's settings; returns its best validation
    score."""
    ahead = [t for t in trial.study.get_trials(deepcopy=False, states=TAKING_A_PLACE) if t.number < trial.number]
    if len(ahead) >= target:
        raise SurplusTrial(f"trial {trial.number}: the study's {target} places were taken by earlier trials")
    trial.set_user_attr(WORKER_ATTR, store.process_identity())
    client = store.client()
    keep_parent_open(client, parent_id)
    config = override(config, {p.name: suggest(trial, p) for p in space.parameters})
    if dry_run:
        config = train.dry_run_config(config)
    task = train.prepare_task(module, config, dry_run)
    metric = f"val_{task.selection_metric}"
    set_shared_tag(client, parent_id, OBJECTIVE_TAG, metric)
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


def counted_trials(study, states=COUNTED) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def open_storage(url: str, heartbeat_s: int, client):
    """The Optuna storage with heartbeats on, so a dead worker's trial is failed instead of RUNNING for ever; its
    MLflow run is ended FAILED at the same moment, by whichever worker notices."""

    def end_the_silent_trials_run(study, trial) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if not run_id:
            return
        try:
            client.set_tag(run_id, STATE_TAG, "failed")
            if client.get_run(run_id).info.status == "RUNNING":
                worker = trial.user_attrs.get(WORKER_ATTR, "unknown")
                client.set_tag(run_id, store.ENDED_TAG, f"its sweep worker ({worker}) stopped sending heartbeats")
                client.set_terminated(run_id, "FAILED")
        except MlflowException:
            pass  # the trial's run lives in another tracking store; Optuna has failed the trial all the same

    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.9, and stable in use
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_s,
                    grace_period=MISSED_HEARTBEATS * heartbeat_s,
                    heartbeat_stale_trial_callback=end_the_silent_trials_run,
                )
        except (IntegrityError, ProgrammingError):
            # Workers started together on an empty database race to create Optuna's tables; the loser finds them
            # there on the next try.
            if attempt == 2:
                raise
            time.sleep(1 + attempt)


def fail_silent_trials(study, grace_s: float, unnamed_since: dict[int, float]) -> None:
    """Fail the running trials whose worker is gone, so that others take their places: those whose heartbeat
    stopped (Optuna's check), and those this worker has seen running for ``grace_s`` without ever naming a worker
    (a study interrupted before workers sent heartbeats, or a worker that died as it started a trial), which Optuna
    never fails. ``unnamed_since`` keeps when each was first seen, on this worker's own clock: the machines'
    clocks need not agree."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    now = time.monotonic()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if WORKER_ATTR in trial.user_attrs:
            continue
        if now - unnamed_since.setdefault(trial.number, now) >= grace_s:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another worker was first
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def open_study(storage, name: str):
    """The study and whether this worker created it: creation is atomic in the storage, so of several workers
    started at once exactly one creates it and the others load it."""
    try:
        return optuna.create_study(study_name=name, storage=storage, direction="maximize"), True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage), False


def work_on(study, objective, target: int, heartbeat_s: float) -> None:
    """Run trials until the study has ``target`` complete or pruned trials, whoever runs them. While the places
    left are all taken by running trials this worker waits, because one of them may die and need replacing."""
    unnamed_since: dict[int, float] = {}
    while True:
        fail_silent_trials(study, MISSED_HEARTBEATS * heartbeat_s, unnamed_since)
        if counted_trials(study) >= target:
            return
        if counted_trials(study, TAKING_A_PLACE) >= target:
            time.sleep(heartbeat_s)  # a trial that dies is noticed within a grace period anyway
            continue
        try:
            # One trial at a time through optimize, which keeps its heartbeat going while it runs.
            study.optimize(objective, n_trials=1, catch=(SurplusTrial,))
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker failed this trial as silent (its heartbeats came late on a busy machine) and gave its
            # place away; the study goes on without it.
            print("this worker's trial was failed by another worker as silent; going on", file=sys.stderr)


def main(argv=None) -> str:
    """Runs the sweep; returns its parent run id."""
    args = parse_args(argv)
    module = task_module(args.topology)
    space = load_space(args.space, module.Config)
    config = base_config(module, space, args.set)
    if args.heartbeat < 1:
        raise SystemExit(f"error: --heartbeat must be at least 1 second, not {args.heartbeat}")
    tracking.set_tracking()
    storage = args.storage or default_storage()
    study_name = args.study or f"{args.topology}-{time.strftime('%Y%m%d-%H%M%S')}"
    client = store.client()
    try:
        study, created = open_study(open_storage(storage, args.heartbeat, client), study_name)
    except Exception as error:  # a bad URL, a server that does not answer, a missing driver
        raise SystemExit(f"error: cannot open the Optuna storage {shown(storage)}: {error}") from None
    # A continued study reseeds by its size, so it does not draw the same random start-up settings again. A worker
    # that did not create the study also adds its pid: two workers started together on the same study would
    # otherwise propose the same settings (the price: a continued study's proposals are not reproducible).
    study.sampler = optuna.samplers.TPESampler(seed=args.seed + len(study.trials) + (0 if created else os.getpid()))
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_FROM_EPOCH)
    parent_id = sweep_parent(client, study, created, args, space, config)
    started = time.perf_counter()
    continue_with = (
        f"python -m training.sweep {args.topology} --space {args.space} --trials {args.trials} "
        f"--study {study_name} --storage {shown(storage)}"
    )

    def objective(trial):
        return run_trial(trial, args.topology, module, config, space, args.dry_run, parent_id, args.trials)

    with train.Interrupts():
        try:
            work_on(study, objective, args.trials, args.heartbeat)
        except (KeyboardInterrupt, SweepStopped) as stop:
            killed = isinstance(stop, KeyboardInterrupt) or stop.args[0] == 130
            if not counted_trials(study, (optuna.trial.TrialState.RUNNING,)):  # other workers still on it
                client.set_terminated(parent_id, "KILLED" if killed else "FAILED")
            message = "interrupted" if killed else str(stop.args[0])
            print(f"{message}; continue the sweep with: {continue_with}", file=sys.stderr)
            raise SystemExit(130 if killed else 1) from None
        except BaseException:
            if not counted_trials(study, (optuna.trial.TrialState.RUNNING,)):
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
