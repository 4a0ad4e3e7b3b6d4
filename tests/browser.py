"""Serve the real app on a free local port and drive it with Playwright in Debian's chromium."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_app(tracking_uri: str, timeout: float = 90):
    """The dashboard as `make run` serves it, on 127.0.0.1 only; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
               "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
    environment = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
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
                    raise RuntimeError(f"the app did not start:\n{server.stdout.read() if server.stdout else ''}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_until_idle(page, timeout_s: float = 120, settle_s: float = 1.5) -> None:
    """Wait until Streamlit's "running" indicator has been gone for ``settle_s``: a rerun starts a moment after
    an interaction, so one look at an idle page proves nothing."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline, idle_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSkeleton"]').count() > 0
        if running:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= settle_s:
            page.wait_for_load_state("networkidle")  # images and charts fetched by the browser
            return
        time.sleep(0.25)
    raise TimeoutError(f"the app was still running after {timeout_s} s")


def assert_page_healthy(page) -> None:
    """No Streamlit exception box and no stack trace anywhere on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    assert "Traceback" not in page.inner_text("body")


def upload(page, path: Path, index: int = 0) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(index).set_input_files(str(path))
    wait_until_idle(page)
