"""A tracking server for a team, on the loopback: PostgreSQL holds the runs, MLflow serves them and their artifacts.

    python -m training.servers [--port 5000] [--postgres-port 0]   # both, until Ctrl-C; `make tracking-server`

PostgreSQL is Debian's ``postgresql`` package (installed with apt-get when missing); its cluster is created once with
initdb under the cache directory, listens on 127.0.0.1 only and asks every client for a password (kept beside the
cluster, readable by its owner alone). MLflow runs ``mlflow server --serve-artifacts``, so clients upload
artifacts through it and store no local paths. Both run in their own process groups and are always stopped
together. PostgreSQL refuses to run as root: under root, the cluster belongs to the ``postgres`` user and lives in
its home, which that user can reach (the cache directory, under /root, it cannot).

The tests start the same servers on free ports (tests/test_tracking_server.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models import store

DATABASE = "mlflow"
OPTUNA_DATABASE = "optuna"  # the shared sweep studies, beside MLflow's database on the same cluster
DATABASE_USER = "rnnlab"
POSTGRES_USER = "postgres"  # the account Debian's package creates; the cluster's owner when we run as root
START_TIMEOUT_S = 180.0  # MLflow imports for 15 s on an idle 2-core laptop, and migrates a fresh database
STOP_TIMEOUT_S = 15.0


class ServerError(RuntimeError):
    """A server that cannot be installed, started or reached; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def default_root() -> Path:
    return store.cache_dir() / "tracking-server"


def postgres_bin() -> Path | None:
    """The folder of initdb and postgres: Debian keeps them out of the PATH, one folder per major version."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def install_postgres() -> Path:
    """PostgreSQL's binaries, installed with apt-get (with sudo unless root) when they are missing."""
    if (found := postgres_bin()) is not None:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if shutil.which("apt-get") is None:
        raise ServerError(
            "PostgreSQL is not installed and there is no apt-get to install it: install the "
            "`postgresql` package (initdb and postgres) and try again"
        )
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        done = subprocess.run(
            sudo + command, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
        if done.returncode != 0:
            last_line = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
            raise ServerError(f"cannot install PostgreSQL: {' '.join(sudo + command)} failed ({last_line})")
    if (found := postgres_bin()) is None:
        raise ServerError("apt-get installed postgresql, but no initdb was found under /usr/lib/postgresql")
    return found


def _as_owner() -> dict:
    """Popen arguments that drop root to the ``postgres`` account (PostgreSQL refuses to run as root)."""
    return {"user": POSTGRES_USER, "group": POSTGRES_USER, "extra_groups": []} if os.geteuid() == 0 else {}


def default_data_dir(root: Path) -> Path:
    if os.geteuid() == 0:
        return Path(pwd.getpwnam(POSTGRES_USER).pw_dir) / "rnnlab-tracking"
    return root / "postgresql"


def stop_process_group(process: subprocess.Popen, first_signal: int = signal.SIGTERM) -> None:
    """Ask the process (started with start_new_session) and its children to stop, then kill whatever is left of
    its group after STOP_TIMEOUT_S, or once the leader is gone (a child it left behind)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first_signal)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class PostgresCluster:
    """One PostgreSQL cluster: created on first start, on 127.0.0.1:port only, with password authentication."""

    data_dir: Path
    log_file: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def password_file(self) -> Path:
        """Beside the cluster (not in it: initdb wants an empty folder), readable by its owner alone."""
        return self.data_dir.with_name(self.data_dir.name + ".password")

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://{DATABASE_USER}:{self.password()}@127.0.0.1:{self.port}/{database}"

    def initialise(self, binaries: Path) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            return
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24))
        self.data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        owner = _as_owner()
        if owner:
            shutil.chown(self.data_dir, owner["user"], owner["group"])
        # initdb reads the password from a file that the cluster's owner can open; it lives only while initdb runs.
        with tempfile.NamedTemporaryFile("w", prefix="rnnlab-pwfile-") as password:
            password.write(self.password())
            password.flush()
            if owner:
                shutil.chown(password.name, owner["user"], owner["group"])
            done = subprocess.run(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    DATABASE_USER,
                    f"--pwfile={password.name}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                **owner,
            )
        if done.returncode != 0:
            raise ServerError(f"initdb failed in {self.data_dir}: {done.stderr.strip()}")

    def start(self, binaries: Path) -> None:
        self.initialise(binaries)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # No Unix socket: the cluster is reachable on the loopback's TCP port alone.
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **_as_owner(),
            )
        self._wait_ready()
        self.create_database()

    def _connect(self, database: str):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=DATABASE_USER,
            password=self.password(),
            dbname=database,
            connect_timeout=2,
            autocommit=True,
        )

    def _wait_ready(self) -> None:
        import psycopg

        def accepts_connections() -> bool:
            try:
                with self._connect("postgres"):
                    return True
            except psycopg.OperationalError:
                return False

        wait_until_up(self.process, accepts_connections, f"PostgreSQL on 127.0.0.1:{self.port}", self.log_file)

    def create_database(self, database: str = DATABASE) -> None:
        with self._connect("postgres") as connection:
            if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                connection.execute(f'CREATE DATABASE "{database}"')

    def stop(self) -> None:
        """A fast shutdown (SIGINT: clients are disconnected, the data is flushed)."""
        if self.process is not None:
            stop_process_group(self.process, signal.SIGINT)


def wait_until_up(process: subprocess.Popen, answers: Callable[[], bool], what: str, log_file: Path) -> None:
    """Poll ``answers()`` until the server started as ``process`` answers; a ServerError with the end of its log
    when the process exits or START_TIMEOUT_S passes first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers():
        if process.poll() is not None:
            raise ServerError(
                f"{what} exited at start (code {process.returncode}); its log {log_file} ends:\n{_log_tail(log_file)}"
            )
        if time.monotonic() > deadline:
            raise ServerError(
                f"{what} did not answer within {START_TIMEOUT_S:g} s; its log {log_file} ends:\n{_log_tail(log_file)}"
            )
        time.sleep(0.3)


def without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}:***@{host}" if at else url


