"""The admin lists, searches and filters every model, shows history, and writes through services."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from cooperation import services
from cooperation.models import Activity
from cooperation.selectors import history_for
from tests.conftest import World
from tests.factories import AccreditationFactory, AttacheFactory, PostFactory

pytestmark = pytest.mark.django_db

DOMAIN_MODELS = [
    "cooperation.post",
    "cooperation.attache",
    "cooperation.accreditation",
    "cooperation.relationship",
    "cooperation.cooperationarea",
    "cooperation.activity",
    "cooperation.desk",
    "accounts.user",
]


@pytest.fixture
def admin_client_for(world: World) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def test_every_domain_model_is_registered_with_search_and_filters() -> None:
    registered = {model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()}
    for label in DOMAIN_MODELS:
        model_admin = registered[label]
        assert model_admin.search_fields, label
        if label not in {"cooperation.desk", "cooperation.cooperationarea"}:
            assert model_admin.list_filter, label


# A search per model that finds exactly one record of the world (plus the records below).
SEARCHES = {
    "cooperation.post": ("Searchable Embassy", "Searchable Embassy"),
    "cooperation.attache": ("Searchable Attaché", "Searchable Attaché"),
    "cooperation.accreditation": ("Searchable Attaché", "Searchable Attaché"),
    "cooperation.relationship": ("CU", "Cuba – United States"),
    "cooperation.cooperationarea": ("demining", "Demining"),
    "cooperation.activity": ("Zanzibar", "Zanzibar seminar"),
    "cooperation.desk": ("Desk B", "Desk B"),
    "accounts.user": ("officer_b", "officer_b"),
}


@pytest.mark.parametrize("label", DOMAIN_MODELS)
def test_changelists_load_and_search(admin_client_for: Client, world: World, label: str) -> None:
    from tests.factories import ActivityFactory

    AccreditationFactory(
        attache=AttacheFactory(name="Searchable Attaché", sending_country="US"),
        post=PostFactory(name="Searchable Embassy", sending_country="US", host_country="BY", city="Minsk"),
    )
    AccreditationFactory()  # another attaché, post and accreditation, which the searches leave out
    ActivityFactory(relationship=world.rel_a, title="Zanzibar seminar")
    app, model = label.split(".")
    url = reverse(f"admin:{app}_{model}_changelist")
    everything = admin_client_for.get(url)
    assert everything.status_code == 200 and everything.context["cl"].result_count > 1, label
    term, shown = SEARCHES[label]
    found = admin_client_for.get(url, {"q": term})
    assert found.status_code == 200
    assert found.context["cl"].result_count == 1, (label, list(found.context["cl"].result_list))
    assert shown in str(found.context["cl"].result_list[0]) or shown in found.content.decode()
    nothing = admin_client_for.get(url, {"q": "no-such-record-anywhere"})
    assert nothing.status_code == 200 and nothing.context["cl"].result_count == 0, label


def test_activity_change_page_shows_history_and_events_link(admin_client_for: Client, world: World) -> None:
    activity = world.activities["a_internal"]
    response = admin_client_for.get(reverse("admin:cooperation_activity_change", args=[activity.pk]))
    content = response.content.decode()
    assert "Change history" in content
    assert "a internal" in content
    assert f"obj=cooperation.Activity:{activity.pk}" in content


def test_admin_edit_goes_through_the_service(admin_client_for: Client, world: World) -> None:
    activity = world.activities["a_internal"]
    url = reverse("admin:cooperation_activity_change", args=[activity.pk])
    form = {
        "relationship": activity.relationship_id,
        "area": activity.area_id,
        "accreditation": "",
        "title": "Renamed in the admin",
        "kind": activity.kind,
        "level": activity.level,
        "status": activity.status,
        "start_date": activity.start_date.isoformat(),
        "end_date": "",
        "location": "",
        "participants": 10,
        "counterpart": "",
        "description": "",
        "outcome": "",
        "releasability": activity.releasability,
        "external_ref": "",
        "expected_version": 1,
    }
    response = admin_client_for.post(url, form)
    assert response.status_code == 302
    activity.refresh_from_db()
    assert (activity.title, activity.version, activity.updated_by) == ("Renamed in the admin", 2, world.admin)
    # The same stale form again is refused and changes nothing.
    form["title"] = "Overwrite"
    response = admin_client_for.post(url, form)
    assert response.status_code == 200
    assert "Someone else changed this activity meanwhile" in response.content.decode()
    activity.refresh_from_db()
    assert activity.title == "Renamed in the admin"


def test_admin_cannot_hard_delete_activities(admin_client_for: Client, world: World) -> None:
    activity = world.activities["a_public"]
    response = admin_client_for.post(
        reverse("admin:cooperation_activity_changelist"),
        {"action": "soft_delete", "_selected_action": [activity.pk]},
    )
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.deleted_at is not None
    assert Activity.objects.filter(pk=activity.pk).exists()
    response = admin_client_for.get(reverse("admin:cooperation_activity_delete", args=[activity.pk]))
    assert response.status_code == 403


def requested_accreditation() -> Any:
    """A US attaché's accreditation from the post in Minsk, requested and no further."""
    return AccreditationFactory(
        attache=AttacheFactory(sending_country="US"),
        post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        status="requested",
        agrement_on=None,
        accredited_on=None,
    )


