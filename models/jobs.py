"""The server's one job queue: training commands launched from the dashboard, run one at a time (``RNNLAB_MAX_JOBS``)
as processes of their own, in the order they were queued.

The queue is one table in its own sqlite file beside the tracking store (``RNNLAB_JOBS_DB`` overrides it), so it
outlives page reloads, closed browsers and dashboard restarts. Every change is one transaction: two sessions that
press Launch at once queue one job each, and a free slot is claimed by exactly one starter.

There is no daemon. Each job runs under a small watcher process (``python -m models.jobs watch <id>``, detached
from the dashboard) that starts the command, forwards a cancel (SIGTERM) to it, records how it ended and then
starts the next queued job. The dashboard starts queued jobs when one is launched and reconciles on every look:
a job whose watcher is gone (``kill -9``, a reboot) ends FAILED or KILLED instead of staying RUNNING.

Nothing here imports training code: a job is an argv for the Python interpreter.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from models import store

DATABASE_ENV = "RNNLAB_JOBS_DB"
MAX_JOBS_ENV = "RNNLAB_MAX_JOBS"
QUEUED, RUNNING, FINISHED, FAILED, KILLED = "QUEUED", "RUNNING", "FINISHED", "FAILED", "KILLED"
ACTIVE = (QUEUED, RUNNING)
# A claimed job whose watcher has not recorded itself after this long never started (its spawn failed).
STARTUP_GRACE_S = 60.0
# Exit codes of a command stopped on purpose: train.py exits 130 after Ctrl-C or SIGTERM, a plain process dies of
# the signal (negative in Popen's returncode).
INTERRUPTED_CODES = (130, -signal.SIGTERM, -signal.SIGINT)
RUN_ID = re.compile(r'"run_id": "([0-9a-f]{32})"|--resume ([0-9a-f]{32})')
# tqdm's bar: "training:  45%|####5     | 100/220 [00:10<00:12,  9.81batch/s, epoch=2, loss=0.6931]"
# (a slow bar says "2.50s/batch" instead), and "?" for what it cannot tell yet.
PROGRESS = re.compile(
    r"(?P<done>\d+)/(?P<total>\d+) \[(?P<elapsed>[\d:]+)<(?P<left>[\d:?]+),\s*"
    r"(?P<rate>[\d.]+|\?)(?P<per>\w+/s|s/\w+)(?:, epoch=(?P<epoch>\d+))?"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topology TEXT NOT NULL,
    title TEXT NOT NULL,              -- what the person launched, as the page lists it
    argv TEXT NOT NULL,               -- JSON list: the interpreter's arguments, e.g. ["-m", "training.train", ...]
    status TEXT NOT NULL,             -- QUEUED | RUNNING | FINISHED | FAILED | KILLED
    queued_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    watcher TEXT,                     -- store.process_identity() of the job's watcher process
    child_pid INTEGER,                -- the command's pid (how its MLflow run is found while it runs)
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    returncode INTEGER,
    run_id TEXT,                      -- its MLflow run, once known
    error TEXT                        -- why it failed or was stopped
);
CREATE TABLE IF NOT EXISTS promotions (  -- champions made by hand, newest last: what "restore" goes back to
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topology TEXT NOT NULL,
    alias TEXT NOT NULL,
    run_id TEXT NOT NULL,             -- the run made champion
    previous_run_id TEXT,             -- the champion it replaced (NULL: there was none)
    promoted_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Job:
    id: int
    topology: str
    title: str
    argv: list[str]
    status: str
    queued_at: float
    started_at: float | None
    ended_at: float | None
    watcher: str | None
    child_pid: int | None
    cancel_requested: bool
    returncode: int | None
    run_id: str | None
    error: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def log_path(self) -> Path:
        return log_folder() / f"{self.id}.log"


def database_path() -> Path:
    """Beside the sqlite tracking store (one queue per store), else in the cache folder (a tracking server)."""
    if os.environ.get(DATABASE_ENV):
        return Path(os.environ[DATABASE_ENV])
    tracking_database = store.sqlite_path()
    return (tracking_database.parent if tracking_database else store.cache_dir()) / "jobs.db"


def log_folder() -> Path:
    return database_path().parent / "job-logs"


def max_jobs() -> int:
    return max(1, int(os.environ.get(MAX_JOBS_ENV) or 1))


def connect() -> sqlite3.Connection:
    """Autocommit mode: each write below opens its own BEGIN IMMEDIATE, so readers never block it for long (WAL)."""
    path = database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(SCHEMA)
    return connection


class transaction:
    """``with transaction() as db:`` one write transaction that takes the write lock at once (BEGIN IMMEDIATE), so
    a read-then-write (count the running jobs, claim the next) cannot interleave with another process's."""

    def __enter__(self) -> sqlite3.Connection:
        self.connection = connect()
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, kind, error, trace) -> None:
        try:
            self.connection.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            self.connection.close()


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["argv"] = json.loads(values["argv"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Job(**values)


def get(job_id: int) -> Job | None:
    connection = connect()
    try:
        row = connection.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        connection.close()
    return _job(row) if row else None


def list_jobs(topology: str | None = None, limit: int = 50) -> list[Job]:
    """Active jobs first (in queue order), then the latest ended ones."""
    connection = connect()
    try:
        rows = connection.execute(
            "SELECT * FROM jobs WHERE (? IS NULL OR topology = ?) "
            "ORDER BY status NOT IN ('QUEUED', 'RUNNING'), CASE WHEN status IN ('QUEUED', 'RUNNING') THEN id "
            "ELSE -id END LIMIT ?",
            (topology, topology, limit),
        ).fetchall()
    finally:
        connection.close()
    return [_job(row) for row in rows]


def enqueue(topology: str, title: str, argv: list[str], run_id: str | None = None) -> Job:
    """Queue a command (the interpreter's arguments) and start it if a slot is free."""
    with transaction() as db:
        cursor = db.execute(
            "INSERT INTO jobs (topology, title, argv, status, queued_at, run_id) VALUES (?, ?, ?, ?, ?, ?)",
            (topology, title, json.dumps(argv), QUEUED, time.time(), run_id),
        )
        job_id = cursor.lastrowid
    start_queued()
    return get(job_id)


def set_run_id(job_id: int, run_id: str) -> None:
    with transaction() as db:
        db.execute("UPDATE jobs SET run_id = ? WHERE id = ?", (run_id, job_id))


def start_queued() -> list[int]:
    """Claim queued jobs, oldest first, while fewer than max_jobs() run, and start a watcher for each."""
    with transaction() as db:
        running = db.execute("SELECT count(*) FROM jobs WHERE status = ?", (RUNNING,)).fetchone()[0]
        claimed = [
            row["id"]
            for row in db.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY id LIMIT ?", (QUEUED, max(0, max_jobs() - running))
            )
        ]
        for job_id in claimed:
            db.execute("UPDATE jobs SET status = ?, started_at = ? WHERE id = ?", (RUNNING, time.time(), job_id))
    for job_id in claimed:
        _spawn_watcher(job_id)
    return claimed


def _spawn_watcher(job_id: int) -> None:
    """The watcher runs in a session of its own, so it outlives the dashboard; a thread reaps it here, or its exit
    would leave a zombie that still looks alive in /proc."""
    environment = {**os.environ, DATABASE_ENV: str(database_path()), "PYTHONUNBUFFERED": "1"}
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "models.jobs", "watch", str(job_id)],
            cwd=store.REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as error:
        _end(job_id, FAILED, None, f"its watcher could not start: {error}")
        return
    threading.Thread(target=watcher.wait, daemon=True, name=f"reap-job-{job_id}").start()


