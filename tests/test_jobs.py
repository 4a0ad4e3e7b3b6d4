"""The job queue (models.jobs) with tiny fake jobs: order, one slot, cancel, reconcile after a lost watcher,
concurrent launches, and what a job's output says (progress, run id, error)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from models import jobs

SLEEP = ["-c", "import time; print('working', flush=True); time.sleep(60)"]


@pytest.fixture(autouse=True)
def queue(tmp_path, monkeypatch):
    monkeypatch.setenv(jobs.DATABASE_ENV, str(tmp_path / "jobs.db"))
    monkeypatch.delenv(jobs.MAX_JOBS_ENV, raising=False)
    yield
    for job in jobs.list_jobs(limit=1000):  # no sleeper outlives its test
        if job.active:
            jobs.cancel(job.id)
            wait_for(job.id, lambda j: not j.active)


def wait_for(job_id: int, condition, timeout_s: float = 30) -> jobs.Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        if condition(job):
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} is still {jobs.get(job_id)}")


def started(job: jobs.Job) -> bool:
    return job.child_pid is not None and job.watcher is not None


def test_jobs_run_one_at_a_time_in_the_order_queued():
    first, second, third = (jobs.enqueue("one_to_one", name, SLEEP) for name in ("first", "second", "third"))
    assert [first.status, second.status, third.status] == [jobs.RUNNING, jobs.QUEUED, jobs.QUEUED]
    wait_for(first.id, started)
    assert [job.id for job in jobs.list_jobs()][:3] == [first.id, second.id, third.id]  # active, in queue order

    assert jobs.cancel(first.id) == f"job {first.id} is stopping"
    ended = wait_for(first.id, lambda job: job.status == jobs.KILLED)
    assert ended.returncode == -signal.SIGTERM and ended.error == "cancelled"
    wait_for(second.id, lambda job: job.status == jobs.RUNNING)  # the first's watcher started the next
    assert jobs.get(third.id).status == jobs.QUEUED

    assert jobs.cancel(third.id) == f"job {third.id} is cancelled"
    cancelled = jobs.get(third.id)
    assert cancelled.status == jobs.KILLED and cancelled.started_at is None


def test_max_jobs_lets_several_run(monkeypatch):
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "2")
    statuses = [jobs.enqueue("one_to_one", name, SLEEP).status for name in ("a", "b", "c")]
    assert statuses == [jobs.RUNNING, jobs.RUNNING, jobs.QUEUED]


def test_two_sessions_launching_at_once_queue_one_job_each():
    barrier = threading.Barrier(4)
    launched = []

    def launch(name):
        barrier.wait()
        launched.append(jobs.enqueue("one_to_one", name, SLEEP))

    threads = [threading.Thread(target=launch, args=(f"session {n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = jobs.list_jobs()
    assert len({job.id for job in launched}) == len(listed) == 4
    assert [job.status for job in listed].count(jobs.RUNNING) == 1


def test_a_finished_job_names_its_run_and_a_failed_one_its_error():
    run_id = "0123456789abcdef0123456789abcdef"
    done = jobs.enqueue("one_to_one", "ok", ["-c", f'print(\'{{"run_id": "{run_id}", "seconds": 1}}\')'])
    done = wait_for(done.id, lambda job: not job.active)
    assert (done.status, done.returncode, done.run_id, done.error) == (jobs.FINISHED, 0, run_id, None)

    failed = jobs.enqueue("one_to_one", "bad", ["-c", "import sys; print('loading'); sys.exit('error: disk full')"])
    failed = wait_for(failed.id, lambda job: not job.active)
    assert (failed.status, failed.returncode, failed.error) == (jobs.FAILED, 1, "error: disk full")

    crashed = jobs.enqueue("one_to_one", "crash", ["-c", "raise ValueError('bad value for lr')"])
    crashed = wait_for(crashed.id, lambda job: not job.active)
    assert crashed.status == jobs.FAILED and crashed.error == "ValueError: bad value for lr"


def test_reconcile_ends_a_job_whose_watcher_is_gone_and_starts_the_next():
    lost, waiting = jobs.enqueue("one_to_one", "lost", SLEEP), jobs.enqueue("one_to_one", "waiting", SLEEP)
    lost = wait_for(lost.id, started)
    os.kill(int(lost.watcher.split("/")[1]), signal.SIGKILL)  # as kill -9 or a reboot would
    os.kill(lost.child_pid, signal.SIGKILL)
    wait_for(lost.id, lambda job: jobs.store.process_alive(job.watcher) is False)
    assert jobs.get(lost.id).status == jobs.RUNNING  # nobody has looked yet

    assert jobs.reconcile() == [lost.id]
    ended = jobs.get(lost.id)
    assert ended.status == jobs.FAILED and "without saying how" in ended.error
    assert jobs.get(waiting.id).status == jobs.RUNNING
    assert jobs.reconcile() == []  # a live job is left alone


def test_reconcile_ends_a_job_cancelled_while_its_watcher_died_as_killed():
    job = wait_for(jobs.enqueue("one_to_one", "cancel me", SLEEP).id, started)
    os.kill(int(job.watcher.split("/")[1]), signal.SIGKILL)
    os.kill(job.child_pid, signal.SIGKILL)
    wait_for(job.id, lambda j: jobs.store.process_alive(j.watcher) is False)
    jobs.cancel(job.id)
    jobs.reconcile()
    assert jobs.get(job.id).status == jobs.KILLED


def test_reconcile_fails_a_claimed_job_whose_watcher_never_started(monkeypatch):
    monkeypatch.setattr(jobs, "_spawn_watcher", lambda job_id: None)  # as if the spawn vanished
    job = jobs.enqueue("one_to_one", "never", SLEEP)
    assert job.status == jobs.RUNNING and job.watcher is None
    assert jobs.reconcile() == []  # within the start-up grace
    monkeypatch.setattr(jobs, "STARTUP_GRACE_S", 0.0)
    time.sleep(0.01)
    assert jobs.reconcile() == [job.id] and jobs.get(job.id).status == jobs.FAILED


def test_the_queue_survives_its_starter():
    """A new process (a restarted dashboard) sees the same jobs: the queue is the file, not anyone's memory."""
    job = jobs.enqueue("one_to_one", "survivor", SLEEP)
    import subprocess

    listed = subprocess.run(
        [sys.executable, "-c", "from models import jobs; print([(j.id, j.status) for j in jobs.list_jobs()])"],
        capture_output=True,
        text=True,
        env=os.environ,
        check=True,
    )
    assert listed.stdout.strip() == str([(job.id, jobs.RUNNING)])


