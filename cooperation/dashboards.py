"""How the dashboards draw their figures: drill-down links, sparklines, heat levels, the
accreditation timeline's geometry, the JSON the charts read and the rows of the CSV
downloads. Pure functions of what `cooperation.dashboard_selectors` returns: no queries.

A chart's "count" is the number of conducted activities in a period (and area); its
drill-down link opens the workspace's activity list with exactly the filters that
reproduce that number, so the list's total equals the number on the chart.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cooperation.choices import PIPELINE_STATUSES, ActivityStatus
from cooperation.dashboard_selectors import (
    AccreditationPeriod,
    Comparison,
    Overview,
    RelationshipCard,
    period_end,
)
from cooperation.intensity import next_period
from cooperation.intensity_selectors import IntensityGrid, IntensityPoint, IntensitySeries

# Colour-blind-safe palette (Okabe–Ito), one colour per area in area order.
AREA_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
HEAT_LEVELS = 5
COMPARISON_CHART_ROWS = 15


def intensity_value(value: Decimal) -> float:
    """An intensity for the charts' JSON (the CSV keeps the exact six decimals)."""
    return float(value)


@functools.lru_cache(maxsize=1)
def _activity_list_path() -> str:
    return reverse("workspace:activity_list")


def activity_list_url(
    *,
    start: datetime.date,
    end: datetime.date | None,
    relationship_id: int | None = None,
    area_code: str | None = None,
    statuses: Sequence[str] = (ActivityStatus.CONDUCTED,),
) -> str:
    """The workspace list of the activities behind a figure (its filters live in the URL)."""
    query: list[tuple[str, str]] = []
    if relationship_id is not None:
        query.append(("relationship", str(relationship_id)))
    if area_code is not None:
        query.append(("area", area_code))
    query.extend(("status", str(status)) for status in statuses)
    query.append(("start_date_after", start.isoformat()))
    if end is not None:
        query.append(("start_date_before", end.isoformat()))
    return f"{_activity_list_path()}?{urlencode(query)}"


def point_url(
    point: IntensityPoint, granularity: str, *, relationship_id: int | None = None, area_code: str | None = None
) -> str:
    """The conducted activities counted in `point`."""
    return activity_list_url(
        start=point.period,
        end=period_end(point.period, granularity),
        relationship_id=relationship_id,
        area_code=area_code,
    )


def pipeline_url(point: IntensityPoint, granularity: str, *, relationship_id: int | None = None) -> str:
    """The planned and confirmed activities counted in `point`'s pipeline."""
    return activity_list_url(
        start=point.period,
        end=period_end(point.period, granularity),
        relationship_id=relationship_id,
        statuses=PIPELINE_STATUSES,
    )


# Sparklines ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sparkline:
    """An inline SVG line (viewBox 0 0 100 24) of intensity per period."""

    line: str
    fill: str
    last_x: float
    last_y: float
    description: str


def sparkline(points: Sequence[IntensityPoint]) -> Sparkline:
    values = [point.intensity for point in points]
    top = max(values, default=Decimal(0)) or Decimal(1)
    step = 100 / max(len(values) - 1, 1)
    coordinates = [
        (round(index * step, 2), round(22 - float(value / top) * 20, 2)) for index, value in enumerate(values)
    ]
    line = " ".join(f"{x},{y}" for x, y in coordinates)
    last_x, last_y = coordinates[-1] if coordinates else (0.0, 22.0)
    description = "Intensity by quarter: " + ", ".join(f"{point.label} {point.intensity:.2f}" for point in points)
    return Sparkline(line=line, fill=f"0,24 {line} {last_x},24", last_x=last_x, last_y=last_y, description=description)


# Overview cards -------------------------------------------------------------------------


def signed(delta: int) -> str:
    """+3, −2 or ±0."""
    if delta == 0:
        return "±0"
    return f"+{delta}" if delta > 0 else f"−{-delta}"


