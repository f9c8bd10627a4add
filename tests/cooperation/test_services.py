"""Writes through the services: permissions, validation, versions, lifecycle."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cooperation import services
from cooperation.choices import AccreditationKind, AccreditationStatus, ActivityStatus, Classification
from cooperation.models import Accreditation, Activity, Relationship
from tests.conftest import World
from tests.factories import AttacheFactory, PostFactory, course_values

D = datetime.date


def create(world: World, actor: object, **overrides: object) -> Activity:
    return services.activity_create(actor=actor, **course_values(**{"relationship": world.rel_a, **overrides}))  # type: ignore[arg-type]


# Activities ------------------------------------------------------------------------------


def test_desk_officer_creates_an_activity_on_own_desk(world: World) -> None:
    activity = create(world, world.officer_a)
    assert activity.pk and activity.version == 1
    assert activity.created_by == world.officer_a and activity.updated_by == world.officer_a
    assert Activity.objects.visible_to(world.officer_a).filter(pk=activity.pk).exists()


def test_desk_officer_cannot_write_another_desk(world: World) -> None:
    with pytest.raises(PermissionDenied, match="Cuba – United States"):
        create(world, world.officer_a, relationship=world.rel_b)
    assert not Activity.objects.filter(title="Mine clearance course").exists()


def test_desk_officer_cannot_write_above_own_clearance(world: World) -> None:
    with pytest.raises(PermissionDenied, match="restricted record above your clearance"):
        create(world, world.officer_a, releasability=Classification.RESTRICTED)


@pytest.mark.parametrize("who", ["manager", "api_client"])
def test_managers_and_api_clients_write_nothing(world: World, who: str) -> None:
    with pytest.raises(PermissionDenied):
        create(world, getattr(world, who))


def test_invalid_activity_reports_every_field_and_writes_nothing(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        create(world, world.officer_a, end_date=D(2017, 4, 1), participants=-3, kind="party")
    errors = caught.value.message_dict
    assert errors["kind"] == ["Value 'party' is not a valid choice."]
    assert "Participants cannot be negative." in errors["__all__"]
    assert "The end date cannot be before the start date." in errors["__all__"]
    assert not Activity.objects.filter(title="Mine clearance course").exists()


def test_update_applies_changes_and_bumps_the_version(world: World) -> None:
    activity = create(world, world.officer_a)
    updated = services.activity_update(
        actor=world.officer_a, activity=activity, data={"status": ActivityStatus.CONDUCTED}, expected_version=1
    )
    assert updated.version == 2 and updated.status == ActivityStatus.CONDUCTED
    assert Activity.objects.get(pk=activity.pk).status == ActivityStatus.CONDUCTED


def test_update_without_a_change_writes_nothing(world: World) -> None:
    activity = create(world, world.officer_a)
    same = services.activity_update(
        actor=world.officer_a, activity=activity, data={"participants": 12}, expected_version=1
    )
    assert same.version == 1


def test_stale_update_is_refused_and_names_what_changed(world: World) -> None:
    activity = create(world, world.officer_a)
    services.activity_update(actor=world.officer_a, activity=activity, data={"participants": 20}, expected_version=1)
    with pytest.raises(services.StaleVersion) as caught:
        services.activity_update(actor=world.officer_a, activity=activity, data={"title": "Mine"}, expected_version=1)
    assert caught.value.changes == {"participants": (12, 20)}
    assert "changed by someone else" in str(caught.value)
    fresh = Activity.objects.get(pk=activity.pk)
    assert (fresh.title, fresh.participants, fresh.version) == ("Mine clearance course", 20, 2)


def test_update_refuses_fields_that_are_not_editable(world: World) -> None:
    activity = create(world, world.officer_a)
    with pytest.raises(ValidationError) as caught:
        services.activity_update(actor=world.officer_a, activity=activity, data={"version": 9}, expected_version=1)
    assert caught.value.message_dict == {"version": ["This field cannot be changed."]}


def test_moving_an_activity_to_another_desk_needs_rights_there(world: World) -> None:
    activity = create(world, world.officer_a)
    with pytest.raises(PermissionDenied):
        services.activity_update(
            actor=world.officer_a, activity=activity, data={"relationship": world.rel_b}, expected_version=1
        )
    assert Activity.objects.get(pk=activity.pk).relationship == world.rel_a


def test_other_desk_cannot_touch_an_activity(world: World) -> None:
    activity = create(world, world.officer_a)
    with pytest.raises(PermissionDenied):
        services.activity_update(actor=world.officer_b, activity=activity, data={"title": "x"}, expected_version=1)
    with pytest.raises(PermissionDenied):
        services.activity_soft_delete(actor=world.officer_b, activity=activity, expected_version=None)


def test_soft_delete_and_restore(world: World) -> None:
    activity = create(world, world.officer_a)
    deleted = services.activity_soft_delete(actor=world.officer_a, activity=activity, expected_version=1)
    assert deleted.deleted_at is not None and deleted.deleted_by == world.officer_a and deleted.version == 2
    assert not Activity.objects.visible_to(world.officer_a).filter(pk=activity.pk).exists()
    assert Activity.objects.filter(pk=activity.pk).exists()
    with pytest.raises(ValidationError, match="restore it before editing"):
        services.activity_update(actor=world.officer_a, activity=activity, data={"title": "x"}, expected_version=2)
    restored = services.activity_restore(actor=world.officer_a, activity=activity, expected_version=2)
    assert restored.deleted_at is None and restored.version == 3
    assert Activity.objects.visible_to(world.officer_a).filter(pk=activity.pk).exists()


def test_system_writes_need_no_actor(world: World) -> None:
    activity = create(world, None, releasability=Classification.RESTRICTED)
    assert activity.created_by is None


# Relationships -----------------------------------------------------------------------------


def test_relationship_get_or_create_normalises_the_order(db: None) -> None:
    first = services.relationship_get_or_create(country_a="US", country_b="BY")
    again = services.relationship_get_or_create(country_a="BY", country_b="US")
    assert first == again and (first.state_a, first.state_b) == ("BY", "US")
    assert first.label == "Belarus – United States"
    assert Relationship.objects.count() == 1


@pytest.mark.parametrize(("a", "b", "message"), [("US", "US", "two different states"), ("XX", "US", "not an ISO")])
def test_relationship_get_or_create_rejects_bad_pairs(db: None, a: str, b: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        services.relationship_get_or_create(country_a=a, country_b=b)


# Accreditations ------------------------------------------------------------------------


@pytest.fixture
def us_attache(db: None) -> dict[str, object]:
    attache = AttacheFactory(name="Whitaker", sending_country="US")
    kyiv = PostFactory(name="US Embassy Kyiv", sending_country="US", host_country="UA", city="Kyiv")
    return {"attache": attache, "kyiv": kyiv}


MARCH_2016 = D(2016, 3, 1)


def request(us_attache: dict[str, object], host: str, on: D = MARCH_2016) -> Accreditation:
    return services.accreditation_request(
        actor=None,
        attache=us_attache["attache"],  # type: ignore[arg-type]
        post=us_attache["kyiv"],  # type: ignore[arg-type]
        host_country=host,
        requested_on=on,
    )


def make_active(accreditation: Accreditation, agrement: D, accredited: D) -> Accreditation:
    services.accreditation_grant_agrement(actor=None, accreditation=accreditation, on=agrement)
    return services.accreditation_accredit(actor=None, accreditation=accreditation, on=accredited)


def test_the_kind_follows_from_the_post(us_attache: dict[str, object]) -> None:
    resident = request(us_attache, "UA")
    concurrent = request(us_attache, "BY")
    assert resident.kind == AccreditationKind.RESIDENT and concurrent.kind == AccreditationKind.CONCURRENT
    assert concurrent.relationship.label == "Belarus – United States"


def test_full_lifecycle_records_each_date(us_attache: dict[str, object]) -> None:
    accreditation = make_active(request(us_attache, "UA", D(2015, 5, 4)), D(2015, 6, 15), D(2015, 8, 20))
    ended = services.accreditation_end(actor=None, accreditation=accreditation, on=D(2018, 7, 31))
    assert ended.status == AccreditationStatus.ENDED
    assert (ended.requested_on, ended.agrement_on, ended.accredited_on, ended.ended_on) == (
        D(2015, 5, 4),
        D(2015, 6, 15),
        D(2015, 8, 20),
        D(2018, 7, 31),
    )
    assert ended.version == 4


@pytest.mark.parametrize(
    ("steps", "illegal", "current"),
    [
        ([], "accredit", "requested"),
        ([], "end", "requested"),
        (["grant_agrement"], "grant_agrement", "agrément granted"),
        (["grant_agrement"], "refuse", "agrément granted"),
        (["grant_agrement", "accredit"], "withdraw", "accredited"),
        (["refuse"], "grant_agrement", "refused"),
        (["withdraw"], "accredit", "withdrawn"),
    ],
)
def test_illegal_moves_are_refused_naming_the_current_state(
    us_attache: dict[str, object], steps: list[str], illegal: str, current: str
) -> None:
    accreditation = request(us_attache, "UA", D(2015, 1, 1))
    for number, step in enumerate(steps, start=1):
        getattr(services, f"accreditation_{step}")(actor=None, accreditation=accreditation, on=D(2015, number + 1, 1))
    before = Accreditation.objects.get(pk=accreditation.pk)
    with pytest.raises(services.IllegalTransition) as caught:
        getattr(services, f"accreditation_{illegal}")(actor=None, accreditation=accreditation, on=D(2016, 1, 1))
    assert f"it is '{current}'" in caught.value.messages[0]
    after = Accreditation.objects.get(pk=accreditation.pk)
    assert (after.status, after.version) == (before.status, before.version)


@pytest.mark.parametrize(
    ("steps", "final", "status", "date_field"),
    [
        ([], "refuse", AccreditationStatus.REFUSED, "refused_on"),
        ([], "withdraw", AccreditationStatus.WITHDRAWN, "withdrawn_on"),
        (["grant_agrement"], "withdraw", AccreditationStatus.WITHDRAWN, "withdrawn_on"),
    ],
)
def test_an_accreditation_can_be_refused_or_withdrawn_before_it_is_in_force(
    us_attache: dict[str, object], steps: list[str], final: str, status: str, date_field: str
) -> None:
    accreditation = request(us_attache, "UA", D(2015, 1, 1))
    for number, step in enumerate(steps, start=1):
        getattr(services, f"accreditation_{step}")(actor=None, accreditation=accreditation, on=D(2015, number + 1, 1))
    done = getattr(services, f"accreditation_{final}")(actor=None, accreditation=accreditation, on=D(2015, 6, 1))
    stored = Accreditation.objects.get(pk=accreditation.pk)
    assert (done.status, stored.status, getattr(stored, date_field)) == (status, status, D(2015, 6, 1))
    assert stored.version == len(steps) + 2


def test_a_step_dated_before_the_previous_one_is_refused(us_attache: dict[str, object]) -> None:
    accreditation = request(us_attache, "UA", D(2015, 5, 4))
    with pytest.raises(ValidationError, match="Agrément cannot be granted before it was requested"):
        services.accreditation_grant_agrement(actor=None, accreditation=accreditation, on=D(2015, 5, 1))
    assert Accreditation.objects.get(pk=accreditation.pk).status == AccreditationStatus.REQUESTED


def test_concurrent_accreditation_needs_an_active_resident_one(us_attache: dict[str, object]) -> None:
    concurrent = request(us_attache, "BY")
    services.accreditation_grant_agrement(actor=None, accreditation=concurrent, on=D(2016, 5, 23))
    with pytest.raises(ValidationError, match="needs an active resident accreditation"):
        services.accreditation_accredit(actor=None, accreditation=concurrent, on=D(2016, 6, 8))
    make_active(request(us_attache, "UA", D(2015, 5, 4)), D(2015, 6, 15), D(2015, 8, 20))
    active = services.accreditation_accredit(actor=None, accreditation=concurrent, on=D(2016, 6, 8))
    assert active.status == AccreditationStatus.ACCREDITED


def test_ending_the_resident_accreditation_ends_the_concurrent_ones(us_attache: dict[str, object]) -> None:
    resident = make_active(request(us_attache, "UA", D(2015, 5, 4)), D(2015, 6, 15), D(2015, 8, 20))
    concurrent = make_active(request(us_attache, "BY"), D(2016, 5, 23), D(2016, 6, 8))
    services.accreditation_end(actor=None, accreditation=resident, on=D(2019, 7, 1))
    concurrent.refresh_from_db()
    assert (concurrent.status, concurrent.ended_on) == (AccreditationStatus.ENDED, D(2019, 7, 1))


def test_accreditation_request_checks_the_post_and_host(us_attache: dict[str, object]) -> None:
    foreign_post = PostFactory(sending_country="BY", host_country="CU", city="Havana")
    with pytest.raises(ValidationError, match="is not a post of United States"):
        services.accreditation_request(
            actor=None,
            attache=us_attache["attache"],  # type: ignore[arg-type]
            post=foreign_post,
            host_country="BY",
            requested_on=D(2016, 1, 1),
        )
    with pytest.raises(ValidationError, match="their own country"):
        request(us_attache, "US")
    with pytest.raises(ValidationError, match="not an ISO 3166"):
        request(us_attache, "Narnia")
    assert not Accreditation.objects.exists()


def test_desk_officer_moves_accreditations_of_own_desk_only(world: World) -> None:
    attache = AttacheFactory(sending_country="US")
    minsk = PostFactory(sending_country="US", host_country="BY", city="Minsk")
    havana = PostFactory(sending_country="US", host_country="CU", city="Havana")
    own = services.accreditation_request(
        actor=world.officer_a, attache=attache, post=minsk, host_country="BY", requested_on=D(2016, 1, 1)
    )
    with pytest.raises(PermissionDenied):
        services.accreditation_request(
            actor=world.officer_a, attache=attache, post=havana, host_country="CU", requested_on=D(2016, 1, 1)
        )
    with pytest.raises(PermissionDenied):
        services.accreditation_grant_agrement(actor=world.officer_b, accreditation=own, on=D(2016, 2, 1))
    services.accreditation_grant_agrement(actor=world.officer_a, accreditation=own, on=D(2016, 2, 1))


def test_accreditation_update_changes_free_fields_only(us_attache: dict[str, object]) -> None:
    accreditation = request(us_attache, "UA")
    updated = services.accreditation_update(
        actor=None, accreditation=accreditation, data={"notes": "Agrément expected in May."}, expected_version=1
    )
    assert updated.notes == "Agrément expected in May." and updated.version == 2
    with pytest.raises(ValidationError, match="only through a lifecycle step"):
        services.accreditation_update(
            actor=None, accreditation=accreditation, data={"status": "accredited"}, expected_version=2
        )
    with pytest.raises(services.StaleVersion):
        services.accreditation_update(actor=None, accreditation=accreditation, data={"notes": "x"}, expected_version=1)
