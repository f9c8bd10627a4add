"""Every API endpoint × method × role, generated from the URL configuration.

The parameters come from the resolver of the `api` namespace, so an endpoint added to
cooperation/api/urls.py without a row in MATRIX fails here until its expectations are
written down. Each case checks the body too: the records a list returns are exactly the
ones `visible_to` gives that role, a detail is the record asked for, an error is JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from cooperation import intensity
from cooperation.models import Accreditation, Activity, Attache, CooperationArea, Desk, Post, Relationship
from tests.api.conftest import ROLES
from tests.conftest import World
from tests.factories import AccreditationFactory, PostFactory

METHODS = ["get", "post", "put", "patch", "delete"]
READERS = ["officer_a", "officer_b", "manager", "api_client", "admin"]


def api_endpoints() -> list[str]:
    """Names of the routes in the `api` namespace, as found by Django's URL resolver."""

    def walk(patterns: list[Any], namespace: str | None) -> list[str]:
        names = []
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                names += walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace == "api":
                assert pattern.name, f"unnamed API route {pattern.pattern}"
                names.append(pattern.name)
        return names

    return sorted(set(walk(get_resolver().url_patterns, None)))


@dataclasses.dataclass
class Endpoint:
    url: Callable[[World], str]
    expected: dict[str, dict[str, int]]  # method → role → status
    visible: Callable[[Any], set[Any]] | None = None  # lists: role's user → ids it must return
    target: Callable[[World], Any] | None = None  # details: the record
    body: Callable[[World], dict[str, Any]] | None = None  # writes
    check: Callable[[World, Any, Any], None] | None = None  # reports: (world, user, JSON body) → asserts
    setup: Callable[[World], Any] | None = None  # data the endpoint needs beyond the world's


def everyone(status: int, anonymous: int = 401) -> dict[str, int]:
    return {"anonymous": anonymous, **dict.fromkeys(READERS, status)}


def read_only(read: dict[str, int]) -> dict[str, dict[str, int]]:
    """GET as given; other methods: 403 for roles that never write, 405 for the others."""
    refuse = {"anonymous": 401, "officer_a": 405, "officer_b": 405, "manager": 403, "api_client": 403, "admin": 405}
    return {"get": read, **{method: refuse for method in METHODS if method != "get"}}


def detail_read(officer_b: int = 404) -> dict[str, int]:
    return {**everyone(200), "officer_b": officer_b}


def accreditation(world: World) -> Any:
    return AccreditationFactory(post=PostFactory(sending_country="US", host_country="BY", city="Minsk"))


def another_accreditation(world: World) -> Any:
    """A record besides the one a detail asks for, so that answering with the wrong one shows."""
    return AccreditationFactory(post=PostFactory(sending_country="US", host_country="BY", city="Brest"))


def intensity_counts_what_the_user_sees(world: World, user: Any, data: dict[str, Any]) -> None:
    """The 2017 total of relationship A is exactly the conducted activities `user` may see."""
    visible = Activity.objects.visible_to(user).filter(
        relationship=world.rel_a, status="conducted", start_date__year=2017
    )
    assert data["relationship"] == world.rel_a.pk
    assert sum(row["count"] for row in data["results"] if row["area"] is None) == visible.count() > 0


def activity_body(world: World) -> dict[str, Any]:
    return {
        "relationship": world.rel_a.pk,
        "area": "medicine",
        "title": "Field hospital exchange",
        "kind": "visit",
        "start_date": "2018-05-02",
        "releasability": "internal",
    }


WRITE_ROLES = {"anonymous": 401, "officer_a": 200, "officer_b": 404, "manager": 403, "api_client": 403, "admin": 200}
NOT_ON_LIST = {"anonymous": 401, "officer_a": 405, "officer_b": 405, "manager": 403, "api_client": 403, "admin": 405}

