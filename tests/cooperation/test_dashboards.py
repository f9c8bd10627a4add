"""How the dashboards draw: heat shades, sparklines, the timeline's geometry, drill-down
links and template filters. Pure functions: no database."""

from __future__ import annotations

import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from cooperation.dashboards import (
    HEAT_LEVELS,
    activity_list_url,
    axis_ticks,
    heat_legend,
    heat_levels,
    signed,
    sparkline,
    timeline_bars,
)
from cooperation.intensity import period_starts
from cooperation.intensity_selectors import IntensityPoint
from cooperation.templatetags.dashboards import percent

D = datetime.date


def point(label: str, intensity: str) -> IntensityPoint:
    return IntensityPoint(
        period=D(2017, 1, 1), label=label, count=1, intensity=Decimal(intensity), breadth=1, pipeline=0
    )


def accreditation_period(start: D, end: D | None) -> Any:
    return SimpleNamespace(start=start, end=end)


def test_heat_shades_follow_the_ranks_of_distinct_values() -> None:
    levels = heat_levels([Decimal(0), Decimal("1.5"), Decimal(300), Decimal("1.5"), Decimal(20), Decimal(7)])
    assert levels == {Decimal("1.5"): 1, Decimal(7): 2, Decimal(20): 4, Decimal(300): 5}
    assert heat_legend(levels) == [(1, Decimal("1.5")), (2, Decimal(7)), (4, Decimal(20)), (5, Decimal(300))]
    assert heat_levels([Decimal(4)]) == {Decimal(4): HEAT_LEVELS}
    assert heat_levels([Decimal(0)]) == {} and heat_legend({}) == []


def test_sparkline_scales_to_its_highest_value() -> None:
    line = sparkline([point("2017 Q1", "0"), point("2017 Q2", "5"), point("2017 Q3", "10")])
    assert line.line == "0.0,22.0 50.0,12.0 100.0,2.0"
    assert line.fill == "0,24 0.0,22.0 50.0,12.0 100.0,2.0 100.0,24"
    assert line.description == "Intensity by quarter: 2017 Q1 0.00, 2017 Q2 5.00, 2017 Q3 10.00"
    flat = sparkline([point("2017 Q1", "0"), point("2017 Q2", "0")])
    assert flat.line == "0.0,22.0 100.0,22.0"


def test_timeline_bars_sit_on_the_chart_axis_and_are_clipped_to_it() -> None:
    quarters = period_starts(D(2017, 1, 1), D(2017, 12, 31), "quarter")
    bars = timeline_bars(
        [
            accreditation_period(D(2017, 4, 1), D(2017, 6, 30)),  # exactly the second quarter
            accreditation_period(D(2015, 5, 1), D(2017, 1, 31)),
            accreditation_period(D(2017, 10, 1), D(2019, 1, 1)),
            accreditation_period(D(2019, 1, 1), None),  # after the axis: dropped
            accreditation_period(D(2017, 11, 16), None),  # in force: runs to today
            accreditation_period(D(2013, 1, 1), D(2014, 1, 1)),  # before the axis: dropped
        ],
        quarters,
        "quarter",
        today=D(2017, 11, 30),
    )
    assert [bar.period.start for bar in bars] == [D(2017, 4, 1), D(2015, 5, 1), D(2017, 10, 1), D(2017, 11, 16)]
    inside, before, after, running = bars
    assert (inside.x, inside.width, inside.starts_before, inside.ends_after) == (25.0, 25.0, False, False)
    assert (before.x, before.starts_before, before.ends_after) == (0.0, True, False)
    assert before.width == round(100 * (31 / 90) / 4, 3)  # to 31 January inclusive
    assert (after.x, after.width, after.ends_after) == (75.0, 25.0, True)
    # 16 November is 46 of the fourth quarter's 92 days in; today (30 November) is included
    assert running.x == round(100 * (3 + 46 / 92) / 4, 3)
    assert running.x + running.width == round(100 * (3 + 61 / 92) / 4, 3)


@settings(deadline=None)  # a stall of the shared CI machine is not a failure of the code
@given(
    start=st.dates(min_value=D(2010, 1, 1), max_value=D(2020, 12, 31)),
    days=st.integers(min_value=0, max_value=3000),
    granularity=st.sampled_from(["month", "quarter", "year"]),
)
def test_timeline_bars_never_leave_the_axis(start: D, days: int, granularity: str) -> None:
    axis = period_starts(D(2014, 3, 1), D(2018, 8, 31), granularity)
    end = start + datetime.timedelta(days=days)
    bars = timeline_bars([accreditation_period(start, end)], axis, granularity, today=D(2021, 1, 1))
    for bar in bars:
        assert 0 <= bar.x <= 100 and bar.width > 0 and bar.x + bar.width <= 100.4


def test_axis_ticks_mark_each_new_year() -> None:
    quarters = period_starts(D(2016, 7, 1), D(2017, 12, 31), "quarter")
    assert axis_ticks(quarters) == [(2017, round(100 * 2 / 6, 3))]


def test_activity_list_links_hold_the_filters_of_a_figure() -> None:
    url = activity_list_url(start=D(2017, 4, 1), end=None, statuses=("planned", "confirmed"))
    parts = urlsplit(url)
    assert parts.path == "/activities/"
    assert parse_qs(parts.query) == {"status": ["planned", "confirmed"], "start_date_after": ["2017-04-01"]}


def test_changes_read_as_people_say_them() -> None:
    assert [percent(value) for value in (0.523, -0.1, 0.001, None)] == ["+52 %", "−10 %", "±0 %", "from zero"]
    assert [signed(2), signed(-3), signed(0)] == ["+2", "−3", "±0"]
