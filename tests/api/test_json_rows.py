"""Activity list pages written by PostgreSQL are byte for byte what the serializer writes."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from cooperation.api import json_rows
from cooperation.api.serializers import ActivitySerializer
from cooperation.api.views import ActivityViewSet
from cooperation.choices import ActivityLevel, ActivityStatus, Classification
from cooperation.models import Activity, ActivityChange
from tests.api.conftest import client_for
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, PostFactory, RelationshipFactory, area

pytestmark = pytest.mark.django_db

LIST = "/api/v1/activities/"
ODD_TEXT = [
    "",
    'quotes " and \\ backslashes \\" /slashes/',
    "tab\tnew line\ncarriage\rform\x0cbell\x07 nul-ish \x01\x1f del\x7f",
    "Ünïcødé — Беларусь, 中文, emoji 🎖️, combining é",
    "line separator \u2028 and paragraph separator \u2029",
    '=HYPERLINK("http://x") <script>alert(1)</script> & \' %s %% {}',
]


@pytest.fixture
def varied(world: World) -> list[Activity]:
    """Activities of every shape: nulls, long and odd text, dates, moments with and without
    microseconds, every level, status and releasability, an accreditation, another relationship."""
    accreditation = AccreditationFactory(post=PostFactory(sending_country="US", host_country="BY", city="Minsk"))
    other = RelationshipFactory(state_a="AM", state_b="GE")
    rows: list[Any] = []
    for index, text in enumerate(ODD_TEXT):
        rows.append(
            ActivityFactory(
                relationship=world.rel_a,
                area=area(["peacekeeping", "education", "demining", "medicine"][index % 4]),
                title=text or "untitled",
                location=text,
                counterpart=text[::-1],
                description=text * 3,
                outcome=text,
                level=list(ActivityLevel)[index % 4],
                status=list(ActivityStatus)[index % 5],
                start_date=datetime.date(1999 + index, (index % 12) + 1, 28),
                end_date=None if index % 2 else datetime.date(2030 + index, 1, 1),
                participants=index * 1000,
                releasability=list(Classification)[index % 2],
                accreditation=accreditation if index == 1 else None,
                created_at=datetime.datetime(2016, 6, 29, 12, 0, 0, index * 7, tzinfo=datetime.UTC),
            )
        )
    rows.append(ActivityFactory(relationship=other, releasability=Classification.PUBLIC, title="elsewhere"))
    # A change stamp with microseconds, one without, and one row whose change row is missing.
    ActivityChange.objects.filter(activity=rows[0]).update(
        changed_at=datetime.datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=datetime.UTC)
    )
    ActivityChange.objects.filter(activity=rows[1]).update(
        changed_at=datetime.datetime(2020, 3, 1, 0, 0, 0, tzinfo=datetime.UTC)
    )
    ActivityChange.objects.filter(activity=rows[2]).delete()
    return rows


def serializer_page(client: APIClient, url: str) -> bytes:
    """The same request answered through ActivitySerializer (the path before json_rows)."""
    fields = ActivityViewSet.json_fields
    ActivityViewSet.json_fields = []
    try:
        response = client.get(url)
    finally:
        ActivityViewSet.json_fields = fields
    assert response.status_code == 200
    return response.content


def pages(client: APIClient, url: str | None) -> Iterator[tuple[str, bytes]]:
    """Each page of the walk from `url`, asked twice: the second answer comes from the page
    statement prepared on the first one's connection, and must be the same."""
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        assert client.get(url).content == response.content
        yield url, response.content
        url = response.json()["next"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?page_size=3",
        "?page_size=2&ordering=start_date",
        "?page_size=4&ordering=-updated_at",
        "?ordering=updated_at",
        "?area=medicine&area=education&page_size=2",
        "?country=BY&status=planned&status=conducted&status=cancelled",
        "?q=unicode",
        "?releasability=public&level=senior&level=working&page_size=1",
    ],
)
@pytest.mark.parametrize("role", ["admin", "officer_a", "manager"])
def test_every_page_equals_the_serializers_output(
    varied: list[Activity], clients: dict[str, APIClient], query: str, role: str
) -> None:
    client = clients[role]
    seen = 0
    for url, content in pages(client, LIST + query):
        assert content == serializer_page(client, url), url
        seen += 1
    assert seen >= 1