def test_admin_records_accreditation_steps(admin_client_for: Client, world: World) -> None:
    accreditation = requested_accreditation()
    url = reverse("admin:cooperation_accreditation_change", args=[accreditation.pk])
    response = admin_client_for.post(
        url,
        {"releasability": 10, "notes": "", "step": "grant_agrement", "step_on": "2015-02-01", "expected_version": 1},
    )
    assert response.status_code == 302
    accreditation.refresh_from_db()
    assert accreditation.status == "agrement_granted"
    assert str(accreditation.agrement_on) == "2015-02-01"


def test_non_admin_roles_cannot_open_the_admin(world: World) -> None:
    client = Client()
    client.force_login(world.manager)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_refused_step_leaves_the_accreditation_as_it_was_and_says_so_alone(
    admin_client_for: Client, world: World
) -> None:
    """Notes changed together with a step the lifecycle refuses: nothing is saved (not the
    notes without the step), and the page does not also claim a successful change."""
    accreditation = requested_accreditation()
    url = reverse("admin:cooperation_accreditation_change", args=[accreditation.pk])
    response = admin_client_for.post(
        url,
        {"releasability": 10, "notes": "Changed", "step": "end", "step_on": "2015-02-01", "expected_version": 1},
        follow=True,
    )
    accreditation.refresh_from_db()
    assert (accreditation.notes, accreditation.status, accreditation.version) == ("", "requested", 1)
    assert [entry.label for entry in history_for(accreditation)] == ["insert"]
    content = response.content.decode()
    assert "Cannot end this accreditation: it is &#x27;requested&#x27;" in content
    assert "was changed successfully" not in content


def test_a_refused_activity_save_in_the_admin_does_not_claim_success(admin_client_for: Client, world: World) -> None:
    """The service refuses what the admin form let through (here: someone saved meanwhile,
    after the form's own version check): the error alone is shown and nothing changes."""
    activity = world.activities["a_internal"]
    url = reverse("admin:cooperation_activity_change", args=[activity.pk])
    page = admin_client_for.get(url)
    data = {
        name: value if value is not None else ""
        for name, value in page.context["adminform"].form.initial.items()
        if name in (*services.ACTIVITY_EDITABLE_FIELDS, "expected_version")
    }
    data |= {"title": "Admin title", "expected_version": 1}

    real_update = services.activity_update

    def someone_saves_first(**kwargs: Any) -> Any:
        real_update(actor=world.officer_a, activity=activity, data={"location": "Brest"}, expected_version=1)
        return real_update(**kwargs)

    with mock.patch.object(services, "activity_update", someone_saves_first):
        response = admin_client_for.post(url, data, follow=True)
    content = response.content.decode()
    assert "was changed by someone else" in content
    assert "was changed successfully" not in content
    activity.refresh_from_db()
    assert activity.title == "a internal"  # (the simulated other save shared the request's transaction)
    assert response.redirect_chain == [(url, 302)]  # back to the form, not to the list


def test_an_admin_change_without_the_version_it_started_from_is_refused(admin_client_for: Client, world: World) -> None:
    """The hidden version is what stops a silent overwrite: a change posted without it is
    an error, not a save that skips the check."""
    activity = world.activities["a_internal"]
    services.activity_update(actor=world.officer_a, activity=activity, data={"location": "Brest"}, expected_version=1)
    url = reverse("admin:cooperation_activity_change", args=[activity.pk])
    data = {
        name: value if value is not None else ""
        for name, value in admin_client_for.get(url).context["adminform"].form.initial.items()
        if name in services.ACTIVITY_EDITABLE_FIELDS
    }
    response = admin_client_for.post(url, data | {"location": "", "title": "Admin title"})
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    activity.refresh_from_db()
    assert (activity.title, activity.location, activity.version) == ("a internal", "Brest", 2)
