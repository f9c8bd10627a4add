"""Fault drill: a Celery worker SIGKILLed in the middle of `rebuild_intensity --enqueue`.

The rebuild is one transaction per chunk of relationships, after one that clears the
outbox. The drill holds a row lock that one of those transactions needs, waits until
PostgreSQL shows the worker's backend blocked on it (so the worker is provably inside
the rebuild, earlier chunks committed, later ones not), kills the worker's whole process
group, and starts a new worker. The message was never acknowledged (acks_late): Redis
hands it to the new worker once the visibility timeout (CELERY_VISIBILITY_TIMEOUT, a few
seconds here) has passed, and afterwards the rollups equal a fresh aggregation.

The suite runs it twice; `make faults` ten times, at every stage of the rebuild.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection

from bench.servers import database_url
from cooperation.intensity import ROLLUP_LOCK
from tests.intensity_checks import outbox_is_empty, rollups_are_current
from tests.processes import (
    ROOT,
    PrivateRedis,
    Process,
    celery_env,
    drill_runs,
    start_worker,
    temporary_directory,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

CHUNK = 25  # rebuild_rollups' relationships per transaction
VISIBILITY_TIMEOUT = "3"


@pytest.fixture
def drill_dir() -> Iterator[Path]:
    with temporary_directory("attache-kill-drill-") as directory:
        yield directory


@pytest.fixture
def broker(drill_dir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(drill_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _targets(relationship_ids: list[int]) -> list[str]:
    """Where the rebuild is stopped, in the order the drill goes through them."""
    chunks = math.ceil(len(relationship_ids) / CHUNK)
    assert chunks >= 3, "the drill needs a rebuild of at least three chunks"
    return ["chunk 1", "outbox", *(f"chunk {k}" for k in range(2, chunks)), "chunk 0"]


def _lock(locker: Any, target: str, relationship_ids: list[int]) -> None:
    """Take, in the drill's own transaction, a row lock that the rebuild's step `target` needs."""
    with locker.cursor() as cursor:
        if target == "outbox":
            cursor.execute("SELECT id FROM cooperation_intensityoutbox ORDER BY id LIMIT 1 FOR UPDATE")
        else:
            k = int(target.split()[1])
            chunk = relationship_ids[k * CHUNK : (k + 1) * CHUNK]
            cursor.execute(
                "SELECT id FROM cooperation_intensityrollup WHERE relationship_id = ANY(%s) LIMIT 1 FOR UPDATE",
                [chunk],
            )
        assert cursor.fetchone() is not None, f"nothing to lock for {target}"


def _blocked_backend(locker: Any) -> tuple[int, str] | None:
    """The backend waiting for the drill's lock, and its statement."""
    with locker.cursor() as cursor:
        cursor.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [locker.get_backend_pid()],
        )
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _holds_rollup_lock(locker: Any, pid: int) -> bool:
    with locker.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = %s"
            " AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = %s)",
            [pid, ROLLUP_LOCK],
        )
        return bool(cursor.fetchone()[0])


def _enqueue(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "rebuild_intensity", "--enqueue"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"as task ([0-9a-f-]{36})\.", result.stdout)
    assert match, result.stdout
    return match.group(1)


def _spoil_rollups(iteration: int) -> None:
    """Changes the rebuild must repair: scores that moved (their keys in the outbox) and
    rollup rows that drifted without any outbox entry (a write that bypassed everything)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cooperation_activity SET participants = participants + 1 WHERE id %% 7 = %s", [iteration % 7]
        )
        cursor.execute("UPDATE cooperation_intensityrollup SET conducted = conducted + 1000")


def test_a_worker_killed_during_the_rebuild_loses_nothing(
    migrated_data: None, drill_dir: Path, broker: PrivateRedis
) -> None:
    call_command("seed_demo", synthetic=3000, relationships=60, seed=7, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM cooperation_relationship ORDER BY id")
        relationship_ids = [row[0] for row in cursor.fetchall()]
    targets = _targets(relationship_ids)
    env = celery_env(
        database_url=database_url(connection.settings_dict),
        broker_url=broker.url(),
        CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
    )
    settings = connection.settings_dict
    locker = psycopg2.connect(
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        user=settings["USER"],
        password=settings.get("PASSWORD") or None,
        dbname=settings["NAME"],
    )
    generation = 0
    worker: Process = start_worker(env, drill_dir / "worker-0.log", name="drill-0")
    try:
        for iteration in range(drill_runs(short=2, full=10)):
            target = targets[iteration % len(targets)]
            _spoil_rollups(iteration)
            assert not rollups_are_current()
            _lock(locker, target, relationship_ids)
            task_id = _enqueue(env)

            wait_for(
                lambda: _blocked_backend(locker) is not None,
                f"the worker never reached {target} of the rebuild",
                log=worker.log,
            )
            pid, statement = _blocked_backend(locker) or (0, "")
            assert statement.startswith("DELETE FROM cooperation_intensity"), statement
            assert _holds_rollup_lock(locker, pid)  # inside one of the rebuild's transactions
            assert f"reconcile_intensity_rollups[{task_id}]" in worker.text()

            worker.kill()
            locker.rollback()
            # The dead worker's transaction never commits: the rollups are still wrong.
            assert not rollups_are_current(), f"iteration {iteration} ({target}): the rebuild had finished"

            generation += 1
            worker = start_worker(env, drill_dir / f"worker-{generation}.log", name=f"drill-{generation}")
            wait_for(
                lambda done=f"reconcile_intensity_rollups[{task_id}] succeeded", new=worker: done in new.text(),
                f"iteration {iteration} ({target}): the rebuild was not redelivered to the new worker",
                log=worker.log,
            )
            assert rollups_are_current(), f"iteration {iteration} ({target})"
            assert outbox_is_empty()
    finally:
        locker.close()
        worker.stop()
