"""The activity list keeps its compiled page statements (cooperation/api/pagination.py
`KeptStatements`): a request whose filters, viewer and page place were seen before runs
the kept statement with its own cursor, and must answer exactly what a fresh one would.

The suite runs with `VERIFY_KEPT_STATEMENTS` on (tests/conftest.py): every kept statement
found is compared with a fresh compilation. The tests here turn it off, to run the kept
statements as production does."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from cooperation.api import base, json_rows, pagination
from cooperation.api.views import ActivityViewSet
from cooperation.choices import ActivityKind, ActivityLevel, ActivityStatus, Classification
from cooperation.filtersets import ActivityFilterSet
from cooperation.models import Activity
from tests.api.conftest import client_for
from tests.conftest import World
from tests.factories import ActivityFactory, DeskFactory, RelationshipFactory, UserFactory, area

pytestmark = pytest.mark.django_db

LIST = "/api/v1/activities/"


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Kept statements run unverified, as in production; lists the statements compiled."""
    monkeypatch.setattr(pagination, "VERIFY_KEPT_STATEMENTS", False)
    texts: list[str] = []
    real = json_rows.page_statement

    def page_statement(*args: Any, **kwargs: Any) -> json_rows.PageStatement:
        statement = real(*args, **kwargs)
        texts.append(statement.sql)
        return statement

    monkeypatch.setattr(json_rows, "page_statement", page_statement)
    return texts


def titles(client: APIClient, query: str = "") -> list[str]:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.content
    return [row["title"] for row in json.loads(response.content)["results"]]


def test_a_repeated_request_runs_the_kept_statement(world: World, compiled: list[str]) -> None:
    client = client_for(world.manager)
    first = client.get(f"{LIST}?status=planned&status=conducted&area=education&ordering=start_date")
    second = client.get(f"{LIST}?status=planned&status=conducted&area=education&ordering=start_date")
    assert len(compiled) == 1
    assert first.content == second.content
    # Other values of the same filters are another statement.
    client.get(f"{LIST}?status=planned&area=education&ordering=start_date")
    client.get(f"{LIST}?status=planned&area=demining&ordering=start_date")
    client.get(f"{LIST}?status=planned&area=demining&ordering=-start_date")
    client.get(f"{LIST}?status=planned&area=demining&ordering=-start_date&page_size=2")
    assert len(compiled) == 5
    assert len(set(compiled)) == 5


def test_viewers_with_other_desks_or_clearance_never_share_a_statement(world: World, compiled: list[str]) -> None:
    """Each viewer sees what a fresh statement shows them, whoever asked the same filters first."""
    expected = {
        "officer_a": ["a internal", "a public"],
        "officer_b": ["b public", "b internal", "b restricted"],
        "manager": ["a internal", "a public", "b internal", "b public"],
        "api_client": ["a internal", "a public", "b internal", "b public"],
        "admin": ["a internal", "a public", "a restricted", "b internal", "b public", "b restricted"],
    }
    clients = {role: client_for(user) for role, user in world.users().items()}
    for _ in range(2):
        for role, client in clients.items():
            assert sorted(titles(client, "ordering=start_date")) == sorted(expected[role]), role
    # Officers A and B (own desks), manager and API client (every desk, internal: one
    # statement, the same rule), admin (everything): four statements for five viewers.
    assert len(compiled) == 4


def test_a_kept_statement_reads_desk_membership_when_it_runs(world: World, compiled: list[str]) -> None:
    client = client_for(world.officer_a)
    assert sorted(titles(client, "ordering=start_date")) == ["a internal", "a public"]
    world.desk_b.officers.add(world.officer_a)
    assert sorted(titles(client, "ordering=start_date")) == ["a internal", "a public", "b internal", "b public"]
    world.desk_a.officers.remove(world.officer_a)
    world.desk_b.officers.remove(world.officer_a)
    assert titles(client, "ordering=start_date") == []
    assert len(compiled) == 1


def test_a_changed_clearance_or_role_is_another_statement(world: World, compiled: list[str]) -> None:
    client = client_for(world.officer_a)
    assert sorted(titles(client)) == ["a internal", "a public"]
    world.officer_a.clearance = Classification.RESTRICTED
    world.officer_a.save()
    assert sorted(titles(client)) == ["a internal", "a public", "a restricted"]
    world.officer_a.clearance = Classification.PUBLIC
    world.officer_a.save()
    assert titles(client) == ["a public"]
    world.officer_a.is_active = False
    world.officer_a.save()
    assert client.get(LIST).status_code == 401
    assert len(compiled) == 3


