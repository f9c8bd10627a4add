"""A one-time key creates at most one record per user, however often and however
concurrently it is submitted (services._create_once)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from cooperation import services
from cooperation.choices import Classification
from cooperation.models import Accreditation, Activity
from tests.concurrency import at_once, hold_open
from tests.conftest import World
from tests.factories import (
    AttacheFactory,
    DeskFactory,
    PostFactory,
    RelationshipFactory,
    UserFactory,
    course_values,
)

D = datetime.date
ActivityEvent = Activity.pgh_event_model  # type: ignore[attr-defined]
AccreditationEvent = Accreditation.pgh_event_model  # type: ignore[attr-defined]


def create(actor: Any, relationship: Any, key: uuid.UUID | None, **overrides: Any) -> Activity:
    return services.activity_create(
        actor=actor, idempotency_key=key, **course_values(relationship=relationship, **overrides)
    )


def insert_events(activity: Activity) -> int:
    return ActivityEvent.objects.filter(pgh_obj_id=activity.pk, pgh_label="insert").count()


# Sequential submissions --------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_key_twice_creates_one_activity_and_returns_it_again(world: World) -> None:
    key = uuid.uuid4()
    first = create(world.officer_a, world.rel_a, key)
    second = create(world.officer_a, world.rel_a, key)
    assert second.pk == first.pk
    assert Activity.objects.filter(title="Mine clearance course").count() == 1
    assert Activity.objects.get(pk=first.pk).idempotency_key == key
    assert insert_events(first) == 1
    assert ActivityEvent.objects.filter(pgh_obj_id=first.pk).count() == 1


@pytest.mark.django_db
def test_a_different_key_creates_a_second_activity(world: World) -> None:
    first = create(world.officer_a, world.rel_a, uuid.uuid4())
    second = create(world.officer_a, world.rel_a, uuid.uuid4())
    assert second.pk != first.pk
    assert Activity.objects.filter(title="Mine clearance course").count() == 2


@pytest.mark.django_db
def test_no_key_keeps_the_old_behaviour(world: World) -> None:
    create(world.officer_a, world.rel_a, None)
    create(world.officer_a, world.rel_a, None)
    assert Activity.objects.filter(title="Mine clearance course", idempotency_key=None).count() == 2


@pytest.mark.django_db
def test_a_replay_matches_the_values_the_activity_was_created_with_not_later_edits(world: World) -> None:
    key = uuid.uuid4()
    first = create(world.officer_a, world.rel_a, key)
    services.activity_update(actor=world.officer_a, activity=first, data={"participants": 20}, expected_version=1)
    again = create(world.officer_a, world.rel_a, key)
    assert again.pk == first.pk and again.participants == 20 and again.version == 2


@pytest.mark.django_db
def test_the_same_key_with_other_values_is_refused_naming_them(world: World) -> None:
    key = uuid.uuid4()
    first = create(world.officer_a, world.rel_a, key)
    with pytest.raises(services.DuplicateSubmission) as refused:
        create(world.officer_a, world.rel_a, key, title="Mine clearance course, second run", participants=14)
    assert refused.value.instance.pk == first.pk
    assert refused.value.fields == ["title", "participants"]
    assert "Nothing was saved" in str(refused.value)
    assert list(Activity.objects.filter(relationship=world.rel_a, title__startswith="Mine")) == [first]
    assert ActivityEvent.objects.filter(pgh_obj_id=first.pk).count() == 1


@pytest.mark.django_db
def test_another_users_key_is_a_fresh_key_for_them(world: World) -> None:
    colleague = UserFactory(username="colleague_a", clearance=Classification.INTERNAL, desks=[world.desk_a])
    key = uuid.uuid4()
    mine = create(world.officer_a, world.rel_a, key)
    theirs = create(colleague, world.rel_a, key)
    assert theirs.pk != mine.pk and theirs.created_by == colleague
    # Other values under the same key are not compared with someone else's record either.
    other_desk = create(world.officer_b, world.rel_b, key, title="Something else entirely")
    assert other_desk.pk not in (mine.pk, theirs.pk) and other_desk.relationship == world.rel_b
    assert Activity.objects.filter(idempotency_key=key).count() == 3


@pytest.mark.django_db
def test_a_replay_of_a_record_the_user_may_no_longer_see_is_refused_without_showing_it(world: World) -> None:
    key = uuid.uuid4()
    create(world.officer_a, world.rel_a, key, title="Quiet talks")
    world.officer_a.desks.clear()  # moved to another desk
    with pytest.raises(PermissionDenied) as refused:
        create(world.officer_a, world.rel_a, key, title="Quiet talks")
    assert "Quiet talks" not in str(refused.value) and "already used" in str(refused.value)
    assert Activity.objects.filter(title="Quiet talks").count() == 1


@pytest.mark.django_db
def test_a_key_needs_a_user(world: World) -> None:
    with pytest.raises(ValueError, match="belongs to a user"):
        create(None, world.rel_a, uuid.uuid4())


@pytest.mark.django_db
def test_the_database_refuses_a_second_row_with_a_users_key(world: World) -> None:
    key = uuid.uuid4()
    first = create(world.officer_a, world.rel_a, key)
    copy = Activity.objects.filter(pk=first.pk).values(
        "relationship_id", "area_id", "title", "kind", "start_date", "created_by_id"
    )[0]
    with pytest.raises(IntegrityError, match="activity_once_per_key"), transaction.atomic():
        Activity.objects.create(**copy, idempotency_key=key)
    Activity.objects.create(**{**copy, "created_by_id": world.officer_b.pk}, idempotency_key=key)


# Accreditation requests --------------------------------------------------------------


@pytest.mark.django_db
def test_an_accreditation_request_key_requests_once(world: World) -> None:
    attache = AttacheFactory(sending_country="US")
    minsk = PostFactory(sending_country="US", host_country="BY", city="Minsk")
    key = uuid.uuid4()
    values: dict[str, Any] = {
        "actor": world.officer_a,
        "attache": attache,
        "post": minsk,
        "host_country": "BY",
        "requested_on": D(2016, 1, 1),
        "idempotency_key": key,
    }
    first = services.accreditation_request(**values)
    again = services.accreditation_request(**{**values, "host_country": "by"})
    assert again.pk == first.pk
    assert Accreditation.objects.filter(attache=attache).count() == 1
    assert AccreditationEvent.objects.filter(pgh_obj_id=first.pk).count() == 1
    with pytest.raises(services.DuplicateSubmission) as refused:
        services.accreditation_request(**{**values, "requested_on": D(2016, 1, 2), "notes": "Urgent."})
    assert refused.value.fields == ["requested_on", "notes"]
    copy = Accreditation.objects.filter(pk=first.pk).values(
        "attache_id", "post_id", "host_country", "relationship_id", "kind", "requested_on", "created_by_id"
    )[0]
    withdrawn = {**copy, "status": "withdrawn", "withdrawn_on": D(2016, 2, 1)}  # not a second open request
    with pytest.raises(IntegrityError, match="accreditation_once_per_key"), transaction.atomic():
        Accreditation.objects.create(**withdrawn, idempotency_key=key)


# Concurrent submissions --------------------------------------------------------------


@pytest.fixture
def officer(migrated_data: None) -> Any:
    relationship = RelationshipFactory()
    desk = DeskFactory(name="Concurrency desk", relationships=[relationship])
    return UserFactory(clearance=Classification.INTERNAL, desks=[desk]), relationship


@pytest.mark.django_db(transaction=True)
def test_a_submission_arriving_while_the_first_is_in_flight_waits_and_gets_its_row(officer: Any) -> None:
    """The first submission has inserted but not committed; the second, on its own
    connection, is held at the unique index, then finds the committed row."""
    user, relationship = officer
    key = uuid.uuid4()
    results = hold_open(lambda: create(user, relationship, key).pk, lambda: create(user, relationship, key).pk)
    assert results["second waited"], "the second submission should wait for the first to commit"
    assert isinstance(results["first"], int), results
    assert results["second"] == results["first"]
    assert Activity.objects.filter(idempotency_key=key).count() == 1
    assert ActivityEvent.objects.filter(pgh_obj_id=results["first"], pgh_label="insert").count() == 1


@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_submissions_of_one_key_create_one_activity(officer: Any) -> None:
    user, relationship = officer
    key = uuid.uuid4()
    results = at_once([lambda: create(user, relationship, key).pk] * 10)
    assert len(results) == 10 and len(set(results)) == 1 and isinstance(results[0], int), results
    assert Activity.objects.filter(idempotency_key=key).count() == 1
    assert ActivityEvent.objects.filter(pgh_obj_id=results[0]).count() == 1
