"""Serve the real app on a free local port and drive it with Playwright in Debian's chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import weakref
from pathlib import Path

from training.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def serve_app(tracking_uri: str, timeout: float = 90, script: Path = REPO_ROOT / "dashboard" / "app.py"):
    """The dashboard as `make run` serves it (or another Streamlit ``script``, with the repository's
    .streamlit/config.toml), on 127.0.0.1 only; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    environment = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    server = subprocess.Popen(
        command, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the app did not start:\n{server.stdout.read() if server.stdout else ''}"
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def served_test_app(name: str):
    """A module fixture serving one of tests/apps/ as the dashboard is (against a store nothing reads); yields its
    URL."""
    import pytest

    @pytest.fixture(scope="module")
    def url(tmp_path_factory):
        scratch = tmp_path_factory.mktemp("unused")
        with serve_app(f"sqlite:///{scratch / 'mlflow.db'}", script=REPO_ROOT / "tests" / "apps" / name) as served:
            yield served

    return url


class ScriptRuns:
    """What the server said about its script runs, read off the page's websocket: the browser asks for a run
    (BackMsg rerun_script) and the server reports the end of each (ForwardMsg script_finished). The running icon
    cannot be trusted (Streamlit 1.67 with toolbarMode=minimal never shows it); these messages always flow."""

    def __init__(self):
        self.events = 0  # a clock over the messages below, so "finished after the last request" can be told
        self.requested_at = 0
        self.finished_at = 0

    def watch(self, websocket) -> None:
        if websocket.url.endswith("/_stcore/stream"):
            websocket.on("framesent", self.sent)
            websocket.on("framereceived", self.received)

    def sent(self, payload) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if isinstance(payload, bytes):
            message = BackMsg.FromString(payload)
            if message.WhichOneof("type") == "rerun_script":
                self.events += 1
                self.requested_at = self.events

    def received(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, bytes):
            message = ForwardMsg.FromString(payload)
            # A run cut short for a newer one is followed by that run, so only a real end counts.
            if (
                message.WhichOneof("type") == "script_finished"
                and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
            ):
                self.events += 1
                self.finished_at = self.events

    @property
    def idle(self) -> bool:
        return self.finished_at > self.requested_at


# Each page's run tracker, attached before its first navigation (a websocket opened earlier would be missed).
SCRIPT_RUNS = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            runs = SCRIPT_RUNS[page] = ScriptRuns()
            page.on("websocket", runs.watch)
            yield page
        finally:
            browser.close()


def wait_until_idle(page, expect=None, timeout_s: float = 120, settle_s: float = 0.3) -> None:
    """Wait until the page shows a finished run: the server reported the end of the last run the browser asked
    for, no element is stale (Streamlit marks elements of the previous run ``data-stale`` until they are drawn
    again or removed) and ``expect`` (a text or a Locator: what the interaction should bring) is on the page.
    All of it must hold for ``settle_s``, because a rerun is asked for a moment after an interaction."""
    if isinstance(expect, str):
        expect = page.get_by_text(expect).first
    runs = SCRIPT_RUNS.get(page)
    deadline, settled_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)  # also lets Playwright deliver the websocket events to ScriptRuns
        finished = (
            page.locator('[data-testid="stApp"]').count() > 0
            and (runs is None or runs.idle)
            and page.locator('[data-stale="true"], [data-testid="stSkeleton"]').count() == 0
            and (expect is None or expect.count() > 0)
        )
        if not finished:
            settled_since = None
        elif settled_since is None:
            settled_since = time.monotonic()
        elif time.monotonic() - settled_since >= settle_s:
            page.wait_for_load_state("networkidle")  # images and charts fetched by the browser
            return
    raise TimeoutError(f"the app had not finished its run{f' showing {expect}' if expect else ''} after {timeout_s} s")


def assert_page_healthy(page) -> None:
    """No Streamlit exception box and no stack trace anywhere on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    assert "Traceback" not in page.inner_text("body")


def upload(page, path: Path, index: int = 0, expect=None) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(index).set_input_files(str(path))
    wait_until_idle(page, expect)
