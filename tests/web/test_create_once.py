"""The new-activity and accreditation-request forms carry a one-time key: a double submit
(double click, resubmit after a slow answer, a retry) creates one record and lands on it."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from cooperation import services
from cooperation.choices import Classification
from cooperation.models import Accreditation, Activity
from tests.concurrency import at_once
from tests.conftest import World
from tests.factories import AttacheFactory, DeskFactory, PostFactory, RelationshipFactory, UserFactory
from tests.web.test_activities import form_data, key_of

CREATE = reverse("workspace:activity_create")
REQUEST = reverse("workspace:accreditation_create")
ActivityEvent = Activity.pgh_event_model  # type: ignore[attr-defined]


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def detail(activity: Activity) -> str:
    return reverse("workspace:activity_detail", args=[activity.pk])


# New activity ------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_rendered_form_gets_its_own_key(world: World) -> None:
    client = signed_in(world.officer_a)
    first, second = key_of(client.get(CREATE).content), key_of(client.get(CREATE).content)
    assert first != second and uuid.UUID(first)
    source = world.activities["a_public"]
    duplicate = client.get(reverse("workspace:activity_duplicate", args=[source.pk])).content
    assert key_of(duplicate) not in (first, second)
    edit = client.get(reverse("workspace:activity_edit", args=[source.pk])).content.decode()
    assert "idempotency_key" not in edit


@pytest.mark.django_db
def test_submitting_the_same_form_twice_creates_one_activity_and_lands_on_it(world: World) -> None:
    client = signed_in(world.officer_a)
    data = form_data(world, idempotency_key=key_of(client.get(CREATE).content))
    first = client.post(CREATE, data)
    created = Activity.objects.get(title="English course for cadets")
    assert first.status_code == 302 and first["Location"] == detail(created)
    second = client.post(CREATE, data, follow=True)
    assert second.redirect_chain == [(detail(created), 302)]
    page = second.content.decode()
    assert "Activity “English course for cadets” created." in page and "Military Academy" in page
    assert Activity.objects.filter(title="English course for cadets").count() == 1
    assert created.created_by == world.officer_a
    assert [event.pgh_label for event in ActivityEvent.objects.filter(pgh_obj_id=created.pk)] == ["insert"]


@pytest.mark.django_db
def test_forms_with_different_keys_create_two_activities(world: World) -> None:
    client = signed_in(world.officer_a)
    for _ in range(2):
        response = client.post(CREATE, form_data(world, idempotency_key=key_of(client.get(CREATE).content)))
        assert response.status_code == 302
    assert Activity.objects.filter(title="English course for cadets").count() == 2


@pytest.mark.django_db
def test_a_form_without_a_key_still_creates(world: World) -> None:
    response = signed_in(world.officer_a).post(CREATE, form_data(world))
    assert response.status_code == 302
    assert Activity.objects.get(title="English course for cadets").idempotency_key is None


@pytest.mark.django_db
def test_a_form_re_rendered_with_errors_keeps_its_key_and_then_creates_once(world: World) -> None:
    client = signed_in(world.officer_a)
    key = key_of(client.get(CREATE).content)
    refused = client.post(CREATE, form_data(world, idempotency_key=key, title="", end_date="2016-01-01"))
    assert refused.status_code == 400
    assert key_of(refused.content) == key
    assert "The end date cannot be before the start date." in refused.content.decode()
    fixed = form_data(world, idempotency_key=key)
    assert client.post(CREATE, fixed).status_code == 302
    assert client.post(CREATE, fixed).status_code == 302
    assert Activity.objects.filter(title="English course for cadets").count() == 1


@pytest.mark.django_db
def test_a_key_that_is_not_a_uuid_is_refused_as_an_altered_page(world: World) -> None:
    response = signed_in(world.officer_a).post(CREATE, form_data(world, idempotency_key="not-a-key"))
    assert response.status_code == 400
    assert "The page was out of date or altered (idempotency_key" in response.content.decode()
    assert not Activity.objects.filter(title="English course for cadets").exists()


@pytest.mark.django_db
def test_another_users_key_creates_their_own_activity_and_shows_them_nothing_else(world: World) -> None:
    key = key_of(signed_in(world.officer_a).get(CREATE).content)
    assert signed_in(world.officer_a).post(CREATE, form_data(world, idempotency_key=key)).status_code == 302
    mine = Activity.objects.get(title="English course for cadets")
    colleague = UserFactory(username="colleague_a", clearance=Classification.INTERNAL, desks=[world.desk_a])
    theirs = signed_in(colleague).post(CREATE, form_data(world, idempotency_key=key, title="Their course"))
    created = Activity.objects.get(title="Their course")
    assert theirs["Location"] == detail(created) and created.created_by == colleague
    # Another desk's officer with the same key and the very same form: their own record or
    # their own refusal, never a way to the first one.
    other = signed_in(world.officer_b).post(CREATE, form_data(world, idempotency_key=key), follow=True)
    page = other.content.decode()
    assert other.status_code == 400 and "Select a valid choice." in page
    assert detail(mine) not in page
    elsewhere = signed_in(world.officer_b).post(
        CREATE, form_data(world, idempotency_key=key, relationship=world.rel_b.pk)
    )
    assert elsewhere["Location"] != detail(mine)
    assert Activity.objects.filter(idempotency_key=key).count() == 3


@pytest.mark.django_db
def test_the_same_form_sent_again_with_edits_is_refused_and_keeps_the_edits(world: World) -> None:
    client = signed_in(world.officer_a)
    key = key_of(client.get(CREATE).content)
    client.post(CREATE, form_data(world, idempotency_key=key))
    created = Activity.objects.get(title="English course for cadets")
    edited = form_data(world, idempotency_key=key, title="English course for officers", participants="18")
    response = client.post(CREATE, edited)
    page = response.content.decode()
    assert response.status_code == 409
    assert "This form was already saved" in page
    assert f'<a class="alert-link" href="{detail(created)}">English course for cadets</a>' in page
    assert 'id="already-created-changes">Title, Participants</span>' in page
    assert 'value="English course for officers"' in page and 'value="18"' in page
    assert not Activity.objects.filter(title="English course for officers").exists()
    # The form now has a fresh key: saving it again is a deliberate second activity.
    fresh = key_of(response.content)
    assert fresh != key
    again = client.post(CREATE, edited | {"idempotency_key": fresh})
    second = Activity.objects.get(title="English course for officers")
    assert again["Location"] == detail(second)
    created.refresh_from_db()
    assert created.title == "English course for cadets" and created.version == 1


@pytest.mark.django_db
def test_the_same_form_sent_after_its_activity_was_deleted_says_so_and_creates_nothing(world: World) -> None:
    client = signed_in(world.officer_a)
    key = key_of(client.get(CREATE).content)
    data = form_data(world, idempotency_key=key)
    client.post(CREATE, data, follow=True)  # lands on the activity; its "created" message is shown
    created = Activity.objects.get(title="English course for cadets")
    services.activity_soft_delete(actor=world.officer_a, activity=created, expected_version=1)
    response = client.post(CREATE, data, follow=True)
    page = response.content.decode()
    assert response.status_code == 409 and response.redirect_chain == []
    assert "” created." not in page
    assert "This form was already saved" in page
    link = f'<a class="alert-link" href="{detail(created)}">English course for cadets</a>'
    assert f"{link}, which has since been deleted" in page
    assert Activity.objects.filter(title="English course for cadets").count() == 1
    assert Activity.objects.get(pk=created.pk).is_deleted  # not restored, not re-created
    # The form keeps the entries under a fresh key: saving it again records a new activity.
    fresh = key_of(response.content)
    assert fresh != key and 'value="English course for cadets"' in page
    again = client.post(CREATE, data | {"idempotency_key": fresh})
    second = Activity.objects.get(title="English course for cadets", deleted_at__isnull=True)
    assert again["Location"] == detail(second) and second.pk != created.pk
    # Sent again with edits, the page says the same and names the edits.
    edited = client.post(CREATE, data | {"participants": "18"})
    assert edited.status_code == 409
    assert "which has since been deleted" in edited.content.decode()
    assert 'id="already-created-changes">Participants</span>' in edited.content.decode()


@pytest.mark.django_db
def test_a_form_sent_again_after_its_deleted_activity_left_the_users_desks_shows_nothing_of_it(
    world: World,
) -> None:
    client = signed_in(world.officer_a)
    data = form_data(world, idempotency_key=key_of(client.get(CREATE).content), title="Quiet talks")
    client.post(CREATE, data)
    created = Activity.objects.get(title="Quiet talks")
    services.activity_soft_delete(actor=world.officer_a, activity=created, expected_version=1)
    world.rel_a.desks.clear()  # the relationship moved off every desk of the officer
    response = client.post(CREATE, data)
    page = response.content.decode()
    assert response.status_code == 400
    assert detail(created) not in page and "already-created" not in page
    assert Activity.objects.filter(title="Quiet talks").count() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_submissions_on_separate_connections_create_one_activity(migrated_data: None) -> None:
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    desk = DeskFactory(name="Desk A", relationships=[relationship])
    officer = UserFactory(clearance=Classification.INTERNAL, desks=[desk])
    clients = [signed_in(officer) for _ in range(6)]
    key = key_of(clients[0].get(CREATE).content)
    data = form_data(SimpleNamespace(rel_a=relationship), idempotency_key=key)  # type: ignore[arg-type]
    # A default argument binds each client to its own call.
    responses = at_once([lambda client=client: client.post(CREATE, data) for client in clients])
    created = Activity.objects.get(idempotency_key=key)
    assert [getattr(response, "status_code", response) for response in responses] == [302] * len(clients)
    assert {response["Location"] for response in responses} == {detail(created)}
    assert ActivityEvent.objects.filter(pgh_obj_id=created.pk).count() == 1
    connection.close()


# Accreditation request ---------------------------------------------------------------


@pytest.fixture
def request_data(world: World) -> dict[str, Any]:
    attache = AttacheFactory(name="New Attaché", sending_country="US")
    kyiv = PostFactory(name="US Embassy Kyiv", sending_country="US", host_country="UA", city="Kyiv")
    return {"attache": attache.pk, "post": kyiv.pk, "host_country": "BY", "requested_on": "2020-01-10",
            "releasability": 10, "notes": ""}  # fmt: skip


@pytest.mark.django_db
def test_requesting_twice_with_one_form_requests_once_and_lands_on_it(
    world: World, request_data: dict[str, Any]
) -> None:
    client = signed_in(world.officer_a)
    key = key_of(client.get(REQUEST).content)
    refused = client.post(REQUEST, request_data | {"idempotency_key": key, "host_country": ""})
    assert refused.status_code == 400 and key_of(refused.content) == key
    first = client.post(REQUEST, request_data | {"idempotency_key": key})
    created = Accreditation.objects.get(attache_id=request_data["attache"])
    url = reverse("workspace:accreditation_detail", args=[created.pk])
    assert first["Location"] == url
    second = client.post(REQUEST, request_data | {"idempotency_key": key}, follow=True)
    assert second.redirect_chain == [(url, 302)]
    assert "Accreditation requested." in second.content.decode() and "New Attaché" in second.content.decode()
    assert Accreditation.objects.filter(attache_id=request_data["attache"]).count() == 1
    events = Accreditation.pgh_event_model.objects.filter(pgh_obj_id=created.pk)  # type: ignore[attr-defined]
    assert [event.pgh_label for event in events] == ["insert"]


@pytest.mark.django_db
def test_a_request_form_sent_again_with_edits_is_refused_naming_them(
    world: World, request_data: dict[str, Any]
) -> None:
    client = signed_in(world.officer_a)
    key = key_of(client.get(REQUEST).content)
    client.post(REQUEST, request_data | {"idempotency_key": key})
    created = Accreditation.objects.get(attache_id=request_data["attache"])
    response = client.post(REQUEST, request_data | {"idempotency_key": key, "notes": "Covers Minsk from Kyiv"})
    page = response.content.decode()
    assert response.status_code == 409
    assert reverse("workspace:accreditation_detail", args=[created.pk]) in page
    assert 'id="already-created-changes">Notes</span>' in page and "Covers Minsk from Kyiv" in page
    assert key_of(response.content) != key
    created.refresh_from_db()
    assert created.notes == "" and Accreditation.objects.filter(attache_id=request_data["attache"]).count() == 1