def check_database(url: str, timeout_s: float = 3) -> None:
    """Connect once before MLflow starts: a wrong URL, password or database is one clear line in seconds, where
    mlflow server would spend its whole import time first and then print a stack trace."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": int(timeout_s)} if url.startswith("postgresql") else {}
        )
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as error:  # sqlalchemy wraps every driver's errors; the first line says what went wrong
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise ServerError(f"the database {without_password(url)} cannot be used: {cause}") from None


@dataclass
class MlflowServer:
    """``mlflow server`` on a backend store, serving the artifacts it keeps under ``artifacts``."""

    backend_store_uri: str
    artifacts: Path
    log_file: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        check_database(self.backend_store_uri)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # The store URI travels in the environment (MLflow reads it there), so its password is not in `ps`.
        environment = {**os.environ, "MLFLOW_BACKEND_STORE_URI": self.backend_store_uri}
        environment.pop("MLFLOW_TRACKING_URI", None)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--serve-artifacts",
                    "--artifacts-destination",
                    self.artifacts.as_uri(),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=environment,
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return True
            except (urllib.error.URLError, OSError):
                return False

        try:
            wait_until_up(self.process, healthy, f"mlflow server on {self.url}", self.log_file)
        except ServerError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)


@dataclass(frozen=True)
class RunningServers:
    tracking_uri: str  # MLflow's, for MLFLOW_TRACKING_URI
    cluster: PostgresCluster | None  # the local PostgreSQL; None when MLflow's database lives elsewhere

    def database_url(self, database: str) -> str:
        """A database of its own on the local cluster (e.g. a shared Optuna study's), created when missing."""
        if self.cluster is None:
            raise ServerError("MLflow uses a database elsewhere; create the database there and use its URL")
        self.cluster.create_database(database)
        return self.cluster.url(database)


@contextlib.contextmanager
def tracking_server(
    root: Path | None = None,
    port: int = 0,
    postgres_port: int = 0,
    data_dir: Path | None = None,
    database_url: str | None = None,
):
    """PostgreSQL (unless ``database_url`` names a database elsewhere), then MLflow on top of it; yields them as
    RunningServers. Both stop when the block ends, however it ends."""
    root = Path(root or default_root())
    cluster = None
    server = MlflowServer(
        backend_store_uri=database_url or "",
        artifacts=root / "artifacts",
        log_file=root / "logs" / "mlflow.log",
        port=port or free_port(),
    )
    try:
        if not database_url:
            binaries = install_postgres()
            cluster = PostgresCluster(
                data_dir=Path(data_dir or default_data_dir(root)),
                log_file=root / "logs" / "postgresql.log",
                port=postgres_port or free_port(),
            )
            cluster.start(binaries)
            server.backend_store_uri = cluster.url()
        server.start()
        yield RunningServers(server.url, cluster)
    finally:
        with signals_ignored():  # a second Ctrl-C or kill (make passes its own on) must not leave a server running
            server.stop()
            if cluster is not None:
                cluster.stop()


@contextlib.contextmanager
def signals_ignored(numbers=(signal.SIGINT, signal.SIGTERM)):
    """Ignore these signals while the block runs (in the main thread, the only one that may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.servers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=5000, help="MLflow's port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--postgres-port", type=int, default=0, help="PostgreSQL's port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"where artifacts, logs and (unless root) the cluster live (default: {default_root()})",
    )
    parser.add_argument(
        "--database-url",
        help="an existing database for MLflow (e.g. a managed PostgreSQL: "
        "postgresql+psycopg://user:password@host:5432/mlflow) instead of the local cluster",
    )
    args = parser.parse_args(argv)
    # SIGTERM (`kill`) stops both servers as Ctrl-C does: the finally of tracking_server runs either way.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with tracking_server(args.root, args.port, args.postgres_port, database_url=args.database_url) as running:
            url = running.tracking_uri
            print(f"MLflow on PostgreSQL: {url}\n  export MLFLOW_TRACKING_URI={url}   # make run, training, sweeps")
            if running.cluster is not None:
                optuna_url = running.database_url(OPTUNA_DATABASE)
                print(
                    f"  sweeps shared by several workers: python -m training.sweep … --storage "
                    f"{without_password(optuna_url)} (password in {running.cluster.password_file})"
                )
            print("Ctrl-C stops both servers.", flush=True)
            while True:
                time.sleep(3600)
    except ServerError as error:
        raise SystemExit(f"error: {error}") from None
    except KeyboardInterrupt:
        print("tracking server stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
