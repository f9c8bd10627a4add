"""seed_demo loads the motivating case, idempotently; --synthetic adds volume deterministically."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from cooperation.choices import AccreditationKind, AccreditationStatus, ActivityLevel, Role
from cooperation.models import Accreditation, Activity, ActivityScopeChange, CooperationArea, Relationship

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, int]:
    return {
        "accreditations": Accreditation.objects.count(),
        "activities": Activity.objects.count(),
        "users": User.objects.count(),
        "relationships": Relationship.objects.count(),
        "activity_events": Activity.pgh_event_model.objects.count(),  # type: ignore[attr-defined]
    }


def test_seed_demo_is_idempotent() -> None:
    first = run()
    after_first = snapshot()
    second = run()
    assert snapshot() == after_first
    assert "created now: 4 accreditations, 37 activities, 4 users" in first
    assert "created now: 0 accreditations, 0 activities, 0 users" in second


def test_seed_demo_loads_the_two_concurrent_accreditations() -> None:
    run()
    concurrent = {
        (str(a.attache.sending_country), str(a.post.host_country), str(a.host_country)): a
        for a in Accreditation.objects.filter(kind=AccreditationKind.CONCURRENT).select_related("attache", "post")
    }
    assert set(concurrent) == {("US", "UA", "BY"), ("BY", "CU", "US")}
    us_to_minsk = concurrent[("US", "UA", "BY")]
    assert us_to_minsk.post.name == "US Embassy Kyiv"
    assert us_to_minsk.status == AccreditationStatus.ACCREDITED
    assert (us_to_minsk.accredited_on.year, us_to_minsk.accredited_on.month) == (2016, 6)
    assert concurrent[("BY", "CU", "US")].post.name == "Embassy of Belarus in Havana"
    assert concurrent[("BY", "CU", "US")].relationship.label == "Belarus – United States"
    residents = Accreditation.objects.filter(kind=AccreditationKind.RESIDENT, status=AccreditationStatus.ACCREDITED)
    assert {str(a.host_country) for a in residents} == {"UA", "CU"}


def test_seed_demo_loads_the_reception_and_all_four_areas() -> None:
    run()
    reception = Activity.objects.get(title__startswith="Independence Day reception")
    assert reception.level == ActivityLevel.PROTOCOL
    assert reception.start_date == datetime.date(2016, 6, 29)
    assert reception.relationship.label == "Belarus – United States"
    by_us = Activity.objects.filter(relationship=reception.relationship)
    assert set(by_us.values_list("area__code", flat=True)) >= {"peacekeeping", "education", "demining", "medicine"}
    years = {activity.start_date.year for activity in by_us}
    assert {2016, 2017, 2018, 2019} <= years


def test_seed_demo_creates_one_user_per_role_and_prints_logins() -> None:
    output = run()
    assert {user.role for user in User.objects.all()} == set(Role.values)
    officer = User.objects.get(username="officer")
    assert officer.check_password("attache-demo-2016")
    assert [desk.name for desk in officer.desks.all()] == ["Eastern Europe"]
    assert "officer  desk officer, clearance internal, desks: Eastern Europe" in output
    assert "password for each: attache-demo-2016" in output


def synthetic_rows(prefix: str) -> list[tuple[object, ...]]:
    fields = ("external_ref", "relationship__state_a", "relationship__state_b", "area__code", "start_date", "status")
    return list(Activity.objects.filter(external_ref__startswith=prefix).order_by("external_ref").values_list(*fields))


def test_synthetic_is_deterministic_and_idempotent_per_seed() -> None:
    output = run("--synthetic", "500", "--seed", "3", "--relationships", "20")
    assert "500 synthetic activities inserted" in output
    first = synthetic_rows("synthetic-3-")
    assert len(first) == 500
    assert Relationship.objects.count() == 20
    assert {code for *_, code, _, _ in first} <= {"peacekeeping", "education", "demining", "medicine"}
    again = run("--synthetic", "500", "--seed", "3", "--relationships", "20")
    assert "0 synthetic activities inserted" in again
    Activity.objects.filter(external_ref__startswith="synthetic-3-").delete()
    run("--synthetic", "500", "--seed", "3", "--relationships", "20")
    second = synthetic_rows("synthetic-3-")
    assert second == first


def test_synthetic_rows_are_in_the_history() -> None:
    run("--synthetic", "50", "--seed", "9", "--relationships", "5")
    events = Activity.pgh_event_model.objects.filter(  # type: ignore[attr-defined]
        external_ref__startswith="synthetic-9-", pgh_label="insert"
    )
    assert events.count() == 50
    # And in the sync's scope transitions (stamped when the seed commits).
    assert ActivityScopeChange.objects.filter(activity__external_ref__startswith="synthetic-9-").count() == 50


def test_synthetic_rejects_bad_arguments() -> None:
    with pytest.raises(CommandError, match="positive number"):
        run("--synthetic", "0")
    with pytest.raises(CommandError, match="between 1 and 1000"):
        run("--synthetic", "5", "--relationships", "0")


def test_areas_come_from_the_data_migration() -> None:
    assert set(CooperationArea.objects.values_list("code", flat=True)) == {
        "peacekeeping",
        "education",
        "demining",
        "medicine",
    }
