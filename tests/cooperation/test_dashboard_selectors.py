"""Reads behind the dashboards: overview cards, upcoming activities, accreditation periods and
the comparison of two periods — scoped like every figure, in a bounded number of queries."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from cooperation import intensity
from cooperation.choices import AccreditationKind, AccreditationStatus, ActivityStatus, Classification
from cooperation.dashboard_selectors import (
    SPARKLINE_QUARTERS,
    accreditation_periods,
    compare_periods,
    overview,
    period_end,
    upcoming_activities,
)
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory, RelationshipFactory

D = datetime.date
pytestmark = pytest.mark.django_db
WORLD_SCORE = Decimal("4.082785")


def test_period_end_is_the_last_day_of_the_period() -> None:
    assert period_end(D(2016, 2, 1), "month") == D(2016, 2, 29)
    assert period_end(D(2017, 10, 1), "quarter") == D(2017, 12, 31)
    assert period_end(D(2017, 1, 1), "year") == D(2017, 12, 31)


def test_overview_on_the_first_day_of_a_year_compares_with_the_previous_quarter(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, start_date=D(2018, 1, 1))
    ActivityFactory(relationship=world.rel_a, start_date=D(2017, 12, 31))
    ActivityFactory(relationship=world.rel_a, start_date=D(2017, 1, 2))
    intensity.rebuild_rollups()
    result = overview(user=world.officer_a, as_of=D(2018, 1, 1))
    assert (result.quarter, result.quarter_label, result.trend_period_label) == (D(2018, 1, 1), "2018 Q1", "2017 Q4")
    [card] = result.cards
    assert (card.this_quarter.count, card.last_quarter.count, card.year_ago.count) == (1, 1, 3)
    assert len(card.sparkline) == SPARKLINE_QUARTERS and card.sparkline[0].label == "2016 Q2"
    assert card.trend is not None and card.trend.period_label == "2017 Q4"


def test_overview_puts_the_most_intense_relationships_first(world: World) -> None:
    busy = RelationshipFactory(state_a="EE", state_b="LV")
    for day in (3, 4, 5):
        ActivityFactory(relationship=busy, start_date=D(2017, 2, day), releasability=Classification.PUBLIC)
    RelationshipFactory(state_a="AT", state_b="HU")  # nothing at all
    intensity.rebuild_rollups()
    labels = [card.label for card in overview(user=world.manager, as_of=D(2017, 3, 15)).cards]
    assert labels == ["Estonia – Latvia", "Belarus – United States", "Cuba – United States", "Austria – Hungary"]


def test_overview_reads_in_a_bounded_number_of_queries(world: World, django_assert_max_num_queries: Any) -> None:
    for index in range(30):
        ActivityFactory(relationship=RelationshipFactory(), start_date=D(2016 + index % 2, 1 + index % 12, 2))
    intensity.rebuild_rollups()
    with django_assert_max_num_queries(6):
        result = overview(user=world.manager, as_of=D(2017, 3, 15))
    assert len(result.cards) == 32


def test_upcoming_activities_are_planned_or_confirmed_visible_and_ahead(world: World) -> None:
    def plan(title: str, day: D, **kwargs: Any) -> None:
        kwargs.setdefault("status", ActivityStatus.PLANNED)
        kwargs.setdefault("relationship", world.rel_a)
        ActivityFactory(title=title, start_date=day, **kwargs)

    plan("today", D(2018, 3, 1))
    plan("confirmed", D(2018, 3, 2), status=ActivityStatus.CONFIRMED)
    plan("yesterday", D(2018, 2, 28))
    plan("postponed", D(2018, 3, 3), status=ActivityStatus.POSTPONED)
    plan("restricted", D(2018, 3, 4), releasability=Classification.RESTRICTED)
    plan("other desk", D(2018, 3, 5), relationship=world.rel_b)
    plan("deleted", D(2018, 3, 6), deleted_at=datetime.datetime.now(datetime.UTC))
    titles = [a.title for a in upcoming_activities(user=world.officer_a, as_of=D(2018, 3, 1))]
    assert titles == ["today", "confirmed"]
    admin = [a.title for a in upcoming_activities(user=world.admin, as_of=D(2018, 3, 1), limit=3)]
    assert admin == ["today", "confirmed", "restricted"]


@pytest.fixture
def accredited(world: World) -> dict[str, Any]:
    kyiv = PostFactory(sending_country="US", host_country="UA", city="Kyiv")
    attache = AttacheFactory(sending_country="US")
    resident = AccreditationFactory(attache=attache, post=kyiv, accredited_on=D(2015, 3, 5))
    concurrent = AccreditationFactory(
        attache=attache, post=kyiv, host_country="BY", kind=AccreditationKind.CONCURRENT,
        requested_on=D(2016, 1, 4), agrement_on=D(2016, 5, 2), accredited_on=D(2016, 6, 8),
    )  # fmt: skip
    pending = AccreditationFactory(
        attache=AttacheFactory(sending_country="US"), post=kyiv, host_country="BY",
        kind=AccreditationKind.CONCURRENT, status=AccreditationStatus.REQUESTED, agrement_on=None, accredited_on=None,
    )  # fmt: skip
    ended = AccreditationFactory(
        attache=AttacheFactory(sending_country="BY"), post=PostFactory(sending_country="BY", host_country="US"),
        accredited_on=D(2016, 1, 20), status=AccreditationStatus.ENDED, ended_on=D(2017, 3, 1),
        releasability=Classification.INTERNAL,
    )  # fmt: skip
    secret = AccreditationFactory(
        attache=AttacheFactory(sending_country="BY"), post=PostFactory(sending_country="BY", host_country="US"),
        releasability=Classification.RESTRICTED, accredited_on=D(2017, 4, 1),
    )  # fmt: skip
    assert {a.relationship for a in (concurrent, pending, ended, secret)} == {world.rel_a}
    return {"resident": resident, "concurrent": concurrent, "ended": ended, "secret": secret}


def test_accreditation_periods_are_those_in_force_that_the_user_may_see(
    world: World, accredited: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    intensity.rebuild_rollups()
    with django_assert_max_num_queries(4):
        periods = accreditation_periods(user=world.officer_a, relationship=world.rel_a, today=D(2018, 5, 20))
    assert [p.accreditation for p in periods] == [accredited["ended"], accredited["concurrent"]]
    ended, concurrent = periods
    assert (ended.first_month, ended.last_month, ended.end, ended.last_day) == (
        D(2016, 1, 1), D(2017, 3, 1), D(2017, 3, 1), D(2017, 3, 31),
    )  # fmt: skip
    assert (ended.count, ended.intensity) == (2, 2 * WORLD_SCORE)  # the world's March 2017, up to internal
    assert (concurrent.last_month, concurrent.end, concurrent.is_concurrent) == (D(2018, 5, 1), None, True)
    admin = accreditation_periods(user=world.admin, relationship=world.rel_a, today=D(2018, 5, 20))
    assert [p.accreditation for p in admin] == [accredited["ended"], accredited["concurrent"], accredited["secret"]]
    assert admin[0].count == 3
    assert accreditation_periods(user=world.officer_b, relationship=world.rel_a, today=D(2018, 5, 20)) == []


def test_comparison_puts_two_periods_side_by_side(world: World) -> None:
    ActivityFactory(relationship=world.rel_b, start_date=D(2018, 7, 1), releasability=Classification.PUBLIC)
    intensity.rebuild_rollups()
    result = compare_periods(user=world.manager, granularity="year", a=D(2017, 6, 1), b=D(2018, 1, 1))
    assert (result.a, result.b, result.a_label, result.b_label) == (D(2017, 1, 1), D(2018, 1, 1), "2017", "2018")
    rows = {row.label: row for row in result.rows}
    assert (rows["Belarus – United States"].a.count, rows["Belarus – United States"].b.count) == (2, 0)
    assert rows["Belarus – United States"].change == -1.0
    assert (rows["Cuba – United States"].a.count, rows["Cuba – United States"].b.count) == (2, 1)
    assert rows["Cuba – United States"].change == pytest.approx(-0.5)
