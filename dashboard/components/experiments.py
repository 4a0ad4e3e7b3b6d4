"""The Experiments page's pieces: a launch form generated from a topology's training settings, a sweep's launch
form and its sweeps, the job queue watched live, the runs with their actions (resume, rename, delete, restore, make
champion) and their reports.

Training code is never imported here: the settings come from ``python -m training.describe``, every run, resume
and promotion is a ``python -m training.train`` process and every sweep a ``python -m training.sweep`` one
(models.jobs queues the long ones).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.components.run_comparison import NOT_APPLICABLE, curves_figure, run_colours
from dashboard.components.runs import tracking_error
from dashboard.components.sweep_view import render_sweeps
from dashboard.components.user_text import code, literal
from models import jobs, store
from models.sweep_store import SWEEP_SUFFIX

ALLOW_TRAINING_ENV = "RNNLAB_ALLOW_TRAINING"
MLFLOW_UI_ENV = "RNNLAB_MLFLOW_UI_URL"
LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"
WATCH_EVERY_S = 2.0  # how often the jobs and live curves refresh while a job is queued or running
LOG_LINES = 12
PROMOTE_TIMEOUT_S = 180
PROMOTE_PENDING = "experiments-promote-pending"  # the run whose Make champion awaits its confirmation
# The files whose change can change a topology's settings: the description is cached until one of them does.
SETTING_SOURCES = ("training/trainer.py", "training/tasks/{t}.py", "models/{t}.py", "training/configs/{t}")


def training_allowed() -> bool:
    return os.environ.get(ALLOW_TRAINING_ENV, "1") != "0"


def python_command(*arguments: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=store.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


# ----------------------------------------------------------------------------------------------- the settings form


class SettingsUnavailable(RuntimeError):
    """``training.describe`` failed; the message is its last line."""


def _sources_fingerprint(topology: str) -> float:
    paths = [store.REPO_ROOT / pattern.format(t=topology) for pattern in SETTING_SOURCES]
    files = [p for path in paths for p in ([path] if path.is_file() else path.glob("*.toml"))]
    return max((p.stat().st_mtime for p in files), default=0.0)


@st.cache_data(show_spinner="Reading the topology's settings…", max_entries=16)
def _described(topology: str, fingerprint: float) -> dict:
    result = python_command("-m", "training.describe", topology, timeout=120)
    if result.returncode:
        raise SettingsUnavailable(last_line(result.stderr))
    return json.loads(result.stdout)


def settings(topology: str) -> dict:
    """The topology's settings schema and presets (see training/describe.py), read once per change of its code."""
    return _described(topology, _sources_fingerprint(topology))


def as_text(value, separator: str = ", ") -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return separator.join(map(str, value))
    return str(value)


def _number(text: str, kind: str):
    value = int(text) if kind == "int" else float(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError
    return value


def check_field(field: dict, raw) -> tuple[object, str | None]:
    """The typed value of one form entry, or why it is not allowed."""
    kind = field["type"]
    if kind in ("bool", "str"):
        if field.get("choices") and raw not in field["choices"]:
            return raw, f"choose one of {', '.join(field['choices'])}"
        return raw, None
    item = kind.removesuffix(" list")
    parts = [part.strip() for part in str(raw).split(",")] if kind.endswith(" list") else [str(raw).strip()]
    try:
        values = [_number(part, item) for part in parts]
    except ValueError:
        what = "whole number" if item == "int" else "number"
        return raw, f"{literal(raw) or 'nothing'} is not a {what}" + (
            " list, e.g. 16, 32" if kind.endswith(" list") else ""
        )
    low, high = field.get("min"), field.get("max")
    for value in values:
        if low is not None and (value < low or (field.get("min_exclusive") and value == low)):
            return raw, f"must be {'above' if field.get('min_exclusive') else 'at least'} {low:g}"
        if high is not None and value > high:
            return raw, f"must be at most {high:g}"
    return (values if kind.endswith(" list") else values[0]), None


def check_form(fields: list[dict], entries: dict[str, object]) -> tuple[dict[str, object], dict[str, str]]:
    """Typed values of every entry, and a message for each field that is not allowed."""
    values, errors = {}, {}
    for field in fields:
        values[field["key"]], error = check_field(field, entries[field["key"]])
        if error:
            errors[field["key"]] = error
    return values, errors


def launch_argv(
    topology: str,
    preset: dict | None,
    defaults: dict[str, object],
    values: dict[str, object],
    dry_run: bool,
    run_name: str,
) -> list[str]:
    """``-m training.train …`` for the form: the preset's file, then ``--set`` for each value that differs from
    what the preset (or, without one, the config's defaults) gives."""
    argv = ["-m", "training.train", topology]
    if preset:
        argv += ["--config", preset["file"]]
    for key, value in values.items():
        if as_text(defaults.get(key)) != as_text(value):
            argv += ["--set", f"{key}={as_text(value, separator=',')}"]
    if run_name.strip():
        argv += ["--run-name", run_name.strip()]
    return argv + (["--dry-run"] if dry_run else [])


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str  # what it rests on, in a sentence


def estimate(topology: str, preset_name: str | None, epochs: int) -> Estimate | None:
    """How long ``epochs`` epochs would take at the pace of the shipped run made from this preset: its mean logged
    epoch time, plus what it spent outside epochs (data, pretraining, test). None without such a run."""
    bundle = next(
        (b for b in store.shipped_bundles(topology) if preset_name and b.run_name.replace("-", "_") == preset_name),
        None,
    )
    if bundle is None:
        return None
    epoch_seconds = [value for _, value, _ in store.run_history(bundle, "epoch_seconds")]
    if not epoch_seconds:
        return None
    per_epoch = sum(epoch_seconds) / len(epoch_seconds)
    outside = max(0.0, (bundle.duration_s or 0.0) - sum(epoch_seconds))
    basis = (
        f"the shipped run {bundle.run_name}: {per_epoch:.0f} s per epoch over {len(epoch_seconds)} epochs and "
        f"{outside:.0f} s outside them, on {bundle.tags.get('rnnlab.cpu', 'an unnamed CPU')} with "
        f"{bundle.tags.get('rnnlab.threads', '?')} thread(s); early stopping may end sooner"
    )
    return Estimate(outside + per_epoch * epochs, basis)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _section(key: str) -> str:
    head, _, rest = key.partition(".")
    return head.capitalize() if rest else "Training and data"


def settings_inputs(fields: list[dict], preset: dict | None, form_key: str) -> dict[str, object]:
    """One input per field, grouped by config section, with the field's comment as its help; what was entered."""
    defaults = preset["values"] if preset else {}
    entries = {}
    for section in dict.fromkeys(_section(f["key"]) for f in fields):
        st.markdown(f"**{section}**")
        columns = st.columns(4)
        for index, field in enumerate(f for f in fields if _section(f["key"]) == section):
            default, key = defaults.get(field["key"], field["default"]), f"{form_key}-{field['key']}"
            box = columns[index % 4]
            help_text = field["help"] or None
            if field["type"] == "bool":
                entries[field["key"]] = box.checkbox(field["key"], value=bool(default), help=help_text, key=key)
            elif field.get("choices"):
                options = list(dict.fromkeys([*field["choices"], default]))
                entries[field["key"]] = box.selectbox(
                    field["key"], options, index=options.index(default), help=help_text, key=key
                )
            else:
                entries[field["key"]] = box.text_input(field["key"], as_text(default), help=help_text, key=key)
    return entries


def launch_form(topology: str) -> None:
    """Presets, dry run, every setting, the estimated duration and Launch; nothing starts until every field is
    valid."""
    try:
        described = settings(topology)
    except (SettingsUnavailable, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        st.error(f"The training settings of this topology cannot be read: {literal(error)}")
        return
    presets = {preset["name"]: preset for preset in described["presets"]}
    preset_name = st.selectbox(
        "Preset (a shipped config)",
        [*presets, "defaults"],
        key=f"{topology}-preset",
        help="The TOML files in training/configs/: how the shipped runs were trained.",
    )
    preset = presets.get(preset_name)
    if preset and preset["summary"]:
        st.caption(preset["summary"])
    form_key = f"{topology}-{preset_name}"
    # Everything a launch takes is in one form: typing reruns nothing, and Launch sends it all at once.
    with st.form(form_key, border=True):
        left, right = st.columns([3, 1])
        run_name = left.text_input("Run name (optional)", key=f"{topology}-run-name", max_chars=120)
        dry_run = right.toggle(
            "Dry run",
            value=True,
            key=f"{topology}-dry-run",
            help="Two tiny batches and one epoch, into the -dry-run experiment: checks a setting "
            "in seconds. Never crowned champion automatically.",
        )
        entries = settings_inputs(described["fields"], preset, form_key)
        launched = st.form_submit_button("Launch", type="primary", icon=":material/rocket_launch:")
    values, errors = check_form(described["fields"], entries)
    epochs = values.get("epochs") if "epochs" not in errors else None
    guess = estimate(topology, preset_name if preset else None, epochs) if epochs else None
    full = (
        f"{epochs} epochs up to about {duration(guess.seconds)}, at the pace of {literal(guess.basis)}"
        if guess
        else "a full run: unknown (no shipped run of this preset logged its epoch times)"
    )
    st.caption(
        f"Estimated duration: a dry run trains two batches, and loading its data takes most of its time "
        f"(seconds to a minute); {full}."
    )
    if not launched:
        return
    if errors:
        st.error(
            "Nothing was launched; fix these settings first:\n\n"
            + "\n".join(f"- {code(key)}: {message}" for key, message in errors.items())
        )
        return
    defaults = preset["values"] if preset else {field["key"]: field["default"] for field in described["fields"]}
    argv = launch_argv(topology, preset, defaults, values, dry_run, run_name)
    title = f"{run_name.strip() or preset_name}{' (dry run)' if dry_run else f', {epochs} epochs'}"
    announce(jobs.enqueue(topology, title, argv))


def announce(job: jobs.Job) -> None:
    st.toast(f"Job {job.id} {'started' if job.status == jobs.RUNNING else 'queued'}", icon=":material/check:")


# ----------------------------------------------------------------------------------------------- sweeps

SPACES_FOLDER = "training/sweeps"
DEFAULT_TRIALS = 24  # the shipped sentiment sweep's count


def space_files(topology: str) -> list[str]:
    """The topology's search spaces, as paths from the repository root: ``<topology>.toml`` and
    ``<topology>-<variant>.toml`` in the spaces folder (many_to_many's do not catch many_to_many_synced's)."""
    folder = store.REPO_ROOT / SPACES_FOLDER
    return sorted(
        f"{SPACES_FOLDER}/{path.name}"
        for path in folder.glob("*.toml")
        if path.stem == topology or path.stem.startswith(f"{topology}-")
    )


def sweep_argv(topology: str, space: str, trials: int, dry_run: bool) -> list[str]:
    return [
        "-m",
        "training.sweep",
        topology,
        "--space",
        space,
        "--trials",
        str(trials),
        *(["--dry-run"] if dry_run else []),
    ]


def sweep_launch_form(topology: str) -> None:
    """A space file, the number of trials and dry run; Launch sweep queues one ``training.sweep`` job."""
    spaces = space_files(topology)
    if not spaces:
        st.caption(
            f"No search space for this topology in {SPACES_FOLDER}/ (it would be {topology}.toml); "
            "docs/sweeps.md describes the format."
        )
        return
    with st.form(f"{topology}-sweep-launch", border=True):
        space_column, trials_column, dry_run_column = st.columns([3, 1, 1])
        space = space_column.selectbox("Search space", spaces, key=f"{topology}-sweep-space")
        trials = trials_column.number_input(
            "Trials",
            min_value=1,
            max_value=1000,
            value=DEFAULT_TRIALS,
            step=1,
            key="experiments-sweep-trials",
            help="Complete and pruned trials the sweep runs to.",
        )
        dry_run = dry_run_column.toggle(
            "Dry run",
            value=True,
            key="experiments-sweep-dry-run",
            help="Each trial two tiny batches and one epoch, into the -sweeps-dry-run "
            "experiment: checks the space in seconds per trial.",
        )
        launched = st.form_submit_button("Launch sweep", type="primary", icon=":material/rocket_launch:")
    if launched:
        title = f"sweep {Path(space).stem}, {trials} trials{' (dry run)' if dry_run else ''}"
        announce(jobs.enqueue(topology, title, sweep_argv(topology, space, int(trials), dry_run)))
        st.rerun()  # the Jobs panel above lists the new job at once


def ask_to_promote(run_id: str) -> None:
    """Start the promote flow for a run: its confirmation shows beside the run (promote_confirmation)."""
    st.session_state[PROMOTE_PENDING] = run_id


def sweeps(topology: str) -> None:
    """The launch form (where training is allowed), the topology's sweeps and, for a trial whose Promote was
    pressed, the same confirmation as any run's."""
    allowed = training_allowed()
    if allowed:
        sweep_launch_form(topology)
    dry_runs = st.toggle(
        "Show the dry-run sweeps",
        key="experiments-sweep-show-dry-runs",
        help="Dry-run sweeps live in an experiment of their own and are hidden by default.",
    )
    render_sweeps(
        topology,
        on_promote=(lambda trial: ask_to_promote(trial.run_id)) if allowed else None,
        dry_run=dry_runs,
        key=f"{topology}-sweep" + ("-dry-run" if dry_runs else ""),
    )
    pending = st.session_state.get(PROMOTE_PENDING)
    if not (allowed and pending) or tracking_error():
        return
    # A trial lives in a sweep experiment, so the run inspector below never lists it: its confirmation is here.
    tracking = store.client()
    trial = tracking.get_run(pending)
    experiment = tracking.get_experiment(trial.info.experiment_id).name
    if experiment.startswith(store.experiment_name(topology) + SWEEP_SUFFIX):  # this topology's, dry runs' too
        promote_confirmation(
            topology, TrackedRun(store.summarise(trial), trial.info.experiment_id), tracked_runs(topology)
        )


# ----------------------------------------------------------------------------------------------- runs in the store


def experiment_ids(topology: str) -> dict[str, str]:
    """The topology's experiments (its own and its dry runs') that exist: id -> name."""
    tracking = store.client()
    found = [
        tracking.get_experiment_by_name(store.experiment_name(topology) + suffix)
        for suffix in ("", store.DRY_RUN_SUFFIX)
    ]
    return {experiment.experiment_id: experiment.name for experiment in found if experiment is not None}


@dataclass(frozen=True)
class TrackedRun:
    summary: store.RunSummary
    experiment_id: str

    @property
    def dry_run(self) -> bool:
        return self.summary.tags.get(store.DRY_RUN_TAG) == "true"


def tracked_runs(topology: str, deleted: bool = False) -> list[TrackedRun]:
    """Every run of the topology, dry runs and unfinished ones included, newest first (or the deleted ones)."""
    from mlflow.entities import ViewType

    tracking = store.client()
    ids = experiment_ids(topology)
    if not ids:
        return []
    champion = store.champion_run_id(topology, tracking)
    found = tracking.search_runs(
        list(ids),
        run_view_type=ViewType.DELETED_ONLY if deleted else ViewType.ACTIVE_ONLY,
        max_results=500,
        order_by=["attributes.start_time DESC"],
    )
    return [TrackedRun(store.summarise(run, champion), run.info.experiment_id) for run in found]


def job_run_id(job: jobs.Job) -> str | None:
    """The MLflow run a job trains: known once it ended or when it resumes one; while it runs, the run whose
    process tag names the job's command (train.py tags it "<host>/<pid>/<start>")."""
    if job.run_id or not job.child_pid:
        return job.run_id
    ids = experiment_ids(job.topology)
    if not ids:
        return None
    found = store.client().search_runs(
        list(ids),
        f"tags.`{store.PROCESS_TAG}` LIKE '%/{job.child_pid}/%' and "
        f"attributes.start_time >= {int((job.started_at or 0) * 1000)}",
        max_results=1,
    )
    if not found:
        return None
    jobs.set_run_id(job.id, found[0].info.run_id)
    return found[0].info.run_id


# ----------------------------------------------------------------------------------------------- watching jobs


def job_row(job: jobs.Job, run: store.RunSummary | None) -> dict:
    progress = jobs.progress(jobs.log_lines(job, count=3)) if job.status == jobs.RUNNING else None
    epochs = run.params.get("epochs") if run else None
    batch_size = int(run.params.get("batch_size", 0)) if run else 0
    epoch = progress.epoch if progress and progress.epoch else None
    samples = (
        progress.batches_per_second * batch_size
        if progress and batch_size
        else run.metrics.get("samples_per_sec")
        if run
        else None
    )
    started, ended = job.started_at, job.ended_at or time.time()
    return {
        "job": job.id,
        "what": job.title,
        "status": job.status,
        "epoch": f"{epoch} of {epochs}" if epoch and epochs else "—",
        "ETA": duration(progress.seconds_left) if progress else "—",
        "samples/s": f"{samples:,.0f}" if samples else "—",
        "run time": duration(ended - started) if started else "—",
        "queued": time.strftime("%H:%M:%S", time.localtime(job.queued_at)),
        "note": job.error or "",
    }


def jobs_panel(topology: str) -> None:
    """The topology's queued, running and recent jobs: a table, then the log and buttons of each active job and of
    the latest ended one, and the running runs' curves."""
    jobs.reconcile()
    listed = jobs.list_jobs(topology, limit=10)
    # Without tracking, the jobs are still listed, from the queue and their logs alone.
    runs = {} if tracking_error() else {run.summary.run_id: run.summary for run in tracked_runs(topology)}
    job_runs = {job.id: runs.get(job_run_id(job) or "") if runs else None for job in listed}
    # A job that started, ended or got its MLflow run changes the runs below too: then the whole page reruns.
    state = [(job.id, job.status, job_runs[job.id] is not None) for job in listed if job.active]
    if st.session_state.get(f"{topology}-active-jobs", state) != state:
        st.session_state[f"{topology}-active-jobs"] = state
        st.rerun()
    st.session_state[f"{topology}-active-jobs"] = state
    if not listed:
        st.caption("No jobs yet: launch one above.")
        return
    queue = [job for job in jobs.list_jobs(limit=1000) if job.active]
    if len(queue) > len(state):
        st.caption(
            f"The server's queue also holds {len(queue) - len(state)} job(s) of other topologies; "
            f"{jobs.max_jobs()} job(s) run at a time ({jobs.MAX_JOBS_ENV})."
        )
    st.dataframe(pd.DataFrame([job_row(job, job_runs[job.id]) for job in listed]), hide_index=True, width="stretch")
    latest_ended = next((job for job in listed if not job.active), None)
    for job in listed:
        if job.active or job is latest_ended:
            job_details(job, job_runs[job.id])
    watched = [job_runs[job.id] for job in listed if job.status == jobs.RUNNING and job_runs[job.id]]
    if watched:
        live_curves(watched, next((run for run in runs.values() if run.champion), None))


def job_details(job: jobs.Job, run: store.RunSummary | None) -> None:
    with st.container(border=True):
        st.markdown(f"**Job {job.id}** · {code(job.title)} · {job.status}")
        if job.status == jobs.FAILED and job.error:
            st.error(f"It failed: {literal(job.error)}")
        lines = jobs.log_lines(job, LOG_LINES)
        if lines:
            st.code("\n".join(lines), language=None)
        elif job.status == jobs.QUEUED:
            st.caption("Waiting for the jobs before it.")
        if training_allowed() and job.active:
            if st.button("Cancel", key=f"experiments-cancel-{job.id}", icon=":material/stop_circle:"):
                st.toast(jobs.cancel(job.id))
        if run is not None:
            mlflow_link(run)


def live_curves(watched: list[store.RunSummary], champion: store.RunSummary | None) -> None:
    """The running runs' curves beside the champion's, for the metric the champion is chosen on and the loss."""
    runs = [*watched, *([champion] if champion else [])]
    selection = (champion or watched[0]).tags.get(store.SELECTION_TAG, "").removeprefix("best_")
    columns = st.columns(2)
    for index, metric in enumerate(m for m in (selection, "val_loss") if m):
        columns[index].plotly_chart(
            curves_figure(runs, metric, False, run_colours(runs)), width="stretch", key=f"experiments-live-{metric}"
        )


def watch(topology: str) -> None:
    """The jobs panel, as a fragment that reruns on its own while a job is queued or running."""
    busy = any(job.active for job in jobs.list_jobs(topology, limit=10))
    st.fragment(jobs_panel, run_every=WATCH_EVERY_S if busy else None)(topology)


# ----------------------------------------------------------------------------------------------- runs and actions


@st.cache_data(ttl=30, show_spinner=False)
def mlflow_ui_url() -> str | None:
    """MLflow's own UI: $RNNLAB_MLFLOW_UI_URL, or `make mlflow-ui`'s address when something answers there."""
    if os.environ.get(MLFLOW_UI_ENV):
        return os.environ[MLFLOW_UI_ENV].rstrip("/")
    try:
        with urllib.request.urlopen(f"{LOCAL_MLFLOW_UI}/health", timeout=0.3):
            return LOCAL_MLFLOW_UI
    except OSError:
        return None


def mlflow_link(run: store.RunSummary, experiment_id: str | None = None) -> None:
    url = mlflow_ui_url()
    if url and run.run_id:
        experiment_id = experiment_id or store.client().get_run(run.run_id).info.experiment_id
        st.link_button(
            "Open in MLflow", f"{url}/#/experiments/{experiment_id}/runs/{run.run_id}", icon=":material/open_in_new:"
        )


def runs_overview(runs: list[TrackedRun]) -> None:
    """Every run, newest first: its state, what chose it (its best validation score) and its test scores."""
    tests = sorted(
        {key for run in runs for key in run.summary.metrics if key.startswith("test_") and key != "test_loss"}
    )
    rows = []
    for run in runs:
        summary = run.summary
        selection = summary.tags.get(store.SELECTION_TAG, "")
        started = time.localtime(summary.start_time / 1000) if summary.start_time else None
        rows.append(
            {
                "run": summary.run_name,
                "status": summary.status,
                "dry run": run.dry_run,
                "champion": summary.champion,
                "kind": summary.tags.get(store.KIND_TAG, ""),
                "validation": (
                    f"{selection.removeprefix('best_')} {summary.metrics[selection]:.4f}"
                    if selection in summary.metrics
                    else ""
                ),
                **{key: summary.metrics.get(key) for key in tests},
                "started": time.strftime("%Y-%m-%d %H:%M", started) if started else "",
                "duration": duration(summary.duration_s),
            }
        )
    # Four decimals for every test score, as the validation column has them: Streamlit's own format would print
    # each float as it comes (0.8640000001, 0.87).
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={key: st.column_config.NumberColumn(format="%.4f") for key in tests},
    )


def validation_and_test(run: store.RunSummary) -> dict[str, float]:
    return {
        key: round(value, 4)
        for key, value in sorted(run.metrics.items())
        if key.startswith(("best_val_", "test_")) and key != "test_loss"
    }


def promote(topology: str, run_id: str) -> str | None:
    """Make the run champion through train.py, recording the champion it replaces; returns an error or None."""
    run = store.summarise(store.client().get_run(run_id))
    previous = store.champion_run_id(topology, dataset=store.dataset_of(run))
    result = python_command("-m", "training.train", topology, "--promote", run_id, timeout=PROMOTE_TIMEOUT_S)
    if result.returncode:
        return last_line(result.stderr or result.stdout)
    jobs.record_promotion(topology, store.champion_alias(store.dataset_of(run)), run_id, previous)
    return None


def promote_confirmation(topology: str, run: TrackedRun, runs: list[TrackedRun]) -> None:
    """Both runs' validation and test metrics side by side, then Confirm or Cancel."""
    champion = next((r.summary for r in runs if r.summary.champion), None)
    with st.container(border=True):
        st.markdown(
            f"**Make {code(run.summary.run_name)} the champion?** The pages will serve its model, and "
            "the automatic rule will leave the choice alone until another is made by hand."
        )
        compared = {f"this run ({run.summary.run_name})": validation_and_test(run.summary)}
        if champion:
            compared[f"current champion ({champion.run_name})"] = validation_and_test(champion)
        st.dataframe(pd.DataFrame(compared), width="stretch", placeholder=NOT_APPLICABLE)
        if run.dry_run:
            st.warning("This is a dry run: two batches of training. Its model is barely trained.")
        confirm, cancel = st.columns(2)
        if confirm.button("Confirm: make champion", type="primary", key="experiments-promote-confirm"):
            with st.spinner("Moving the champion alias…"):
                error = promote(topology, run.summary.run_id)
            st.session_state.pop(PROMOTE_PENDING, None)
            if error:
                st.error(f"The champion did not change: {literal(error)}")
            else:
                st.cache_data.clear()  # every page's run list names the champion
                st.rerun()
        if cancel.button("Cancel", key="experiments-promote-cancel"):
            st.session_state.pop(PROMOTE_PENDING, None)
            st.rerun()


def run_actions(topology: str, run: TrackedRun, runs: list[TrackedRun]) -> None:
    summary = run.summary
    active_runs = {job.run_id for job in jobs.list_jobs(topology, limit=50) if job.active}
    rename, delete, resume, crown = st.columns(4)
    new_name = rename.text_input(
        "New name", summary.run_name, key=f"experiments-rename-{summary.run_id}", max_chars=120
    )
    if rename.button("Rename", key=f"experiments-rename-button-{summary.run_id}") and new_name.strip():
        store.client().update_run(summary.run_id, name=new_name.strip())
        st.rerun()
    if summary.champion or summary.status == "RUNNING":
        delete.caption("The champion and running runs cannot be deleted.")
    elif delete.button("Delete", key=f"experiments-delete-{summary.run_id}", icon=":material/delete:"):
        store.client().delete_run(summary.run_id)
        st.rerun()
    if summary.status in ("KILLED", "FAILED") and summary.run_id not in active_runs:
        if resume.button("Resume", key=f"experiments-resume-{summary.run_id}", icon=":material/play_arrow:"):
            jobs.enqueue(
                topology,
                f"resume {summary.run_name}",
                ["-m", "training.train", topology, "--resume", summary.run_id],
                run_id=summary.run_id,
            )
            st.rerun()
    if summary.status == "FINISHED" and summary.has_checkpoint and not summary.champion:
        if crown.button("Make champion", key=f"experiments-crown-{summary.run_id}", icon=":material/trophy:"):
            ask_to_promote(summary.run_id)
    if st.session_state.get(PROMOTE_PENDING) == summary.run_id:
        promote_confirmation(topology, run, runs)


def report_artifacts(run: store.RunSummary) -> None:
    """The run's logged reports: confusion matrices with per-label precision, recall and F1, other tables as
    data. Figures logged as HTML are not shown: they load plotly from the web, and their data is logged beside
    them as JSON."""
    tracking = store.client()
    reports = [a.path for a in tracking.list_artifacts(run.run_id, "report") if a.path.endswith(".json")]
    if not reports:
        st.caption("This run logged no report.")
        return
    import mlflow

    for path in reports:
        data = json.loads(mlflow.artifacts.load_text(f"runs:/{run.run_id}/{path}"))
        name = Path(path).stem.replace("_", " ")
        st.markdown(f"**{literal(name)}**")
        if isinstance(data, dict) and {"labels", "matrix"} <= set(data):
            confusion(data["labels"], data["matrix"])
        elif isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
            st.dataframe(pd.DataFrame(data), hide_index=True, width="stretch")
        else:
            st.json(data, expanded=False)


def confusion(labels: list[str], matrix: list[list[int]]) -> None:
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=420,
        margin=dict(t=10, b=10, l=10, r=10),
    )
    left, right = st.columns([3, 2])
    left.plotly_chart(figure, width="stretch")
    rows = []
    for index, label in enumerate(labels):
        correct = matrix[index][index]
        predicted = sum(row[index] for row in matrix)
        actual = sum(matrix[index])
        precision = correct / predicted if predicted else 0.0
        recall = correct / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "label": label,
                "precision": round(precision, 3),
                "recall": round(recall, 3),
                "F1": round(f1, 3),
                "examples": actual,
            }
        )
    right.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def run_inspector(topology: str, runs: list[TrackedRun]) -> None:
    """One run: its state, the error that stopped it, its actions and its reports."""
    run = st.selectbox(
        "Run",
        runs,
        key=f"{topology}-inspected",
        format_func=lambda r: (
            f"{r.summary.run_name} · {r.summary.status}"
            f"{' · dry run' if r.dry_run else ''}"
            f"{' · champion' if r.summary.champion else ''}"
        ),
    )
    summary = run.summary
    if summary.status in ("FAILED", "KILLED"):
        ended_by = summary.tags.get(store.ENDED_TAG)
        job = next((j for j in jobs.list_jobs(topology, limit=200) if j.run_id == summary.run_id and j.error), None)
        reason = job.error if job else ended_by
        st.warning(f"This run is {summary.status}" + (f": {literal(reason)}" if reason else "."))
    st.caption(f"Run id {code(summary.run_id)}")
    mlflow_link(summary, run.experiment_id)
    if training_allowed():
        run_actions(topology, run, runs)
    with st.expander("Reports", expanded=False):
        report_artifacts(summary)


