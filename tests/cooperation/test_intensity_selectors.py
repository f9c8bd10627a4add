"""The intensity selector and the trend signals: figures, scoping, weight set, query counts."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from cooperation import intensity, weight_sets
from cooperation.choices import ActivityLevel, ActivityStatus, Classification
from cooperation.intensity_selectors import (
    FALLING,
    RISING,
    IntensityPoint,
    grid_trends,
    intensity_by_relationship,
    intensity_extent,
    intensity_series,
    intensity_trends,
    relative_change,
    trend_flag,
)
from cooperation.models import CooperationArea, Relationship, WeightSet
from tests.conftest import World
from tests.factories import ActivityFactory, RelationshipFactory, area

D = datetime.date
pytestmark = pytest.mark.django_db

# The world's activities: education, working level, 10 participants, one day, 1 March 2017:
# 1 × 2 × (1 + log10(11)) × 1 = 4.0827853… → 4.082785 each.
WORLD_SCORE = Decimal("4.082785")


def totals(series: Any) -> list[tuple[str, int, Decimal, int, int]]:
    return [(p.label, p.count, p.intensity, p.breadth, p.pipeline) for p in series.total]


def point(series: Any, label: str, area_code: str | None = None) -> IntensityPoint:
    points = series.total if area_code is None else next(a for a in series.areas if a.code == area_code).points
    return next(p for p in points if p.label == label)


@pytest.fixture
def rolled_world(world: World) -> World:
    intensity.rebuild_rollups()
    return world


def series_2017(user: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("granularity", "quarter")
    return intensity_series(user=user, start=D(2017, 1, 1), end=D(2017, 12, 31), **kwargs)


def test_manager_gets_every_desk_up_to_internal_per_quarter_and_area(rolled_world: World) -> None:
    series = series_2017(rolled_world.manager)
    assert series.weight_set_id == WeightSet.objects.active().pk
    assert series.periods == [D(2017, 1, 1), D(2017, 4, 1), D(2017, 7, 1), D(2017, 10, 1)]
    assert totals(series) == [
        ("2017 Q1", 4, 4 * WORLD_SCORE, 1, 0),
        ("2017 Q2", 0, Decimal(0), 0, 0),
        ("2017 Q3", 0, Decimal(0), 0, 0),
        ("2017 Q4", 0, Decimal(0), 0, 0),
    ]
    assert [a.code for a in series.areas] == list(
        CooperationArea.objects.order_by("position", "name").values_list("code", flat=True)
    )
    assert point(series, "2017 Q1", "education").count == 4
    assert point(series, "2017 Q1", "medicine").count == 0


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("officer_a", 2),  # own desk, public + internal
        ("officer_b", 3),  # own desk, up to restricted
        ("manager", 4),
        ("api_client", 4),
        ("admin", 6),  # everything but the soft-deleted one
    ],
)
def test_desk_and_clearance_decide_what_counts(rolled_world: World, who: str, expected: int) -> None:
    series = series_2017(rolled_world.users()[who])
    assert point(series, "2017 Q1").count == expected
    assert point(series, "2017 Q1").intensity == expected * WORLD_SCORE


def test_relationships_outside_the_desks_count_as_nothing(rolled_world: World) -> None:
    series = series_2017(rolled_world.officer_a, relationships=[rolled_world.rel_b])
    assert point(series, "2017 Q1").count == 0


def test_anonymous_users_get_zeros(rolled_world: World) -> None:
    assert point(series_2017(None), "2017 Q1").count == 0


def test_selection_by_relationship_and_by_country(rolled_world: World) -> None:
    assert point(series_2017(rolled_world.admin, relationships=[rolled_world.rel_a.pk]), "2017 Q1").count == 3
    assert point(series_2017(rolled_world.admin, country="CU"), "2017 Q1").count == 3
    assert point(series_2017(rolled_world.admin, country="US"), "2017 Q1").count == 6
    assert point(series_2017(rolled_world.admin, country="FR"), "2017 Q1").count == 0


def test_selection_by_area(rolled_world: World) -> None:
    series = series_2017(rolled_world.admin, areas=[area("medicine")])
    assert [a.code for a in series.areas] == ["medicine"]
    assert point(series, "2017 Q1").count == 0


def test_breadth_counts_distinct_areas_with_a_conducted_activity(rolled_world: World) -> None:
    rel = rolled_world.rel_a
    ActivityFactory(relationship=rel, area=area("medicine"), start_date=D(2017, 2, 10))
    ActivityFactory(relationship=rel, area=area("medicine"), start_date=D(2017, 3, 20))
    ActivityFactory(relationship=rel, area=area("demining"), start_date=D(2017, 5, 2), status=ActivityStatus.PLANNED)
    intensity.rebuild_rollups()
    series = series_2017(rolled_world.admin, relationships=[rel])
    assert point(series, "2017 Q1").breadth == 2  # education and medicine
    assert point(series, "2017 Q1", "medicine").breadth == 1
    assert point(series, "2017 Q1", "medicine").count == 2
    assert (point(series, "2017 Q2").breadth, point(series, "2017 Q2").pipeline) == (0, 1)
    # breadth is not additive: the year has 2 areas, not the sum over quarters
    yearly = series_2017(rolled_world.admin, relationships=[rel], granularity="year")
    assert totals(yearly) == [("2017", 5, 5 * WORLD_SCORE, 2, 1)]


def test_months_are_dense_and_labelled(rolled_world: World) -> None:
    series = intensity_series(user=rolled_world.admin, start=D(2017, 2, 14), end=D(2017, 4, 2), granularity="month")
    assert [(p.label, p.count) for p in series.total] == [("2017-02", 0), ("2017-03", 6), ("2017-04", 0)]


def test_invalid_requests_are_refused_clearly(rolled_world: World) -> None:
    with pytest.raises(ValidationError, match="Unknown granularity 'week'"):
        series_2017(rolled_world.admin, granularity="week")
    with pytest.raises(ValidationError, match="cannot be before its start"):
        intensity_series(user=rolled_world.admin, start=D(2018, 1, 1), end=D(2017, 1, 1))
    with pytest.raises(ValidationError, match="not an ISO 3166 country code"):
        series_2017(rolled_world.admin, country="Atlantis")
    with pytest.raises(ValidationError, match="At most 1200 periods"):
        intensity_series(user=rolled_world.admin, start=D(1900, 1, 1), end=D(2017, 1, 1), granularity="month")


def test_selector_reads_rollups_in_a_bounded_number_of_queries(
    rolled_world: World, django_assert_max_num_queries: Any
) -> None:
    for index in range(30):
        relationship = RelationshipFactory()
        ActivityFactory(relationship=relationship, start_date=D(2010 + index % 10, 1 + index % 12, 1))
    intensity.rebuild_rollups()
    with django_assert_max_num_queries(2):
        series = intensity_series(user=rolled_world.manager, start=D(2010, 1, 1), end=D(2019, 12, 31))
    assert sum(p.count for p in series.total) == 34
    with django_assert_max_num_queries(3):
        intensity_series(user=rolled_world.officer_a, start=D(1990, 1, 1), end=D(1990, 12, 31))


def test_readers_keep_the_active_set_while_another_is_being_activated(
    rolled_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cooperation import tasks

    monkeypatch.setattr(tasks.activate_weight_set, "delay", lambda pk: None)  # the worker has not run yet
    default = WeightSet.objects.active()
    heavy = weight_sets.weight_set_create(actor=None, name="Heavy", area_weights={area("education"): Decimal(10)})
    weight_sets.weight_set_activate(actor=None, weight_set=heavy)
    intensity.rebuild_rollups(weight_set_ids=[heavy.pk])  # its rollups exist, half-built or complete
    series = series_2017(rolled_world.admin)
    assert series.weight_set_id == default.pk
    assert point(series, "2017 Q1").intensity == 6 * WORLD_SCORE
    weight_sets.weight_set_complete_activation(weight_set_id=heavy.pk)
    series = series_2017(rolled_world.admin)
    assert series.weight_set_id == heavy.pk
    assert point(series, "2017 Q1").intensity == 6 * Decimal("40.827854")


# Trends -----------------------------------------------------------------------------------


def test_relative_change_and_flags_handle_zero_baselines() -> None:
    assert relative_change(Decimal(6), Decimal(4)) == 0.5
    assert relative_change(Decimal(0), Decimal(4)) == -1.0
    assert relative_change(Decimal(0), Decimal(0)) == 0.0
    assert relative_change(Decimal(3), Decimal(0)) is None
    assert trend_flag(0.5, 0.25) == RISING
    assert trend_flag(-0.5, 0.25) == FALLING
    assert trend_flag(0.25, 0.25) is None  # beyond the threshold, not at it
    assert trend_flag(None, 0.25) == RISING
    assert trend_flag(0.0, 0.25) is None


def monthly(relationship: Relationship, counts: dict[D, int]) -> None:
    """`count` one-day working-level activities with 9 participants (4.0 each) per month."""
    for month, count in counts.items():
        for day in range(count):
            ActivityFactory(
                relationship=relationship,
                start_date=month.replace(day=day + 1),
                participants=9,
                level=ActivityLevel.WORKING,
                releasability=Classification.PUBLIC,
            )


@pytest.fixture
def trending(world: World) -> World:
    year = {D(2017, month, 1): 1 for month in range(1, 13)}
    monthly(world.rel_a, {**year, D(2018, 1, 1): 3})  # steady at 4.0, then 12.0
    monthly(world.rel_b, {**year, D(2018, 1, 1): 0})  # steady, then nothing
    intensity.rebuild_rollups()
    return world


def test_monthly_trends_compare_the_latest_complete_month(trending: World) -> None:
    signals = {s.label: s for s in intensity_trends(user=trending.admin, as_of=D(2018, 2, 15))}
    rising, falling = signals["Belarus – United States"], signals["Cuba – United States"]
    # The world's own activities (March 2017) add 3 × 4.082785 to each relationship's March.
    assert rising.period == D(2018, 1, 1) and rising.period_label == "2018-01"
    assert rising.weight_set_id == WeightSet.objects.active().pk
    assert (rising.latest, rising.previous) == (Decimal("12.000000"), Decimal("4.000000"))
    assert rising.trailing_average == ((12 * Decimal(4) + 3 * WORLD_SCORE) / 12).quantize(Decimal("0.000001"))
    assert rising.change_vs_previous == 2.0
    assert rising.flag_vs_previous == RISING and rising.flag == RISING
    assert (falling.latest, falling.change_vs_previous) == (Decimal(0), -1.0)
    assert falling.flag_vs_previous == FALLING and falling.flag == FALLING


def test_quarterly_trends_use_the_four_quarters_before(trending: World) -> None:
    signal = intensity_trends(user=trending.admin, granularity="quarter", as_of=D(2018, 2, 15))[0]
    assert (signal.period_label, signal.latest, signal.previous) == ("2017 Q4", Decimal(12), Decimal(12))
    # 2016 Q4 (nothing) and 2017 Q1–Q3 (12 + 3 × 4.082785, 12, 12): mean per quarter
    expected = ((Decimal(36) + 3 * WORLD_SCORE) / 4).quantize(Decimal("0.000001"))
    assert signal.trailing_average == expected
    assert signal.flag_vs_previous is None


def test_trends_flag_only_beyond_the_threshold(trending: World, settings: Any) -> None:
    settings.INTENSITY_TREND_THRESHOLD = 5.0
    signal = intensity_trends(user=trending.admin, as_of=D(2018, 2, 15))[0]
    assert signal.threshold == 5.0
    assert signal.change_vs_previous == 2.0 and signal.flag_vs_previous is None
    assert intensity_trends(user=trending.admin, as_of=D(2018, 2, 15), threshold=1.5)[0].flag_vs_previous == RISING


def test_rise_from_nothing_is_rising_and_silence_is_steady(world: World) -> None:
    quiet = RelationshipFactory(state_a="EE", state_b="LV")
    waking = RelationshipFactory(state_a="EE", state_b="LT")
    monthly(waking, {D(2019, 5, 1): 1})
    intensity.rebuild_rollups()
    signals = {s.relationship_id: s for s in intensity_trends(user=world.admin, as_of=D(2019, 6, 3))}
    assert signals[waking.pk].change_vs_average is None and signals[waking.pk].flag == RISING
    assert signals[quiet.pk].change_vs_average == 0.0 and signals[quiet.pk].flag is None


def test_trends_cover_only_visible_relationships_and_activities(trending: World) -> None:
    signals = intensity_trends(user=trending.officer_a, as_of=D(2018, 2, 15))
    assert [s.label for s in signals] == ["Belarus – United States"]
    # the officer does not see the restricted March 2017 activity of the world
    assert signals[0].trailing_average == ((12 * Decimal(4) + 2 * WORLD_SCORE) / 12).quantize(Decimal("0.000001"))
    assert intensity_trends(user=None) == []


def test_trends_use_a_bounded_number_of_queries(trending: World, django_assert_max_num_queries: Any) -> None:
    for _ in range(20):
        monthly(RelationshipFactory(), {D(2017, 12, 1): 1})
    intensity.rebuild_rollups()
    with django_assert_max_num_queries(3):
        signals = intensity_trends(user=trending.manager, as_of=D(2018, 2, 15))
    assert len(signals) == 22


# Many relationships at once -----------------------------------------------------------------


def grid_2017(user: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("granularity", "quarter")
    return intensity_by_relationship(user=user, start=D(2017, 1, 1), end=D(2017, 12, 31), **kwargs)


def test_grid_has_a_dense_row_per_visible_relationship(rolled_world: World) -> None:
    quiet = RelationshipFactory(state_a="EE", state_b="LV")
    grid = grid_2017(rolled_world.manager)
    assert grid.weight_set_id == WeightSet.objects.active().pk
    assert grid.labels == ["2017 Q1", "2017 Q2", "2017 Q3", "2017 Q4"]
    assert [row.label for row in grid.rows] == ["Belarus – United States", "Cuba – United States", "Estonia – Latvia"]
    by_id = {row.relationship_id: row for row in grid.rows}
    assert [(p.count, p.intensity) for p in by_id[rolled_world.rel_a.pk].points] == [
        (2, 2 * WORLD_SCORE), (0, Decimal(0)), (0, Decimal(0)), (0, Decimal(0)),
    ]  # fmt: skip
    assert [p.count for p in by_id[quiet.pk].points] == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("officer_a", {"Belarus – United States": 2}),
        ("officer_b", {"Cuba – United States": 3}),
        ("manager", {"Belarus – United States": 2, "Cuba – United States": 2}),
        ("admin", {"Belarus – United States": 3, "Cuba – United States": 3}),
    ],
)
def test_grid_rows_follow_desks_and_clearance(rolled_world: World, who: str, expected: dict[str, int]) -> None:
    grid = grid_2017(rolled_world.users()[who], granularity="year")
    assert {row.label: row.points[0].count for row in grid.rows} == expected
    assert grid_2017(None).rows == []


def test_grid_breadth_is_per_relationship_and_pipeline_counts_plans(rolled_world: World) -> None:
    rel = rolled_world.rel_a
    ActivityFactory(relationship=rel, area=area("medicine"), start_date=D(2017, 2, 10))
    ActivityFactory(relationship=rel, area=area("demining"), start_date=D(2017, 3, 2), status=ActivityStatus.PLANNED)
    intensity.rebuild_rollups()
    grid = grid_2017(rolled_world.admin)
    first = {row.relationship_id: row.points[0] for row in grid.rows}
    assert (first[rel.pk].breadth, first[rel.pk].pipeline, first[rel.pk].count) == (2, 1, 4)
    assert (first[rolled_world.rel_b.pk].breadth, first[rolled_world.rel_b.pk].pipeline) == (1, 0)


def test_grid_agrees_with_the_series_of_each_relationship(rolled_world: World) -> None:
    for index in range(6):
        ActivityFactory(
            relationship=rolled_world.rel_b if index % 2 else rolled_world.rel_a,
            area=area(("medicine", "demining", "education")[index % 3]),
            start_date=D(2017, 1 + 2 * index, 1 + index),
            participants=index * 7,
            status=ActivityStatus.PLANNED if index == 4 else ActivityStatus.CONDUCTED,
        )
    intensity.rebuild_rollups()
    for granularity in ("month", "quarter", "year"):
        grid = grid_2017(rolled_world.admin, granularity=granularity)
        for row in grid.rows:
            series = series_2017(rolled_world.admin, granularity=granularity, relationships=[row.relationship_id])
            assert row.points == series.total, (granularity, row.label)


def test_grid_selection_and_invalid_requests(rolled_world: World) -> None:
    assert [row.label for row in grid_2017(rolled_world.admin, country="CU").rows] == ["Cuba – United States"]
    assert [row.label for row in grid_2017(rolled_world.admin, relationships=[rolled_world.rel_a]).rows] == [
        "Belarus – United States"
    ]
    assert grid_2017(rolled_world.admin, areas=[area("medicine")]).rows[0].points[0].count == 0
    with pytest.raises(ValidationError, match="Unknown granularity"):
        grid_2017(rolled_world.admin, granularity="week")
    with pytest.raises(ValidationError, match="cannot be before its start"):
        intensity_by_relationship(user=rolled_world.admin, start=D(2018, 1, 1), end=D(2017, 1, 1))
    with pytest.raises(ValidationError, match="At most 1200 periods"):
        intensity_by_relationship(user=rolled_world.admin, start=D(1900, 1, 1), end=D(2017, 1, 1), granularity="month")


def test_grid_reads_in_a_bounded_number_of_queries(rolled_world: World, django_assert_max_num_queries: Any) -> None:
    for index in range(40):
        ActivityFactory(relationship=RelationshipFactory(), start_date=D(2017, 1 + index % 12, 1))
    intensity.rebuild_rollups()
    with django_assert_max_num_queries(2):
        grid = grid_2017(rolled_world.manager, granularity="month")
    assert len(grid.rows) == 42 and sum(p.count for row in grid.rows for p in row.points) == 44


def test_extent_is_the_first_and_last_month_the_user_may_see(rolled_world: World) -> None:
    ActivityFactory(relationship=rolled_world.rel_b, start_date=D(2019, 6, 9), releasability=Classification.RESTRICTED)
    ActivityFactory(relationship=rolled_world.rel_b, start_date=D(2016, 2, 9), status=ActivityStatus.PLANNED)
    intensity.rebuild_rollups()
    assert intensity_extent(user=rolled_world.admin) == (D(2016, 2, 1), D(2019, 6, 1))
    assert intensity_extent(user=rolled_world.manager) == (D(2016, 2, 1), D(2017, 3, 1))
    assert intensity_extent(user=rolled_world.officer_a) == (D(2017, 3, 1), D(2017, 3, 1))
    assert intensity_extent(user=rolled_world.officer_a, relationships=[rolled_world.rel_b]) is None
    assert intensity_extent(user=None) is None


@pytest.mark.parametrize(("granularity", "first"), [("month", D(2017, 1, 1)), ("quarter", D(2016, 10, 1))])
@pytest.mark.parametrize("who", ["admin", "officer_a", "manager"])
def test_grid_trends_are_the_engines_trends(trending: World, granularity: str, first: D, who: str) -> None:
    user = trending.users()[who]
    grid = intensity_by_relationship(user=user, start=first, end=D(2018, 2, 15), granularity=granularity)
    from_grid = grid_trends(grid, as_of=D(2018, 2, 15))
    engine = intensity_trends(user=user, granularity=granularity, as_of=D(2018, 2, 15))
    assert [from_grid[signal.relationship_id] for signal in engine] == engine
    assert len(from_grid) == len(engine)
    assert any(signal.flag for signal in engine) == (granularity == "month")  # the fixture's months move


def test_grid_trends_need_the_whole_window(trending: World) -> None:
    short = intensity_by_relationship(user=trending.admin, start=D(2017, 6, 1), end=D(2018, 2, 1), granularity="month")
    with pytest.raises(ValueError, match="does not cover"):
        grid_trends(short, as_of=D(2018, 2, 15))
    whole = intensity_by_relationship(user=trending.admin, start=D(2016, 1, 1), end=D(2018, 2, 1), granularity="month")
    with pytest.raises(ValidationError, match="above zero"):
        grid_trends(whole, as_of=D(2018, 2, 15), threshold=0)
