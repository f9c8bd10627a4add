from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import token_issue
from tests.conftest import World

ROLES = ["anonymous", "officer_a", "officer_b", "manager", "api_client", "admin"]


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> None:
    cache.clear()


@pytest.fixture(autouse=True)
def _stamp_changes_immediately(request: pytest.FixtureRequest) -> None:
    """The change feed is stamped at commit; a test inside one transaction never commits,
    so make the stamping trigger fire at the end of each statement instead."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction") or "transactional_db" in request.fixturenames:
        return
    request.getfixturevalue("db")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS cooperation_changepending_stamp IMMEDIATE")


def client_for(user: object | None) -> APIClient:
    client = APIClient()
    if user is not None:
        _, key = token_issue(user=user, name="test")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def clients(world: World) -> dict[str, APIClient]:
    users = world.users()
    return {role: client_for(users.get(role)) for role in ROLES}


def activity_body(relationship: int, **overrides: object) -> dict[str, object]:
    """A POST body for a demining course in `relationship` (an id)."""
    body: dict[str, object] = {
        "relationship": relationship,
        "area": "demining",
        "title": "Mine clearance course",
        "kind": "course",
        "level": "working",
        "status": "planned",
        "start_date": "2017-04-03",
        "end_date": "2017-04-14",
        "participants": 12,
        "releasability": "internal",
    }
    body.update(overrides)
    return body
