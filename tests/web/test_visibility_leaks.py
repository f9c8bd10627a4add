"""Paths that could tell a user about a record they may not see, found by the visibility
audit: each test reaches the state through the application itself (forms, services,
imports) and then reads every page, export and API answer that could show the record."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import token_issue
from cooperation import services
from cooperation.choices import Classification
from cooperation.models import Accreditation, Activity
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory, UserFactory, area

pytestmark = pytest.mark.django_db

HIDDEN_ATTACHE = "Hidden Channel"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_client(user: Any) -> APIClient:
    client = APIClient()
    _, key = token_issue(user=user, name="audit")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode()


@pytest.fixture
def restricted_officer_a(world: World) -> Any:
    """A second officer of desk A, cleared for restricted records."""
    return UserFactory(username="officer_a_restricted", clearance=Classification.RESTRICTED, desks=[world.desk_a])


def restricted_accreditation(world: World) -> Accreditation:
    accreditation: Any = AccreditationFactory(
        attache=AttacheFactory(sending_country="US", name=HIDDEN_ATTACHE),
        post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        releasability=Classification.RESTRICTED,
    )
    assert accreditation.relationship == world.rel_a
    return accreditation


def channel_reaches(world: World, activity_title: str, accreditation: Accreditation) -> list[str]:
    """Where officer_a (desk A, internal) and the API client (internal) learn of the
    restricted accreditation through the activities that ran through it."""
    leaks: list[str] = []
    activity = Activity.objects.filter(title=activity_title).first()
    accreditation.refresh_from_db()
    hidden = accreditation.releasability > Classification.INTERNAL
    assert hidden == (not Accreditation.objects.visible_to(world.officer_a).filter(pk=accreditation.pk).exists())
    assert hidden == (not Accreditation.objects.visible_to(world.api_client).filter(pk=accreditation.pk).exists())
    if activity is None or not hidden:
        return leaks
    officer = signed_in(world.officer_a)
    detail = body(officer.get(reverse("workspace:activity_detail", args=[activity.pk])))
    if activity_title in detail and (
        HIDDEN_ATTACHE in detail or reverse("workspace:accreditation_detail", args=[accreditation.pk]) in detail
    ):
        leaks.append("activity detail")
    export = body(officer.get(reverse("workspace:activity_export_csv")))
    rows = {row["title"]: row for row in csv.DictReader(io.StringIO(export.lstrip("\ufeff")))}
    if activity_title in rows and rows[activity_title]["accreditation"] == str(accreditation.pk):
        leaks.append("CSV export")
    by_attache = body(officer.get(reverse("workspace:activity_list"), {"attache": accreditation.attache_id}))
    if activity_title in by_attache:
        leaks.append("list filtered by the hidden attaché")
    api = api_client(world.api_client)
    listed = api.get("/api/v1/activities/", {"page_size": 100}).json()["results"]
    if any(row["title"] == activity_title and row["accreditation"] == accreditation.pk for row in listed):
        leaks.append("API list")
    detail_json = api.get(f"/api/v1/activities/{activity.pk}/").json()
    if detail_json.get("accreditation") == accreditation.pk:
        leaks.append("API detail")
    api_csv = b"".join(api.get("/api/v1/activities/", {"format": "csv"}).streaming_content).decode()
    csv_rows = {row["title"]: row for row in csv.DictReader(io.StringIO(api_csv))}
    if activity_title in csv_rows and csv_rows[activity_title]["accreditation"] == str(accreditation.pk):
        leaks.append("API CSV")
    return leaks


def test_an_activity_cannot_reveal_a_restricted_attache_channel_created_through_the_form(
    world: World, restricted_officer_a: Any
) -> None:
    accreditation = restricted_accreditation(world)
    title = "Internal course through a restricted channel"
    response = signed_in(restricted_officer_a).post(
        reverse("workspace:activity_create"),
        {
            "relationship": world.rel_a.pk,
            "area": area("education").pk,
            "title": title,
            "kind": "course",
            "level": "working",
            "status": "conducted",
            "start_date": "2017-03-01",
            "participants": "4",
            "releasability": Classification.INTERNAL,
            "accreditation": accreditation.pk,
        },
    )
    assert channel_reaches(world, title, accreditation) == []
    assert response.status_code == 400
    assert "more restricted than the activity" in body(response)


def test_raising_an_accreditation_above_its_activities_cannot_reveal_it(
    world: World, restricted_officer_a: Any
) -> None:
    accreditation = AccreditationFactory(
        attache=AttacheFactory(sending_country="US", name=HIDDEN_ATTACHE),
        post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        releasability=Classification.INTERNAL,
    )
    title = "Internal course through a channel restricted later"
    ActivityFactory(
        relationship=world.rel_a, accreditation=accreditation, releasability=Classification.INTERNAL, title=title
    )
    response = signed_in(restricted_officer_a).post(
        reverse("workspace:accreditation_edit", args=[accreditation.pk]),
        {"releasability": Classification.RESTRICTED, "notes": "", "version": accreditation.version},
    )
    assert channel_reaches(world, title, accreditation) == []
    assert response.status_code == 400
    assert "more restricted than" in body(response)
    accreditation.refresh_from_db()
    assert accreditation.releasability == Classification.INTERNAL


def test_an_import_cannot_link_an_activity_to_a_more_restricted_channel(
    world: World, restricted_officer_a: Any
) -> None:
    from cooperation.bulk import ImportRow, activity_bulk_import

    accreditation = restricted_accreditation(world)
    title = "Imported course through a restricted channel"
    row = {
        "external_ref": "audit-1",
        "state_a": "BY",
        "state_b": "US",
        "area": "education",
        "title": title,
        "kind": "course",
        "status": "conducted",
        "start_date": "2017-03-01",
        "releasability": "internal",
        "accreditation": str(accreditation.pk),
    }
    result = activity_bulk_import(actor=restricted_officer_a, rows=[ImportRow(2, row)])
    assert channel_reaches(world, title, accreditation) == []
    assert not result.committed
    assert [(error.column, "more restricted" in error.message) for error in result.errors] == [("accreditation", True)]


def test_lowering_an_activity_below_its_channel_is_refused(world: World, restricted_officer_a: Any) -> None:
    accreditation = restricted_accreditation(world)
    activity = ActivityFactory(
        relationship=world.rel_a, accreditation=accreditation, releasability=Classification.RESTRICTED, title="R"
    )
    with pytest.raises(Exception, match="more restricted than the activity"):
        services.activity_update(
            actor=restricted_officer_a,
            activity=activity,
            data={"releasability": Classification.INTERNAL},
            expected_version=activity.version,
        )
    activity.refresh_from_db()
    assert activity.releasability == Classification.RESTRICTED


SECRET_TEXT = "Secret plan of the restricted era"


def sanitised_activity(world: World, author: Any) -> Activity:
    """Recorded restricted, then sanitised and released as internal in one edit (services only)."""
    activity = services.activity_create(
        actor=author,
        relationship=world.rel_a,
        area=area("education"),
        title="Course released later",
        kind="course",
        start_date=datetime.date(2017, 3, 1),
        description=SECRET_TEXT,
        location="Secret location",
        releasability=Classification.RESTRICTED,
    )
    return services.activity_update(
        actor=author,
        activity=activity,
        data={"description": "Sanitised summary", "location": "Minsk", "releasability": Classification.INTERNAL},
        expected_version=activity.version,
    )


def test_history_does_not_show_what_a_record_held_while_above_the_viewers_clearance(
    world: World, restricted_officer_a: Any
) -> None:
    activity = sanitised_activity(world, restricted_officer_a)
    page = body(signed_in(world.officer_a).get(reverse("workspace:activity_detail", args=[activity.pk])))
    assert "Sanitised summary" in page
    assert SECRET_TEXT not in page
    assert "Secret location" not in page
    # Its author, cleared for restricted records, still sees the whole history.
    full = body(signed_in(restricted_officer_a).get(reverse("workspace:activity_detail", args=[activity.pk])))
    assert SECRET_TEXT in full


def test_accreditation_history_does_not_show_notes_written_while_restricted(
    world: World, restricted_officer_a: Any
) -> None:
    accreditation = AccreditationFactory(
        post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        releasability=Classification.RESTRICTED,
        notes=SECRET_TEXT,
    )
    services.accreditation_update(
        actor=restricted_officer_a,
        accreditation=accreditation,
        data={"notes": "Sanitised summary", "releasability": Classification.INTERNAL},
        expected_version=accreditation.version,
    )
    page = body(signed_in(world.officer_a).get(reverse("workspace:accreditation_detail", args=[accreditation.pk])))
    assert "Sanitised summary" in page
    assert SECRET_TEXT not in page


def test_a_stale_version_cannot_show_what_an_older_restricted_version_held(
    world: World, restricted_officer_a: Any
) -> None:
    activity = sanitised_activity(world, restricted_officer_a)
    data = {
        name: getattr(activity, f"{name}_id" if name in ("relationship", "area", "accreditation") else name)
        for name in services.ACTIVITY_EDITABLE_FIELDS
    }
    data = {name: "" if value is None else value for name, value in data.items()}
    # Version 1 was the restricted one: officer_a never saw it, but may name it.
    response = signed_in(world.officer_a).post(
        reverse("workspace:activity_edit", args=[activity.pk]), {**data, "version": 1}
    )
    assert response.status_code == 409
    page = body(response)
    assert SECRET_TEXT not in page
    assert "Secret location" not in page


def test_an_import_does_not_tell_another_desks_relationship_from_one_that_does_not_exist(world: World) -> None:
    from cooperation.bulk import ImportRow, activity_bulk_import

    def row(ref: str, pair: tuple[str, str]) -> dict[str, str]:
        return {
            "external_ref": ref,
            "state_a": pair[0],
            "state_b": pair[1],
            "area": "education",
            "title": "Course",
            "kind": "course",
            "start_date": "2017-03-01",
        }

    rows = [ImportRow(2, row("audit-b", ("CU", "US"))), ImportRow(3, row("audit-none", ("EE", "LV")))]
    result = activity_bulk_import(actor=world.officer_a, rows=rows, dry_run=True)
    messages = {error.row: (error.column, error.message) for error in result.errors}
    assert messages == {
        2: ("state_a", "No relationship between Cuba and United States is registered."),
        3: ("state_a", "No relationship between Estonia and Latvia is registered."),
    }


def test_the_admin_scopes_records_for_staff_who_are_not_administrators(world: World) -> None:
    """An administrator may give a manager staff status and view permissions; the admin then
    shows them what visible_to gives them, not every record."""
    from django.contrib.auth.models import Permission

    staff = world.manager
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_activity", "view_intensityrollup"]))
    client = signed_in(staff)
    listing = body(client.get(reverse("admin:cooperation_activity_changelist"), {"q": "restricted"}))
    assert "b restricted" not in listing and "a restricted" not in listing
    hidden = world.activities["b_restricted"]
    response = client.get(reverse("admin:cooperation_activity_change", args=[hidden.pk]))
    assert "b restricted" not in body(response)
    # Administrators still see everything there.
    assert "b restricted" in body(
        signed_in(world.admin).get(reverse("admin:cooperation_activity_changelist"), {"q": "restricted"})
    )


def staff_with_view_rights(user: Any, *codenames: str) -> Client:
    """`user` made staff with view permissions, as an administrator may do in the user admin."""
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return signed_in(user)


def test_the_admins_change_history_does_not_show_what_a_record_held_above_the_staff_members_clearance(
    world: World, restricted_officer_a: Any
) -> None:
    """The admin's "Change history" block read every version: a staff manager with view rights
    read the restricted text an activity held before it was released as internal."""
    activity = sanitised_activity(world, restricted_officer_a)
    accreditation = AccreditationFactory(
        post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        releasability=Classification.RESTRICTED,
        notes="Restricted accreditation notes",
    )
    services.accreditation_update(
        actor=restricted_officer_a,
        accreditation=accreditation,
        data={"notes": "Released notes", "releasability": Classification.INTERNAL},
        expected_version=accreditation.version,
    )
    staff = staff_with_view_rights(world.manager, "view_activity", "view_accreditation")
    page = body(staff.get(reverse("admin:cooperation_activity_change", args=[activity.pk])))
    assert "Sanitised summary" in page
    assert SECRET_TEXT not in page
    assert "Secret location" not in page
    page = body(staff.get(reverse("admin:cooperation_accreditation_change", args=[accreditation.pk])))
    assert "Released notes" in page
    assert "Restricted accreditation notes" not in page
    # Administrators still read every version there.
    full = body(signed_in(world.admin).get(reverse("admin:cooperation_activity_change", args=[activity.pk])))
    assert SECRET_TEXT in full


def test_the_raw_event_viewer_is_for_administrators_only(world: World) -> None:
    """pghistory's "Events" admin shows every version of every record, whatever the desk and
    clearance: a staff manager given its view right read another desk's restricted activity."""
    from django.contrib.auth.models import Permission

    hidden = world.activities["b_restricted"]
    staff = staff_with_view_rights(world.manager)
    world.manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="pghistory"))
    url = reverse("admin:pghistory_middlewareevents_changelist")
    for query in ({"obj": f"cooperation.Activity:{hidden.pk}"}, {"model": "cooperation.Activity"}):
        response = staff.get(url, query)
        assert response.status_code == 403
        assert "b restricted" not in body(response)
    assert "pghistory" not in body(staff.get(reverse("admin:index"))).lower()
    shown = signed_in(world.admin).get(url, {"obj": f"cooperation.Activity:{hidden.pk}"})
    assert shown.status_code == 200
    assert "b restricted" in body(shown)