def test_log_lines_show_a_redrawn_progress_bar_once_and_progress_reads_it(tmp_path):
    job = jobs.enqueue("one_to_one", "bar", ["-c", "pass"])
    wait_for(job.id, lambda j: not j.active)
    job.log_path.write_text(
        "loading data\n"
        "training:   1%|1         | 3/220 [00:01<01:12,  2.99batch/s]\r"
        "training:  45%|####5     | 100/220 [00:10<00:12,  9.81batch/s, epoch=2, loss=0.6931]\r"
        "training:  45%|####5     | 101/220 [00:10<00:12,  9.80batch/s, epoch=2, loss=0.6]"
    )
    lines = jobs.log_lines(job)
    assert lines == [
        "loading data",
        "training:  45%|####5     | 101/220 [00:10<00:12,  9.80batch/s, epoch=2, loss=0.6]",
    ]
    assert jobs.progress(lines) == jobs.Progress(
        epoch=2, batches_done=101, batches_total=220, seconds_left=12, batches_per_second=9.80
    )
    slow = jobs.progress(["training:   0%|          | 1/9 [00:02<1:01:20,  2.50s/batch, epoch=1, loss=1.2]"])
    assert slow.batches_per_second == pytest.approx(0.4) and slow.seconds_left == 3680
    assert jobs.progress(["loading data"]) is None


def test_promotions_are_kept_newest_first():
    jobs.record_promotion("one_to_one", "champion", "b" * 32, "a" * 32)
    jobs.record_promotion("one_to_one", "champion", "a" * 32, "b" * 32)
    history = jobs.promotions("one_to_one")
    assert [(p.run_id[0], p.previous_run_id[0]) for p in history] == [("a", "b"), ("b", "a")]
    assert jobs.promotions("many_to_one") == []


def test_the_dashboard_reconciles_the_queue_when_it_starts(app, monkeypatch):
    monkeypatch.setattr(jobs, "_spawn_watcher", lambda job_id: None)  # a job claimed by a dashboard that then died
    job = jobs.enqueue("one_to_one", "orphan", SLEEP)
    monkeypatch.setattr(jobs, "STARTUP_GRACE_S", 0)
    assert jobs.get(job.id).status == jobs.RUNNING
    app.run()
    assert not app.exception
    assert jobs.get(job.id).status == jobs.FAILED  # nobody opened the Experiments page
