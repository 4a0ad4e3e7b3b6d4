"""Faults a user meets, injected one by one: a tracking server that refuses or never answers, a store locked by
another writer, a full disk while checkpointing, SIGTERM at each stage of a run, and `kill -9`. Each test checks
what the user is told, the exit code, the run's final status and that no finished epoch's metrics are lost.

Time limits here are generous bounds on what would otherwise hang for minutes, not benchmarks."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from dashboard.components import runs
from models import store
from models.sweep_store import SWEEP_SUFFIX
from tests.conftest import REPO_ROOT, assert_no_exception, page_texts, tiny_mlp_run
from training import servers, tracking, train
from training.tasks import one_to_one
from training.trainer import Trainer

BOUND_S = 10  # the issue asks for 3 s on a page and 10 s from a CLI; generous for a loaded test machine
TINY_RUN = tiny_mlp_run("fault")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def refused_server(monkeypatch) -> str:
    """A tracking URI where nothing listens: every connection is refused at once."""
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def silent_server(monkeypatch):
    """A tracking URI whose server accepts connections and never answers (a hung process, a dead proxy)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv(store.TIMEOUT_ENV, "1")
    yield uri
    listener.close()


@pytest.fixture
def copied_shipped_store(shipped_store_uri, tmp_path, monkeypatch) -> Path:
    """The shipped store's database copied, so that locking it leaves the session's store alone."""
    path = tmp_path / "mlflow.db"
    shutil.copy(shipped_store_uri.removeprefix("sqlite:///"), path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path}")
    return path


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def exit_of(capsys, *argv) -> tuple[object, str]:
    """Run the training CLI in-process; its exit code (a message is exit status 1) and what it printed to stderr."""
    with pytest.raises(SystemExit) as exited:
        train.main(list(argv))
    return exited.value.code, capsys.readouterr().err


def only_run(client: MlflowClient, suffix: str = ""):
    experiment = client.get_experiment_by_name(store.experiment_name("one_to_one") + suffix)
    [run] = client.search_runs([experiment.experiment_id])
    return run


def steps(client: MlflowClient, run_id: str, key: str = "val_accuracy") -> list[int]:
    return [metric.step for metric in client.get_metric_history(run_id, key)]


# --- A tracking server that is down ---------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["refused_server", "silent_server"])
def test_down_server_pages_serve_the_shipped_models(app, server, request):
    uri = request.getfixturevalue(server)
    _, seconds = timed(lambda: app.switch_page("views/home.py").run(timeout=60))
    assert_no_exception(app)
    [warning] = [w.value for w in app.warning if "Tracking is unavailable" in w.value]
    assert uri in warning.replace("\\", "") and "\n" not in warning  # shown as text: Markdown escaped
    assert set(app.dataframe[0].value["source"].dropna()) == {"shipped bundle"}
    assert seconds < BOUND_S
    app.switch_page("views/one_to_one.py").run(timeout=60)
    app.radio[0].set_value("Pick a test-set example").run(timeout=60)
    assert_no_exception(app)
    assert any("Tracking is unavailable" in w.value for w in app.warning)
    assert "true label" in page_texts(app)  # predictions from the shipped bundles


@pytest.mark.parametrize(
    "server, cause", [("refused_server", "Connection refused"), ("silent_server", "no answer within 1 s")]
)
def test_down_server_stops_training_in_one_line(server, cause, request, capsys):
    uri = request.getfixturevalue(server)
    (code, err), seconds = timed(lambda: exit_of(capsys, "one_to_one", "--dry-run"))
    assert isinstance(code, str) and uri in code and cause in code and "\n" not in code  # printed, exit status 1
    assert seconds < BOUND_S


@pytest.mark.parametrize("peer", ["vader", "tfidf"])
def test_down_server_stops_a_peer_before_it_scores(refused_server, monkeypatch, peer):
    from training import peers

    def never(*args, **kwargs):
        raise AssertionError("the peer read its tweets although the run could not be logged")

    monkeypatch.setattr(peers, "load_tweet_splits", never)
    with pytest.raises(SystemExit) as exited:
        peers.main(["many_to_one", peer])
    assert refused_server in str(exited.value.code) and "Connection refused" in str(exited.value.code)


def test_down_server_stops_bundle_import_with_exit_status_1(silent_server):
    """As a user runs it: a real process, so the exit status and stderr are the ones a shell sees."""
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "training.bundles", "import"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 1
    [line] = finished.stderr.strip().splitlines()
    assert silent_server in line and "no answer within 1 s" in line
    assert time.monotonic() - started < 60  # includes starting Python and importing torch and MLflow


@pytest.fixture
def mlflow_server_starter(tmp_path):
    """Starts a real MLflow server (as `make tracking-server` does, on sqlite) on a given port when called; always
    stopped afterwards."""
    started = []

    def start(port: int) -> None:
        server = servers.MlflowServer(
            f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts", tmp_path / "mlflow.log", port
        )
        started.append(server)
        server.start()

    yield start
    for server in started:
        server.stop()


