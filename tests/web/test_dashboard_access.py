"""Every dashboard page × every role (anonymous, desk A's officer, desk B's officer, manager,
API client, admin) × a relationship on desk A and one on desk B.

The pages come from the URL conf (namespace `dashboards`): a page added without an entry in
PAGES fails `test_every_dashboard_page_is_in_the_matrix`. Dashboards are read pages: every
workspace user may open them, API clients get 403, anonymous users are sent to sign in, and
a relationship outside a desk officer's desks is a 404. Each case checks the content too:
a restricted activity (above the manager's and officer A's clearance) never shows.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import get_resolver, reverse

from cooperation import intensity
from cooperation.choices import ActivityStatus, Classification
from tests.conftest import World
from tests.factories import ActivityFactory
from tests.web.test_access_matrix import body, client_for, matrix

pytestmark = pytest.mark.django_db

OWN_TITLE = "Dashboard matrix planned internal"
SECRET_TITLE = "Dashboard matrix planned restricted"
FAR = datetime.date(2190, 5, 4)  # ahead of any "today": both are upcoming


@pytest.fixture
def planned(world: World) -> World:
    for title, level in ((OWN_TITLE, Classification.INTERNAL), (SECRET_TITLE, Classification.RESTRICTED)):
        ActivityFactory(
            relationship=world.rel_a, title=title, releasability=level, status=ActivityStatus.PLANNED, start_date=FAR
        )
    intensity.rebuild_rollups()
    return world


READ = {"anonymous": 302, "officer_a": 200, "officer_b": 200, "manager": 200, "api_client": 403, "admin": 200}
DESK_A = READ | {"officer_b": 404}
DESK_B = READ | {"officer_a": 404}


@dataclasses.dataclass(frozen=True)
class Case:
    kwargs: Callable[[World], dict[str, Any]]
    expected: dict[str, int]
    shows: Callable[[World, str], str | None] = lambda world, role: None  # text a user with a 200 sees
    hides: str | None = None  # text that never appears for a refused user


def no_kwargs(world: World) -> dict[str, Any]:
    return {}


def rel_a(world: World) -> dict[str, Any]:
    return {"pk": world.rel_a.pk}


def rel_b(world: World) -> dict[str, Any]:
    return {"pk": world.rel_b.pk}


def upcoming_title(world: World, role: str) -> str | None:
    """Officer B's desk holds no upcoming activity; everyone else with a 200 sees desk A's."""
    return None if role == "officer_b" else OWN_TITLE


PAGES: dict[str, list[Case]] = {
    "overview": [Case(no_kwargs, READ, shows=upcoming_title)],
    "overview_csv": [Case(no_kwargs, READ, shows=lambda world, role: "relationship,count")],
    "comparison": [Case(no_kwargs, READ, shows=lambda world, role: "Relationships compared")],
    "heatmap_csv": [Case(no_kwargs, READ, shows=lambda world, role: "relationship,period,period_start")],
    "comparison_csv": [Case(no_kwargs, READ, shows=lambda world, role: "relationship,count")],
    "relationship": [
        Case(rel_a, DESK_A, shows=lambda world, role: world.rel_a.label, hides="Belarus – United States"),
        Case(rel_b, DESK_B, shows=lambda world, role: world.rel_b.label, hides="Cuba – United States"),
    ],
    "relationship_csv": [
        Case(rel_a, DESK_A, shows=lambda world, role: "period,period_start"),
        Case(rel_b, DESK_B, shows=lambda world, role: "period,period_start"),
    ],
    "relationship_periods_csv": [
        Case(rel_a, DESK_A, shows=lambda world, role: "accreditation,attache"),
        Case(rel_b, DESK_B, shows=lambda world, role: "accreditation,attache"),
    ],
}


def dashboard_url_names() -> set[str]:
    _, resolver = get_resolver().namespace_dict["dashboards"]
    return {pattern.name for pattern in resolver.url_patterns if getattr(pattern, "name", None)}


def test_every_dashboard_page_is_in_the_matrix() -> None:
    assert dashboard_url_names() == set(PAGES)


MATRIX = matrix(PAGES)


@pytest.mark.parametrize(("name", "index", "role"), MATRIX)
def test_dashboard_answers_each_role_by_desk(planned: World, name: str, index: int, role: str) -> None:
    case = PAGES[name][index]
    url = reverse(f"dashboards:{name}", kwargs=case.kwargs(planned))
    response = client_for(planned, role).get(url)
    expected = case.expected[role]
    assert response.status_code == expected, f"{role} on {url}"
    content = body(response)
    if role == "anonymous":
        assert response["Location"].startswith(f"/accounts/login/?next={url}")
    elif expected == 200:
        shown = case.shows(planned, role)
        if shown is not None:
            assert shown in content
    elif case.hides is not None:
        assert case.hides not in content
    if expected == 403:
        assert "Not allowed" in content
    if expected == 404:
        assert "There is no such page or record" in content
    # Whatever the page, a record above the user's clearance never shows.
    if role in ("officer_a", "manager"):
        assert SECRET_TITLE not in content
    if role == "officer_b":
        assert OWN_TITLE not in content
