"""Processes the benchmarks and the load test start: gunicorn (the production
gunicorn.conf.py) and a Celery worker, each in a process group of its own so that
`stop()` ends it with every child, on success and on failure alike."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def child_pids(pid: int) -> list[int]:
    """The direct children of process `pid` (e.g. gunicorn's workers), from /proc."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # the process has gone
        return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A postgres:// URL for a Django DATABASES entry (e.g. the test database)."""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    return f"postgres://{settings_dict['USER']}{password}@{host}:{port}/{settings_dict['NAME']}"


def start_gunicorn(
    port: int,
    env: Mapping[str, str],
    *,
    extra_args: tuple[str, ...] = (),
    output: IO[Any] | None = None,
    ready_path: str = "/api/v1/schema/",
    ready_headers: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """gunicorn with gunicorn.conf.py on 127.0.0.1:`port`, once it answers `ready_path` with 200."""
    command = [sys.executable, "-m", "gunicorn", "attache.wsgi", "-c", "gunicorn.conf.py"]
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [*command, "-b", f"127.0.0.1:{port}", *extra_args],
        cwd=ROOT,
        env=dict(env),
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", ready_path, headers=dict(ready_headers or {}))
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                return server
            raise RuntimeError(f"gunicorn answered {ready_path} with {response.status}")
        except OSError:
            time.sleep(0.3)
    stop(server)
    raise RuntimeError("gunicorn did not start within 60 s")


def start_celery_worker(env: Mapping[str, str], output: IO[Any], *, beat: bool = False) -> subprocess.Popen[bytes]:
    """`celery -A attache worker` (one process; with `beat`, the schedules too); returns at once."""
    command = [sys.executable, "-m", "celery", "-A", "attache", "worker", "--concurrency=1", "--loglevel=INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", f"--hostname=load-{os.getpid()}@%h"]
    if beat:
        command += ["--beat"]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever of it is left after `timeout` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # any member of the group left?
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout=timeout)
