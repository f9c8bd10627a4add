"""A real Celery worker over Redis keeps the rollups: committed writes reach them, rolled-back ones send nothing.

Needs Redis (INTENSITY_TEST_REDIS_URL, default redis://127.0.0.1:6379/5, a database of
its own that these tests empty); without it they fail, they do not skip.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import kombu.pools
import pytest
import redis
from celery.signals import before_task_publish
from django.db import connection, transaction

from attache.celery import app
from cooperation import services
from cooperation.choices import ActivityStatus, Classification
from cooperation.models import Activity, IntensityRollup, Relationship
from tests.factories import area

D = datetime.date
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("INTENSITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
TIMEOUT = 60

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"


@pytest.fixture(scope="module")
def worker(django_db_setup: None, django_db_blocker: Any) -> Iterator[Path]:
    """`celery -A attache worker` against the test database and a Redis database of its own."""
    try:
        broker = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        broker.flushdb()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({error}); the real-worker tests need it.")
    with django_db_blocker.unblock():
        database_url = _database_url()
    log = Path(tempfile.mkdtemp()) / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": REDIS_URL,
        "DJANGO_ENV": "test",
        "CONN_MAX_AGE": "0",
    }
    command = [sys.executable, "-m", "celery", "-A", "attache", "worker", "--pool=solo", "--loglevel=INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--hostname=intensity-test@%h"]
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(lambda: " ready." in log.read_text(), "the worker did not start", log)
        yield log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        broker.flushdb()


def _wait(condition: Callable[[], bool], message: str, log: Path, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{message} within {timeout} s. Worker log:\n{log.read_text()}")


def _forget_broker_connections() -> None:
    """Drop the connection pools made for the previous broker URL: the app and kombu keep them."""
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def through_redis(worker: Path, migrated_data: None) -> Iterator[list[dict[str, Any]]]:
    """This process sends tasks to Redis (not inline); yields the messages it publishes."""
    published: list[dict[str, Any]] = []

    def record(sender: str | None = None, body: Any = None, **kwargs: Any) -> None:
        published.append({"task": sender, "args": list(body[0])})  # body: (args, kwargs, embed)

    before_task_publish.connect(record, weak=False)
    eager, broker_url = app.conf.task_always_eager, app.conf.broker_url
    app.conf.update(task_always_eager=False, broker_url=REDIS_URL)
    _forget_broker_connections()
    try:
        yield published
    finally:
        app.conf.update(task_always_eager=eager, broker_url=broker_url)
        _forget_broker_connections()
        before_task_publish.disconnect(record)


def rollup(relationship: Relationship, month: D) -> tuple[int, Decimal] | None:
    row = IntensityRollup.objects.filter(relationship=relationship, month=month).values_list("conducted", "intensity")
    return row.first()


def create(relationship: Relationship, **overrides: Any) -> Activity:
    fields: dict[str, Any] = {
        "relationship": relationship,
        "area": area("education"),
        "title": "English course",
        "kind": "course",
        "status": ActivityStatus.CONDUCTED,
        "start_date": D(2017, 3, 6),
        "participants": 9,
        "releasability": Classification.PUBLIC,
    }
    fields.update(overrides)
    return services.activity_create(actor=None, **fields)


def test_a_committed_change_reaches_the_rollups_through_the_worker(
    through_redis: list[dict[str, Any]], worker: Path
) -> None:
    relationship = Relationship.objects.create(state_a="BY", state_b="US")
    activity = create(relationship)
    assert [message["task"] for message in through_redis] == ["cooperation.tasks.refresh_intensity_rollups"]
    _wait(lambda: rollup(relationship, D(2017, 3, 1)) is not None, "no rollup appeared", worker)
    assert rollup(relationship, D(2017, 3, 1)) == (1, Decimal("4.000000"))

    services.activity_update(
        actor=None, activity=activity, data={"start_date": D(2017, 5, 2)}, expected_version=activity.version
    )
    assert through_redis[-1]["args"] == [[[relationship.pk, "2017-03-01"], [relationship.pk, "2017-05-01"]]]
    _wait(lambda: rollup(relationship, D(2017, 3, 1)) is None, "the old month stayed", worker)
    assert rollup(relationship, D(2017, 5, 1)) == (1, Decimal("4.000000"))


class Abort(Exception):
    pass


def test_a_rolled_back_change_sends_nothing(through_redis: list[dict[str, Any]], worker: Path) -> None:
    relationship = Relationship.objects.create(state_a="BY", state_b="US")
    witness = Relationship.objects.create(state_a="CU", state_b="US")
    with pytest.raises(Abort), transaction.atomic():
        create(relationship)
        create(relationship, start_date=D(2017, 4, 3))
        raise Abort
    assert through_redis == []
    assert not Activity.objects.filter(relationship=relationship).exists()

    # A committed write after it is the only message, and once the worker has done it the
    # queue is empty and the rolled-back keys never reached the rollups.
    create(witness)
    assert through_redis == [
        {"task": "cooperation.tasks.refresh_intensity_rollups", "args": [[[witness.pk, "2017-03-01"]]]}
    ]
    _wait(lambda: rollup(witness, D(2017, 3, 1)) is not None, "the witness never arrived", worker)
    assert redis.Redis.from_url(REDIS_URL).llen("celery") == 0
    assert not IntensityRollup.objects.filter(relationship=relationship).exists()
    assert worker.read_text().count("refresh_intensity_rollups") >= 2  # received + succeeded, once
