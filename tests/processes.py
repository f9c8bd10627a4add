"""Real processes for the tests that need them: Celery workers and beat over Redis, a
private redis-server, a private PostgreSQL cluster, gunicorn.

Each runs in a session of its own with its output in a log file, and is stopped (then
killed) by its owner. A missing program is a test failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import pytest
from celery.signals import before_task_publish

from attache.celery import app

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], message: str, *, log: Path | None = None, timeout: float = TIMEOUT) -> None:
    """Poll `condition` until it holds; fail with `message` (and the log's tail) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = f"\nLog {log}:\n{log.read_text()[-6000:]}" if log is not None and log.exists() else ""
    pytest.fail(f"{message} within {timeout:.0f} s.{tail}")


def require_program(name: str, *candidates: Path) -> str:
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; this test needs it.")
    return found


class Process:
    """A child process in its own session, its stdout and stderr in `log`."""

    def __init__(self, command: list[str], *, log: Path, env: dict[str, str] | None = None, user: str | None = None):
        self.log = log
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        with log.open("a") as output:
            self.popen = subprocess.Popen(  # noqa: S603 - our own programs and arguments
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text()

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (a worker and its pool), and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=20)

    def stop(self, timeout: float = 20) -> None:
        if not self.running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def celery_env(*, database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CONN_MAX_AGE": "0",
        **extra,
    }


def start_worker(env: dict[str, str], log: Path, *, name: str = "test") -> Process:
    """`celery -A attache worker` (solo pool), once it says it is ready."""
    start = log.stat().st_size if log.exists() else 0
    command = [sys.executable, "-m", "celery", "-A", "attache", "worker", "--pool=solo", "--loglevel=INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", f"--hostname={name}@%h"]
    worker = Process(command, log=log, env=env)
    wait_for(lambda: " ready." in log.read_text()[start:] or not worker.running(), "the worker did not start", log=log)
    if not worker.running():
        pytest.fail(f"The worker exited at start:\n{log.read_text()[start:]}")
    return worker


def start_beat(env: dict[str, str], log: Path) -> Process:
    """`celery -A attache beat` (the database scheduler), once it has started."""
    schedule = log.with_suffix(".schedule")
    command = [sys.executable, "-m", "celery", "-A", "attache", "beat", "--loglevel=INFO", f"--schedule={schedule}"]
    beat = Process(command, log=log, env=env)
    wait_for(lambda: "beat: Starting" in log.read_text() or not beat.running(), "beat did not start", log=log)
    return beat


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence: stopping it loses its queue."""

    def __init__(self, directory: Path):
        self.program = require_program("redis-server")
        self.directory = directory
        self.port = free_port()
        self.process: Process | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        import redis

        command = [self.program, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory)]
        self.process = Process(command, log=self.directory / "redis.log")
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=1)

        def ready() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(ready, "redis-server did not start", log=self.process.log, timeout=20)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb in a new temporary directory, a free port).

    As root the server runs as the `postgres` user (initdb refuses root); otherwise as
    the current user. `stop(mode)` is `pg_ctl stop -m fast|immediate`.
    """

    def __init__(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="attache-postgresql-"))
        bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
        self.bindir = Path(require_program("pg_ctl", *(d / "pg_ctl" for d in bindirs))).parent
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("Running as root: a private PostgreSQL needs the `postgres` OS user to run as.")
            self.user = "postgres"
            shutil.chown(directory, "postgres", "postgres")
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.log = directory / "postgresql.log"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
        if result.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            pytest.fail(f"{program} {' '.join(args)} failed:\n{result.stdout}{result.stderr}\n{log}")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def close(self) -> None:
        """Stop the server (if running) and delete the cluster."""
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def temporary_directory(prefix: str) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def forget_broker_connections() -> None:
    """Drop the connection pools made for the previous broker URL: the app and kombu keep them."""
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def tasks_through(broker_url: str) -> Iterator[list[dict[str, Any]]]:
    """This process sends tasks to `broker_url` (not inline); yields the messages it publishes."""
    published: list[dict[str, Any]] = []

    def record(sender: str | None = None, body: Any = None, **kwargs: Any) -> None:
        published.append({"task": sender, "args": list(body[0])})  # body: (args, kwargs, embed)

    before_task_publish.connect(record, weak=False)
    eager, previous_url = app.conf.task_always_eager, app.conf.broker_url
    app.conf.update(task_always_eager=False, broker_url=broker_url)
    forget_broker_connections()
    try:
        yield published
    finally:
        app.conf.update(task_always_eager=eager, broker_url=previous_url)
        forget_broker_connections()
        before_task_publish.disconnect(record)


def drill_runs(short: int, full: int) -> int:
    """How many times a fault drill repeats: `make faults` (FAULT_DRILLS=full) runs the long
    versions, the suite the short ones."""
    mode = os.environ.get("FAULT_DRILLS", "short")
    if mode not in {"short", "full"}:
        pytest.fail(f"FAULT_DRILLS must be short or full, not {mode!r}.")
    return full if mode == "full" else short