def deleted_runs(topology: str) -> None:
    deleted = tracked_runs(topology, deleted=True)
    if not deleted:
        return
    with st.expander(f"Deleted runs ({len(deleted)}): MLflow keeps them until its garbage collection"):
        for run in deleted:
            left, right = st.columns([4, 1])
            left.markdown(f"{code(run.summary.run_name)} · {run.summary.status}")
            if training_allowed() and right.button("Restore", key=f"experiments-restore-run-{run.summary.run_id}"):
                store.client().restore_run(run.summary.run_id)
                st.rerun()


def champion_history(topology: str, runs: list[TrackedRun]) -> None:
    """Champions made by hand here, newest first; each can be undone by making the run it replaced champion."""
    history = jobs.promotions(topology)
    if not history:
        return
    names = {run.summary.run_id: run.summary.run_name for run in runs}
    st.subheader("Champion history")
    for entry in history:
        left, right = st.columns([4, 1])
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.promoted_at))
        before = names.get(entry.previous_run_id or "", entry.previous_run_id or "none")
        left.markdown(
            f"{when}: {code(names.get(entry.run_id, entry.run_id))} made champion "
            f"({code(entry.alias)}), replacing {code(before)}"
        )
        current = store.champion_run_id(topology)
        if (
            training_allowed()
            and entry.previous_run_id
            and entry.previous_run_id != current
            and right.button("Restore previous", key=f"experiments-restore-champion-{entry.id}")
        ):
            with st.spinner("Moving the champion alias back…"):
                error = promote(topology, entry.previous_run_id)
            if error:
                st.error(f"The champion did not change: {literal(error)}")
            else:
                st.cache_data.clear()
                st.rerun()
