"""The outbox: every change to an activity leaves its rollup keys in the same
transaction, so a refresh whose task was never sent is caught up by the next drain."""

from __future__ import annotations

import datetime
import importlib
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from cooperation import intensity, services, tasks
from cooperation.models import Activity, IntensityOutbox, WeightSet
from tests.conftest import World
from tests.factories import ActivityFactory, area
from tests.intensity_checks import rollups_are_current

pytestmark = pytest.mark.django_db
D = datetime.date


def outbox() -> set[tuple[int, datetime.date]]:
    return set(IntensityOutbox.objects.values_list("relationship_id", "month"))


def test_triggers_record_the_keys_of_inserts_updates_and_deletes(world: World) -> None:
    IntensityOutbox.objects.all().delete()
    activity = ActivityFactory(relationship=world.rel_a, start_date=D(2017, 3, 9))
    assert outbox() == {(world.rel_a.pk, D(2017, 3, 1))}
    IntensityOutbox.objects.all().delete()
    Activity.objects.filter(pk=activity.pk).update(start_date=D(2018, 1, 2), relationship=world.rel_b)
    assert outbox() == {(world.rel_a.pk, D(2017, 3, 1)), (world.rel_b.pk, D(2018, 1, 1))}
    IntensityOutbox.objects.all().delete()
    Activity.objects.filter(pk=activity.pk).update(title="renamed", description="no bearing on intensity")
    assert outbox() == set()
    Activity.objects.filter(pk=activity.pk).delete()
    assert outbox() == {(world.rel_b.pk, D(2018, 1, 1))}


def test_a_write_whose_refresh_task_was_never_sent_is_caught_up_by_the_drain(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    intensity.rebuild_rollups()
    assert rollups_are_current()
    # The process dies between commit and sending the task: nothing reaches the broker.
    with (
        mock.patch.object(tasks.refresh_intensity_rollups, "delay", side_effect=ConnectionError("broker gone")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.activity_create(
            actor=world.officer_a,
            relationship=world.rel_a,
            area=area("demining"),
            title="Saved while the broker was down",
            kind="training",
            status="conducted",
            start_date=D(2019, 5, 6),
            participants=30,
        )
    assert Activity.objects.filter(title="Saved while the broker was down").exists()  # the save succeeded
    assert not rollups_are_current()
    assert (world.rel_a.pk, D(2019, 5, 1)) in outbox()
    result = tasks.drain_intensity_outbox.delay().get()  # what beat runs every minute
    assert result["taken"] >= 1
    assert rollups_are_current()
    assert outbox() == set()


def test_draining_twice_changes_nothing(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, start_date=D(2016, 7, 1))
    intensity.drain_outbox()
    snapshot = intensity.stored_rollups(weight_set_id=WeightSet.objects.active().pk)
    assert intensity.drain_outbox().taken == 0
    assert intensity.stored_rollups(weight_set_id=WeightSet.objects.active().pk) == snapshot


def test_the_drain_works_in_batches(world: World) -> None:
    for month in range(1, 8):
        ActivityFactory(relationship=world.rel_b, start_date=D(2015, month, 3))
    result = intensity.drain_outbox(batch=3)
    assert result.taken >= 7
    assert outbox() == set()
    assert rollups_are_current()


def test_a_full_rebuild_empties_the_outbox(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, start_date=D(2014, 2, 2))
    assert outbox()
    intensity.rebuild_rollups()
    assert outbox() == set()
    assert rollups_are_current()


def test_beat_drains_the_outbox_every_minute(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["intensity-outbox-every-minute"]
    assert entry["task"] == "cooperation.tasks.drain_intensity_outbox"
    assert entry["schedule"] == 60.0
    assert tasks.drain_intensity_outbox.name == entry["task"]


def test_the_bulk_import_adds_its_inserts_itself_and_leaves_no_outbox_entries(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    from cooperation.bulk import ImportRow, activity_bulk_import

    intensity.rebuild_rollups()
    values = {
        "external_ref": "outbox-1", "state_a": "BY", "state_b": "US", "area": "education", "title": "Imported",
        "kind": "course", "level": "working", "status": "conducted", "start_date": "2016-08-01",
        "participants": "9", "releasability": "internal",
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        result = activity_bulk_import(actor=world.officer_a, rows=[ImportRow(2, values)])
        assert result.created == 1
        assert outbox() == set()  # inside the transaction: nothing recorded for the added rows
        # Later statements of the same transaction are recorded again.
        ActivityFactory(relationship=world.rel_a, start_date=D(2013, 4, 4))
        assert outbox() == {(world.rel_a.pk, D(2013, 4, 1))}
    intensity.drain_outbox()  # the factory's row (not the import's) waits for the drain
    assert rollups_are_current()


def test_reversing_0012_restores_the_function_that_records_every_insert(world: World) -> None:
    """Migration 0012 lets inserts whose rollups their transaction adds skip the outbox;
    its reverse brings back 0009's function (the test's transaction undoes it again)."""
    migration = importlib.import_module("cooperation.migrations.0012_outbox_skips_added_inserts")
    IntensityOutbox.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('attache.rollups_added_by_caller', 'on', true)")
        ActivityFactory(relationship=world.rel_a, start_date=D(2017, 3, 9))
        assert outbox() == set()
        cursor.execute(migration.BACKWARD)
        ActivityFactory(relationship=world.rel_a, start_date=D(2017, 4, 9))
        assert outbox() == {(world.rel_a.pk, D(2017, 4, 1))}
        cursor.execute(migration.FORWARD)
        ActivityFactory(relationship=world.rel_a, start_date=D(2017, 5, 9))
        assert outbox() == {(world.rel_a.pk, D(2017, 4, 1))}
