"""Hyper-parameter sweeps as the tracking store and the shipped sweep bundles hold them: ``training.sweep`` writes
them, the dashboard reads them (through MLflow, or the bundles when tracking is down), ``training.bundles`` ships
them.

A sweep is a parent run in the experiment ``rnnlab-<topology>-sweeps``; each Optuna trial is a run nested under it
(MLflow's ``mlflow.parentRunId`` tag) that logs every setting it used as params and its validation metrics per
epoch. The parent holds the search space as JSON, so the sweep can be read back, and its parameter importance
computed, from the runs alone: no Optuna storage is needed to look at one.

A sweep bundle (``models/sweeps/<topology>/<study>.json``) is the parent's and every trial's record (params, tags,
full metric histories, times), without checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from models import store

SWEEP_SUFFIX = "-sweeps"  # a topology's sweeps live in its experiment name plus this (dry-run sweeps: plus -dry-run)
SWEEPS_DIR = store.REPO_ROOT / "models" / "sweeps"  # shipped sweep bundles, beside models/checkpoints
SWEEP_KIND = "sweep"  # store.KIND_TAG of a sweep's parent run
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag: its UI shows the trials under their sweep
STUDY_TAG = "rnnlab.sweep.study"  # the Optuna study's name, on the parent and on every trial
SPACE_TAG = "rnnlab.sweep.space"  # on the parent: the search space, a JSON list of Parameter fields
OBJECTIVE_TAG = "rnnlab.sweep.objective"  # on the parent: the validation metric maximised, per epoch (val_…)
CONFIG_TAG = "rnnlab.sweep.config"  # on the parent: the training TOML its trials start from (as the space names it)
TRIAL_TAG = "rnnlab.sweep.trial"  # on a trial: its number in the study
STATE_TAG = "rnnlab.sweep.state"  # on a trial: running | complete | pruned | failed
BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class Parameter:
    """One searched setting: ``kind`` int or float over [low, high] (log: sampled on a log scale), or categorical
    over ``choices``; ``name`` is the dotted config key (``model.hidden``)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def distribution(self):
        import optuna  # imported late: only sweeps and their importance need it

        if self.kind == "categorical":
            return optuna.distributions.CategoricalDistribution(self.choices)
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def typed(self, logged: str):
        """A trial's value of this parameter from its logged param (a string)."""
        if self.kind == "categorical":
            return next((choice for choice in self.choices if str(choice) == logged), logged)
        return int(logged) if self.kind == "int" else float(logged)


def space_json(parameters: list[Parameter]) -> str:
    return json.dumps([{**vars(p), "choices": list(p.choices)} for p in parameters])


def space_from_json(text: str) -> list[Parameter]:
    return [Parameter(**{**item, "choices": tuple(item["choices"])}) for item in json.loads(text)]


@dataclass
class Trial:
    number: int
    run_id: str | None  # None when read from a bundle
    run_name: str
    state: str  # complete | pruned | failed | running
    params: dict[str, object]  # the searched parameters' values
    history: list[tuple[int, float]]  # (epoch, objective metric on validation)
    settings: dict[str, str] = field(default_factory=dict)  # every param the run logged
    has_checkpoint: bool = False  # the trials of a shipped sweep keep none

    @property
    def value(self) -> float | None:
        """The best validation score it reached (the best epoch is the one a finished run keeps)."""
        return max((value for _, value in self.history), default=None)

    def set_arguments(self) -> list[str]:
        """``key=value`` per searched parameter: the ``--set`` arguments that train this trial's settings."""
        return [f"{name}={value}" for name, value in self.params.items()]


@dataclass
class Sweep:
    topology: str
    study: str
    run_id: str | None
    status: str
    space: list[Parameter]
    objective: str  # the per-epoch validation metric, e.g. val_macro_f1
    trials: list[Trial]
    config_file: str | None = None  # the training TOML its trials start from, relative to the repository
    start_time: int | None = None  # ms since epoch
    end_time: int | None = None

    def trials_in(self, state: str) -> list[Trial]:
        return [trial for trial in self.trials if trial.state == state]

    @property
    def best_trial(self) -> Trial | None:
        """The complete trial with the best validation score (a pruned one stopped before it could compare)."""
        return max(self.trials_in("complete"), key=lambda trial: trial.value, default=None)

    @property
    def duration_s(self) -> float | None:
        return (self.end_time - self.start_time) / 1000 if self.start_time and self.end_time else None


