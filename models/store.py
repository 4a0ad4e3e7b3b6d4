"""Where trained models live: the MLflow tracking store, and the bundles shipped in ``models/checkpoints``.

The default store is a sqlite database with its artifacts inside ``mlruns/`` at the repository root (not the
working directory); ``MLFLOW_TRACKING_URI`` overrides it everywhere. Reading never creates a store: the
dashboard reports a missing or broken one and keeps serving the shipped bundles. A tracking server gets
``$RNNLAB_TRACKING_TIMEOUT`` seconds (default 2) to answer before the dashboard says it is unavailable and a CLI
exits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MLRUNS_DIR = REPO_ROOT / "mlruns"
SHIPPED_DIR = REPO_ROOT / "models" / "checkpoints"
BUNDLE_RUN_FILE = "run.json"
CHECKPOINT_ARTIFACT = "checkpoint"
MEMORY_DIR = "memory"  # a run's memory span and unit index: a bundle's folder and a tracked run's artifacts
CHAMPION_ALIAS = "champion"
BUNDLE_TAG = "rnnlab.bundle"  # "<topology>/<run name>@<weights sha>": what makes bundle import idempotent
IMPORTED_TAG = "rnnlab.imported"  # on a run made from a bundle: only such a run is replaced by a newer bundle
KIND_TAG = "rnnlab.kind"  # "trained" | "evaluation": a peer scored on the test split, with no curves
TOPOLOGY_TAG = "rnnlab.topology"  # every run RNN Lab logs names its topology
CHECKPOINT_BYTES_TAG = "rnnlab.checkpoint_bytes"
SELECTION_TAG = "rnnlab.selection_metric"  # the metric (higher is better) that picks the champion
PROCESS_TAG = "rnnlab.process"  # "<host>/<pid>/<start>" of the process training the run: how a dead run is found
ENDED_TAG = "rnnlab.ended_by"  # why a run was ended by someone other than its own process
DRY_RUN_SUFFIX = "-dry-run"  # a topology's experiment of dry runs is its experiment name with this suffix
DRY_RUN_TAG = "rnnlab.dry_run"
# A champion is chosen among comparable runs only: same topology, same data set, same selection metric.
DATASET_TAG = "rnnlab.dataset"  # "<name>@<content hash>" of the data a run used, when not its topology's own
BUILTIN_DATASET = "built-in"  # the data set of a run without DATASET_TAG: the one its topology's page demonstrates
VAL_EXAMPLES_TAG = "rnnlab.val_examples"  # how many examples the run's validation score was measured on
MIN_VAL_EXAMPLES = 200  # fewer, and a validation score is too noisy to crown a run automatically
PROMOTED_TAG = "rnnlab.promoted"  # on a model version crowned by hand: the automatic rule leaves its alias alone


TIMEOUT_ENV = "RNNLAB_TRACKING_TIMEOUT"  # seconds a tracking server has to answer the reachability check
DEFAULT_TIMEOUT_S = 2.0
# MLflow's own HTTP defaults retry a failing call 7 times with back-off and wait 120 s per answer: minutes before a
# page or a CLI could say that the server is down. These bound every call after the reachability check (about
# 20 s at worst); the same variables set in the environment win.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


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


def tracking_timeout_s() -> float:
    return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)


def check_tracking_reachable(creating: bool = False) -> None:
    """Fail fast, with a message for a person, when the store cannot be used: a sqlite file that is missing (unless
    ``creating``: a CLI about to write makes it), locked or unreadable, or a tracking server that does not answer
    its health check within ``$RNNLAB_TRACKING_TIMEOUT`` seconds. The one check the dashboard and every CLI run
    before they rely on tracking."""
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
        return
    path = sqlite_path()
    if path is None:
        return
    if not path.exists():
        if creating:
            return
        raise TrackingUnavailable(
            f"No tracking store at {path}. `make run` creates it from the shipped models "
            "(or run `python -m training.bundles import`)."
        )
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=tracking_timeout_s()) as connection:
            connection.execute("SELECT count(*) FROM experiments").fetchone()
    except sqlite3.OperationalError as error:
        reason = "locked by a writer (a training run?); try again in a moment" if "locked" in str(error) else str(error)
        raise TrackingUnavailable(f"The tracking store {uri} cannot be read: {reason}.") from error
    except sqlite3.DatabaseError as error:
        raise TrackingUnavailable(f"The tracking store {uri} is not a readable database: {error}.") from error


def _check_server(uri: str) -> None:
    """Any answer but a server error means the server is up (a 401 or a 404 from a proxy still answers)."""
    timeout = tracking_timeout_s()
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code < 500:
            return
        reason = f"it answers {error.code} {error.reason}"
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except urllib.error.URLError as error:
        reason = f"no answer within {timeout:g} s" if isinstance(error.reason, TimeoutError) else str(error.reason)
    except OSError as error:  # a connection reset or closed mid-answer
        reason = str(error)
    raise TrackingUnavailable(f"The tracking server at {uri} is unreachable: {reason}.")


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


def summarise(run, champion: str | None = None) -> RunSummary:
    """An MLflow run as the dashboard and the champion rule see it."""
    return RunSummary(
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        status=run.info.status,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        champion=run.info.run_id == champion,
    )


def list_runs(topology: str) -> list[RunSummary]:
    """Every run of a topology's experiment, champion first; raises TrackingUnavailable."""
    check_tracking_reachable()
    try:
        tracking = client()
        experiment = tracking.get_experiment_by_name(experiment_name(topology))
        if experiment is None:
            return []
        runs = tracking.search_runs(
            [experiment.experiment_id], max_results=500, order_by=["attributes.start_time DESC"]
        )
        champion = champion_run_id(topology, tracking)
    except TrackingUnavailable:
        raise
    except Exception as error:  # sqlalchemy, REST and permission errors all mean the same thing to a page
        raise TrackingUnavailable(f"The tracking store at {tracking_uri()} cannot be read: {error}") from error
    return sorted((summarise(run, champion) for run in runs), key=lambda s: not s.champion)


