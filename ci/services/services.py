"""Private PostgreSQL, Redis and Airflow processes on loopback, for the hook integration tests and the bench.

Each server runs in its own temp dir on a free port and is stopped by PID when its context exits; nothing
here touches the system services the Debian packages register. PostgreSQL refuses to run as root, so as
root the cluster is owned by and run as the ``postgres`` user (``runuser``); as any other user it runs as
that user.

Example:
    >>> with postgres() as pg, redis() as rd:  # doctest: +SKIP
    ...     env = airflow_env(home, pg.url, rd.url, api_port=free_port())
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ServiceError(RuntimeError):
    """A service could not start; the message says why (the tests fail with it in CI)."""


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, deadline_s: float, proc: subprocess.Popen[bytes] | None = None, what: str = "") -> None:
    """Wait until something listens on ``127.0.0.1:port``; fail early if ``proc`` exits."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what or 'process'} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise ServiceError(f"{what or 'process'} did not listen on port {port} within {deadline_s:.0f}s")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM a process we started (its whole process group), then SIGKILL it after ``timeout_s``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise ServiceError(f"PostgreSQL '{name}' not found: run ci/services/install.sh")
    return path


@dataclass(frozen=True)
class Server:
    """A started server: its URL and its process."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def postgres(database: str = "airflow") -> Iterator[Server]:
    """Start a throw-away PostgreSQL cluster (fsync off: test data only) with an empty ``database``.

    Example:
        >>> with postgres() as pg:  # doctest: +SKIP
        ...     print(pg.url)  # postgresql+psycopg2://airflow@127.0.0.1:PORT/airflow
    """
    as_root = os.geteuid() == 0
    run_as: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp = Path(tempfile.mkdtemp(prefix="hooks-pg-"))
    data = tmp / "data"
    if as_root:
        pw = pwd.getpwnam("postgres")
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        init = subprocess.run(
            [*run_as, _pg_bin("initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"],
            capture_output=True,
        )
        if init.returncode:
            raise ServiceError(f"initdb failed: {init.stderr.decode()[-2000:]}")
        log = open(tmp / "postgres.log", "wb")  # noqa: SIM115 - lives as long as the server
        proc = subprocess.Popen(
            [*run_as, _pg_bin("postgres"), "-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
             "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_port(port, 30, proc, "postgres")
        _wait_pg_ready(port, proc, tmp / "postgres.log")
        subprocess.run(
            [sys.executable, "-c", _CREATE_DB, str(port), database], check=True, capture_output=True
        )
        yield Server(f"postgresql+psycopg2://airflow@127.0.0.1:{port}/{database}", port, proc)
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


_CREATE_DB = """
import sys, psycopg2
c = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="airflow", dbname="postgres")
c.autocommit = True
c.cursor().execute(f'CREATE DATABASE "{sys.argv[2]}"')
"""


def _wait_pg_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg2

    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ServiceError(f"postgres exited: {log.read_text()[-2000:]}")
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres").close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.1)
    raise ServiceError(f"postgres not ready in 30s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def redis() -> Iterator[Server]:
    """Start a private, non-persistent Redis.

    Example:
        >>> with redis() as rd:  # doctest: +SKIP
        ...     print(rd.url)  # redis://127.0.0.1:PORT/0
    """
    exe = shutil.which("redis-server")
    if exe is None:
        raise ServiceError("redis-server not found: run ci/services/install.sh")
    tmp = Path(tempfile.mkdtemp(prefix="hooks-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp), "--daemonize", "no"],
        stdout=open(tmp / "redis.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
    )
    try:
        wait_port(port, 20, proc, "redis-server")
        yield Server(f"redis://127.0.0.1:{port}/0", port, proc)
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def airflow_env(
    home: Path, db_url: str, broker_url: str, *, api_port: int, executor: str = "CeleryExecutor",
    dags_folder: Path | None = None, extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for Airflow processes sharing one metadata DB, broker and api-server.

    Airflow 3 task runners report through the api-server, so every process gets the same
    ``execution_api_server_url`` and JWT secret.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    result_backend = "db+" + db_url  # keep +psycopg2: SQLAlchemy 2.1's default postgresql driver is psycopg 3
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or home / "dags"),
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "64",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": "hooks-integration-tests",
        "AIRFLOW__API_AUTH__JWT_SECRET": "hooks-integration-tests-jwt-secret-0123456789",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def airflow_bin() -> str:
    """The ``airflow`` console script of the interpreter running the tests."""
    exe = Path(sys.executable).with_name("airflow")
    return str(exe) if exe.exists() else "airflow"


def run_airflow(args: Sequence[str], env: Mapping[str, str], timeout_s: float = 300) -> str:
    """Run an ``airflow`` CLI command to completion; raise ServiceError with its output on failure."""
    done = subprocess.run([airflow_bin(), *args], env=dict(env), capture_output=True, timeout=timeout_s)
    if done.returncode:
        raise ServiceError(f"airflow {' '.join(args)} failed ({done.returncode}): "
                           f"{(done.stdout + done.stderr).decode()[-3000:]}")
    return done.stdout.decode()


def start_airflow(args: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a long-running ``airflow`` component in its own process group, logging to ``log``."""
    return subprocess.Popen(
        [airflow_bin(), *args], env=dict(env), stdout=open(log, "ab"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )
