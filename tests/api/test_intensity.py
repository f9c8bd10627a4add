"""GET /api/v1/intensity/: figures, shape, totals, validation, scoping, clearance, CSV, ETags."""

from __future__ import annotations

import csv
import datetime
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cooperation import intensity
from cooperation.choices import ActivityLevel, ActivityStatus, Classification, Role
from cooperation.intensity import activity_score
from cooperation.models import CooperationArea, WeightSet
from tests.api.conftest import client_for
from tests.conftest import World
from tests.factories import ActivityFactory, UserFactory, area

pytestmark = pytest.mark.django_db

URL = "/api/v1/intensity/"
D = datetime.date
# The world's activities: education, working level, 10 participants, one day, 1 March 2017.
WORLD_SCORE = activity_score(area_weight=1, level_weight=2, participants=10, start_date=D(2017, 3, 1), end_date=None)
AREAS = ["peacekeeping", "education", "demining", "medicine"]


def report(client: APIClient, **params: Any) -> dict[str, Any]:
    params.setdefault("start", "2017-01")
    params.setdefault("end", "2017-12")
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def rows(data: dict[str, Any], area_code: str | None) -> list[tuple[str, int, str, int, int]]:
    return [
        (row["label"], row["count"], row["intensity"], row["breadth"], row["pipeline"])
        for row in data["results"]
        if row["area"] == area_code
    ]


def money(value: Decimal) -> str:
    return f"{value:.6f}"


@pytest.fixture
def rolled(world: World) -> World:
    intensity.rebuild_rollups()
    return world


def test_relationship_report_by_quarter_with_areas_and_total(rolled: World, clients: dict[str, APIClient]) -> None:
    data = report(clients["manager"], relationship=rolled.rel_a.pk)
    assert list(data) == ["weight_set", "period", "relationship", "country", "areas", "results"]
    assert data["weight_set"] == WeightSet.objects.active().pk
    assert (data["period"], data["relationship"], data["country"]) == ("quarter", rolled.rel_a.pk, None)
    assert data["areas"] == AREAS
    assert len(data["results"]) == 4 * 5  # four quarters × (four areas + the total)
    first = data["results"][:5]
    assert [row["area"] for row in first] == [*AREAS, None]
    assert {row["period_start"] for row in first} == {"2017-01-01"} and first[0]["label"] == "2017 Q1"
    # The manager (internal clearance) sees a_public and a_internal, both conducted on 1 March 2017.
    expected_q1 = ("2017 Q1", 2, money(2 * WORLD_SCORE), 1, 0)
    assert rows(data, "education") == [expected_q1, *[(f"2017 Q{q}", 0, "0.000000", 0, 0) for q in (2, 3, 4)]]
    assert rows(data, None) == rows(data, "education")
    assert rows(data, "demining") == [(f"2017 Q{q}", 0, "0.000000", 0, 0) for q in (1, 2, 3, 4)]


def test_total_row_sums_the_selected_areas_and_counts_their_breadth(
    rolled: World, clients: dict[str, APIClient]
) -> None:
    for code, level, participants, status in (
        ("demining", ActivityLevel.SENIOR, 0, ActivityStatus.CONDUCTED),
        ("medicine", ActivityLevel.MINISTERIAL, 99, ActivityStatus.CONDUCTED),
        ("medicine", ActivityLevel.WORKING, 5, ActivityStatus.PLANNED),
    ):
        ActivityFactory(
            relationship=rolled.rel_a,
            area=area(code),
            level=level,
            participants=participants,
            status=status,
            start_date=D(2017, 2, 10),
            end_date=D(2017, 2, 13),
            releasability=Classification.PUBLIC,
        )
    intensity.rebuild_rollups()
    demining = activity_score(
        area_weight=1, level_weight=3, participants=0, start_date=D(2017, 2, 10), end_date=D(2017, 2, 13)
    )
    medicine = activity_score(
        area_weight=1, level_weight=4, participants=99, start_date=D(2017, 2, 10), end_date=D(2017, 2, 13)
    )
    everything = report(clients["manager"], relationship=rolled.rel_a.pk, end="2017-03")
    assert rows(everything, None) == [("2017 Q1", 4, money(2 * WORLD_SCORE + demining + medicine), 3, 1)]
    assert rows(everything, "medicine") == [("2017 Q1", 1, money(medicine), 1, 1)]
    some = report(clients["manager"], relationship=rolled.rel_a.pk, end="2017-03", area=["medicine", "demining"])
    assert some["areas"] == ["demining", "medicine"]  # the areas' own order, not the request's
    assert [row["area"] for row in some["results"]] == ["demining", "medicine", None]
    assert rows(some, None) == [("2017 Q1", 2, money(demining + medicine), 2, 1)]


