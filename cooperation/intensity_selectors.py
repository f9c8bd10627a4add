"""Reads of the cooperation intensity index, for dashboards, reports and the API.

Both read the rollups of the active weight set only (never the activities), scoped
by `IntensityRollup.objects.visible_to(user)`: a desk officer sees the relationships
of their desks, everyone sees only activities up to their clearance. Every result
carries the id of the weight set that produced it.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, DateField, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Trunc
from django.utils import timezone
from django_countries import countries

from cooperation.choices import WeightSetStatus
from cooperation.intensity import Granularity, add_months, next_period, period_label, period_start, period_starts
from cooperation.models import CooperationArea, IntensityRollup, Relationship, WeightSet

if TYPE_CHECKING:
    from accounts.models import User

MAX_PERIODS = 1200
ZERO = Decimal("0.000000")


@dataclasses.dataclass(frozen=True)
class IntensityPoint:
    """The figures of one period: conducted activities, their score sum, distinct areas, pipeline."""

    period: datetime.date
    label: str
    count: int
    intensity: Decimal
    breadth: int
    pipeline: int


@dataclasses.dataclass(frozen=True)
class AreaSeries:
    area_id: int
    code: str
    name: str
    points: list[IntensityPoint]


@dataclasses.dataclass(frozen=True)
class IntensitySeries:
    """One point per period (empty periods included) per area, and the total over areas.

    The total's breadth is the number of areas with a conducted activity in that period
    (in any of the selected relationships); an area's own breadth is 1 or 0.
    """

    weight_set_id: int
    granularity: str
    periods: list[datetime.date]
    areas: list[AreaSeries]
    total: list[IntensityPoint]


def _ids(items: Iterable[Any] | None) -> list[int] | None:
    if items is None:
        return None
    return [int(getattr(item, "pk", item)) for item in items]


def _granularity(value: str) -> str:
    if value not in Granularity.values:
        allowed = ", ".join(Granularity.values)
        raise ValidationError({"granularity": f"Unknown granularity {value!r}; expected one of {allowed}."})
    return value


def _active_weight_set_id(rows: Iterable[Mapping[str, Any]]) -> int:
    ids = {row["weight_set_id"] for row in rows}
    if len(ids) == 1:
        return ids.pop()
    return WeightSet.objects.active().pk


def _scoped_rollups(
    user: User | None,
    *,
    relationships: list[int] | None,
    country: str | None,
    areas: list[int] | None,
    first_month: datetime.date,
    end_month: datetime.date,
) -> QuerySet[IntensityRollup]:
    rollups = IntensityRollup.objects.visible_to(user).filter(
        weight_set__status=WeightSetStatus.ACTIVE, month__gte=first_month, month__lt=end_month
    )
    if relationships is not None:
        rollups = rollups.filter(relationship_id__in=relationships)
    if country is not None:
        rollups = rollups.filter(Q(relationship__state_a=country) | Q(relationship__state_b=country))
    if areas is not None:
        rollups = rollups.filter(area_id__in=areas)
    return rollups


def _country(country: str | None) -> str | None:
    if country is None:
        return None
    code = countries.alpha2(str(country).strip())
    if not code:
        raise ValidationError({"country": f"{country!r} is not an ISO 3166 country code."})
    return code


def intensity_series(
    *,
    user: User | None,
    start: datetime.date,
    end: datetime.date,
    granularity: str = Granularity.QUARTER,
    relationships: Iterable[Relationship | int] | None = None,
    country: str | None = None,
    areas: Iterable[CooperationArea | int] | None = None,
) -> IntensitySeries:
    """Count, intensity, breadth and pipeline per period, per area and in total.

    `relationships` (objects or ids) or `country` (every relationship of that state)
    narrow the selection; neither means every relationship the user may see. Periods
    run from the one containing `start` to the one containing `end`. Relationships
    and activities the user may not see count as if they did not exist.
    Two or three queries, however long the range.
    """
    granularity = _granularity(granularity)
    if start > end:
        raise ValidationError({"end": "The end of the range cannot be before its start."})
    periods = period_starts(start, end, granularity)
    if len(periods) > MAX_PERIODS:
        raise ValidationError({"end": f"At most {MAX_PERIODS} periods at a time."})
    area_ids = _ids(areas)
    area_rows = CooperationArea.objects.order_by("position", "name")
    if area_ids is not None:
        area_rows = area_rows.filter(pk__in=area_ids)
    area_list = list(area_rows.values_list("pk", "code", "name"))
    rows = list(
        _scoped_rollups(
            user,
            relationships=_ids(relationships),
            country=_country(country),
            areas=area_ids,
            first_month=periods[0],
            end_month=next_period(periods[-1], granularity),
        )
        .annotate(period=Trunc("month", granularity, output_field=DateField()))
        .values("weight_set_id", "period", "area_id")
        .annotate(count=Sum("conducted"), intensity=Sum("intensity"), pipeline=Sum("pipeline"))
        .order_by()
    )
    figures = {(row["period"], row["area_id"]): row for row in rows}
    area_series = []
    for area_id, code, name in area_list:
        points = []
        for period in periods:
            row = figures.get((period, area_id))
            count = row["count"] if row else 0
            points.append(
                IntensityPoint(
                    period=period,
                    label=period_label(period, granularity),
                    count=count,
                    intensity=row["intensity"] if row else ZERO,
                    breadth=1 if count else 0,
                    pipeline=row["pipeline"] if row else 0,
                )
            )
        area_series.append(AreaSeries(area_id=area_id, code=code, name=name, points=points))
    total = [
        IntensityPoint(
            period=period,
            label=period_label(period, granularity),
            count=sum(series.points[index].count for series in area_series),
            intensity=sum((series.points[index].intensity for series in area_series), ZERO),
            breadth=sum(series.points[index].breadth for series in area_series),
            pipeline=sum(series.points[index].pipeline for series in area_series),
        )
        for index, period in enumerate(periods)
    ]
    return IntensitySeries(
        weight_set_id=_active_weight_set_id(rows),
        granularity=granularity,
        periods=periods,
        areas=area_series,
        total=total,
    )


# Trend signals ------------------------------------------------------------------------

RISING, FALLING = "rising", "falling"


@dataclasses.dataclass(frozen=True)
class TrendSignal:
    """How a relationship's intensity in the latest complete period compares.

    `change_vs_previous` / `change_vs_average` are relative changes (0.5 = +50 %)
    against the period before and against the mean per period over the 12 months
    before the latest period. None when the baseline is zero and the latest is not
    (a rise from nothing); 0.0 when both are zero. A flag is set when a change goes
    beyond ±threshold (a rise from nothing is always `rising`). `flag` is the one
    against the 12-month average, the steadier baseline.
    """

    relationship_id: int
    label: str
    weight_set_id: int
    granularity: str
    period: datetime.date
    period_label: str
    latest: Decimal
    previous: Decimal
    trailing_average: Decimal
    change_vs_previous: float | None
    change_vs_average: float | None
    flag_vs_previous: str | None
    flag_vs_average: str | None
    threshold: float

    @property
    def flag(self) -> str | None:
        return self.flag_vs_average


def relative_change(latest: Decimal, baseline: Decimal) -> float | None:
    """(latest − baseline) / baseline; 0.0 when both are zero; None for a rise from zero."""
    if baseline == 0:
        return 0.0 if latest == 0 else None
    return float((latest - baseline) / baseline)


def trend_flag(change: float | None, threshold: float) -> str | None:
    if change is None:
        return RISING
    if change > threshold:
        return RISING
    if change < -threshold:
        return FALLING
    return None


@dataclasses.dataclass(frozen=True)
class _TrendWindow:
    latest: datetime.date  # the latest complete period
    start: datetime.date  # 12 months before it
    trailing: list[datetime.date]  # the periods of those 12 months
    previous: datetime.date


def _trend_window(as_of: datetime.date, granularity: str) -> _TrendWindow:
    latest = period_start(add_months(period_start(as_of, granularity), -1), granularity)
    start = add_months(latest, -12)
    trailing = period_starts(start, add_months(latest, -1), granularity)
    return _TrendWindow(latest=latest, start=start, trailing=trailing, previous=trailing[-1])


def _threshold(threshold: float | None) -> float:
    threshold = settings.INTENSITY_TREND_THRESHOLD if threshold is None else threshold
    if not threshold > 0:
        raise ValidationError({"threshold": "The threshold must be above zero."})
    return threshold


def _signal(
    *,
    relationship_id: int,
    label: str,
    weight_set_id: int,
    granularity: str,
    window: _TrendWindow,
    series: Mapping[datetime.date, Decimal],
    threshold: float,
) -> TrendSignal:
    latest_value = series.get(window.latest, ZERO)
    previous_value = series.get(window.previous, ZERO)
    trailing_sum = sum((series.get(period, ZERO) for period in window.trailing), ZERO)
    average = (trailing_sum / len(window.trailing)).quantize(ZERO)
    change_previous = relative_change(latest_value, previous_value)
    change_average = relative_change(latest_value, average)
    return TrendSignal(
        relationship_id=relationship_id,
        label=label,
        weight_set_id=weight_set_id,
        granularity=granularity,
        period=window.latest,
        period_label=period_label(window.latest, granularity),
        latest=latest_value,
        previous=previous_value,
        trailing_average=average,
        change_vs_previous=change_previous,
        change_vs_average=change_average,
        flag_vs_previous=trend_flag(change_previous, threshold),
        flag_vs_average=trend_flag(change_average, threshold),
        threshold=threshold,
    )


def intensity_trends(
    *,
    user: User | None,
    granularity: str = Granularity.MONTH,
    as_of: datetime.date | None = None,
    relationships: Iterable[Relationship | int] | None = None,
    country: str | None = None,
    areas: Iterable[CooperationArea | int] | None = None,
    threshold: float | None = None,
) -> list[TrendSignal]:
    """One signal per visible relationship (sorted by label), for the latest complete period.

    The latest complete period is the one before the period containing `as_of`
    (default: today). `threshold` defaults to the INTENSITY_TREND_THRESHOLD setting.
    Two or three queries, whatever the number of relationships.
    """
    granularity = _granularity(granularity)
    threshold = _threshold(threshold)
    window = _trend_window(as_of or timezone.localdate(), granularity)

    visible = Relationship.objects.visible_to(user)
    relationship_ids = _ids(relationships)
    country_code = _country(country)
    if relationship_ids is not None:
        visible = visible.filter(pk__in=relationship_ids)
    if country_code is not None:
        visible = visible.involving(country_code)
    relationship_list = list(visible.only("pk", "state_a", "state_b"))
    if not relationship_list:
        return []
    rows = list(
        _scoped_rollups(
            user,
            relationships=[relationship.pk for relationship in relationship_list],
            country=None,
            areas=_ids(areas),
            first_month=window.start,
            end_month=next_period(window.latest, granularity),
        )
        .annotate(period=Trunc("month", granularity, output_field=DateField()))
        .values("weight_set_id", "relationship_id", "period")
        .annotate(intensity=Sum("intensity"))
        .order_by()
    )
    weight_set_id = _active_weight_set_id(rows)
    by_relationship: dict[int, dict[datetime.date, Decimal]] = defaultdict(dict)
    for row in rows:
        by_relationship[row["relationship_id"]][row["period"]] = row["intensity"]
    return [
        _signal(
            relationship_id=relationship.pk,
            label=relationship.label,
            weight_set_id=weight_set_id,
            granularity=granularity,
            window=window,
            series=by_relationship.get(relationship.pk, {}),
            threshold=threshold,
        )
        for relationship in sorted(relationship_list, key=lambda r: r.label)
    ]


# Many relationships at once -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RelationshipSeries:
    """One relationship's figures, one point per period (empty periods included)."""

    relationship_id: int
    label: str
    points: list[IntensityPoint]