def sweep_from_records(
    parent: dict, trials: list[dict], run_ids: dict[int, str] | None = None, parent_run_id: str | None = None
) -> Sweep:
    """A sweep from run records as bundles hold them (``run_name``, ``status``, ``params``, ``tags``, ``metrics``:
    key -> [[step, value, timestamp]], ``start_time``, ``end_time``); ``run_ids`` by trial number when the records
    come from a store."""
    tags = parent["tags"]
    space = space_from_json(tags[SPACE_TAG])
    objective = tags.get(OBJECTIVE_TAG, "")
    read = []
    for record in trials:
        number = int(record["tags"][TRIAL_TAG])
        logged = record.get("params", {})
        read.append(
            Trial(
                number=number,
                run_id=(run_ids or {}).get(number),
                run_name=record["run_name"],
                state=record["tags"].get(STATE_TAG, "running"),
                params={p.name: p.typed(logged[p.name]) for p in space if p.name in logged},
                history=[(int(step), value) for step, value, _ in record.get("metrics", {}).get(objective, [])],
                settings=dict(logged),
                has_checkpoint=store.CHECKPOINT_BYTES_TAG in record["tags"],
            )
        )
    return Sweep(
        topology=tags[store.TOPOLOGY_TAG],
        study=tags[STUDY_TAG],
        run_id=parent_run_id,
        status=parent.get("status", "FINISHED"),
        space=space,
        objective=objective,
        trials=sorted(read, key=lambda trial: trial.number),
        config_file=tags.get(CONFIG_TAG),
        start_time=parent.get("start_time"),
        end_time=parent.get("end_time"),
    )


def run_record(client, run, history_keys=None) -> dict:
    """A run as a record (see sweep_from_records), with the full history of ``history_keys`` (default: all)."""
    keys = run.data.metrics if history_keys is None else [k for k in history_keys if k in run.data.metrics]
    return {
        "run_name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "metrics": {
            key: [[m.step, m.value, m.timestamp] for m in client.get_metric_history(run.info.run_id, key)]
            for key in keys
        },
    }


def sweep_runs(client, parent_run_id: str):
    """The parent run and its trial runs."""
    parent = client.get_run(parent_run_id)
    trials = client.search_runs(
        [parent.info.experiment_id], f"tags.`{PARENT_TAG}` = '{parent_run_id}'", max_results=5000
    )
    return parent, trials


def read_sweep(client, parent_run_id: str) -> Sweep:
    """One sweep from the store, with each trial's objective history only."""
    parent, trials = sweep_runs(client, parent_run_id)
    objective = parent.data.tags.get(OBJECTIVE_TAG)
    records = [run_record(client, run, [objective] if objective else []) for run in trials]
    run_ids = {int(run.data.tags[TRIAL_TAG]): run.info.run_id for run in trials}
    return sweep_from_records(run_record(client, parent, []), records, run_ids, parent_run_id)


def list_sweeps(topology: str, dry_run: bool = False) -> list[Sweep]:
    """The topology's sweeps in the store, newest first; raises store.TrackingUnavailable."""
    store.check_tracking_reachable()
    try:
        client = store.client()
        name = store.experiment_name(topology) + SWEEP_SUFFIX + (store.DRY_RUN_SUFFIX if dry_run else "")
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            return []
        parents = client.search_runs(
            [experiment.experiment_id],
            f"tags.`{store.KIND_TAG}` = '{SWEEP_KIND}'",
            order_by=["attributes.start_time DESC"],
            max_results=500,
        )
        return [read_sweep(client, parent.info.run_id) for parent in parents]
    except Exception as error:  # as store.list_runs: every failure means the store cannot be read
        raise store.TrackingUnavailable(
            f"The tracking store at {store.tracking_uri()} cannot be read: {error}"
        ) from error


def read_sweep_bundle(path: Path) -> Sweep:
    bundle = json.loads(Path(path).read_text())
    return sweep_from_records(bundle["parent"], bundle["trials"])


def shipped_sweeps(topology: str, root: Path = SWEEPS_DIR) -> list[Sweep]:
    """The sweeps shipped in git for one topology, by name."""
    return [read_sweep_bundle(path) for path in sorted((Path(root) / topology).glob("*.json"))]


def parameter_importance(sweep: Sweep) -> tuple[dict[str, float], int]:
    """How much of the variation of the validation score each parameter explains (Optuna's fANOVA: a random forest
    fitted to the trials, its variance split per parameter; the shares sum to 1), and the number of complete
    trials it rests on (pruned trials stopped early, so their scores are not comparable). Empty under 2 trials."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    complete = [trial for trial in sweep.trials_in("complete") if len(trial.params) == len(sweep.space)]
    if len(complete) < 2:
        return {}, len(complete)
    study = optuna.create_study(direction="maximize")
    distributions = {p.name: p.distribution() for p in sweep.space}
    study.add_trials(
        [
            optuna.trial.create_trial(params=trial.params, distributions=distributions, value=trial.value)
            for trial in complete
        ]
    )
    importance = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    return {name: float(share) for name, share in importance.items()}, len(complete)
