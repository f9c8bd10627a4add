"""Fault drill: Redis stopped while activities are saved.

A private redis-server (no persistence: stopping it loses its queue), a Celery worker
and beat (draining the outbox every 2 s instead of every minute). While Redis is down,
activities are created, updated and deleted through the services: every save succeeds,
the refresh it could not send is one warning in the log, and the outbox holds its keys.
Redis comes back empty; the worker reconnects by itself, beat sends the outbox drain, and
the rollups equal a fresh aggregation again. The suite stops Redis once; `make faults`
five times, with more saves each time.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from bench.servers import database_url
from cooperation import services
from cooperation.choices import ActivityStatus, Classification
from cooperation.models import Activity, IntensityOutbox, Relationship
from tests.factories import area
from tests.intensity_checks import outbox_is_empty, rollups_are_current
from tests.processes import (
    PrivateRedis,
    celery_env,
    drill_runs,
    start_beat,
    start_worker,
    tasks_through,
    temporary_directory,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
D = datetime.date
NOT_SENT = "Rollup refresh of 1 keys not sent, the outbox keeps them for the next drain"
DRAINED = re.compile(r"drain_intensity_outbox\[[^]]+\] succeeded in [0-9.]+s: \{'taken': [1-9]")


@pytest.fixture
def drill_dir() -> Iterator[Path]:
    with temporary_directory("attache-redis-drill-") as directory:
        yield directory


def test_saves_succeed_while_redis_is_down_and_the_rollups_catch_up_when_it_is_back(
    migrated_data: None, drill_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = PrivateRedis(drill_dir)
    broker.start()
    env = celery_env(
        database_url=database_url(connection.settings_dict),
        broker_url=broker.url(),
        INTENSITY_OUTBOX_DRAIN_SECONDS="2",
    )
    worker = start_worker(env, drill_dir / "worker.log", name="redis-drill")
    beat = start_beat(env, drill_dir / "beat.log")
    relationship = Relationship.objects.create(state_a="BY", state_b="US")
    try:
        with tasks_through(broker.url()) as published:
            first = _create(relationship, D(2016, 6, 1), "Before the outage")
            wait_for(rollups_are_current, "the worker never refreshed the rollups", log=worker.log)
            assert published[0]["task"] == "cooperation.tasks.refresh_intensity_rollups"

            saves = drill_runs(short=3, full=10)
            for outage in range(drill_runs(short=1, full=5)):
                broker.stop()
                caplog.clear()
                with caplog.at_level(logging.WARNING, logger="cooperation.intensity"):
                    created = [
                        _create(relationship, D(2017 + outage, 1 + n % 12, 3), f"Outage {outage} #{n}")
                        for n in range(saves)
                    ]
                    first = services.activity_update(
                        actor=None,
                        activity=first,
                        data={"participants": first.participants + 10},
                        expected_version=first.version,
                    )
                    services.activity_soft_delete(actor=None, activity=created[0], expected_version=created[0].version)
                # Every save succeeded and is in the database …
                assert Activity.objects.filter(title__startswith=f"Outage {outage} #").count() == saves
                assert Activity.objects.get(pk=created[0].pk).deleted_at is not None
                # … its refresh could not be sent (one warning each, no error), the outbox has its keys …
                assert caplog.text.count(NOT_SENT) == saves + 2
                assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
                waiting = set(IntensityOutbox.objects.values_list("relationship_id", "month"))
                assert {(relationship.pk, activity.start_date.replace(day=1)) for activity in created} <= waiting
                assert (relationship.pk, D(2016, 6, 1)) in waiting
                assert not rollups_are_current()

                log_start = len(worker.text())
                broker.start()  # empty: whatever was queued before the outage is gone
                wait_for(
                    lambda: rollups_are_current() and outbox_is_empty(),
                    f"outage {outage}: the rollups did not catch up once Redis was back",
                    log=worker.log,
                )
                # Through beat's drain, run by the worker that reconnected by itself.
                assert DRAINED.search(worker.text()[log_start:]), worker.text()[log_start:]
        assert worker.running() and beat.running()
    finally:
        beat.stop()
        worker.stop()
        broker.stop()


def _create(relationship: Relationship, start: D, title: str) -> Activity:
    return services.activity_create(
        actor=None,
        relationship=relationship,
        area=area("demining"),
        title=title,
        kind="training",
        status=ActivityStatus.CONDUCTED,
        start_date=start,
        participants=12,
        releasability=Classification.PUBLIC,
    )