@dataclasses.dataclass(frozen=True)
class IntensityGrid:
    """Relationship × period figures: one row per relationship the user may see, by label."""

    weight_set_id: int
    granularity: str
    periods: list[datetime.date]
    rows: list[RelationshipSeries]

    @property
    def labels(self) -> list[str]:
        return [period_label(period, self.granularity) for period in self.periods]


def intensity_by_relationship(
    *,
    user: User | None,
    start: datetime.date,
    end: datetime.date,
    granularity: str = Granularity.QUARTER,
    relationships: Iterable[Relationship | int] | None = None,
    country: str | None = None,
    areas: Iterable[CooperationArea | int] | None = None,
) -> IntensityGrid:
    """Count, intensity, breadth and pipeline per relationship and period.

    Every relationship the user may see is a row (narrowed by `relationships` or
    `country`), also when all its figures are zero. Breadth is the number of areas
    with a conducted activity of that relationship in that period. Two or three
    queries, whatever the number of relationships and periods: dashboards and the
    digest read hundreds of relationships through it.
    """
    granularity = _granularity(granularity)
    if start > end:
        raise ValidationError({"end": "The end of the range cannot be before its start."})
    periods = period_starts(start, end, granularity)
    if len(periods) > MAX_PERIODS:
        raise ValidationError({"end": f"At most {MAX_PERIODS} periods at a time."})
    visible = Relationship.objects.visible_to(user)
    relationship_ids = _ids(relationships)
    country_code = _country(country)
    if relationship_ids is not None:
        visible = visible.filter(pk__in=relationship_ids)
    if country_code is not None:
        visible = visible.involving(country_code)
    labels = {relationship.pk: relationship.label for relationship in visible.only("pk", "state_a", "state_b")}
    relationship_ids_sorted = sorted(labels, key=lambda pk: (labels[pk], pk))
    rows: list[Any] = []
    if labels:
        rows = list(
            _scoped_rollups(
                user,
                relationships=relationship_ids_sorted,
                country=None,
                areas=_ids(areas),
                first_month=periods[0],
                end_month=next_period(periods[-1], granularity),
            )
            .annotate(period=Trunc("month", granularity, output_field=DateField()))
            .values("weight_set_id", "relationship_id", "period")
            .annotate(
                count=Sum("conducted"),
                intensity=Sum("intensity"),
                pipeline=Sum("pipeline"),
                breadth=Count("area_id", distinct=True, filter=Q(conducted__gt=0)),
            )
            .order_by()
        )
    figures = {(row["relationship_id"], row["period"]): row for row in rows}
    period_labels = [period_label(period, granularity) for period in periods]
    series = []
    for relationship_id in relationship_ids_sorted:
        points = []
        for period, label in zip(periods, period_labels, strict=True):
            row = figures.get((relationship_id, period))
            points.append(
                IntensityPoint(
                    period=period,
                    label=label,
                    count=row["count"] if row else 0,
                    intensity=row["intensity"] if row else ZERO,
                    breadth=row["breadth"] if row else 0,
                    pipeline=row["pipeline"] if row else 0,
                )
            )
        series.append(RelationshipSeries(relationship_id=relationship_id, label=labels[relationship_id], points=points))
    return IntensityGrid(
        weight_set_id=_active_weight_set_id(rows),
        granularity=granularity,
        periods=periods,
        rows=series,
    )


