"""Shared fixtures. Every test that tracks gets its own temporary MLflow store, never the repo's mlruns/."""

from __future__ import annotations

import html
import os
import re
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


@pytest.fixture(scope="session")
def shipped_store_uri(tmp_path_factory):
    """One store per test session with every shipped bundle imported (import is the slow part)."""
    from training.bundles import import_all

    uri = f"sqlite:///{tmp_path_factory.mktemp('shipped') / 'mlflow.db'}"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        import_all()
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI")
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous
    return uri


@pytest.fixture
def shipped_store(shipped_store_uri, monkeypatch):
    """Tracking pointed at the session's store of shipped bundles; treat it as read-only."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shipped_store_uri)
    return shipped_store_uri


@pytest.fixture
def app(shipped_store):
    """An AppTest of the whole app (st.navigation included) against the shipped models; Streamlit's caches are
    process-wide, so they are cleared for every test."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=120)


def tiny_mlp_run(run_name: str) -> list[str]:
    """training.train arguments for the smallest real run: a one-to-one MLP, two epochs of two batches."""
    return ["one_to_one", "--set", "model.arch=mlp", "--set", "epochs=2", "--set", "max_batches=2"] + [
        "--set",
        "batch_size=16",
        "--run-name",
        run_name,
    ]


def logged_memory(run_id: str) -> list[str]:
    """The files a run logged under memory/ when its training ended (training.memory_span)."""
    from models import store

    return sorted(Path(artifact.path).name for artifact in store.client().list_artifacts(run_id, store.MEMORY_DIR))


def assert_no_exception(app_test) -> None:
    """Fail on any exception the page raised, with its message and stack trace."""
    assert not app_test.exception, "\n".join(str(e.value) + "\n" + "\n".join(e.stack_trace) for e in app_test.exception)


def text_tables(app_test) -> list[tuple[str, list[list[str]]]]:
    """Each table the page shows with user_text.text_table: its HTML, and its rows as text (the header first),
    read back from it."""
    cells = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
    bodies = [str(element.proto.body) for element in app_test.get("html") if "<table" in str(element.proto.body)]
    return [
        (body, [[html.unescape(cell) for cell in cells.findall(row)] for row in re.findall(r"<tr>(.*?)</tr>", body)])
        for body in bodies
    ]


def page_texts(app_test) -> str:
    """Everything the page says in text elements, joined: where the tests look for hints and messages."""
    return "\n".join(
        str(e.value)
        for kind in ("markdown", "caption", "info", "warning", "error", "success", "text")
        for e in getattr(app_test, kind)
    )


def open_page(app_test, page: str):
    """The app switched to one page and run, failing on any exception."""
    app_test.switch_page(page).run()
    assert_no_exception(app_test)
    return app_test


def open_tab(app_test, topology: str, tab: str):
    """A topology page's tab ("Demo", "Memory" or "Compare runs") opened, as a click does: only the open tab's
    views are drawn."""
    app_test.session_state[f"{topology}-tab"] = tab
    app_test.run()
    assert_no_exception(app_test)
    return app_test


@pytest.fixture(scope="session")
def app_url(shipped_store_uri):
    """The real app, served once per test session on a free local port (as `make run` serves it)."""
    from tests.browser import serve_app

    with serve_app(shipped_store_uri) as url:
        yield url


@pytest.fixture
def page():
    """A fresh headless chromium page (a new browser session) per test."""
    from tests.browser import browser_page

    with browser_page() as page:
        yield page