MATRIX: dict[str, Endpoint] = {
    "activity-list": Endpoint(
        url=lambda w: "/api/v1/activities/",
        expected={
            "get": everyone(200),
            "post": {**WRITE_ROLES, "officer_a": 201, "officer_b": 400, "admin": 201},
            "put": NOT_ON_LIST,
            "patch": NOT_ON_LIST,
            "delete": NOT_ON_LIST,
        },
        visible=lambda user: set(Activity.objects.visible_to(user).values_list("id", flat=True)),
        body=activity_body,
    ),
    "activity-detail": Endpoint(
        url=lambda w: f"/api/v1/activities/{w.activities['a_internal'].pk}/",
        expected={
            "get": detail_read(),
            "post": NOT_ON_LIST,
            "put": WRITE_ROLES,
            "patch": WRITE_ROLES,
            "delete": {**WRITE_ROLES, "officer_a": 204, "admin": 204},
        },
        target=lambda w: w.activities["a_internal"],
        body=activity_body,
    ),
    "post-list": Endpoint(
        url=lambda w: "/api/v1/posts/",
        expected=read_only(everyone(200)),
        visible=lambda user: set(Post.objects.values_list("id", flat=True)),
    ),
    "post-detail": Endpoint(
        url=lambda w: f"/api/v1/posts/{accreditation(w).post_id}/",
        expected=read_only(everyone(200)),
        setup=another_accreditation,
    ),
    "attache-list": Endpoint(
        url=lambda w: "/api/v1/attaches/",
        expected=read_only(everyone(200)),
        visible=lambda user: set(Attache.objects.values_list("id", flat=True)),
    ),
    "attache-detail": Endpoint(
        url=lambda w: f"/api/v1/attaches/{accreditation(w).attache_id}/",
        expected=read_only(everyone(200)),
        setup=another_accreditation,
    ),
    "accreditation-list": Endpoint(
        url=lambda w: "/api/v1/accreditations/",
        expected=read_only(everyone(200)),
        visible=lambda user: set(Accreditation.objects.visible_to(user).values_list("id", flat=True)),
    ),
    "accreditation-detail": Endpoint(
        url=lambda w: f"/api/v1/accreditations/{accreditation(w).pk}/",
        expected=read_only(detail_read()),
        setup=another_accreditation,
    ),
    "relationship-list": Endpoint(
        url=lambda w: "/api/v1/relationships/",
        expected=read_only(everyone(200)),
        visible=lambda user: set(Relationship.objects.visible_to(user).values_list("id", flat=True)),
    ),
    "relationship-detail": Endpoint(
        url=lambda w: f"/api/v1/relationships/{w.rel_a.pk}/",
        expected=read_only(detail_read()),
        target=lambda w: w.rel_a,
    ),
    "area-list": Endpoint(
        url=lambda w: "/api/v1/areas/",
        expected=read_only(everyone(200)),
        visible=lambda user: set(CooperationArea.objects.values_list("code", flat=True)),
    ),
    "area-detail": Endpoint(url=lambda w: "/api/v1/areas/education/", expected=read_only(everyone(200))),
    "desk-list": Endpoint(
        url=lambda w: "/api/v1/desks/",
        expected=read_only(everyone(200)),
        visible=lambda user: set(Desk.objects.visible_to(user).values_list("id", flat=True)),
    ),
    "desk-detail": Endpoint(
        url=lambda w: f"/api/v1/desks/{w.desk_a.pk}/", expected=read_only(detail_read()), target=lambda w: w.desk_a
    ),
    "intensity": Endpoint(
        url=lambda w: f"/api/v1/intensity/?relationship={w.rel_a.pk}&start=2017-01&end=2017-12",
        expected=read_only(detail_read()),
        check=intensity_counts_what_the_user_sees,
        setup=lambda w: intensity.rebuild_rollups(),
    ),
    "schema": Endpoint(
        url=lambda w: "/api/v1/schema/",
        expected={"get": everyone(200, anonymous=200), **{m: everyone(405, anonymous=405) for m in METHODS[1:]}},
    ),
    "docs": Endpoint(
        url=lambda w: "/api/v1/docs/",
        expected={"get": everyone(200, anonymous=200), **{m: everyone(405, anonymous=405) for m in METHODS[1:]}},
    ),
    "not-found": Endpoint(
        url=lambda w: "/api/v1/no-such-thing/",
        expected={m: everyone(404, anonymous=404) for m in METHODS},
    ),
}


def test_every_api_endpoint_is_in_the_matrix() -> None:
    assert api_endpoints() == sorted(MATRIX), "add the new endpoint to MATRIX in tests/api/test_permissions.py"
    for name, endpoint in MATRIX.items():
        assert sorted(endpoint.expected) == sorted(METHODS), name
        for method, roles in endpoint.expected.items():
            assert sorted(roles) == sorted(ROLES), (name, method)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", api_endpoints())
def test_role_method_endpoint(name: str, method: str, role: str, world: World, clients: dict[str, APIClient]) -> None:
    assert name in MATRIX, f"/api/v1 route {name!r} is missing from MATRIX: write down who may call it"
    endpoint = MATRIX[name]
    expected = endpoint.expected[method][role]
    if endpoint.setup is not None:
        endpoint.setup(world)
    url = endpoint.url(world)
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    if endpoint.body and method in ("post", "put", "patch"):
        body = endpoint.body(world)
    if endpoint.target and method in ("put", "patch", "delete"):
        target = endpoint.target(world)
        headers["HTTP_IF_MATCH"] = f'"{target.pk}-{getattr(target, "version", 1)}"'
    response = getattr(clients[role], method)(url, body, format="json", **headers)
    assert response.status_code == expected, (name, method, role, response.content[:300])

    user = world.users().get(role)
    if expected >= 400:
        assert response["Content-Type"] == "application/json"
        payload = response.json()
        assert payload.get("detail") if expected != 400 else payload
    elif method == "get" and name not in ("schema", "docs"):
        data = response.json()
        if endpoint.visible is not None:
            key = "code" if name == "area-list" else "id"
            assert {row[key] for row in data["results"]} == endpoint.visible(user)
        if endpoint.target is not None:
            assert data["id"] == endpoint.target(world).pk
        if name.endswith("-detail"):  # every detail answers with the record its URL names
            key = "code" if name == "area-detail" else "id"
            assert str(data[key]) == url.rstrip("/").rsplit("/", 1)[1]
        if endpoint.check is not None:
            endpoint.check(world, user, data)
    elif expected == 201:
        assert Activity.objects.get(pk=response.json()["id"]).created_by == user
    elif expected == 204:
        assert Activity.objects.get(pk=endpoint.target(world).pk).is_deleted  # type: ignore[misc]
    elif method in ("put", "patch"):
        assert response.json()["title"] == "Field hospital exchange"
        assert response.json()["version"] == 2
