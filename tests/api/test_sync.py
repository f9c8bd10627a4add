"""Incremental sync: `updated_since` walks every committed change in commit order, with
tombstones, and a client resuming from the last `updated_at` it saw neither misses nor
repeats anything — also while other transactions write."""

from __future__ import annotations

import csv
import datetime
import io
import random
import threading
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework.test import APIClient

from cooperation import services
from cooperation.api.views import STAMP
from cooperation.choices import Classification
from cooperation.models import Activity, ActivityChange, CooperationArea
from cooperation.sync import activity_feed
from tests.api.conftest import client_for
from tests.conftest import World
from tests.factories import ActivityFactory, RelationshipFactory, UserFactory

LIST = "/api/v1/activities/"
EPOCH = "2000-01-01T00:00:00Z"


def walk(client: APIClient, since: str, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Follow `next` to the end; returns what came and the `updated_at` to resume from."""
    received: list[dict[str, Any]] = []
    response = client.get(LIST, {"updated_since": since, **params})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        received += body["results"]
        if not body["next"]:
            break
        response = client.get(body["next"])
    return received, (received[-1]["updated_at"] if received else since)


@pytest.mark.django_db
def test_changes_come_in_commit_order_with_tombstones(world: World) -> None:
    client = client_for(world.officer_a)
    first, resume = walk(client, EPOCH, page_size=1)
    # A first sync holds nothing: the record deleted before it is no tombstone.
    assert sorted(row["title"] for row in first) == ["a internal", "a public"]
    stamps = [row["updated_at"] for row in first]
    assert stamps == sorted(stamps)
    public = world.activities["a_public"]
    services.activity_update(actor=world.officer_a, activity=public, data={"title": "renamed"}, expected_version=1)
    services.activity_soft_delete(actor=world.officer_a, activity=world.activities["a_internal"], expected_version=1)
    later, _ = walk(client, resume)
    assert later[0]["title"] == "renamed" and later[0]["version"] == 2
    assert later[1] == {"id": world.activities["a_internal"].pk, "deleted": True, "updated_at": later[1]["updated_at"]}
    assert len(later) == 2


@pytest.mark.django_db
def test_records_that_leave_your_view_become_tombstones_but_others_never_show(world: World) -> None:
    manager = client_for(world.manager)  # internal clearance
    _, resume = walk(manager, EPOCH)
    internal = world.activities["a_internal"]
    services.activity_update(
        actor=world.admin, activity=internal, data={"releasability": Classification.RESTRICTED}, expected_version=1
    )
    services.activity_update(
        actor=world.admin, activity=world.activities["b_restricted"], data={"title": "secret"}, expected_version=1
    )
    received, _ = walk(manager, resume)
    assert received == [{"id": internal.pk, "deleted": True, "updated_at": received[0]["updated_at"]}]
    assert "secret" not in str(walk(manager, EPOCH)[0])


@pytest.mark.django_db
def test_a_record_that_left_your_view_does_not_come_back_as_a_tombstone_when_it_changes_again(world: World) -> None:
    """The tombstone a client needs is sent once, after the record left its view (the test above);
    a later change of the now hidden record does not show it again (it did before the scope
    transitions, with the moment of that change: when a record above its clearance changes)."""
    manager = client_for(world.manager)  # internal clearance
    _, resume = walk(manager, EPOCH)
    internal = world.activities["a_internal"]
    raised = services.activity_update(
        actor=world.admin, activity=internal, data={"releasability": Classification.RESTRICTED}, expected_version=1
    )
    received, resume = walk(manager, resume)
    assert [row["id"] for row in received] == [internal.pk]
    services.activity_update(actor=world.admin, activity=raised, data={"title": "hidden edit"}, expected_version=2)
    assert walk(manager, resume)[0] == []


def stamp_of(activity: Activity) -> str:
    """The position of an activity's latest change, as the feed writes it."""
    return STAMP.to_representation(ActivityChange.objects.get(pk=activity.pk).changed_at)


@pytest.mark.django_db
def test_a_record_raised_and_edited_twice_is_one_tombstone_before_the_raise_and_none_after(world: World) -> None:
    manager = client_for(world.manager)  # internal clearance
    _, before = walk(manager, EPOCH)
    internal = world.activities["a_internal"]
    raised = services.activity_update(
        actor=world.admin, activity=internal, data={"releasability": Classification.RESTRICTED}, expected_version=1
    )
    after = stamp_of(internal)
    edited = services.activity_update(actor=world.admin, activity=raised, data={"title": "one"}, expected_version=2)
    services.activity_update(actor=world.admin, activity=edited, data={"title": "two"}, expected_version=3)
    for page_size in (1, 100):
        received, _ = walk(manager, before, page_size=page_size)
        # The position stays the change's stamp, so a client resumes from it.
        assert received == [{"id": internal.pk, "deleted": True, "updated_at": stamp_of(internal)}]
        assert walk(manager, after, page_size=page_size)[0] == []


@pytest.mark.django_db
def test_a_first_sync_shows_no_tombstone_for_a_record_hidden_from_you(world: World) -> None:
    internal = world.activities["a_internal"]
    raised = services.activity_update(
        actor=world.admin, activity=internal, data={"releasability": Classification.RESTRICTED}, expected_version=1
    )
    services.activity_update(actor=world.admin, activity=raised, data={"title": "edited"}, expected_version=2)
    received, _ = walk(client_for(world.manager), EPOCH, page_size=1)
    assert sorted(row["title"] for row in received) == ["a public", "b internal", "b public"]
    visible = Activity.objects.visible_to(world.manager)
    assert [entry.activity_id for entry in activity_feed(user=world.manager, matching=visible, limit=100)] == [
        row["id"] for row in received
    ]


@pytest.mark.django_db
def test_a_record_released_after_since_comes_as_the_record(world: World) -> None:
    manager = client_for(world.manager)  # internal clearance
    _, before = walk(manager, EPOCH)
    restricted = world.activities["b_restricted"]
    services.activity_update(
        actor=world.admin, activity=restricted, data={"releasability": Classification.INTERNAL}, expected_version=1
    )
    received, _ = walk(manager, before)
    assert [(row["id"], row["title"]) for row in received] == [(restricted.pk, "b restricted")]


@pytest.mark.django_db
def test_a_soft_delete_is_one_tombstone_and_purging_it_later_sends_none_again(world: World) -> None:
    officer = client_for(world.officer_a)
    _, before = walk(officer, EPOCH)
    public = world.activities["a_public"]
    services.activity_soft_delete(actor=world.officer_a, activity=public, expected_version=1)
    received, after = walk(officer, before)
    assert received == [{"id": public.pk, "deleted": True, "updated_at": stamp_of(public)}]
    Activity.objects.filter(pk=public.pk).delete()
    assert walk(officer, after)[0] == []
    purged, _ = walk(officer, before)  # a client that missed both still gets it, once
    assert purged == [{"id": public.pk, "deleted": True, "updated_at": stamp_of(public)}]


@pytest.mark.django_db
def test_a_record_sent_earlier_in_a_walk_and_hidden_before_its_end_comes_as_a_tombstone(world: World) -> None:
    """Its scope at `since` was not visible (it did not exist), but the walk sent it: the
    cursor keeps when the walk began. One created and hidden while the walk ran was never
    sent, and is not a tombstone."""
    manager = client_for(world.manager)
    _, since = walk(manager, EPOCH)
    sent, other = ActivityFactory(relationship=world.rel_a), ActivityFactory(relationship=world.rel_a)
    first = manager.get(LIST, {"updated_since": since, "page_size": 1}).json()
    assert [row["id"] for row in first["results"]] == [sent.pk]
    services.activity_update(
        actor=world.admin, activity=sent, data={"releasability": Classification.RESTRICTED}, expected_version=1
    )
    unseen = ActivityFactory(relationship=world.rel_a)
    services.activity_update(
        actor=world.admin, activity=unseen, data={"releasability": Classification.RESTRICTED}, expected_version=1
    )
    rest, response = [], first
    while response["next"]:
        response = manager.get(response["next"]).json()
        rest += response["results"]
    assert [row["id"] for row in rest] == [other.pk, sent.pk]
    assert rest[1] == {"id": sent.pk, "deleted": True, "updated_at": stamp_of(sent)}


@pytest.mark.django_db
def test_filters_apply_and_records_leaving_them_are_tombstones(world: World) -> None:
    client = client_for(world.manager)
    rows, resume = walk(client, EPOCH, country="CU")
    assert {row.get("title") for row in rows if "title" in row} == {"b public", "b internal"}
    moved = world.activities["b_public"]
    services.activity_update(actor=world.admin, activity=moved, data={"relationship": world.rel_a}, expected_version=1)
    received, _ = walk(client, resume, country="CU")
    assert received == [{"id": moved.pk, "deleted": True, "updated_at": received[0]["updated_at"]}]


@pytest.mark.django_db
def test_sync_rejects_another_ordering_and_foreign_cursors(world: World) -> None:
    client = client_for(world.manager)
    assert client.get(LIST, {"updated_since": EPOCH, "ordering": "start_date"}).json().keys() == {"ordering"}
    page = client.get(LIST, {"page_size": 1}).json()
    cursor = page["next"].split("cursor=")[1].split("&")[0]
    response = client.get(LIST, {"updated_since": EPOCH, "cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()


@pytest.mark.django_db
def test_sync_as_csv_has_tombstones(world: World) -> None:
    _, resume = walk(client_for(world.officer_a), EPOCH)
    services.activity_soft_delete(actor=world.admin, activity=world.activities["a_public"], expected_version=1)
    services.activity_update(
        actor=world.admin, activity=world.activities["a_internal"], data={"location": "Minsk"}, expected_version=1
    )
    response = client_for(world.officer_a).get(LIST, {"updated_since": resume, "format": "csv"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].endswith(",deleted")
    assert any(line.startswith(f"{world.activities['a_public'].pk},") and line.endswith(",true") for line in lines)
    assert any(",a internal," in line and line.endswith(",false") for line in lines)
    # The CSV holds the same changes as the JSON feed, tombstones with the stamp to resume from.
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    feed, _ = walk(client_for(world.officer_a), resume)
    assert [int(row["id"]) for row in rows] == [row["id"] for row in feed]
    tombstones = {int(row["id"]): row for row in rows if row["deleted"] == "true"}
    expected = {row["id"]: row["updated_at"] for row in feed if row.get("deleted")}
    assert set(tombstones) == set(expected) == {world.activities["a_public"].pk}
    for pk, row in tombstones.items():
        assert datetime.datetime.fromisoformat(row["updated_at"]) == datetime.datetime.fromisoformat(expected[pk])
        assert {name: value for name, value in row.items() if value} == {
            "id": str(pk), "updated_at": row["updated_at"], "deleted": "true",
        }  # fmt: skip


# Concurrent writers -------------------------------------------------------------------------


def _writer(
    relationship_ids: list[int], area_id: int, stop: threading.Event, seed: int, errors: list[BaseException]
) -> None:
    rng = random.Random(seed)
    try:
        while not stop.is_set():
            choice = rng.random()
            if choice < 0.4:
                services.activity_create(
                    actor=None,
                    relationship=services.Relationship.objects.get(pk=rng.choice(relationship_ids)),
                    area=CooperationArea.objects.get(pk=area_id),
                    title=f"w{seed}-{rng.random()}",
                    kind="visit",
                    start_date=datetime.date(2019, 1, 1),
                    releasability=Classification.PUBLIC,
                )
            else:
                activity = Activity.objects.alive().order_by("?").first()
                if activity is None:
                    continue
                try:
                    if choice < 0.9:
                        services.activity_update(
                            actor=None,
                            activity=activity,
                            data={"participants": rng.randint(1, 500)},
                            expected_version=None,
                        )
                    else:
                        services.activity_soft_delete(actor=None, activity=activity, expected_version=None)
                except ValidationError:
                    # Another writer deleted it between our pick and our write: the service refuses, rightly.
                    if not Activity.objects.filter(pk=activity.pk, deleted_at__isnull=False).exists():
                        raise
            time.sleep(rng.random() * 0.01)
    except BaseException as error:
        errors.append(error)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_paged_walk_during_concurrent_writes_misses_and_repeats_nothing() -> None:
    for code, name in (("education", "Military education"),):
        CooperationArea.objects.get_or_create(code=code, defaults={"name": name})
    relationships = [RelationshipFactory() for _ in range(3)]
    for relationship in relationships:
        ActivityFactory.create_batch(10, relationship=relationship, releasability=Classification.PUBLIC)
    manager = UserFactory(role="manager", clearance=Classification.INTERNAL)
    client = client_for(manager)
    area_id = CooperationArea.objects.get(code="education").pk
    stop, errors = threading.Event(), list[BaseException]()
    writers = [
        threading.Thread(target=_writer, args=([r.pk for r in relationships], area_id, stop, seed, errors))
        for seed in range(3)
    ]
    for thread in writers:
        thread.start()
    mirror: dict[int, int | None] = {}  # id → version, None for a tombstone
    seen: set[tuple[int, Any]] = set()
    since = EPOCH
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            received, since = walk(client, since, page_size=7)
            for row in received:
                key = (row["id"], row.get("version", "deleted@" + row["updated_at"]))
                assert key not in seen, f"received twice: {row}"
                seen.add(key)
                mirror[row["id"]] = row.get("version")
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert not errors, errors
    received, since = walk(client, since, page_size=7)
    for row in received:
        key = (row["id"], row.get("version", "deleted@" + row["updated_at"]))
        assert key not in seen, f"received twice: {row}"
        mirror[row["id"]] = row.get("version")
    truth = dict(Activity.objects.alive().values_list("id", "version"))
    alive_in_mirror = {pk: version for pk, version in mirror.items() if version is not None}
    assert alive_in_mirror == truth
    assert len(seen) > 30  # the writers did write while we walked
    connection.close()