def test_the_admins_list_filters_name_only_relationships_and_desks_the_staff_member_may_see(world: World) -> None:
    """The intensity rollups' "By relationship" filter and the relationships' "By desk" filter
    listed every relationship and desk: a desk officer made staff read desk B's names there."""
    staff = staff_with_view_rights(world.officer_a, "view_intensityrollup", "view_relationship")
    assert world.rel_b.label == "Cuba – United States"
    rollups = body(staff.get(reverse("admin:cooperation_intensityrollup_changelist")))
    relationships = body(staff.get(reverse("admin:cooperation_relationship_changelist")))
    assert "Cuba" not in rollups
    assert "Desk B" not in relationships
    assert "Belarus – United States" in relationships
    # Administrators still filter by every relationship and desk.
    admin = signed_in(world.admin)
    assert "Cuba – United States" in body(admin.get(reverse("admin:cooperation_intensityrollup_changelist")))
    assert "Desk B" in body(admin.get(reverse("admin:cooperation_relationship_changelist")))


def test_an_import_row_naming_a_hidden_activitys_reference_tells_nothing_it_holds(world: World) -> None:
    """A row whose external reference is a hidden activity's took the columns the file left out
    from that activity before asking whether the user may change it: without a releasability
    column, a restricted activity of desk A answered "above your clearance" (its
    releasability); without an accreditation column, an internal activity of desk B named its
    accreditation's number and releasability; at the commit, one raised above the user's
    clearance since the check named its new version. All now get only the lead's answer: the
    reference is used by an activity the user may not change."""
    from cooperation.bulk import ImportRow, activity_bulk_import

    channel: Any = AccreditationFactory(
        attache=AttacheFactory(sending_country="US"),
        post=PostFactory(sending_country="US", host_country="CU", city="Havana"),
        releasability=Classification.INTERNAL,
    )
    restricted = world.activities["a_restricted"]
    restricted.external_ref = "hidden-restricted"
    restricted.save()
    other_desk = world.activities["b_internal"]
    other_desk.external_ref = "hidden-desk-b"
    other_desk.accreditation = channel
    other_desk.save()

    def row(ref: str, **cells: str) -> dict[str, str]:
        base = {"external_ref": ref, "state_a": "BY", "state_b": "US", "area": "education", "title": "Course"}
        return {**base, "kind": "course", "start_date": "2017-03-01", **cells}

    def refusal(row: dict[str, str]) -> list[tuple[str, str]]:
        """The row's errors when it is a file of its own (a file has one set of columns)."""
        result = activity_bulk_import(actor=world.officer_a, rows=[ImportRow(2, row)], dry_run=True)
        return [(error.column, error.message) for error in result.errors]

    refused = "is already used by an activity you may not change."
    assert refusal(row("hidden-restricted")) == [("external_ref", f"'hidden-restricted' {refused}")]
    assert refusal(row("hidden-desk-b", releasability="public")) == [("external_ref", f"'hidden-desk-b' {refused}")]
    # Raised above the user's clearance between the check and the commit: the commit says the
    # same, not the version the activity has reached since.
    visible = world.activities["a_internal"]
    visible.external_ref = "raised-later"
    visible.save()
    checked = activity_bulk_import(actor=world.officer_a, rows=[ImportRow(2, row("raised-later"))], dry_run=True)
    assert checked.errors == []
    services.activity_update(
        actor=world.admin,
        activity=visible,
        data={"releasability": Classification.RESTRICTED},
        expected_version=visible.version,
    )
    committed = activity_bulk_import(
        actor=world.officer_a, rows=[ImportRow(2, row("raised-later"))], expected_versions=checked.versions
    )
    assert [(error.column, error.message) for error in committed.errors] == [
        ("external_ref", f"'raised-later' {refused}")
    ]