def test_walks_with_kept_statements_equal_fresh_walks(world: World, compiled: list[str]) -> None:
    relationship = RelationshipFactory(state_a="DE", state_b="FR")
    desk = DeskFactory(name="Desk C", relationships=[relationship])
    desk.officers.add(world.officer_a)
    for index in range(23):
        ActivityFactory(
            relationship=relationship,
            area=area("education"),
            releasability=Classification.PUBLIC,
            title=f"walk {index:02}",
            start_date=datetime.date(2020, 1, 1) + datetime.timedelta(days=index // 3),
        )
    expected = sorted(
        Activity.objects.visible_to(world.officer_a).filter(area__code="education").values_list("title", flat=True)
    )
    assert len(expected) >= 23
    client = client_for(world.officer_a)

    def walk(query: str) -> tuple[list[bytes], list[bytes]]:
        """The pages forward to the end, then back from the last one to the first."""
        forward: list[bytes] = []
        url = f"{LIST}?{query}"
        while url:
            forward.append(client.get(url).content)
            url = json.loads(forward[-1])["next"]
        backward: list[bytes] = []
        url = json.loads(forward[-1])["previous"]
        while url:
            backward.append(client.get(url).content)
            url = json.loads(backward[-1])["previous"]
        return forward, backward

    for query in ("area=education&page_size=4", "area=education&page_size=4&ordering=updated_at"):
        pagination.STATEMENTS.clear()
        compiled.clear()
        forward, backward = walk(query)
        rows = [json.loads(page)["results"] for page in forward]
        assert len(rows) >= 6
        assert sorted(row["title"] for page in rows for row in page) == expected
        assert [json.loads(page)["results"] for page in backward] == rows[-2::-1]
        assert len(compiled) == 3  # the first page, the next pages, the previous pages
        # Every page from a fresh statement (none kept) is the same.
        for url in [f"{LIST}?{query}"] + [json.loads(page)["next"] for page in forward[:-1]]:
            pagination.STATEMENTS.clear()
            assert client.get(url).content in forward


def test_searches_are_not_kept(world: World, compiled: list[str]) -> None:
    """The text search counts its matches before it chooses how to write its condition:
    its statement is not told by its value alone."""
    client = client_for(world.manager)
    searched = titles(client, "q=internal")
    assert "a internal" in searched and "a restricted" not in searched
    assert titles(client, "q=internal") == searched
    assert len(compiled) == 2
    assert len(pagination.STATEMENTS._items) == 0


def test_relationship_choices_are_kept_by_their_ids(world: World, compiled: list[str]) -> None:
    client = client_for(world.manager)
    for _ in range(2):
        assert sorted(titles(client, f"relationship={world.rel_a.pk}")) == ["a internal", "a public"]
        assert sorted(titles(client, f"relationship={world.rel_b.pk}")) == ["b internal", "b public"]
    assert len(compiled) == 2


def test_the_oldest_statements_are_dropped(world: World, compiled: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagination, "KEPT_STATEMENTS", 2)
    client = client_for(world.manager)
    for status in ("planned", "conducted", "planned", "cancelled", "conducted"):
        titles(client, f"status={status}")
    # planned, conducted, (planned kept), cancelled (drops conducted), conducted again.
    assert len(compiled) == 4
    assert len(pagination.STATEMENTS._items) == 2


def test_verification_catches_terms_that_miss_what_the_statement_reads(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite's check is not idle: a view whose terms forget the viewer fails it."""
    monkeypatch.setattr(ActivityViewSet, "visibility_terms", lambda self: ("everyone alike",))
    assert titles(client_for(world.officer_a)) != []
    with pytest.raises(AssertionError, match="a kept page statement differs"):
        client_for(world.officer_b).get(LIST)


class TestFilterTerms:
    def terms(self, query: str) -> Any:
        """The terms of the FilterSet an API request with `query` gets (narrowed to its filters)."""
        data = QueryDict(query)
        by_param = base.param_filters(ActivityFilterSet)
        narrowed = base.narrowed_filterset(ActivityFilterSet, frozenset(by_param[param][0] for param in data))
        filterset = narrowed(data=data, queryset=Activity.objects.none())
        assert filterset.is_valid(), filterset.errors
        return base.filter_terms(filterset)

    def test_values_the_orm_writes_differently_are_different_terms(self, db: None) -> None:
        assert base._value_term(1) != base._value_term(True) != base._value_term(1.0)
        assert base._value_term("1") != base._value_term(1)
        utc = datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.UTC)
        kyiv = utc.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
        assert utc == kyiv and base._value_term(utc) != base._value_term(kyiv)
        assert base._value_term(datetime.date(2020, 1, 1)) != base._value_term(utc)
        assert base._value_term(slice(1, 2)) != base._value_term(slice(1, None))
        assert base._value_term([1, 2]) != base._value_term([2, 1])
        assert base._value_term(Activity.objects.none()) is None
        assert base._value_term([1, object()]) is None

    def test_filters_by_their_values(self, world: World) -> None:
        assert self.terms("status=planned") == self.terms("status=planned")
        assert self.terms("status=planned") != self.terms("status=conducted")
        assert self.terms("participants_min=3") != self.terms("participants_max=3")
        assert self.terms("start_date_after=2020-01-01") != self.terms("start_date_before=2020-01-01")
        assert self.terms("country=BY") != self.terms("country=US")
        assert self.terms("releasability=public") != self.terms("releasability=internal")
        assert self.terms("q=mine") is None
        assert self.terms(f"id={world.rel_a.pk}") != self.terms(f"id={world.rel_b.pk}")

    def test_every_method_filter_is_classified(self) -> None:
        """A filter with a method must be reviewed: does it filter by its value alone
        (listed in `methods_of_values_only`), or does it read more (filter_q counts)?"""
        methods = {f.method for f in ActivityFilterSet.base_filters.values() if f.method is not None}
        assert methods == {*ActivityFilterSet.methods_of_values_only, "filter_q"}


def test_a_desk_officer_with_no_desk_sees_nothing_from_kept_statements(world: World, compiled: list[str]) -> None:
    lonely = UserFactory(username="lonely", clearance=Classification.RESTRICTED)
    assert titles(client_for(world.officer_b)) != []
    assert titles(client_for(lonely)) == []
    assert titles(client_for(lonely)) == []


def _some(values: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=2)


# Few values each, so that a sequence often repeats a set of filters or comes close to one.
FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "status": _some(list(ActivityStatus.values)[:3]),
        "kind": _some(list(ActivityKind.values)[:2]),
        "level": _some(list(ActivityLevel.values)[:2]),
        "area": _some(["education", "demining"]),
        "country": st.sampled_from(["BY", "CU"]),
        "releasability": _some(["public", "internal", "restricted"]),
        "start_date_after": st.sampled_from(["2016-01-01", "2020-01-01"]),
        "start_date_before": st.sampled_from(["2016-01-01", "2020-01-01"]),
        "participants_min": st.sampled_from(["0", "3"]),
        "participants_max": st.sampled_from(["0", "3"]),
        "ordering": st.sampled_from(["start_date", "-start_date", "updated_at", "-updated_at"]),
        "page_size": st.sampled_from(["1", "2"]),
    },
)
VIEWERS = ["officer_a", "officer_a_twin", "officer_b", "manager", "api_client", "admin"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(asked=st.lists(st.tuples(st.sampled_from(VIEWERS), FILTERS), min_size=1, max_size=8))
def test_any_sequence_of_viewers_and_filters_runs_only_verified_statements(
    world: World, asked: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statements kept across viewers and filter sets, in any order: each one found is
    compiled afresh too (the suite's check) and must be identical. Each request is asked
    twice, and a next page too, so that kept statements are found, the cursor's included.
    `officer_a_twin` differs from officer A only by desk (B instead of A)."""
    users = {**world.users(), "officer_a_twin": UserFactory(clearance=Classification.INTERNAL, desks=[world.desk_b])}
    clients = {role: client_for(user) for role, user in users.items()}
    found = []
    real_get = pagination.KeptStatements.get

    def get(self: pagination.KeptStatements, key: Any) -> json_rows.PageStatement | None:
        statement = real_get(self, key)
        found.append(statement is not None)
        return statement

    monkeypatch.setattr(pagination.KeptStatements, "get", get)
    pagination.STATEMENTS.clear()
    for role, filters in asked:
        first = clients[role].get(LIST, filters)
        assert clients[role].get(LIST, filters).content == first.content
        body = json.loads(first.content)
        if body["next"]:
            assert clients[role].get(body["next"]).status_code == 200
    assert sum(found) >= len(asked)  # every repeat found its statement (and had it checked)