def _end(job_id: int, status: str, returncode: int | None, error: str | None, run_id: str | None = None) -> None:
    with transaction() as db:
        db.execute(
            "UPDATE jobs SET status = ?, ended_at = ?, returncode = ?, error = ?, "
            "run_id = coalesce(run_id, ?) WHERE id = ? AND status = ?",
            (status, time.time(), returncode, error, run_id, job_id, RUNNING),
        )


def cancel(job_id: int) -> str:
    """Stop a job: a queued one never starts; a running one gets SIGTERM (through its watcher), which train.py turns
    into a KILLED, resumable run. Returns what happened, in a sentence."""
    with transaction() as db:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row["status"] not in ACTIVE:
            return f"job {job_id} is not queued or running"
        if row["status"] == QUEUED:
            db.execute(
                "UPDATE jobs SET status = ?, ended_at = ?, error = ? WHERE id = ?",
                (KILLED, time.time(), "cancelled before it started", job_id),
            )
            return f"job {job_id} is cancelled"
        db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        watcher = row["watcher"]
    if watcher and store.process_alive(watcher):
        os.kill(int(watcher.split("/")[1]), signal.SIGTERM)
        return f"job {job_id} is stopping"
    return f"job {job_id} is stopping as soon as its process has started"


def reconcile() -> list[int]:
    """End every RUNNING job whose watcher is gone (KILLED if a cancel was asked for, else FAILED), then start
    queued jobs into the free slots. Returns the ids of the jobs ended."""
    now, ended = time.time(), []
    for job in [job for job in list_jobs(limit=1000) if job.status == RUNNING]:
        if job.watcher:
            gone = store.process_alive(job.watcher) is False
        else:
            gone = now - (job.started_at or now) > STARTUP_GRACE_S
        if gone:
            why = (
                "its process ended without saying how (killed with -9, or the machine restarted); "
                "its MLflow run, if any, is ended KILLED by the next look at the runs"
            )
            _end(job.id, KILLED if job.cancel_requested else FAILED, None, "cancelled" if job.cancel_requested else why)
            ended.append(job.id)
    start_queued()
    return ended