def finished_run(topology: str, run: str, kinds: tuple[str, ...] = ("trained", "evaluation")) -> RunSummary:
    """The finished, not deleted run of ``topology`` whose kind (KIND_TAG) is one of ``kinds``: the one with id
    ``run`` (in any of the topology's experiments, a dry run's too), or else the newest of that name in its main
    experiment. Raises SystemExit naming what was looked for: the commands that score a logged run use it."""
    from mlflow.exceptions import MlflowException

    def wanted(candidate: RunSummary) -> bool:
        return candidate.status == "FINISHED" and candidate.tags.get(KIND_TAG, "trained") in kinds

    matching = [r for r in list_runs(topology) if r.run_name == run and wanted(r)]
    try:
        found = client().get_run(run)
        by_id = summarise(found)
        if found.info.lifecycle_stage == "active" and by_id.tags.get(TOPOLOGY_TAG) == topology and wanted(by_id):
            matching.append(by_id)
    except MlflowException:  # not a run id
        pass
    if not matching:
        raise SystemExit(f"no finished {' or '.join(kinds)} {topology} run named or with id {run!r}")
    return max(matching, key=lambda r: r.start_time or 0)


def dataset_of(run: RunSummary) -> str:
    return run.tags.get(DATASET_TAG, BUILTIN_DATASET)


def champion_alias(dataset: str = BUILTIN_DATASET) -> str:
    """The registry alias of a data set's champion: ``champion`` (the one the pages serve) for the built-in data,
    ``champion-<data set>`` for each other."""
    if dataset == BUILTIN_DATASET:
        return CHAMPION_ALIAS
    return f"{CHAMPION_ALIAS}-{re.sub(r'[^A-Za-z0-9_-]', '-', dataset)}"  # the characters an alias may hold


def why_not_crowned(run: RunSummary) -> str | None:
    """Why the automatic rule may not crown this run (None when it may)."""
    if not run.has_checkpoint:
        return "an evaluation run has no model to serve"
    if run.tags.get(DRY_RUN_TAG) == "true":
        return "it is a dry run"
    examples = run.tags.get(VAL_EXAMPLES_TAG)
    if examples is not None and int(examples) < MIN_VAL_EXAMPLES:
        return f"its validation set has {examples} examples, fewer than the {MIN_VAL_EXAMPLES} a champion needs"
    return None


def best_on_validation(runs: list[RunSummary], like: RunSummary | None = None) -> RunSummary | None:
    """The run whose selection metric (measured on validation, higher is better) is highest among those that may be
    crowned and are comparable with ``like``: same data set, same selection metric. Without ``like``, among the
    runs on the built-in data set (how the shipped bundles pick theirs)."""
    dataset = dataset_of(like) if like else BUILTIN_DATASET
    scored = [
        r
        for r in runs
        if why_not_crowned(r) is None
        and dataset_of(r) == dataset
        and r.tags.get(SELECTION_TAG) in r.metrics
        and (like is None or r.tags[SELECTION_TAG] == like.tags.get(SELECTION_TAG))
    ]
    return max(scored, key=lambda r: r.metrics[r.tags[SELECTION_TAG]], default=None)


def champion_run_id(topology: str, tracking=None, dataset: str = BUILTIN_DATASET) -> str | None:
    tracking = tracking or client()
    try:
        version = tracking.get_model_version_by_alias(registered_model_name(topology), champion_alias(dataset))
    except Exception:  # no registered model or no alias yet: there is simply no champion
        return None
    return version.run_id


