"""MLflow on PostgreSQL, as `make tracking-server` starts it: a dry-run training and the bundle import go through
the server, and the run, its metrics and its checkpoint come back through it, with no local artifact path. Two sweep
workers share one Optuna study in a database of the same PostgreSQL cluster, and survive one of them being killed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
import optuna
import pytest

from models import serving, store, sweep_store
from models.checkpoint import load_checkpoint
from tests.test_sweep import SPACE
from training import bundles, servers, sweep, train


@pytest.fixture(scope="module")
def server_root():
    # Not pytest's tmp_path: under root, PostgreSQL runs as the postgres account, which must reach its cluster, and
    # pytest's base folder is private to the user running it.
    root = Path(tempfile.mkdtemp(prefix="rnnlab-tracking-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tracking_server(server_root):
    """PostgreSQL and MLflow on free ports for this module; both stopped at its end, however it ends."""
    try:
        servers.install_postgres()
    except servers.ServerError as error:
        pytest.skip(f"PostgreSQL cannot be installed here: {error}")
    with servers.tracking_server(server_root, data_dir=server_root / "postgresql") as running:
        yield running


@pytest.fixture
def on_server(tracking_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.tracking_uri)
    yield tracking_server.tracking_uri
    mlflow.set_tracking_uri(None)


def test_a_dry_run_trains_through_the_server(on_server, server_root, tmp_path):
    run_id = train.main(["one_to_one", "--dry-run", "--set", "model.arch=mlp", "--run-name", "on-postgres"])
    client = store.client()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "on-postgres"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), "the client must store no local path"
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1]
    assert "test_accuracy" in run.data.metrics and run.data.params["model.arch"] == "mlp"
    checkpoint = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=store.CHECKPOINT_ARTIFACT, dst_path=str(tmp_path), tracking_uri=on_server
    )
    assert load_checkpoint(Path(checkpoint)).topology == "one_to_one"
    # The server keeps the files, under its artifacts destination.
    assert list((server_root / "artifacts").rglob(f"{run_id}/artifacts/checkpoint/model.safetensors"))


def test_a_shipped_bundle_imports_once_and_serves_from_the_server(on_server, tmp_path):
    bundle = store.shipped_bundles("many_to_one")[0]  # the champion: one bundle keeps the test short
    shipped = tmp_path / "shipped" / "many_to_one"
    shipped.mkdir(parents=True)
    (shipped / bundle.bundle_dir.name).symlink_to(bundle.bundle_dir)
    [run_id] = bundles.import_all(shipped.parent)
    assert bundles.import_all(shipped.parent) == [], "a second import adds nothing"

    [champion] = store.list_runs("many_to_one")
    assert champion.run_id == run_id and champion.champion and champion.run_name == bundle.run_name
    assert store.metric_history(run_id, "val_accuracy") == store.run_history(bundle, "val_accuracy")
    checkpoint = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path=store.CHECKPOINT_ARTIFACT,
        dst_path=str(tmp_path / "download"),
        tracking_uri=on_server,
    )
    assert load_checkpoint(Path(checkpoint)).topology == "many_to_one"
    # The import registered a served model, fetched through the server by its registry alias.
    served = mlflow.pyfunc.load_model(f"models:/{store.registered_model_name('many_to_one')}@{store.CHAMPION_ALIAS}")
    answer = served.predict(serving.input_example("many_to_one"))
    assert list(answer["label"]) == ["positive", "negative"]


def test_a_wrong_database_url_is_one_clear_line_within_seconds(tmp_path):
    wrong = f"postgresql+psycopg://rnnlab:secret@127.0.0.1:{servers.free_port()}/mlflow"
    started = time.monotonic()
    with pytest.raises(servers.ServerError) as failed:
        with servers.tracking_server(tmp_path, database_url=wrong):
            pass
    assert time.monotonic() - started < 10
    message = str(failed.value)
    assert "cannot be used" in message and "secret" not in message and "rnnlab:***@127.0.0.1" in message


def test_two_workers_share_one_sweep_and_replace_a_killed_workers_trial(tracking_server, tmp_path):
    """Two sweep workers on one PostgreSQL Optuna storage and one tracking server: the first is killed (SIGKILL)
    during a trial; the second fails that silent trial, runs one in its place, and the study ends with exactly 6
    counted trials, each with its own MLflow run under one sweep run."""
    storage = tracking_server.database_url("optuna_two_workers")
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_server.tracking_uri, "RNNLAB_OFFLINE": "1"}
    command = [sys.executable, "-m", "training.sweep", "one_to_one", "--space", str(space), "--trials", "6"]
    command += ["--dry-run", "--study", "shared", "--storage", storage, "--heartbeat", "2", "--set", "threads=1"]

    with contextlib.ExitStack() as logs:

        def worker(name: str) -> subprocess.Popen:
            log = logs.enter_context(open(tmp_path / f"{name}.log", "w"))
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        first, second = worker("first"), worker("second")
        try:
            killed = kill_during_a_trial(first, storage, "shared")
            assert second.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()[-3000:]
        finally:
            for process in (first, second):
                servers.stop_process_group(process, signal.SIGKILL)

    study = optuna.load_study(study_name="shared", storage=storage)
    by_state = {state: [t for t in study.trials if t.state == state] for state in optuna.trial.TrialState}
    counted = by_state[optuna.trial.TrialState.COMPLETE] + by_state[optuna.trial.TrialState.PRUNED]
    assert len(counted) == 6
    failed = by_state[optuna.trial.TrialState.FAIL]
    assert killed.number in [t.number for t in failed]
    # Any other failed trial gave its place back before training (two workers asked for the last place at once).
    assert all("mlflow_run_id" not in t.user_attrs for t in failed if t.number != killed.number)

    client = mlflow.MlflowClient(tracking_server.tracking_uri)
    runs = [t.user_attrs["mlflow_run_id"] for t in counted + [killed]]
    assert len(set(runs)) == 7, "every trial has its own run"
    [parent] = {client.get_run(run).data.tags["mlflow.parentRunId"] for run in runs}
    assert client.get_run(parent).info.status == "FINISHED"
    sweep = sweep_store.read_sweep(client, parent)
    assert sorted(t.run_id for t in sweep.trials) == sorted(runs)
    assert [t.run_id for t in sweep.trials_in("failed")] == [killed.user_attrs["mlflow_run_id"]]
    assert len(sweep.trials_in("complete")) + len(sweep.trials_in("pruned")) == 6
    assert client.get_run(killed.user_attrs["mlflow_run_id"]).info.status in ("FAILED", "KILLED")


def kill_during_a_trial(process: subprocess.Popen, storage: str, study_name: str):
    """SIGKILL the worker once the storage shows it running a trial that has its MLflow run; returns that trial."""
    deadline = time.monotonic() + 300
    study = None
    while time.monotonic() < deadline:
        assert process.poll() is None, "the first worker ended before it could be killed during a trial"
        try:
            study = study or optuna.load_study(study_name=study_name, storage=storage)
            trials = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
        except KeyError:  # the study is not created yet
            trials = []
        for trial in trials:
            if (
                f"/{process.pid}/" in trial.user_attrs.get(sweep.WORKER_ATTR, "")
                and "mlflow_run_id" in trial.user_attrs
            ):
                servers.stop_process_group(process, signal.SIGKILL)
                return trial
        time.sleep(0.1)
    raise AssertionError("the first worker never ran a trial")