@dataclass(frozen=True)
class Promotion:
    id: int
    topology: str
    alias: str
    run_id: str
    previous_run_id: str | None
    promoted_at: float


def record_promotion(topology: str, alias: str, run_id: str, previous_run_id: str | None) -> None:
    with transaction() as db:
        db.execute(
            "INSERT INTO promotions (topology, alias, run_id, previous_run_id, promoted_at) VALUES (?, ?, ?, ?, ?)",
            (topology, alias, run_id, previous_run_id, time.time()),
        )


def promotions(topology: str, limit: int = 20) -> list[Promotion]:
    """The topology's champions made by hand, newest first."""
    connection = connect()
    try:
        rows = connection.execute(
            "SELECT * FROM promotions WHERE topology = ? ORDER BY id DESC LIMIT ?", (topology, limit)
        ).fetchall()
    finally:
        connection.close()
    return [Promotion(**dict(row)) for row in rows]


def log_lines(job: Job, count: int = 12, tail_bytes: int = 65536) -> list[str]:
    """The last ``count`` lines of the job's output as a terminal would show them: a progress bar redrawn with
    carriage returns is one line, its latest state."""
    try:
        with job.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - tail_bytes))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    shown = [line.rstrip("\r").rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    return [line for line in shown if line.strip()][-count:]


@dataclass(frozen=True)
class Progress:
    epoch: int | None  # the epoch in progress, from the bar's postfix
    batches_done: int
    batches_total: int  # of the whole run (the bar counts every remaining batch)
    seconds_left: float | None
    batches_per_second: float


def _seconds(clock: str) -> float | None:
    if "?" in clock:
        return None
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def progress(lines: list[str]) -> Progress | None:
    """The latest progress bar state in the job's output (None before the first)."""
    for line in reversed(lines):
        match = PROGRESS.search(line)
        if match:
            rate = 0.0 if match["rate"] == "?" else float(match["rate"])
            per_second = 1 / rate if match["per"].startswith("s/") and rate else rate
            return Progress(
                int(match["epoch"]) if match["epoch"] else None,
                int(match["done"]),
                int(match["total"]),
                _seconds(match["left"]),
                per_second,
            )
    return None


def run_id_in_output(job: Job) -> str | None:
    """The MLflow run the command named in its output: train.py prints it when it ends, however it ends."""
    for line in reversed(log_lines(job, count=200)):
        match = RUN_ID.search(line)
        if match:
            return match[1] or match[2]
    return None


def last_error(job: Job) -> str | None:
    """The line that says why a command failed: its ``error: …`` line or the last line of a traceback."""
    lines = log_lines(job, count=40)
    for line in reversed(lines):
        if line.startswith("error:") or re.match(r"^\w+(\.\w+)*(Error|Exception|Exit)\b", line):
            return line
    return lines[-1] if lines else None


def watch(job_id: int) -> int:
    """The watcher's body: run the job's command with its output in the job's log, pass a cancel on to it, record
    how it ended, then start the next queued job."""
    child = None

    def forward(signum, frame):
        # A cancel that comes before the child exists has already set cancel_requested, which is read once it does.
        if child is not None:
            child.send_signal(signum)

    # Before the watcher names itself: cancel() signals only a named watcher, and must not kill it by default.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, forward)
    with transaction() as db:
        db.execute("UPDATE jobs SET watcher = ? WHERE id = ?", (store.process_identity(), job_id))
    job = get(job_id)
    try:
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        with job.log_path.open("ab") as log:
            child = subprocess.Popen(
                [sys.executable, *job.argv],
                cwd=store.REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    except OSError as error:  # a full disk, a log folder it may not write
        _end(job_id, FAILED, None, f"it could not start: {error}")
        start_queued()
        return 1
    with transaction() as db:
        db.execute("UPDATE jobs SET child_pid = ? WHERE id = ?", (child.pid, job_id))
    if get(job_id).cancel_requested:  # cancelled between the claim and now
        child.send_signal(signal.SIGTERM)
    returncode = child.wait()
    job = get(job_id)
    if returncode == 0:
        status, error = FINISHED, None
    elif job.cancel_requested or returncode in INTERRUPTED_CODES:
        status, error = KILLED, "cancelled" if job.cancel_requested else f"interrupted (exit code {returncode})"
    else:
        status, error = FAILED, last_error(job) or f"exit code {returncode}"
    _end(job_id, status, returncode, error, run_id_in_output(job))
    start_queued()
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "watch":
        raise SystemExit(watch(int(argv[1])))
    raise SystemExit("usage: python -m models.jobs watch <job id>  (the dashboard starts it)")


if __name__ == "__main__":
    main()