def relative(change: float | None) -> str:
    """A relative change as people read it: +52 %, −10 %, ±0 %, or "from zero"."""
    if change is None:
        return "from zero"
    rounded = round(change * 100)
    if rounded == 0:
        return "±0 %"
    return f"+{rounded} %" if rounded > 0 else f"−{-rounded} %"


@dataclasses.dataclass(frozen=True)
class CardView:
    """A card of the overview with every text and link it shows, prepared once as strings:
    the page draws some two hundred cards, and looking figures up through nested objects
    and localising numbers in the template cost more than reading the figures."""

    card: RelationshipCard
    relationship_id: int
    label: str
    flag: str  # "rising", "falling" or ""
    count: str
    last_count: str
    year_count: str
    breadth: str  # "2 areas"
    pipeline: str
    intensity: str
    last_change: str
    year_change: str
    trend_text: str
    dashboard_url: str
    count_url: str
    pipeline_url: str
    sparkline: Sparkline
    sparkline_values: list[str]

    def table_row(self) -> SafeString:
        """The card as a row of the overview's table (built here: some 200 rows of 16 cells)."""
        card = self.card
        numbers = (
            self.count, self.last_count, self.year_count, self.intensity,
            card.this_quarter.breadth, self.pipeline,
        )  # fmt: skip
        return format_html(
            '<tr><th scope="row"><a href="{}">{}</a></th>{}<td>{}</td>{}</tr>',
            self.dashboard_url,
            self.label,
            format_html_join("", '<td class="num">{}</td>', ((number,) for number in numbers)),
            self.flag,
            format_html_join("", '<td class="num">{}</td>', ((value,) for value in self.sparkline_values)),
        )


def overview_cards(overview: Overview) -> list[CardView]:
    views = []
    for card in overview.cards:
        this = card.this_quarter
        trend = card.trend
        views.append(
            CardView(
                card=card,
                relationship_id=card.relationship_id,
                label=card.label,
                flag=card.flag or "",
                count=str(this.count),
                last_count=str(card.last_quarter.count),
                year_count=str(card.year_ago.count),
                breadth=f"{this.breadth} area{'' if this.breadth == 1 else 's'}",
                pipeline=str(this.pipeline),
                intensity=f"{this.intensity:.2f}",
                last_change=signed(this.count - card.last_quarter.count),
                year_change=signed(this.count - card.year_ago.count),
                trend_text=(
                    f"{trend.period_label}: {relative(trend.change_vs_average)} against the 12-month average"
                    if trend
                    else ""
                ),
                dashboard_url=reverse("dashboards:relationship", kwargs={"pk": card.relationship_id}),
                count_url=point_url(this, "quarter", relationship_id=card.relationship_id),
                pipeline_url=pipeline_url(this, "quarter", relationship_id=card.relationship_id),
                sparkline=sparkline(card.sparkline),
                sparkline_values=[f"{point.intensity:.2f}" for point in card.sparkline],
            )
        )
    return views


# Heatmap -------------------------------------------------------------------------------


def heat_levels(values: Iterable[Decimal]) -> dict[Decimal, int]:
    """A shade 1…HEAT_LEVELS for each distinct non-zero value, by its rank (0 stays 0).

    Intensity is very unevenly spread between partners, so shades follow the ranks of
    the values shown rather than a linear scale that would leave most cells pale.
    """
    ranked = sorted({value for value in values if value > 0})
    if len(ranked) == 1:
        return {ranked[0]: HEAT_LEVELS}
    top = len(ranked) - 1
    return {value: 1 + round((HEAT_LEVELS - 1) * rank / top) for rank, value in enumerate(ranked)}


def heat_legend(levels: dict[Decimal, int]) -> list[tuple[int, Decimal]]:
    """(shade, the smallest value shown in it) for each shade in use."""
    smallest: dict[int, Decimal] = {}
    for value, level in levels.items():
        smallest[level] = min(value, smallest.get(level, value))
    return sorted(smallest.items())


