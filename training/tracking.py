"""MLflow bookkeeping for training: experiments, runs, the registry and the champion alias."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import torch
from mlflow.exceptions import MlflowException

from models import store
from models.checkpoint import save_checkpoint


def ensure_experiment(topology: str, suffix: str = "") -> str:
    """The topology's experiment id, created on first use with its artifacts beside the default store."""
    client = store.client()
    name = store.experiment_name(topology) + suffix
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=store.artifact_location(name))


def machine_tags() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=store.REPO_ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "rnnlab.cpu": cpu,
        "rnnlab.threads": str(torch.get_num_threads()),
        "rnnlab.torch": torch.__version__,
        "mlflow.source.git.commit": commit or "unknown",
    }


def log_served_model(run_id: str) -> str:
    """The run's checkpoint as a pyfunc model (models.serving) in the run's artifacts, written once; its URI. A
    run without a checkpoint (logged by hand) has none: its checkpoint's URI is returned, which no server loads."""
    from models import serving  # imported late: only runs that are registered need it

    client = store.client()
    artifact_uri = client.get_run(run_id).info.artifact_uri
    if not client.list_artifacts(run_id, store.CHECKPOINT_ARTIFACT):
        return f"{artifact_uri}/{store.CHECKPOINT_ARTIFACT}"
    if not client.list_artifacts(run_id, serving.ARTIFACT_PATH):
        with tempfile.TemporaryDirectory() as scratch:
            checkpoint = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=store.CHECKPOINT_ARTIFACT,
                dst_path=scratch,
                tracking_uri=store.tracking_uri(),
            )
            model = serving.save_served_model(
                Path(checkpoint), Path(scratch) / serving.ARTIFACT_PATH, store.REPO_ROOT / "requirements.txt"
            )
            client.log_artifacts(run_id, str(model), serving.ARTIFACT_PATH)
    return f"{artifact_uri}/{serving.ARTIFACT_PATH}"


def register(topology: str, run_id: str):
    """The run's served model (log_served_model) as a new version of the topology's registered model (created on
    first use): ``mlflow models serve -m models:/rnnlab-<topology>@champion`` answers with the champion."""
    client = store.client()
    name = store.registered_model_name(topology)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name, description=f"RNN Lab {topology} models; alias champion is served.")
    return client.create_model_version(name, source=log_served_model(run_id), run_id=run_id)


def register_and_crown(topology: str, run_id: str) -> tuple[bool, str]:
    """Register the run's checkpoint unless it may not be crowned (a dry run, a tiny validation set: see
    store.why_not_crowned); move its data set's champion alias to it if it is now the best on validation among
    comparable runs (store.best_on_validation), unless that champion was promoted by hand.

    Returns whether it became champion, and a sentence saying why or why not."""
    client = store.client()
    run = store.summarise(client.get_run(run_id))
    if (reason := store.why_not_crowned(run)) is not None:
        return False, f"not crowned automatically: {reason}"
    version = register(topology, run_id)
    dataset = store.dataset_of(run)
    best = store.best_on_validation([r for r in store.list_runs(topology) if r.status == "FINISHED"], like=run)
    if best is None:
        return False, "not crowned: it has no validation score"
    if best.run_id != run_id:
        return False, f"{best.run_name} stays best on {dataset} data by {run.tags[store.SELECTION_TAG]}"
    alias = store.champion_alias(dataset)
    name = store.registered_model_name(topology)
    try:
        holder = client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no champion of this data set yet
        holder = None
    if holder is not None and holder.tags.get(store.PROMOTED_TAG):
        return False, f"best on validation, but run {holder.run_id} was made champion by hand"
    holder_metric = client.get_run(holder.run_id).data.tags.get(store.SELECTION_TAG) if holder else None
    if holder_metric not in (None, run.tags[store.SELECTION_TAG]):
        return False, (
            f"the champion of {dataset} data is selected on {holder_metric}, which this run's "
            f"{run.tags[store.SELECTION_TAG]} does not compare with"
        )
    client.set_registered_model_alias(name, alias, version.version)
    return True, f"champion of {dataset} data ({alias})"


def replace_run(topology: str, old_run_id: str, new_run_id: str) -> None:
    """Retire a run that another now stands for (a shipped bundle's earlier import, replaced by its new import): the
    old run is deleted (MLflow's soft delete: ``mlflow runs restore`` brings the run back, not its model versions,
    which are deleted for good), so no page lists it and the champion rule does not weigh the same run twice. A
    champion alias it held stays chosen by hand where it was and the new run is the same training run (its start
    time; new scores logged since), else the automatic rule picks among the runs left, and says so."""
    client = store.client()
    old, new = store.summarise(client.get_run(old_run_id)), store.summarise(client.get_run(new_run_id))
    name = store.registered_model_name(topology)
    alias = store.champion_alias(store.dataset_of(old))
    try:
        holder = client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no registered model or no champion yet
        holder = None
    for version in client.search_model_versions(f"name = '{name}' and run_id = '{old_run_id}'"):
        try:
            client.delete_model_version(name, version.version)
        except MlflowException as error:  # another import of the same bundle, at the same moment, deleted it first
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    client.delete_run(old_run_id)
    if holder is None or holder.run_id != old_run_id:
        return
    by_hand = holder.tags.get(store.PROMOTED_TAG)
    heir = new if by_hand and new.start_time == old.start_time else None
    if heir is None:
        heir = store.best_on_validation([r for r in store.list_runs(topology) if r.status == "FINISHED"], like=old)
        if by_hand:
            print(
                f"the champion chosen by hand, {old.run_name}, was replaced by other weights: the automatic rule "
                f"chose {heir.run_name if heir else 'no run'}",
                file=sys.stderr,
            )
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{heir.run_id}'") if heir else []
    if not versions:  # nothing registered to take it: no champion until a run is crowned
        return
    version = str(max(int(v.version) for v in versions))  # the newest, if it was registered more than once
    if heir is new and by_hand:
        client.set_model_version_tag(name, version, store.PROMOTED_TAG, by_hand)
    client.set_registered_model_alias(name, alias, version)


