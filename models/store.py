"""Where trained models live: the MLflow tracking store, and the bundles shipped in ``models/checkpoints``.

The default store is a sqlite database with its artifacts inside ``mlruns/`` at the repository root (not the
working directory); ``MLFLOW_TRACKING_URI`` overrides it everywhere. Reading never creates a store: the
dashboard reports a missing or broken one and keeps serving the shipped bundles.
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MLRUNS_DIR = REPO_ROOT / "mlruns"
SHIPPED_DIR = REPO_ROOT / "models" / "checkpoints"
BUNDLE_RUN_FILE = "run.json"
CHECKPOINT_ARTIFACT = "checkpoint"
CHAMPION_ALIAS = "champion"
BUNDLE_TAG = "rnnlab.bundle"  # "<topology>/<run name>@<weights sha>": what makes bundle import idempotent
KIND_TAG = "rnnlab.kind"  # "trained" | "evaluation": a peer scored on the test split, with no curves
CHECKPOINT_BYTES_TAG = "rnnlab.checkpoint_bytes"
SELECTION_TAG = "rnnlab.selection_metric"  # the metric (higher is better) that picks the champion


class TrackingUnavailable(RuntimeError):
    """The tracking store cannot be read; the message says why and what to do."""


def cache_dir() -> Path:
    """Downloads, generated data and fetched checkpoints live here, outside git (``$RNNLAB_CACHE``)."""
    return Path(os.environ.get("RNNLAB_CACHE", Path.home() / ".cache" / "rnnlab")).expanduser()


def default_tracking_uri() -> str:
    return f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def sqlite_path() -> Path | None:
    uri = tracking_uri()
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def artifact_location(experiment: str) -> str | None:
    """Artifacts beside a sqlite store (MLflow would otherwise use ./mlruns of the working directory);
    a tracking server keeps its own default."""
    database = sqlite_path()
    return (database.parent / "artifacts" / experiment).as_uri() if database else None


def experiment_name(topology: str) -> str:
    return f"rnnlab-{topology}"


def registered_model_name(topology: str) -> str:
    return f"rnnlab-{topology}"


def client():
    from mlflow import MlflowClient  # imported late: mlflow costs seconds and only tracking needs it

    return MlflowClient(tracking_uri())


def check_store_readable() -> None:
    """Fail fast, with a message for a person, when the store is missing, locked or unreadable."""
    path = sqlite_path()
    if path is None:
        return
    if not path.exists():
        raise TrackingUnavailable(f"No tracking store at {path}. `make run` creates it from the shipped models "
                                  "(or run `python -m training.bundles import`).")
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=2) as connection:
            connection.execute("SELECT count(*) FROM experiments").fetchone()
    except sqlite3.OperationalError as error:
        reason = "locked by a writer (a training run?); try again in a moment" if "locked" in str(error) else str(error)
        raise TrackingUnavailable(f"The tracking store {path.name} cannot be read: {reason}.") from error
    except sqlite3.DatabaseError as error:
        raise TrackingUnavailable(f"The tracking store {path.name} is not a readable database: {error}.") from error


@dataclass
class RunSummary:
    """What the dashboard needs to know about one run, from the store or from a shipped bundle."""

    run_id: str | None
    run_name: str
    status: str
    start_time: int | None  # ms since epoch
    end_time: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    champion: bool = False
    bundle_dir: Path | None = None  # set for shipped bundles (the fallback when tracking is down)

    @property
    def evaluation_only(self) -> bool:
        return self.tags.get(KIND_TAG) == "evaluation"

    @property
    def has_checkpoint(self) -> bool:
        return not self.evaluation_only

    @property
    def duration_s(self) -> float | None:
        if self.start_time and self.end_time:
            return (self.end_time - self.start_time) / 1000
        return None


def list_runs(topology: str) -> list[RunSummary]:
    """Every run of a topology's experiment, champion first; raises TrackingUnavailable."""
    check_store_readable()
    try:
        tracking = client()
        experiment = tracking.get_experiment_by_name(experiment_name(topology))
        if experiment is None:
            return []
        runs = tracking.search_runs([experiment.experiment_id], max_results=500, order_by=["attributes.start_time DESC"])
        champion = champion_run_id(topology, tracking)
    except TrackingUnavailable:
        raise
    except Exception as error:  # sqlalchemy, REST and permission errors all mean the same thing to a page
        raise TrackingUnavailable(f"The tracking store at {tracking_uri()} cannot be read: {error}") from error
    summaries = [RunSummary(run_id=run.info.run_id, run_name=run.info.run_name, status=run.info.status,
                            start_time=run.info.start_time, end_time=run.info.end_time, params=dict(run.data.params),
                            metrics=dict(run.data.metrics), tags=dict(run.data.tags),
                            champion=run.info.run_id == champion) for run in runs]
    return sorted(summaries, key=lambda s: not s.champion)


def best_on_validation(runs: list[RunSummary]) -> RunSummary | None:
    """The run with a checkpoint whose selection metric (measured on validation, higher is better) is highest."""
    scored = [r for r in runs if r.has_checkpoint and r.tags.get(SELECTION_TAG) in r.metrics]
    return max(scored, key=lambda r: r.metrics[r.tags[SELECTION_TAG]], default=None)


def champion_run_id(topology: str, tracking=None) -> str | None:
    tracking = tracking or client()
    try:
        version = tracking.get_model_version_by_alias(registered_model_name(topology), CHAMPION_ALIAS)
    except Exception:  # no registered model or no alias yet: there is simply no champion
        return None
    return version.run_id


def metric_history(run_id: str, key: str) -> list[tuple[int, float, int]]:
    """(step, value, timestamp ms) of one metric of one run."""
    return [(m.step, m.value, m.timestamp) for m in client().get_metric_history(run_id, key)]


def download_checkpoint(run_id: str) -> Path:
    """The run's checkpoint folder on local disk, downloaded once per run into the cache."""
    import mlflow

    target = cache_dir() / "run-checkpoints" / run_id
    if not (target / CHECKPOINT_ARTIFACT).is_dir():
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=CHECKPOINT_ARTIFACT,
                                            dst_path=str(target), tracking_uri=tracking_uri())
    return target / CHECKPOINT_ARTIFACT


def read_bundle(directory: Path) -> RunSummary:
    record = json.loads((directory / BUNDLE_RUN_FILE).read_text())
    metrics = {key: points[-1][1] for key, points in record.get("metrics", {}).items() if points}
    return RunSummary(run_id=None, run_name=record["run_name"], status=record.get("status", "FINISHED"),
                      start_time=record.get("start_time"), end_time=record.get("end_time"),
                      params=record.get("params", {}), metrics=metrics, tags=record.get("tags", {}),
                      bundle_dir=directory)


def shipped_bundles(topology: str) -> list[RunSummary]:
    """The runs shipped in git for one topology, champion first."""
    folder = SHIPPED_DIR / topology
    if not folder.is_dir():
        return []
    bundles = [read_bundle(d) for d in sorted(folder.iterdir()) if (d / BUNDLE_RUN_FILE).is_file()]
    champion = best_on_validation(bundles)
    for bundle in bundles:
        bundle.champion = bundle is champion
    return sorted(bundles, key=lambda s: not s.champion)


def run_history(run: RunSummary, key: str) -> list[tuple[int, float, int]]:
    """(step, value, timestamp ms) of one metric, from the store or from the run's bundle."""
    if run.bundle_dir is not None:
        record = json.loads((run.bundle_dir / BUNDLE_RUN_FILE).read_text())
        return [tuple(point) for point in record.get("metrics", {}).get(key, [])]
    return metric_history(run.run_id, key)