@dataclasses.dataclass(frozen=True)
class HeatCell:
    point: IntensityPoint
    level: int
    url: str
    text: str  # the intensity shown, one decimal
    title: str  # what a pointer over the cell reads


@dataclasses.dataclass(frozen=True)
class HeatRow:
    relationship_id: int
    label: str
    cells: list[HeatCell]


def heatmap_rows(grid: IntensityGrid) -> tuple[list[HeatRow], list[tuple[int, Decimal]]]:
    """The heatmap's rows (a shade and a drill-down link per cell) and its legend."""
    levels = heat_levels(point.intensity for row in grid.rows for point in row.points)
    rows = [
        HeatRow(
            relationship_id=row.relationship_id,
            label=row.label,
            cells=[
                HeatCell(
                    point=point,
                    level=levels.get(point.intensity, 0),
                    url=point_url(point, grid.granularity, relationship_id=row.relationship_id),
                    text=f"{point.intensity:.1f}",
                    title=(
                        f"{row.label}, {point.label}: {point.count} conducted "
                        f"activit{'y' if point.count == 1 else 'ies'}, intensity {point.intensity:.2f}"
                    ),
                )
                for point in row.points
            ],
        )
        for row in grid.rows
    ]
    return rows, heat_legend(levels)


# Accreditation timeline -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TimelineBar:
    """One accreditation period on the chart's time axis, as % of the chart area's width."""

    period: AccreditationPeriod
    x: float
    width: float
    starts_before: bool
    ends_after: bool


def timeline_bars(
    periods: Iterable[AccreditationPeriod],
    chart_periods: Sequence[datetime.date],
    granularity: str,
    today: datetime.date,
) -> list[TimelineBar]:
    """Bars aligned with the chart's categories: each period of the chart has the same width,
    and a day sits at its fraction of its period, so the bars line up with the chart's bars."""
    if not chart_periods:
        return []
    count = len(chart_periods)
    axis_end = next_period(chart_periods[-1], granularity)

    def x(day: datetime.date) -> float:
        if day <= chart_periods[0]:
            return 0.0
        if day >= axis_end:
            return 100.0
        index = max(i for i, start in enumerate(chart_periods) if start <= day)
        start = chart_periods[index]
        length = (next_period(start, granularity) - start).days
        return round(100 * (index + (day - start).days / length) / count, 3)

    bars = []
    for period in periods:
        first = period.start
        after_last = (period.end or max(today, period.start)) + datetime.timedelta(days=1)
        if after_last <= chart_periods[0] or first >= axis_end:
            continue
        left, right = x(first), x(after_last)
        bars.append(
            TimelineBar(
                period=period,
                x=left,
                width=max(round(right - left, 3), 0.4),
                starts_before=first < chart_periods[0],
                ends_after=after_last > axis_end,
            )
        )
    return bars


def axis_ticks(chart_periods: Sequence[datetime.date]) -> list[tuple[int, float]]:
    """(year, x %) of each 1 January on the chart's axis, for the timeline's grid."""
    count = len(chart_periods)
    return [
        (start.year, round(100 * index / count, 3))
        for index, start in enumerate(chart_periods)
        if index and start.month == 1
    ]


# Chart data -------------------------------------------------------------------------------


def relationship_chart(series: IntensitySeries, relationship_id: int) -> dict[str, Any]:
    """What static/js/dashboards.js draws: intensity or count stacked by area, with links."""
    granularity = series.granularity
    return {
        "kind": "stacked",
        "granularity": granularity,
        "labels": [point.label for point in series.total],
        "datasets": [
            {
                "code": area.code,
                "label": area.name,
                "colour": AREA_COLOURS[index % len(AREA_COLOURS)],
                "intensity": [intensity_value(point.intensity) for point in area.points],
                "count": [point.count for point in area.points],
                "links": [
                    point_url(point, granularity, relationship_id=relationship_id, area_code=area.code)
                    for point in area.points
                ],
            }
            for index, area in enumerate(series.areas)
        ],
        "total": {
            "intensity": [intensity_value(point.intensity) for point in series.total],
            "count": [point.count for point in series.total],
            "links": [point_url(point, granularity, relationship_id=relationship_id) for point in series.total],
        },
    }


