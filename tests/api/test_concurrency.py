"""Twenty clients PATCH the same activity with the same ETag at once: one wins."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from cooperation.choices import Classification
from cooperation.models import Activity, CooperationArea, Desk
from tests.api.conftest import client_for
from tests.concurrency import at_once
from tests.factories import ActivityFactory, RelationshipFactory, UserFactory


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_patches_with_one_etag_give_one_200_and_nineteen_412() -> None:
    CooperationArea.objects.get_or_create(code="education", defaults={"name": "Military education"})
    relationship = RelationshipFactory()
    desk = Desk.objects.create(name="Concurrency desk")
    desk.relationships.add(relationship)
    officer = UserFactory(clearance=Classification.INTERNAL, desks=[desk])
    activity = ActivityFactory(relationship=relationship, releasability=Classification.PUBLIC)
    events = apps.get_model("cooperation", "ActivityEvent").objects.filter(pgh_obj_id=activity.pk)
    events_before = events.count()
    url = f"/api/v1/activities/{activity.pk}/"
    etag = client_for(officer).get(url)["ETag"]
    clients = [client_for(officer) for _ in range(20)]

    def patch(index: int) -> tuple[int, dict[str, object]]:
        response = clients[index].patch(url, {"title": f"edit {index}"}, format="json", HTTP_IF_MATCH=etag)
        return response.status_code, response.json()

    results = at_once([lambda index=index: patch(index) for index in range(20)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * 19
    winner = next(body for status, body in results if status == 200)
    stored = Activity.objects.get(pk=activity.pk)
    assert stored.version == 2 and stored.title == winner["title"]
    assert all(body["current_version"] == 2 and body["changed_fields"] == ["title"] for s, body in results if s == 412)
    assert events.count() == events_before + 1
    connection.close()