def intensity_extent(
    *, user: User | None, relationships: Iterable[Relationship | int] | None = None
) -> tuple[datetime.date, datetime.date] | None:
    """The first and last month with figures the user may see (None when there are none).

    Dashboards open on this range by default. One query.
    """
    rollups = IntensityRollup.objects.visible_to(user).filter(weight_set__status=WeightSetStatus.ACTIVE)
    relationship_ids = _ids(relationships)
    if relationship_ids is not None:
        rollups = rollups.filter(relationship_id__in=relationship_ids)
    extent = rollups.aggregate(first=Min("month"), last=Max("month"))
    if extent["first"] is None:
        return None
    return extent["first"], extent["last"]


def grid_trends(grid: IntensityGrid, *, as_of: datetime.date, threshold: float | None = None) -> dict[int, TrendSignal]:
    """`intensity_trends` for the grid's relationships, from figures already read (no query).

    The grid must be of the trends' granularity (month or quarter) and cover the latest
    complete period before `as_of` and the 12 months before it; the signals are then the
    ones `intensity_trends` gives the grid's user for the same relationships (a test holds
    the two together). The overview reads one grid for its cards and its flags.
    """
    window = _trend_window(as_of, grid.granularity)
    if not grid.periods or window.start < grid.periods[0] or window.latest > grid.periods[-1]:
        raise ValueError("The grid does not cover the trends' window.")
    threshold = _threshold(threshold)
    return {
        row.relationship_id: _signal(
            relationship_id=row.relationship_id,
            label=row.label,
            weight_set_id=grid.weight_set_id,
            granularity=grid.granularity,
            window=window,
            series={point.period: point.intensity for point in row.points},
            threshold=threshold,
        )
        for row in grid.rows
    }