def comparison_chart(comparison: Comparison) -> dict[str, Any]:
    """Intensity in the two periods, side by side, for the most intense relationships."""
    top = sorted(comparison.rows, key=lambda row: (-max(row.a.intensity, row.b.intensity), row.label))
    top = [row for row in top if row.a.intensity or row.b.intensity][:COMPARISON_CHART_ROWS]
    granularity = comparison.granularity
    return {
        "kind": "comparison",
        "granularity": granularity,
        "labels": [row.label for row in top],
        "datasets": [
            {
                "code": side,
                "label": label,
                "colour": colour,
                "intensity": [intensity_value(getattr(row, side).intensity) for row in top],
                "count": [getattr(row, side).count for row in top],
                "links": [
                    point_url(getattr(row, side), granularity, relationship_id=row.relationship_id) for row in top
                ],
            }
            for side, label, colour in (
                ("a", comparison.a_label, AREA_COLOURS[4]),
                ("b", comparison.b_label, AREA_COLOURS[0]),
            )
        ],
    }


@dataclasses.dataclass(frozen=True)
class AreaTotal:
    code: str
    name: str
    colour: str
    count: int
    intensity: Decimal


@dataclasses.dataclass(frozen=True)
class SeriesRow:
    """One period of a relationship's chart as a table row: per area and in total, with links."""

    total: IntensityPoint
    url: str
    pipeline_url: str
    areas: list[tuple[str, IntensityPoint, str]]  # (area code, figures, link)


@dataclasses.dataclass(frozen=True)
class SeriesTable:
    rows: list[SeriesRow]
    areas: list[AreaTotal]
    count: int
    intensity: Decimal
    breadth: int  # areas with a conducted activity anywhere in the range
    pipeline: int
    url: str


def series_table(series: IntensitySeries, relationship_id: int) -> SeriesTable:
    """The chart's numbers as a table, and the totals over its whole range."""
    granularity = series.granularity
    rows = [
        SeriesRow(
            total=total,
            url=point_url(total, granularity, relationship_id=relationship_id),
            pipeline_url=pipeline_url(total, granularity, relationship_id=relationship_id),
            areas=[
                (
                    area.code,
                    area.points[index],
                    point_url(area.points[index], granularity, relationship_id=relationship_id, area_code=area.code),
                )
                for area in series.areas
            ],
        )
        for index, total in enumerate(series.total)
    ]
    areas = [
        AreaTotal(
            code=area.code,
            name=area.name,
            colour=AREA_COLOURS[index % len(AREA_COLOURS)],
            count=sum(point.count for point in area.points),
            intensity=sum((point.intensity for point in area.points), Decimal(0)),
        )
        for index, area in enumerate(series.areas)
    ]
    return SeriesTable(
        rows=rows,
        areas=areas,
        count=sum(point.count for point in series.total),
        intensity=sum((point.intensity for point in series.total), Decimal(0)),
        breadth=sum(1 for area in areas if area.count),
        pipeline=sum(point.pipeline for point in series.total),
        url=activity_list_url(
            start=series.periods[0],
            end=period_end(series.periods[-1], granularity),
            relationship_id=relationship_id,
        ),
    )


# CSV rows ------------------------------------------------------------------------------------
# Written by `exporters.csv_stream`, which neutralises text cells: numbers are numbers
# (a fall is -0.25, not text that starts with a minus sign).