@pytest.mark.parametrize(
    "period, start, end, labels, starts",
    [
        ("month", "2017-02", "2017-04", ["2017-02", "2017-03", "2017-04"], ["2017-02-01", "2017-03-01", "2017-04-01"]),
        ("quarter", "2017-02", "2017-04", ["2017 Q1", "2017 Q2"], ["2017-01-01", "2017-04-01"]),
        ("year", "2016-12", "2017-01", ["2016", "2017"], ["2016-01-01", "2017-01-01"]),
    ],
)
def test_periods_are_whole_and_dense(
    rolled: World, clients: dict[str, APIClient], period: str, start: str, end: str, labels: list, starts: list
) -> None:
    data = report(clients["manager"], relationship=rolled.rel_a.pk, period=period, start=start, end=end)
    assert data["period"] == period
    totals = [row for row in data["results"] if row["area"] is None]
    assert [row["label"] for row in totals] == labels
    assert [row["period_start"] for row in totals] == starts
    march = next(row for row in totals if row["period_start"] <= "2017-03-01" < _next(row["period_start"], period))
    assert march["count"] == 2


def _next(period_start: str, period: str) -> str:
    start = D.fromisoformat(period_start)
    return intensity.next_period(start, period).isoformat()


def test_country_covers_every_visible_relationship_of_that_state(rolled: World, clients: dict[str, APIClient]) -> None:
    # Both relationships involve the United States; the manager sees both desks.
    assert rows(report(clients["manager"], country="US"), None)[0][:2] == ("2017 Q1", 4)
    assert rows(report(clients["manager"], country="CU"), None)[0][:2] == ("2017 Q1", 2)
    # A desk officer sees only the relationships of their desk.
    assert rows(report(clients["officer_a"], country="US"), None)[0][:2] == ("2017 Q1", 2)
    assert rows(report(clients["officer_a"], country="CU"), None)[0][:2] == ("2017 Q1", 0)
    data = report(clients["officer_a"], country="CU")
    assert (data["country"], data["relationship"]) == ("CU", None)


