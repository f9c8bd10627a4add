"""A real Celery worker over Redis keeps the rollups: committed writes reach them, rolled-back ones send nothing.

Needs Redis (INTENSITY_TEST_REDIS_URL, default redis://127.0.0.1:6379/5, a database of
its own that these tests empty); without it they fail, they do not skip.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection, transaction

from bench.servers import database_url
from cooperation import services
from cooperation.choices import ActivityStatus, Classification
from cooperation.models import Activity, IntensityRollup, Relationship
from tests.factories import area
from tests.processes import celery_env, start_worker, tasks_through, wait_for

D = datetime.date
REDIS_URL = os.environ.get("INTENSITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker(django_db_setup: None, django_db_blocker: Any) -> Iterator[Path]:
    """`celery -A attache worker` against the test database and a Redis database of its own."""
    try:
        broker = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        broker.flushdb()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({error}); the real-worker tests need it.")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    log = Path(tempfile.mkdtemp()) / "worker.log"
    process = start_worker(celery_env(database_url=url, broker_url=REDIS_URL), log, name="intensity-test")
    try:
        yield log
    finally:
        process.stop()
        broker.flushdb()


def _wait(condition: Callable[[], bool], message: str, log: Path) -> None:
    wait_for(condition, message, log=log)


@pytest.fixture
def through_redis(worker: Path, migrated_data: None) -> Iterator[list[dict[str, Any]]]:
    """This process sends tasks to Redis (not inline); yields the messages it publishes."""
    with tasks_through(REDIS_URL) as published:
        yield published


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
