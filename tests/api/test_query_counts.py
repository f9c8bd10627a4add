"""Every list and detail endpoint runs a fixed number of queries, whatever the page size.

Each resource gets more rows than the largest page asked for; a list is counted at a small
and a large page size (the counts must be equal and within the bound), a detail once.
The first request of each client is not counted: it records the token's use (one UPDATE
a minute at most).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from cooperation import intensity
from cooperation.choices import Classification
from cooperation.models import Activity, ActivityChange, CooperationArea
from tests.api.conftest import client_for
from tests.conftest import World
from tests.factories import (
    AccreditationFactory,
    ActivityFactory,
    AttacheFactory,
    DeskFactory,
    PostFactory,
    RelationshipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
ROWS = 30
SIZES = (3, 25)


def more_posts(world: World) -> str:
    PostFactory.create_batch(ROWS)
    return "/api/v1/posts/"


def more_attaches(world: World) -> str:
    AttacheFactory.create_batch(ROWS)
    return "/api/v1/attaches/"


def more_accreditations(world: World) -> str:
    for _ in range(ROWS):
        AccreditationFactory(post=PostFactory(sending_country="US", host_country="BY"))
    return "/api/v1/accreditations/"


def more_relationships(world: World) -> str:
    relationships = RelationshipFactory.create_batch(ROWS)
    world.desk_a.relationships.add(*relationships)
    return "/api/v1/relationships/"


def more_areas(world: World) -> str:
    for index in range(ROWS):
        CooperationArea.objects.create(code=f"area-{index}", name=f"Area {index}", position=200 + index)
    return "/api/v1/areas/"


def more_desks(world: World) -> str:
    relationships = RelationshipFactory.create_batch(3)
    for _ in range(ROWS):
        desk = DeskFactory(relationships=relationships)
        world.officer_a.desks.add(desk)
    return "/api/v1/desks/"


def more_activities(world: World) -> str:
    ActivityFactory.create_batch(ROWS, relationship=world.rel_a, releasability=Classification.PUBLIC)
    return "/api/v1/activities/"


# resource → (make rows and give the list URL, most queries a list may take, a detail)
RESOURCES: dict[str, tuple[Callable[[World], str], int, int]] = {
    "posts": (more_posts, 2, 2),
    "attaches": (more_attaches, 2, 2),
    "accreditations": (more_accreditations, 2, 2),
    "relationships": (more_relationships, 2, 2),
    "areas": (more_areas, 2, 2),
    "desks": (more_desks, 3, 3),
    "activities": (more_activities, 2, 2),
}


def count(client: APIClient, url: str, **params: Any) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    return len(queries), response.json()


@pytest.mark.parametrize("role", ["officer_a", "manager"])
@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_list_and_detail_queries_are_bounded(world: World, resource: str, role: str) -> None:
    make, list_bound, detail_bound = RESOURCES[resource]
    url = make(world)
    client = client_for(world.users()[role])
    client.get(url)  # the token's use is recorded once
    counts = {}
    for size in SIZES:
        counts[size], body = count(client, url, page_size=size)
        assert len(body["results"]) == size
    assert counts[SIZES[0]] == counts[SIZES[1]] <= list_bound, counts
    as_csv = client.get(url, {"format": "csv"})
    assert as_csv.status_code == 200
    key = "code" if resource == "areas" else "id"
    detail_url = f"{url}{body['results'][0][key]}/"
    queries, detail = count(client, detail_url)
    assert detail[key] == body["results"][0][key] and queries <= detail_bound


def test_activity_list_with_every_filter_stays_bounded(world: World) -> None:
    more_activities(world)
    client = client_for(world.officer_a)
    params = {
        "area": ["education", "demining"],
        "relationship": world.rel_a.pk,
        "country": "BY",
        "status": "conducted",
        "q": "a",
        "start_date_after": "2000-01-01",
        "ordering": "-updated_at",
    }
    client.get("/api/v1/activities/", params)
    small, _ = count(client, "/api/v1/activities/", page_size=3, **params)
    large, _ = count(client, "/api/v1/activities/", page_size=25, **params)
    # token, area codes, relationship choices, how many activities the text matches (up to
    # FEW_SEARCH_MATCHES: it decides how the page query is written), the page
    assert small == large <= 5


@pytest.mark.parametrize("span", [("2017-01", "2017-02"), ("1970-01", "2019-12")])
def test_intensity_queries_do_not_grow_with_periods_or_areas(world: World, span: tuple[str, str]) -> None:
    for index in range(ROWS):
        CooperationArea.objects.create(code=f"area-{index}", name=f"Area {index}", position=200 + index)
    intensity.rebuild_rollups()
    client = client_for(UserFactory(role="manager", clearance=Classification.RESTRICTED))
    params = {"country": "US", "start": span[0], "end": span[1], "period": "month"}
    client.get("/api/v1/intensity/", params)
    queries, body = count(client, "/api/v1/intensity/", **params)
    assert len(body["areas"]) == 4 + ROWS
    # token, the selector's areas, the rollups (with the weight set), the weight set when no rollup matched
    assert queries <= 4


def test_a_sync_page_takes_a_fixed_number_of_queries_with_tombstones_or_without(world: World) -> None:
    """The feed decides record, tombstone or nothing in one statement: tombstones of records
    that left the client's view and changes of records it never held cost no query each."""
    more_activities(world)
    since = ActivityChange.objects.aggregate(Max("changed_at"))["changed_at__max"].isoformat()
    activities = Activity.objects.filter(relationship=world.rel_a, title__startswith="Activity").order_by("pk")
    ids = list(activities.values_list("pk", flat=True))
    Activity.objects.filter(pk__in=ids[:10]).update(deleted_at=timezone.now())
    Activity.objects.filter(pk__in=ids[10:15]).update(releasability=Classification.RESTRICTED)
    Activity.objects.filter(pk__in=ids[10:]).update(title="edited")
    Activity.objects.filter(pk=world.activities["b_restricted"].pk).update(title="never held")
    client = client_for(world.manager)
    count(client, "/api/v1/activities/")
    first, following = set(), set()
    for size in SIZES:
        queries, body = count(client, "/api/v1/activities/", updated_since=since, page_size=size)
        first.add(queries)
        assert len(body["results"]) == size and body["next"]
        with CaptureQueriesContext(connection) as captured:
            client.get(body["next"])
        following.add(len(captured))
    # A page of tombstones only skips the records' query; the first page also reads the clock.
    assert max(first) == 6 and max(following) == 5