def _start_time(pid: int) -> str:
    """When the process started, in clock ticks after boot ("" without /proc, or when it is gone): a pid that a
    later process reuses does not pass for the run's own process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5); the name before ")" may hold spaces


def process_identity() -> str:
    """This process as PROCESS_TAG records it."""
    return f"{socket.gethostname()}/{os.getpid()}/{_start_time(os.getpid())}"


def process_alive(identity: str) -> bool | None:
    """Whether the process of a PROCESS_TAG still runs; None when nobody here can tell (it ran on another machine,
    or the tag was not written by process_identity)."""
    try:
        host, pid, started = identity.split("/")
        pid = int(pid)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    if started:
        return _start_time(pid) == started
    try:  # a system without /proc: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_dead_runs(topology: str) -> list[str]:
    """End, as KILLED with ENDED_TAG saying why, every RUNNING run of the topology whose training process on this
    machine is gone (``kill -9``, a crash, a reboot), which would otherwise stay RUNNING for ever; returns their
    ids. The trainer calls it before it starts or resumes a run, the dashboard whenever it lists runs. Sweep trials
    are runs too, in the topology's sweep experiments."""
    from models.sweep_store import SWEEP_SUFFIX  # imported here: sweep_store imports this module

    try:
        tracking = client()
        experiments = [
            tracking.get_experiment_by_name(experiment_name(topology) + suffix)
            for suffix in ("", DRY_RUN_SUFFIX, SWEEP_SUFFIX, SWEEP_SUFFIX + DRY_RUN_SUFFIX)
        ]
        ids = [experiment.experiment_id for experiment in experiments if experiment is not None]
        running = tracking.search_runs(ids, "attributes.status = 'RUNNING'", max_results=1000) if ids else []
        dead = [
            run
            for run in running
            if run.data.tags.get(PROCESS_TAG) and process_alive(run.data.tags[PROCESS_TAG]) is False
        ]
        for run in dead:
            tracking.set_tag(run.info.run_id, ENDED_TAG, f"reconcile: its process {run.data.tags[PROCESS_TAG]} is gone")
            tracking.set_terminated(run.info.run_id, "KILLED")
    except Exception as error:  # as in list_runs: to a caller, every failure here means the store cannot be used
        raise TrackingUnavailable(f"The tracking store at {tracking_uri()} cannot end dead runs: {error}") from error
    return [run.info.run_id for run in dead]


def metric_history(run_id: str, key: str) -> list[tuple[int, float, int]]:
    """(step, value, timestamp ms) of one metric of one run."""
    return [(m.step, m.value, m.timestamp) for m in client().get_metric_history(run_id, key)]


def download_checkpoint(run_id: str) -> Path:
    """The run's checkpoint folder on local disk, downloaded once per run into the cache."""
    import mlflow

    target = cache_dir() / "run-checkpoints" / run_id
    if not (target / CHECKPOINT_ARTIFACT).is_dir():
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=CHECKPOINT_ARTIFACT, dst_path=str(target), tracking_uri=tracking_uri()
        )
    return target / CHECKPOINT_ARTIFACT


def download_memory(run_id: str) -> Path | None:
    """The run's memory/ artifacts (span.json, units.json; training.memory_span logs them when a training ends) on
    local disk, in the cache; None while the run has none. Downloaded again whenever the logged files differ from
    the copy (a file logged since, a measurement repeated), into a fresh folder that then replaces the copy, so a
    reader never sees half a download."""
    import mlflow

    logged = {Path(a.path).name: a.file_size for a in client().list_artifacts(run_id, MEMORY_DIR) if not a.is_dir}
    if not logged:
        return None
    target = cache_dir() / "run-memory" / run_id / MEMORY_DIR
    if target.is_dir() and {p.name: p.stat().st_size for p in target.iterdir()} == logged:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=target.parent))
    mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=MEMORY_DIR, dst_path=str(fresh), tracking_uri=tracking_uri()
    )
    shutil.rmtree(target, ignore_errors=True)
    (fresh / MEMORY_DIR).rename(target)
    shutil.rmtree(fresh, ignore_errors=True)
    return target


def read_bundle(directory: Path) -> RunSummary:
    record = json.loads((directory / BUNDLE_RUN_FILE).read_text())
    metrics = {key: points[-1][1] for key, points in record.get("metrics", {}).items() if points}
    return RunSummary(
        run_id=None,
        run_name=record["run_name"],
        status=record.get("status", "FINISHED"),
        start_time=record.get("start_time"),
        end_time=record.get("end_time"),
        params=record.get("params", {}),
        metrics=metrics,
        tags=record.get("tags", {}),
        bundle_dir=directory,
    )


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


def bundle_key(folder: Path) -> str:
    """Identity of a bundle's content: same weights and record, same key, so re-importing adds nothing."""
    digest = hashlib.sha256()
    for name in (BUNDLE_RUN_FILE, "model.safetensors"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    return f"{folder.parent.name}/{folder.name}@{digest.hexdigest()[:16]}"