def test_rows_equal_the_serializer_one_by_one(varied: list[Activity], world: World) -> None:
    renderer = JSONRenderer()
    queryset = Activity.objects.visible_to(world.admin).select_related("relationship", "area", "change")
    rows = json_rows.page_rows(Activity, ActivityViewSet.json_fields, queryset.order_by("-id"), ("id",), True)
    assert len(rows) == Activity.objects.alive().count() > len(ODD_TEXT)
    for text, (activity_id,) in rows:
        expected = renderer.render(ActivitySerializer(queryset.get(pk=activity_id)).data)
        assert text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode() == expected
    assert any("\\u2028" in text or "\u2028" in text for text, _ in rows)


@pytest.mark.parametrize("query", ["?page_size=3", "?page_size=2&ordering=updated_at", "?country=BY&page_size=2"])
def test_pages_joined_by_primary_key_when_the_page_query_has_other_joins(
    varied: list[Activity], world: World, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    """The fallback: the JSON pieces joined to the page query by primary key."""
    real = json_rows.row_source

    def other_joins(*args: Any) -> json_rows.RowSource:
        return dataclasses.replace(real(*args), joins=('INNER JOIN "elsewhere" ON (true)',))

    monkeypatch.setattr(json_rows, "row_source", other_joins)
    client = client_for(world.officer_a)
    seen = 0
    for url, content in pages(client, LIST + query):
        assert content == serializer_page(client, url), url
        seen += 1
    assert seen >= 2


@pytest.mark.parametrize("prepared", [0, 50])
def test_the_page_query_selects_its_keys_and_the_json_only(varied: list[Activity], world: World, prepared: int) -> None:
    """The columns that only make the ORM join (the relationship's states are also JSON
    pieces) are not fetched twice; the statement is prepared unless that is turned off."""
    client = client_for(world.admin)
    with override_settings(DATABASE_PREPARED_STATEMENTS=prepared), CaptureQueriesContext(connection) as queries:
        client.get(LIST, {"area": "education", "page_size": 2})  # prepared on its second run
        response = client.get(LIST, {"area": "education", "page_size": 2})
    assert response.status_code == 200 and len(response.json()["results"]) == 2
    page_sql = queries.captured_queries[-1]["sql"]
    if prepared:
        name = page_sql.removeprefix("EXECUTE ").split("(")[0]
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name])
            page_sql = cursor.fetchone()[0]
    columns = page_sql[page_sql.index("SELECT ") : page_sql.index(' FROM "cooperation_activity"')]
    assert columns.startswith(
        'SELECT "cooperation_activity"."id" AS "pk", "cooperation_activity"."start_date" AS "start_date", '
        '"cooperation_activity"."id" AS "pk1", ('
    )
    assert columns.count('"cooperation_relationship"."state_a"') == 1  # as a JSON piece only
    assert '"_rows"' not in page_sql and "_json0" in columns


def page_statements() -> dict[str, tuple[str, int, int]]:
    """The page statements prepared on this connection: name → (text, generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%cooperation_activity%%'"
        )
        return {name: (text, generic, custom) for name, text, generic, custom in cursor.fetchall()}


def executed(queries: CaptureQueriesContext) -> str:
    """The page statement as the request ran it (as text, or prepared: `EXECUTE name…`)."""
    names = page_statements()
    (page_query,) = [
        sql
        for query in queries.captured_queries
        if "_json0" in (sql := query["sql"]) or sql.removeprefix("EXECUTE ").split("(")[0] in names
    ]
    return page_query


def test_the_filters_values_are_written_into_the_page_statement_and_the_cursors_stay_parameters(
    varied: list[Activity], world: World
) -> None:
    """Each set of filters gets a statement (and a plan) of its own; the pages of a walk share one."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection._attache_prepared = None  # type: ignore[attr-defined]
    client = client_for(world.admin)
    query = {"status": "conducted", "area": "education", "page_size": 1}
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            first = client.get(LIST, query).json()
    ((name, (text, generic, custom)),) = page_statements().items()
    assert executed(queries) == f"EXECUTE {name}"  # no values: all of them are in the statement
    assert f'"area_id" = {area("education").pk}' in text and "\"status\" = 'conducted'" in text and "$1" not in text
    assert (generic, custom) == (2, 0)  # run twice since it was prepared, with one plan
    client.get(LIST, {**query, "status": "planned"})
    client.get(LIST, {**query, "status": "planned"})
    assert len(page_statements()) == 2  # other values, another statement

    second_url = first["next"]
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            second = client.get(second_url).json()
    third_url = second["next"]
    with CaptureQueriesContext(connection) as queries:
        client.get(third_url)
    statements = page_statements()
    assert len(statements) == 3  # the next pages share one statement, whose values are the cursor's
    cursor_statement = next(text for text, _, _ in statements.values() if "$1" in text)
    assert "'conducted'" in cursor_statement and "$3" in cursor_statement and "$4" not in cursor_statement
    page_name = executed(queries).removeprefix("EXECUTE ").split("(")[0]
    assert statements[page_name][0] == cursor_statement