def test_dashboard_uses_a_server_that_comes_back_without_a_restart(
    app, refused_server, mlflow_server_starter, monkeypatch
):
    app.switch_page("views/home.py").run(timeout=60)
    assert any("Tracking is unavailable" in w.value for w in app.warning)
    mlflow_server_starter(int(refused_server.rsplit(":", 1)[1]))
    monkeypatch.setattr(runs, "RECHECK_S", 0)  # instead of waiting out the verdict of the down server
    app.run(timeout=60)
    assert_no_exception(app)
    assert not any("Tracking is unavailable" in w.value for w in app.warning)


# --- A store locked by another writer -------------------------------------------------------------------------


@pytest.fixture
def locked_store(copied_shipped_store, monkeypatch):
    monkeypatch.setenv(store.TIMEOUT_ENV, "1")
    writer = sqlite3.connect(copied_shipped_store)
    writer.execute("BEGIN EXCLUSIVE")
    yield copied_shipped_store
    writer.rollback()
    writer.close()


def test_locked_store_is_reported_by_pages_and_training(app, locked_store, capsys):
    app.switch_page("views/home.py").run(timeout=60)
    assert_no_exception(app)
    assert any("locked by a writer" in w.value for w in app.warning)
    assert set(app.dataframe[0].value["source"].dropna()) == {"shipped bundle"}
    (code, _), seconds = timed(lambda: exit_of(capsys, "one_to_one", "--dry-run"))
    assert isinstance(code, str) and str(locked_store) in code and "locked by a writer" in code
    assert seconds < BOUND_S


# --- Interruptions and a full disk during a run ----------------------------------------------------------------


def sigterm_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def interrupt_before_the_first_epoch(monkeypatch):
    original = Trainer.fit

    def fit(self):
        sigterm_self()
        return original(self)

    monkeypatch.setattr(Trainer, "fit", fit)


def interrupt_in_epoch(epoch: int):
    def inject(monkeypatch):
        original = Trainer._train_epoch

        def train_epoch(self, progress):
            if self.epoch == epoch:
                sigterm_self()
            return original(self, progress)

        monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)

    return inject


def interrupt_while_checkpointing(monkeypatch):
    original = tracking.MlflowRunLogger.save_state

    def save_state(self, state):
        sigterm_self()  # arrives before the state is written
        original(self, state)

    monkeypatch.setattr(tracking.MlflowRunLogger, "save_state", save_state)


def interrupt_during_the_test_evaluation(monkeypatch):
    original = one_to_one.prepare

    def prepare(config, dry_run=False):
        task = original(config, dry_run)
        evaluate = task.evaluate

        def evaluate_then_interrupt_on_test(model, split):
            if split == "test":
                sigterm_self()
            return evaluate(model, split)

        task.evaluate = evaluate_then_interrupt_on_test
        return task

    monkeypatch.setattr(one_to_one, "prepare", prepare)


@pytest.mark.parametrize(
    "inject, epochs_logged, hint",
    [
        (interrupt_before_the_first_epoch, [], "no epoch was saved yet; start the same run over with"),
        (interrupt_in_epoch(1), [], "no epoch was saved yet; start the same run over with"),
        (interrupt_in_epoch(2), [1], "continue after epoch 1 with"),
        (interrupt_while_checkpointing, [1], "continue after epoch 1 with"),
        (interrupt_during_the_test_evaluation, [1, 2], "continue after epoch 2 with"),
    ],
    ids=[
        "before the first epoch",
        "mid first epoch",
        "mid second epoch",
        "while checkpointing",
        "during the test evaluation",
    ],
)
def test_sigterm_at_each_stage_then_resume(tracking_store, monkeypatch, capsys, inject, epochs_logged, hint):
    handler_before = signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as patches:
        inject(patches)
        code, err = exit_of(capsys, *TINY_RUN)
    client = MlflowClient(tracking_store)
    run = only_run(client)
    assert code == 130
    assert f"interrupted; {hint}: python -m training.train one_to_one --resume {run.info.run_id}" in err
    assert run.info.status == "KILLED"
    assert steps(client, run.info.run_id) == epochs_logged
    assert signal.getsignal(signal.SIGTERM) == handler_before  # the CLI leaves the process's handler as it found it

    assert train.main(["one_to_one", "--resume", run.info.run_id]) == run.info.run_id  # the hint, as printed
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    assert steps(client, run.info.run_id) == [1, 2]  # each epoch once: none lost, none logged twice
    assert "test_accuracy" in client.get_run(run.info.run_id).data.metrics