def promote(topology: str, run_id: str) -> str:
    """Make the run its data set's champion by hand: the automatic rule moves that alias no more. Returns it."""
    client = store.client()
    found = client.get_run(run_id)
    if found.info.lifecycle_stage == "deleted":  # by hand, or replaced by a newer import of its bundle
        raise SystemExit(
            f"error: run {run_id} ({found.info.run_name}) was deleted and cannot be champion; "
            f"`mlflow runs restore --run-id {run_id}` brings it back first"
        )
    run = store.summarise(found)
    if run.status != "FINISHED" or run.evaluation_only:
        raise SystemExit(
            f"error: run {run_id} ({run.status}, {run.tags.get(store.KIND_TAG, 'trained')}) cannot be "
            "champion: only a finished trained run can"
        )
    # The tag the trainer sets when it logs a checkpoint: a sweep trial imported from a bundle is a finished
    # trained run that carries results only.
    if store.CHECKPOINT_BYTES_TAG not in run.tags:
        raise SystemExit(
            f"error: run {run_id} ({run.run_name}) cannot be champion: it kept no checkpoint to serve "
            "(a shipped sweep's trials carry results only); train its settings as a full run instead"
        )
    version = register(topology, run_id)
    client.set_model_version_tag(version.name, version.version, store.PROMOTED_TAG, "by hand")
    alias = store.champion_alias(store.dataset_of(run))
    client.set_registered_model_alias(version.name, alias, version.version)
    return alias


RESUME_FOLDER, RESUME_FILE = "resume", "state.pt"  # the run artifact a resume starts from


class MlflowRunLogger:
    """The trainer's RunLogger: stepped float metrics, a resumable state and the best checkpoint, in MLflow."""

    def __init__(self, run_id: str, topology: str, model_config, extra_files=None, saved_epoch: int = 0):
        self.run_id, self.topology, self.model_config = run_id, topology, model_config
        self.extra_files = extra_files  # callable(folder) writing a tokenizer etc. beside the weights
        self.client = store.client()
        self.saved_epoch = saved_epoch  # the epoch of the run's last resume state (0: none yet)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.client.log_metric(self.run_id, key, float(value), step=step)

    def save_state(self, state: dict) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / RESUME_FILE
            torch.save(state, path)
            self.client.log_artifact(self.run_id, str(path), RESUME_FOLDER)
        self.saved_epoch = state["epoch"]

    def save_best(self, model: torch.nn.Module) -> None:
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = save_checkpoint(
                Path(folder) / store.CHECKPOINT_ARTIFACT, self.topology, self.model_config, model
            )
            if self.extra_files:
                self.extra_files(checkpoint)
            self.client.log_artifacts(self.run_id, str(checkpoint), store.CHECKPOINT_ARTIFACT)
            size = sum(path.stat().st_size for path in checkpoint.iterdir())
            self.client.set_tag(self.run_id, store.CHECKPOINT_BYTES_TAG, str(size))


class StageLogger:
    """The RunLogger of a stage before the main one: its metrics go to the run under a prefix; its weights live
    on inside the main model, so it saves neither checkpoints nor a resume state (a run interrupted in this stage
    has nothing to resume from yet)."""

    def __init__(self, logger: MlflowRunLogger, prefix: str):
        self.logger, self.prefix = logger, prefix

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.logger.log_metrics({f"{self.prefix}{key}": value for key, value in metrics.items()}, step)

    def save_state(self, state: dict) -> None:
        pass

    def save_best(self, model: torch.nn.Module) -> None:
        pass


def load_resume_state(run_id: str) -> dict | None:
    """The state the run saved after its last finished epoch; None when it saved none (stopped in its first)."""
    artifact = f"{RESUME_FOLDER}/{RESUME_FILE}"
    if artifact not in {saved.path for saved in store.client().list_artifacts(run_id, RESUME_FOLDER)}:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact, dst_path=folder, tracking_uri=store.tracking_uri()
        )
        return torch.load(path, weights_only=True)


def set_tracking() -> None:
    """Point MLflow at the store, or exit in one line with the URI and the cause when it cannot be used (a server
    that does not answer, a store locked or broken); every CLI that tracks calls it first."""
    try:
        store.check_tracking_reachable(creating=True)
    except store.TrackingUnavailable as error:
        raise SystemExit(f"error: {error}") from None
    mlflow.set_tracking_uri(store.tracking_uri())
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def log_evaluation_run(
    topology: str,
    run_name: str,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str] | None = None,
    texts: dict[str, str] | None = None,
) -> str:
    """A non-neural peer (VADER, Apertium…) scored on the same test split: params and test metrics, no curves and
    no checkpoint, tagged so comparisons show it beside the trained runs and it never becomes champion."""
    client = store.client()
    run_id = client.create_run(ensure_experiment(topology), run_name=run_name).info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, str(value))
    for key, value in {
        **machine_tags(),
        **(tags or {}),
        store.TOPOLOGY_TAG: topology,
        store.KIND_TAG: "evaluation",
    }.items():
        client.set_tag(run_id, key, value)
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value), step=0)
    for name, text in (texts or {}).items():
        client.log_text(run_id, text, name)
    client.set_terminated(run_id, "FINISHED")
    return run_id
