"""Which runs exist, and the model behind each: from MLflow when it answers, from the shipped bundles when not."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboard.components.user_text import code, literal
from models import store
from models.checkpoint import Checkpoint, CheckpointError, load_checkpoint


@dataclass(frozen=True)
class RunCatalogue:
    runs: list[store.RunSummary]
    tracking_error: str | None  # set when the store could not be read and the shipped bundles stand in

    @property
    def from_tracking(self) -> bool:
        return self.tracking_error is None


# How long a reachability verdict stands: a page listing five topologies waits for a silent server once, not five
# times, and a server that comes back is used again this many seconds later, without a restart.
RECHECK_S = 5.0
_verdicts: dict[str, tuple[float, str | None]] = {}  # tracking URI -> (monotonic time of the check, its error)


def tracking_error() -> str | None:
    """Why tracking cannot be used right now (None when it can), checked at most every RECHECK_S per store."""
    uri = store.tracking_uri()
    checked, error = _verdicts.get(uri, (-float("inf"), None))
    if time.monotonic() - checked >= RECHECK_S:
        try:
            store.check_tracking_reachable()
            error = None
        except store.TrackingUnavailable as unavailable:
            error = str(unavailable)
        _verdicts[uri] = (time.monotonic(), error)
    return error


def run_catalogue(topology: str) -> RunCatalogue:
    """The topology's finished runs, or the shipped bundles while tracking is unavailable; cached per store, so
    pointing MLFLOW_TRACKING_URI elsewhere takes effect."""
    error = tracking_error()
    if error:
        return RunCatalogue(store.shipped_bundles(topology), error)
    return _catalogue(topology, store.tracking_uri())


@st.cache_data(ttl=20, show_spinner=False)
def _catalogue(topology: str, tracking_uri: str) -> RunCatalogue:
    try:
        runs = [r for r in store.list_runs(topology) if r.status == "FINISHED"]
        store.end_dead_runs(topology)  # a run whose process died is ended here, not left RUNNING
    except store.TrackingUnavailable as error:
        return RunCatalogue(store.shipped_bundles(topology), str(error))
    if not runs:  # a store that has never imported this topology's bundles
        return RunCatalogue(store.shipped_bundles(topology), None)
    return RunCatalogue(runs, None)


def tracking_notice(catalogue: RunCatalogue) -> None:
    if catalogue.tracking_error:
        st.warning(
            f"**Tracking is unavailable**, so this page serves the models shipped with RNN Lab. "
            f"{literal(catalogue.tracking_error)}",
            icon=":material/warning:",
        )


def run_label(run: store.RunSummary, builtin_dataset: str) -> str:
    """Name, validation score, data set (``builtin_dataset`` names the page's own) and whether it is the champion."""
    metric = run.tags.get(store.SELECTION_TAG)
    score = f" · {metric.removeprefix('best_')} {run.metrics[metric]:.4f}" if metric in run.metrics else ""
    dataset = store.dataset_of(run)
    data = builtin_dataset if dataset == store.BUILTIN_DATASET else dataset
    return f"{run.run_name}{score} · {data}{' · champion' if run.champion else ''}"


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def _load(run_id: str | None, bundle_dir: str | None) -> Checkpoint:
    # Cached models are shared by every browser session: they are only ever used in eval mode under no_grad.
    directory = Path(bundle_dir) if bundle_dir else store.download_checkpoint(run_id)
    return load_checkpoint(directory)


def load_run_model(run: store.RunSummary) -> Checkpoint:
    """The run's model, loaded once per process; raises CheckpointError for a corrupt or missing checkpoint."""
    try:
        return _load(run.run_id, str(run.bundle_dir) if run.bundle_dir else None)
    except CheckpointError:
        raise
    except Exception as error:  # an artifact download that fails is just as unusable as a corrupt file
        raise CheckpointError(f"cannot fetch the checkpoint of {run.run_name}: {error}") from error


def pick_model(topology: str, builtin_dataset: str = "built-in data") -> tuple[Checkpoint, store.RunSummary]:
    """A selector of the topology's runs with a checkpoint, each labelled with its data set, grouped by data set
    (the page's own, ``builtin_dataset``, first; default: its champion) and the chosen model, loaded.

    A run whose checkpoint cannot be loaded is reported and the page stops; the other runs stay selectable."""
    catalogue = run_catalogue(topology)
    tracking_notice(catalogue)
    candidates = sorted(
        (r for r in catalogue.runs if r.has_checkpoint),
        key=lambda r: (not r.champion, store.dataset_of(r) != store.BUILTIN_DATASET, store.dataset_of(r)),
    )
    if not candidates:
        st.info(
            "No trained model of this topology yet. Train one with "
            f"`make train T={topology}` or restore the shipped ones with `make run`."
        )
        st.stop()
    chosen = st.selectbox(
        f"Model (any logged run; the champion is the best on validation on {builtin_dataset})",
        candidates,
        format_func=lambda run: run_label(run, builtin_dataset),
        key=f"{topology}-model",
    )
    try:
        return load_run_model(chosen), chosen
    except CheckpointError as error:
        st.error(f"Run {code(chosen.run_name)} is unusable: {literal(error)}. Pick another run above.")
        st.stop()


@st.cache_resource(show_spinner=False, max_entries=16)
def _pipeline(kind: str, directory: str, _build, _checkpoint):
    return _build(_checkpoint)


def checkpoint_pipeline(build, checkpoint: Checkpoint):
    """``build(checkpoint)`` (the model with its tokenizers, say), made once per checkpoint folder and shared by
    every session, so per-pipeline caches such as a tokenizer's word cache survive reruns."""
    return _pipeline(build.__qualname__, str(checkpoint.directory), build, checkpoint)