def test_a_search_with_quotes_and_percent_signs_is_a_value_in_the_statement(world: World) -> None:
    """The search text goes into the statement's text quoted by psycopg2: it finds what it
    finds as a value, twice alike (the second time prepared), and the table is intact."""
    ActivityFactory(relationship=world.rel_a, title="Exercise 100% ready", releasability=Classification.PUBLIC)
    ActivityFactory(relationship=world.rel_a, title="Other exercise", releasability=Classification.PUBLIC)
    client = client_for(world.admin)
    for search in ["100%", "ready'); DROP TABLE cooperation_activity; --", "%s %% '' \\"]:
        answers = [client.get(LIST, {"q": search}) for _ in range(2)]
        assert answers[0].status_code == answers[1].status_code == 200
        assert answers[0].content == answers[1].content == serializer_page(client, f"{LIST}?q={quote(search)}")

    def titles(search: str) -> list[str]:
        return [row["title"] for row in client.get(LIST, {"q": search}).json()["results"]]

    assert titles("100%") == titles("ready'") == ["Exercise 100% ready"]
    assert titles("ready'); DROP TABLE cooperation_activity; --") == []  # every word must match
    assert Activity.objects.filter(title__in=["Exercise 100% ready", "Other exercise"]).count() == 2


def test_backwards_pages_come_back_in_order(varied: list[Activity], world: World) -> None:
    client = client_for(world.admin)
    first = client.get(LIST, {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"])
    assert back.json()["results"] == first["results"]
    assert back.content == serializer_page(client, second["previous"])


def test_indented_json_still_goes_through_the_renderer(varied: list[Activity], world: World) -> None:
    response = client_for(world.admin).get(LIST, HTTP_ACCEPT="application/json; indent=2")
    assert response.status_code == 200 and response.content.startswith(b'{\n  "next"')


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Minsk"])
def test_moments_in_other_time_zones(varied: list[Activity], world: World, zone: str) -> None:
    with override_settings(TIME_ZONE=zone), timezone.override(zone):
        client = client_for(world.admin)
        for url, content in pages(client, f"{LIST}?page_size=4"):
            assert content == serializer_page(client, url)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",))))
def test_any_text_is_escaped_as_python_escapes_it(db: None, text: str) -> None:
    template = json_rows._sql(json_rows.field("x", kind="text"), "UTC").replace("§", "(%s)")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {template}", [text])
        (written,) = cursor.fetchone()
    assert written == json.dumps(text, ensure_ascii=False)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    moment=st.datetimes(
        min_value=datetime.datetime(1900, 1, 1),
        max_value=datetime.datetime(2100, 1, 1),
        timezones=st.just(datetime.UTC),
    ),
    day=st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31)),
)
def test_dates_and_moments_are_written_as_drf_writes_them(db: None, moment: datetime.datetime, day: Any) -> None:
    from rest_framework import serializers

    moment_sql = json_rows._sql(json_rows.field("x", kind="datetime"), "UTC").replace("§", "(%s::timestamptz)")
    day_sql = json_rows._sql(json_rows.field("x", kind="date"), "UTC").replace("§", "(%s::date)")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {moment_sql}, {day_sql}", [moment, day])
        written_moment, written_day = cursor.fetchone()
    assert json.loads(written_moment) == serializers.DateTimeField().to_representation(moment)
    assert written_day == json.dumps(serializers.DateField().to_representation(day))