def test_a_relationship_you_may_not_see_is_a_404_like_one_that_does_not_exist(
    rolled: World, clients: dict[str, APIClient]
) -> None:
    hidden = clients["officer_a"].get(URL, {"relationship": rolled.rel_b.pk, "start": "2017-01", "end": "2017-12"})
    missing = clients["officer_a"].get(URL, {"relationship": 987654321, "start": "2017-01", "end": "2017-12"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"detail": "No relationship with this id."}
    assert (
        clients["officer_b"]
        .get(URL, {"relationship": rolled.rel_b.pk, "start": "2017-01", "end": "2017-01"})
        .status_code
        == 200
    )


def _restricted_activities(world: World) -> None:
    """Restricted activities in every place the internal users look: conducted ones in
    an area with nothing else (breadth), in another month, and a planned one (pipeline)."""
    for code, start, status in (
        ("education", D(2017, 3, 20), ActivityStatus.CONDUCTED),
        ("demining", D(2017, 5, 2), ActivityStatus.CONDUCTED),
        ("medicine", D(2017, 11, 7), ActivityStatus.CONFIRMED),
    ):
        for relationship in (world.rel_a, world.rel_b):
            ActivityFactory(
                relationship=relationship,
                area=area(code),
                status=status,
                start_date=start,
                participants=40,
                releasability=Classification.RESTRICTED,
            )
    intensity.rebuild_rollups()


@pytest.mark.parametrize("period", ["month", "quarter", "year"])
def test_restricted_activities_change_no_number_for_users_without_clearance(
    world: World, clients: dict[str, APIClient], period: str
) -> None:
    restricted_manager = client_for(
        UserFactory(username="cleared", role=Role.MANAGER, clearance=Classification.RESTRICTED)
    )
    queries = [
        ("manager", {"country": "US"}),
        ("api_client", {"country": "BY"}),
        ("officer_a", {"relationship": world.rel_a.pk}),
        ("officer_a", {"country": "US", "area": ["demining", "medicine"]}),
    ]

    def everything(client: APIClient, params: dict[str, Any], fmt: str = "json") -> bytes:
        response = client.get(URL, {"start": "2016-01", "end": "2018-12", "period": period, "format": fmt, **params})
        assert response.status_code == 200
        return b"".join(response.streaming_content) if response.streaming else response.content

    intensity.rebuild_rollups()
    before = {
        (role, str(params), fmt): everything(clients[role], params, fmt)
        for role, params in queries
        for fmt in ("json", "csv")
    }
    cleared_before = everything(restricted_manager, {"country": "US"})
    _restricted_activities(world)
    after = {
        (role, str(params), fmt): everything(clients[role], params, fmt)
        for role, params in queries
        for fmt in ("json", "csv")
    }
    assert after == before  # byte for byte: no count, score, breadth or pipeline moved
    cleared_after = everything(restricted_manager, {"country": "US"})
    assert cleared_after != cleared_before
    totals = [row for row in json.loads(cleared_after)["results"] if row["area"] is None]
    old_totals = [row for row in json.loads(cleared_before)["results"] if row["area"] is None]
    assert sum(row["count"] for row in totals) == sum(row["count"] for row in old_totals) + 4
    assert sum(row["pipeline"] for row in totals) == sum(row["pipeline"] for row in old_totals) + 2


def test_officer_b_with_restricted_clearance_counts_restricted_on_own_desk_only(
    world: World, clients: dict[str, APIClient]
) -> None:
    intensity.rebuild_rollups()
    data = report(clients["officer_b"], country="US", end="2017-03")
    # Desk B only (b_public, b_internal, b_restricted), never desk A.
    assert rows(data, None) == [("2017 Q1", 3, money(3 * WORLD_SCORE), 1, 0)]


@pytest.mark.parametrize(
    "params, errors",
    [
        ({}, {"start", "end"}),
        ({"start": "2017-01", "end": "2017-02"}, {"non_field_errors"}),
        ({"start": "2017-01", "end": "2017-02", "relationship": "1", "country": "BY"}, {"non_field_errors"}),
        ({"start": "2017-1", "end": "17-02", "country": "BY"}, {"start", "end"}),
        ({"start": "2017-13", "end": "2017-00", "country": "BY"}, {"start", "end"}),
        ({"start": " 2017-01", "end": "2017-01 ", "country": "BY"}, {"start", "end"}),
        ({"start": "1899-12", "end": "2200-01", "country": "BY"}, {"start", "end"}),
        ({"start": "2017-05", "end": "2017-04", "country": "BY"}, {"end"}),
        ({"start": "1950-01", "end": "2000-01", "country": "BY"}, {"end"}),  # 601 months
        ({"start": "2017-01", "end": "2017-02", "country": "by"}, {"country"}),
        ({"start": "2017-01", "end": "2017-02", "country": "XX"}, {"country"}),
        ({"start": "2017-01", "end": "2017-02", "country": "BLR"}, {"country"}),
        ({"start": "2017-01", "end": "2017-02", "relationship": "5.0"}, {"relationship"}),
        ({"start": "2017-01", "end": "2017-02", "relationship": "-1"}, {"relationship"}),
        ({"start": "2017-01", "end": "2017-02", "relationship": "0"}, {"relationship"}),
        ({"start": "2017-01", "end": "2017-02", "relationship": "9223372036854775808"}, {"relationship"}),
        ({"start": "2017-01", "end": "2017-02", "relationship": "١"}, {"relationship"}),
        ({"start": "2017-01", "end": "2017-02", "country": "BY", "period": "week"}, {"period"}),
        ({"start": "2017-01", "end": "2017-02", "country": "BY", "area": "nowhere"}, {"area"}),
        ({"start": "2017-01", "end": "2017-02", "country": "BY", "area": "not a code"}, {"area"}),
        ({"start": "2017-01", "end": "2017-02", "country": "", "period": ""}, {"country", "period"}),
        ({"start": ["2017-01", "2017-02"], "end": "2017-02", "country": "BY"}, {"start"}),
        ({"start": "2017-01", "end": "2017-02", "country": ["BY", "US"]}, {"country"}),
    ],
)
def test_every_wrong_parameter_is_a_400_naming_it(
    world: World, clients: dict[str, APIClient], params: dict[str, Any], errors: set[str]
) -> None:
    response = clients["manager"].get(URL, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == errors
    assert all(
        isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
        for messages in body.values()
    )


def test_errors_are_json_also_when_csv_was_asked(world: World, clients: dict[str, APIClient]) -> None:
    response = clients["manager"].get(URL, {"start": "2017-01", "end": "2017-02", "format": "csv"})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json() == {"non_field_errors": ["Give exactly one of `relationship` or `country`."]}


def test_fifty_years_by_month_is_the_longest_report(rolled: World, clients: dict[str, APIClient]) -> None:
    data = report(clients["manager"], country="US", period="month", start="1970-01", end="2019-12")
    assert len(data["results"]) == 600 * 5
    assert sum(row["count"] for row in data["results"] if row["area"] is None) == 4


def test_csv_streams_the_same_rows(rolled: World, clients: dict[str, APIClient]) -> None:
    client = clients["manager"]
    data = report(client, country="US")
    response = client.get(URL, {"country": "US", "start": "2017-01", "end": "2017-12", "format": "csv"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="intensity.csv"'
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [{key: value for key, value in line.items() if key != "weight_set"} for line in lines] == [
        {**{key: str(value) for key, value in row.items()}, "area": row["area"] or ""} for row in data["results"]
    ]
    assert {line["weight_set"] for line in lines} == {str(data["weight_set"])}


def test_etag_and_if_none_match(rolled: World, clients: dict[str, APIClient]) -> None:
    client = clients["manager"]
    params = {"relationship": rolled.rel_a.pk, "start": "2017-01", "end": "2017-12"}
    first = client.get(URL, params)
    assert first["ETag"].startswith('W/"')
    again = client.get(URL, params, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and not again.content and again["ETag"] == first["ETag"]
    ActivityFactory(relationship=rolled.rel_a, releasability=Classification.PUBLIC, start_date=D(2017, 6, 1))
    intensity.rebuild_rollups()
    changed = client.get(URL, params, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]


@pytest.mark.parametrize("span", [("2017-01", "2017-03"), ("1970-01", "2019-12")])
@pytest.mark.parametrize("where", ["relationship", "country"])
def test_queries_do_not_grow_with_the_span(rolled: World, span: tuple[str, str], where: str) -> None:
    client = client_for(rolled.officer_a)
    params: dict[str, Any] = {"start": span[0], "end": span[1], "period": "month", "area": ["education", "demining"]}
    params[where] = rolled.rel_a.pk if where == "relationship" else "US"
    client.get(URL, params)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, params).status_code == 200
    # token, (relationship visible?), area codes, the selector's areas, rollups (with the weight set).
    assert len(queries) == (5 if where == "relationship" else 4), [query["sql"] for query in queries]


def test_csv_cells_a_spreadsheet_would_run_are_quoted(rolled: World, clients: dict[str, APIClient]) -> None:
    """An area code is admin-set and may start with '-' (a slug): as a CSV cell it gets
    the quote every CSV download gives such text (cooperation/api/csv.py)."""
    CooperationArea.objects.filter(code="education").update(code="-education")
    response = clients["manager"].get(URL, {"relationship": rolled.rel_a.pk, "start": "2017-01", "end": "2017-03"})
    assert response.status_code == 200
    csv_response = clients["manager"].get(
        URL, {"relationship": rolled.rel_a.pk, "start": "2017-01", "end": "2017-03", "format": "csv"}
    )
    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    by_area = {line[3]: line for line in lines[1:]}
    assert "'-education" in by_area and "-education" not in by_area
    json_rows = [row for row in response.json()["results"] if row["area"] == "-education"]
    assert [by_area["'-education"][4:]] == [
        [str(row["count"]), row["intensity"], str(row["breadth"]), str(row["pipeline"])] for row in json_rows
    ]
