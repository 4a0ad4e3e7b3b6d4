"""The Experiments page in a real browser: launch a short run, watch it train, cancel it, and watch the dry run
queued behind it start and finish. Also the README's screenshots of the page:

    python -m tests.test_experiments_browser docs/screenshots
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from models import jobs, store
from tests.browser import assert_page_healthy, browser_page, serve_app, wait_until_idle

JOB_TIMEOUT_MS = 300_000  # a training process starts slowly on a busy two-core machine


def import_one_to_one(tracking_uri: str) -> None:
    import os

    from training import tracking
    from training.bundles import import_bundle

    previous, os.environ["MLFLOW_TRACKING_URI"] = os.environ.get("MLFLOW_TRACKING_URI"), tracking_uri
    try:
        tracking.set_tracking()
        for folder in sorted((store.SHIPPED_DIR / "one_to_one").iterdir()):
            import_bundle(folder)
    finally:
        if previous is not None:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def fill_and_launch(page, run_name: str, dry_run: bool, settings: dict[str, str]) -> None:
    """Fill the launch form (nothing reruns until Launch) and wait for the job to be listed."""
    page.get_by_label("Run name (optional)").fill(run_name)
    if page.get_by_label("Dry run", exact=True).is_checked() != dry_run:
        page.get_by_text("Dry run", exact=True).click()
    for key, value in settings.items():
        page.get_by_label(key, exact=True).fill(value)
    page.get_by_role("button", name="Launch").click()
    page.get_by_text(f"· {run_name}", exact=False).first.wait_for(timeout=60_000)


def pick_preset(page, name: str) -> None:
    page.get_by_role("combobox", name="Preset (a shipped config)").click()
    page.get_by_role("option", name=name, exact=True).click()
    wait_until_idle(page)


def job_box(page, job_id: int):
    return page.get_by_test_id("stVerticalBlock").filter(has_text=f"Job {job_id} ·").last


def launch_cancel_and_watch(page, url: str, screenshots: Path | None = None) -> None:
    """Launch a short real run, then a dry run that queues behind it; watch the first train, cancel it (it ends
    KILLED), and watch the dry run start and finish."""
    page.goto(f"{url}/experiments")
    wait_until_idle(page, expect="Launch a run")
    pick_preset(page, "mlp")
    fill_and_launch(
        page, "short", dry_run=False, settings={"epochs": "20", "max_batches": "40", "threads": "1", "patience": "20"}
    )
    fill_and_launch(page, "dry", dry_run=True, settings={"threads": "1"})
    short, dry = sorted(job.id for job in jobs.list_jobs())
    # The first trains (its progress bar reaches the log) while the dry run waits.
    job_box(page, short).get_by_text("batch/s").first.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "QUEUED" in job_box(page, dry).inner_text()
    if screenshots:  # with a curve drawn: the first epoch logged
        page.get_by_text("val_accuracy", exact=True).first.wait_for(timeout=JOB_TIMEOUT_MS)
        screenshot_between_refreshes(page, screenshots / "experiments-running.png")
    job_box(page, short).get_by_role("button", name="Cancel").click()
    job_box(page, short).get_by_text("KILLED").wait_for(timeout=JOB_TIMEOUT_MS)
    job_box(page, dry).get_by_text("RUNNING").wait_for(timeout=JOB_TIMEOUT_MS)
    job_box(page, dry).get_by_text("FINISHED").wait_for(timeout=JOB_TIMEOUT_MS)
    wait_until_idle(page)
    assert_page_healthy(page)
    assert jobs.get(short).status == jobs.KILLED and jobs.get(dry).status == jobs.FINISHED
    if screenshots:  # the dry run picked, with its reports open
        page.get_by_role("combobox", name="Run").click()
        page.get_by_role("option", name="dry · FINISHED · dry run").click()
        wait_until_idle(page)
        page.get_by_text("Reports", exact=True).click()
        wait_until_idle(page, expect="confusion matrix data")
        page.screenshot(path=str(screenshots / "experiments-finished.png"))


def screenshot_between_refreshes(page, path: Path, timeout_s: float = 30) -> None:
    """A page that refreshes itself every few seconds, taken when no element is stale (half redrawn)."""
    stale = page.locator('[data-stale="true"]')
    for _ in range(int(timeout_s * 10)):
        if stale.count() == 0:
            break
        page.wait_for_timeout(100)
    page.screenshot(path=str(path))


@pytest.fixture
def experiments_url(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    import_one_to_one(uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # where the test reads the queue: beside that store
    with serve_app(uri) as url:
        yield url
    stop_jobs()


def stop_jobs() -> None:
    """Jobs outlive the dashboard by design: a test that fails halfway stops its own."""
    for job in jobs.list_jobs():
        if job.active:
            jobs.cancel(job.id)


def test_launch_watch_cancel_and_a_queued_dry_run_finishing(experiments_url, page):
    launch_cancel_and_watch(page, experiments_url)
    runs = {run.run_name: run for run in store.list_runs("one_to_one")}
    assert runs["short"].status == "KILLED"  # SIGTERM reached train.py, which ended its run resumable


def main() -> None:
    import os

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        uri = f"sqlite:///{Path(scratch) / 'mlflow.db'}"
        import_one_to_one(uri)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        with serve_app(uri) as url, browser_page(1400, 3400) as page:
            launch_cancel_and_watch(page, url, folder)


if __name__ == "__main__":
    main()