def test_disk_full_while_checkpointing_fails_the_run_and_keeps_its_epochs(tracking_store, monkeypatch, capsys):
    import torch

    original = torch.save

    def save_until_the_disk_fills(state, path, *args, **kwargs):
        if state.get("epoch") == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(state, path, *args, **kwargs)

    with monkeypatch.context() as patches:
        patches.setattr(torch, "save", save_until_the_disk_fills)
        code, _ = exit_of(capsys, *TINY_RUN)
    client = MlflowClient(tracking_store)
    run = only_run(client)
    assert isinstance(code, str) and "\n" not in code
    assert code.startswith("error: the disk is full ([Errno 28] No space left on device")
    assert code.endswith(f"continue after epoch 1 with: python -m training.train one_to_one --resume {run.info.run_id}")
    assert run.info.status == "FAILED"
    first_epoch = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in first_epoch] == [1, 2]  # epoch 2 finished: its metrics were logged before the save

    train.main(["one_to_one", "--resume", run.info.run_id])
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert history[:2] == first_epoch and {m.step for m in history} == {1, 2}  # epoch 2 redone from epoch 1's state


def test_resume_with_nothing_to_resume_says_so_in_one_line(tracking_store, capsys):
    run_id = train.main(["one_to_one", "--dry-run", "--set", "model.arch=mlp"])
    capsys.readouterr()
    code, _ = exit_of(capsys, "one_to_one", "--resume", run_id)
    assert code.startswith(f"error: run {run_id} has finished; nothing to resume") and "\n" not in code
    code, _ = exit_of(capsys, "one_to_one", "--resume", "0" * 32)
    assert code == f"error: no run {'0' * 32} in {tracking_store}"


# --- kill -9 and the reconcile step ---------------------------------------------------------------------------

STALL_IN_SECOND_EPOCH = """
import pathlib, sys, time
from training import train
from training.trainer import Trainer

original = Trainer._train_epoch

def stall_in_second_epoch(self, progress):
    if self.epoch == 2:
        pathlib.Path(sys.argv[1]).touch()
        time.sleep(600)
    return original(self, progress)

Trainer._train_epoch = stall_in_second_epoch
train.main(sys.argv[2:])
"""


def test_kill_9_then_the_trainer_ends_the_dead_run_and_resumes_it(tracking_store, tmp_path):
    marker = tmp_path / "in-second-epoch"
    trainer = subprocess.Popen(
        [sys.executable, "-c", STALL_IN_SECOND_EPOCH, str(marker), *TINY_RUN],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert trainer.poll() is None and time.monotonic() < deadline, "the training process did not get going"
            time.sleep(0.2)
    finally:
        trainer.kill()  # SIGKILL: no handler runs, the run is left RUNNING
        trainer.wait(timeout=30)
    client = MlflowClient(tracking_store)
    run_id = only_run(client).info.run_id
    assert client.get_run(run_id).info.status == "RUNNING"

    assert train.main(["one_to_one", "--resume", run_id]) == run_id
    resumed = client.get_run(run_id)
    assert resumed.data.tags[store.ENDED_TAG].startswith("reconcile: its process ")
    assert resumed.info.status == "FINISHED"
    assert steps(client, run_id) == [1, 2]


@pytest.mark.parametrize("experiment_suffix", ["", SWEEP_SUFFIX, SWEEP_SUFFIX + store.DRY_RUN_SUFFIX])
def test_dashboard_ends_runs_whose_process_is_gone_and_only_those(tracking_store, experiment_suffix):
    client = MlflowClient(tracking_store)
    experiment_id = tracking.ensure_experiment("one_to_one", experiment_suffix)  # sweep trials too
    sleeper = subprocess.Popen(["sleep", "60"])
    dead_identity = f"{socket.gethostname()}/{sleeper.pid}/{store._start_time(sleeper.pid)}"
    sleeper.kill()
    sleeper.wait()
    dead = client.create_run(experiment_id, run_name="dead", tags={store.PROCESS_TAG: dead_identity}).info.run_id
    alive = client.create_run(
        experiment_id, run_name="alive", tags={store.PROCESS_TAG: store.process_identity()}
    ).info.run_id
    elsewhere = client.create_run(
        experiment_id, run_name="elsewhere", tags={store.PROCESS_TAG: "another-machine/1/1"}
    ).info.run_id
    hand_written = client.create_run(
        experiment_id, run_name="hand-written", tags={store.PROCESS_TAG: "not an identity"}
    ).info.run_id

    assert runs.run_catalogue("one_to_one").tracking_error is None
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(dead).data.tags[store.ENDED_TAG] == f"reconcile: its process {dead_identity} is gone"
    assert client.get_run(alive).info.status == "RUNNING"
    assert client.get_run(elsewhere).info.status == "RUNNING"  # nobody here can tell whether it still runs
    assert client.get_run(hand_written).info.status == "RUNNING"
