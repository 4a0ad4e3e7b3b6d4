"""Shared fixtures. Every test that tracks gets its own temporary MLflow store, never the repo's mlruns/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory, monkeypatch):
    """Point tracking at a store that does not exist yet, so a test that forgets to set one cannot touch mlruns/."""
    root = tmp_path_factory.mktemp("isolated")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'untouched.db'}")
    monkeypatch.setenv("RNNLAB_OFFLINE", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # The data cache is shared with the user's (fetching real data again per test would take minutes).
    monkeypatch.setenv("RNNLAB_CACHE", os.environ.get("RNNLAB_CACHE", str(Path.home() / ".cache" / "rnnlab")))
    yield


@pytest.fixture
def tracking_store(tmp_path, monkeypatch):
    """A fresh sqlite MLflow store with its artifacts in a temporary folder; returns its URI."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


@pytest.fixture
def run_cli(monkeypatch):
    """Run a ``python -m training.…`` entry point in-process (argv list) and return what it returns."""

    def run(main, *argv):
        return main(list(argv))

    return run
