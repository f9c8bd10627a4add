"""Celery tasks: thin, retried with backoff, scheduled nightly, and harmless when the broker is down."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError

from attache.celery import app
from cooperation import intensity, services, tasks
from cooperation.models import Activity, Relationship, WeightSet
from tests.factories import ActivityFactory, area

D = datetime.date
pytestmark = pytest.mark.django_db


def test_refresh_task_recomputes_the_keys_it_is_given() -> None:
    activity = ActivityFactory(start_date=D(2017, 3, 9), participants=9)
    result = tasks.refresh_intensity_rollups.delay([[activity.relationship_id, "2017-03-01"]]).get()
    assert result == {"taken": 1, "keys": 1, "inserted": 1}  # the factory insert left its key in the outbox
    active = WeightSet.objects.active().pk
    assert intensity.stored_rollups(weight_set_id=active) == intensity.fresh_aggregation(weight_set_id=active)


def test_refresh_task_is_retried_on_database_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = intensity.refresh_rollups

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real(**kwargs)

    monkeypatch.setattr(intensity, "refresh_rollups", flaky)
    activity = ActivityFactory(start_date=D(2017, 3, 9))
    app.conf.task_eager_propagates = False  # let apply() run the retry inline
    try:
        result = tasks.refresh_intensity_rollups.apply(args=[[[activity.relationship_id, "2017-03-01"]]])
    finally:
        app.conf.task_eager_propagates = True
    assert len(calls) == 2
    # The failed attempt rolled back, outbox entry included: the retry takes it again.
    assert result.get() == {"taken": 1, "keys": 1, "inserted": 1}


@pytest.mark.parametrize(
    "task", [tasks.refresh_intensity_rollups, tasks.reconcile_intensity_rollups, tasks.activate_weight_set]
)
def test_tasks_retry_with_backoff_ack_late_and_have_time_limits(task: Any) -> None:
    assert OperationalError in task.autoretry_for
    assert task.retry_backoff and task.max_retries
    assert task.acks_late
    assert 0 < task.soft_time_limit < task.time_limit


def test_the_reconcile_runs_nightly_through_beat() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["intensity-reconcile-nightly"]
    assert entry["task"] == tasks.reconcile_intensity_rollups.name
    assert entry["task"] in app.tasks
    assert entry["schedule"].hour == {2}


def test_a_write_succeeds_even_when_the_broker_is_down(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broker_down(keys: Any) -> None:
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(tasks.refresh_intensity_rollups, "delay", broker_down)
    relationship = Relationship.objects.create(state_a="BY", state_b="US")
    with django_capture_on_commit_callbacks(execute=True):
        activity = services.activity_create(
            actor=None,
            relationship=relationship,
            area=area("education"),
            title="Course",
            kind="course",
            start_date=D(2017, 3, 9),
            status="conducted",
        )
    assert Activity.objects.filter(pk=activity.pk).exists()
    assert "redis is down" in caplog.text
    # … and the nightly reconcile repairs what the lost task would have done.
    tasks.reconcile_intensity_rollups()
    active = WeightSet.objects.active().pk
    assert intensity.stored_rollups(weight_set_id=active)[
        (relationship.pk, activity.area_id, D(2017, 3, 1), activity.releasability)
    ] == (1, Decimal("2.000000"), 0)


def test_a_task_that_fails_after_its_last_retry_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from cooperation.models import TaskFailure

    def always_down(**kwargs: Any) -> Any:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(intensity, "drain_outbox", always_down)
    app.conf.task_eager_propagates = False
    try:
        result = tasks.drain_intensity_outbox.apply(retries=tasks.RETRY_OPTIONS["max_retries"])
    finally:
        app.conf.task_eager_propagates = True
    assert result.failed()
    failure = TaskFailure.objects.get()
    assert failure.task_name == "cooperation.tasks.drain_intensity_outbox"
    assert "could not connect to server" in failure.exception
    assert failure.retries == tasks.RETRY_OPTIONS["max_retries"]
    assert "OperationalError" in failure.traceback


def test_the_broker_visibility_timeout_outlasts_the_longest_retry_and_task(settings: Any) -> None:
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > tasks.RETRY_OPTIONS["retry_backoff_max"]
    assert visibility > settings.CELERY_TASK_TIME_LIMIT
    assert visibility > max(
        task.time_limit or 0 for task in (tasks.reconcile_intensity_rollups, tasks.activate_weight_set)
    )