def _exact(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"))


def _change(value: float | None) -> Decimal | str:
    return "" if value is None else Decimal(f"{value:.4f}")


SERIES_COLUMNS = (
    "weight_set",
    "period",
    "period_start",
    "period_end",
    "area",
    "count",
    "intensity",
    "breadth",
    "pipeline",
)


def series_rows(series: IntensitySeries) -> Iterator[tuple[Any, ...]]:
    """One row per period and area, then the period's total (area "total")."""
    for index, total in enumerate(series.total):
        end = period_end(total.period, series.granularity)
        for area in series.areas:
            point = area.points[index]
            yield (
                series.weight_set_id, point.label, point.period, end, area.code, point.count, _exact(point.intensity),
                point.breadth, point.pipeline,
            )  # fmt: skip
        yield (
            series.weight_set_id, total.label, total.period, end, "total", total.count, _exact(total.intensity),
            total.breadth, total.pipeline,
        )  # fmt: skip


PERIOD_COLUMNS = (
    "weight_set", "accreditation", "attache", "sending_country", "post", "kind", "status", "accredited_on", "ended_on",
    "first_month", "last_month", "count", "intensity", "pipeline",
)  # fmt: skip


def accreditation_period_rows(periods: Iterable[AccreditationPeriod]) -> Iterator[tuple[Any, ...]]:
    for period in periods:
        accreditation = period.accreditation
        yield (
            period.weight_set_id,
            accreditation.pk,
            str(accreditation.attache),
            str(accreditation.attache.sending_country),
            str(accreditation.post),
            accreditation.kind,
            accreditation.status,
            period.start,
            period.end,
            period.first_month,
            period.last_month,
            period.count,
            _exact(period.intensity),
            period.pipeline,
        )


def overview_columns(overview: Overview) -> tuple[str, ...]:
    sparkline = tuple(f"intensity {point.label}" for point in (overview.cards[0].sparkline if overview.cards else []))
    return (
        "weight_set",
        "relationship",
        f"count {overview.quarter_label} (this quarter)",
        "count last quarter",
        "count same quarter last year",
        "intensity this quarter",
        "breadth this quarter",
        "pipeline this quarter",
        f"trend {overview.trend_period_label} vs 12-month average",
        "change vs 12-month average",
        *sparkline,
    )


def overview_rows(overview: Overview) -> Iterator[tuple[Any, ...]]:
    for card in sorted(overview.cards, key=lambda card: card.label):
        yield (
            overview.weight_set_id,
            card.label,
            card.this_quarter.count,
            card.last_quarter.count,
            card.year_ago.count,
            _exact(card.this_quarter.intensity),
            card.this_quarter.breadth,
            card.this_quarter.pipeline,
            card.flag or "",
            _change(card.trend.change_vs_average) if card.trend else "",
            *(_exact(point.intensity) for point in card.sparkline),
        )


HEATMAP_COLUMNS = ("weight_set", "relationship", "period", "period_start", "count", "intensity", "breadth", "pipeline")


def heatmap_csv_rows(grid: IntensityGrid) -> Iterator[tuple[Any, ...]]:
    for row in grid.rows:
        for point in row.points:
            yield (
                grid.weight_set_id, row.label, point.label, point.period, point.count, _exact(point.intensity),
                point.breadth, point.pipeline,
            )  # fmt: skip


def comparison_columns(comparison: Comparison) -> tuple[str, ...]:
    a, b = comparison.a_label, comparison.b_label
    return (
        "weight_set",
        "relationship",
        *(f"{figure} {a}" for figure in ("count", "intensity", "breadth", "pipeline")),
        *(f"{figure} {b}" for figure in ("count", "intensity", "breadth", "pipeline")),
        "intensity change",
    )


def comparison_rows(comparison: Comparison) -> Iterator[tuple[Any, ...]]:
    for row in comparison.rows:
        yield (
            comparison.weight_set_id,
            row.label,
            *(row.a.count, _exact(row.a.intensity), row.a.breadth, row.a.pipeline),
            *(row.b.count, _exact(row.b.intensity), row.b.breadth, row.b.pipeline),
            _change(row.change),
        )
