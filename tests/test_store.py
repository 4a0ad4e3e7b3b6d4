"""Tracking that is missing, locked or unreadable is reported; the shipped models still serve."""

import sqlite3

import pytest

from models import store


def test_default_store_lives_in_repo_mlruns(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)  # resolved from the repository, not the working directory
    assert store.tracking_uri() == f"sqlite:///{store.REPO_ROOT / 'mlruns' / 'mlflow.db'}"
    assert store.artifact_location("x") == (store.REPO_ROOT / "mlruns" / "artifacts" / "x").as_uri()


def test_environment_overrides_the_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert store.tracking_uri() == "http://127.0.0.1:5999"
    assert store.artifact_location("x") is None  # the server decides


def test_missing_store_is_reported_not_created(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(store.TrackingUnavailable, match="No tracking store"):
        store.list_runs("one_to_one")
    assert not (tmp_path / "absent.db").exists()


def test_garbage_store_is_reported(monkeypatch, tmp_path):
    (tmp_path / "bad.db").write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'bad.db'}")
    with pytest.raises(store.TrackingUnavailable, match="not a readable database"):
        store.list_runs("one_to_one")


def test_store_locked_by_a_writer_is_reported(shipped_store_uri, monkeypatch):
    path = shipped_store_uri.removeprefix("sqlite:///")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shipped_store_uri)
    writer = sqlite3.connect(path)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(store.TrackingUnavailable, match="locked by a writer"):
            store.check_tracking_reachable()
    finally:
        writer.rollback()
        writer.close()
    store.check_tracking_reachable()


def test_bundles_pick_the_champion_by_validation():
    runs = [
        store.RunSummary(
            None,
            name,
            "FINISHED",
            None,
            None,
            metrics={"best_val_accuracy": score},
            tags={store.SELECTION_TAG: "best_val_accuracy"},
        )
        for name, score in (("a", 0.8), ("b", 0.9), ("c", 0.85))
    ]
    peer = store.RunSummary(
        None,
        "peer",
        "FINISHED",
        None,
        None,
        metrics={"best_val_accuracy": 0.99},
        tags={store.SELECTION_TAG: "best_val_accuracy", store.KIND_TAG: "evaluation"},
    )
    assert store.best_on_validation(runs + [peer]).run_name == "b"  # a peer never becomes champion
