"""Reads behind the managers' dashboards and the monthly digest.

Every figure comes from the intensity selectors (`cooperation.intensity_selectors`),
which read the rollups scoped by `visible_to(user)`; records (upcoming activities,
accreditations) come from `visible_to(user)` querysets. Nothing here counts activities
itself, so a dashboard can never disagree with the index or leak past desk and
clearance. Each read runs a fixed number of queries, whatever the number of
relationships.
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from cooperation.choices import PIPELINE_STATUSES, AccreditationKind
from cooperation.intensity import Granularity, add_months, next_period, period_label, period_start
from cooperation.intensity_selectors import (
    ZERO,
    IntensityPoint,
    TrendSignal,
    grid_trends,
    intensity_by_relationship,
    intensity_series,
    relative_change,
)
from cooperation.models import Accreditation, Activity, Relationship, WeightSet

if TYPE_CHECKING:
    from accounts.models import User

SPARKLINE_QUARTERS = 8
UPCOMING_LIMIT = 10


def period_end(start: datetime.date, granularity: str) -> datetime.date:
    """The last day of the period starting on `start`."""
    return next_period(start, granularity) - datetime.timedelta(days=1)


# Overview ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RelationshipCard:
    """One relationship on the overview: this quarter against last quarter and a year ago."""

    relationship_id: int
    label: str
    this_quarter: IntensityPoint
    last_quarter: IntensityPoint
    year_ago: IntensityPoint
    sparkline: list[IntensityPoint]  # SPARKLINE_QUARTERS quarters, ending with this quarter
    trend: TrendSignal | None

    @property
    def flag(self) -> str | None:
        return self.trend.flag if self.trend else None


@dataclasses.dataclass(frozen=True)
class Overview:
    as_of: datetime.date
    quarter: datetime.date
    weight_set_id: int
    cards: list[RelationshipCard]  # most intense this quarter first, then by label
    upcoming: list[Activity]

    @property
    def quarter_label(self) -> str:
        return period_label(self.quarter, Granularity.QUARTER)

    @property
    def last_quarter(self) -> datetime.date:
        return add_months(self.quarter, -3)

    @property
    def year_ago(self) -> datetime.date:
        return add_months(self.quarter, -12)

    @property
    def rising(self) -> list[RelationshipCard]:
        return sorted((card for card in self.cards if card.flag == "rising"), key=lambda card: card.label)

    @property
    def falling(self) -> list[RelationshipCard]:
        return sorted((card for card in self.cards if card.flag == "falling"), key=lambda card: card.label)

    @property
    def trend_period_label(self) -> str:
        return period_label(self.last_quarter, Granularity.QUARTER)


def weight_set_named(weight_set_id: int) -> WeightSet:
    """The weight set behind a page's figures, which the page names (an id alone says
    nothing to a reader)."""
    return WeightSet.objects.only("id", "name").get(pk=weight_set_id)


def overview(*, user: User | None, as_of: datetime.date, upcoming_limit: int = UPCOMING_LIMIT) -> Overview:
    """Cards for every relationship the user may see, their trend flags and what comes next.

    "This quarter" is the quarter containing `as_of` (still running); trends compare the
    latest complete quarter (the one before) with the engine's baselines.
    """
    quarter = period_start(as_of, Granularity.QUARTER)
    first = add_months(quarter, -3 * (SPARKLINE_QUARTERS - 1))
    grid = intensity_by_relationship(user=user, start=first, end=quarter, granularity=Granularity.QUARTER)
    trends = grid_trends(grid, as_of=as_of)  # the engine's quarterly flags, from the same figures
    cards = [
        RelationshipCard(
            relationship_id=row.relationship_id,
            label=row.label,
            this_quarter=row.points[-1],
            last_quarter=row.points[-2],
            year_ago=row.points[-5],
            sparkline=row.points,
            trend=trends.get(row.relationship_id),
        )
        for row in grid.rows
    ]
    cards.sort(key=lambda card: (-card.this_quarter.intensity, -card.last_quarter.intensity, card.label))
    return Overview(
        as_of=as_of,
        quarter=quarter,
        weight_set_id=grid.weight_set_id,
        cards=cards,
        upcoming=upcoming_activities(user=user, as_of=as_of, limit=upcoming_limit),
    )


def upcoming_activities(*, user: User | None, as_of: datetime.date, limit: int = UPCOMING_LIMIT) -> list[Activity]:
    """The next planned or confirmed activities the user may see, starting on or after `as_of`.

    Three queries: joining relationships and areas into the first made PostgreSQL pick a
    nested loop over every upcoming activity for a desk officer (100 ms on 1,000,000 rows).
    """
    return list(
        Activity.objects.visible_to(user)
        .filter(status__in=PIPELINE_STATUSES, start_date__gte=as_of)
        .prefetch_related("relationship", "area")
        .order_by("start_date", "id")[:limit]
    )


# One relationship ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AccreditationPeriod:
    """A resident or concurrent accreditation in force, with the figures of its months.

    Activities count in the month they start (as in the index), so a period's figures
    cover every month from the one credentials were presented in to the one it ended
    in (or the current month while it lasts).
    """

    accreditation: Accreditation
    start: datetime.date
    end: datetime.date | None  # None: still in force
    first_month: datetime.date
    last_month: datetime.date
    count: int
    intensity: Decimal
    pipeline: int
    weight_set_id: int

    @property
    def kind(self) -> str:
        return self.accreditation.kind

    @property
    def is_concurrent(self) -> bool:
        return self.accreditation.kind == AccreditationKind.CONCURRENT

    @property
    def last_day(self) -> datetime.date:
        return period_end(self.last_month, Granularity.MONTH)


def accreditation_periods(
    *, user: User | None, relationship: Relationship, today: datetime.date
) -> list[AccreditationPeriod]:
    """The relationship's accreditations that were ever in force, visible to the user, oldest first.

    Three to five queries: the accreditations, then one monthly series over their span.
    """
    accreditations = list(
        Accreditation.objects.visible_to(user)
        .filter(relationship=relationship, accredited_on__isnull=False)
        .select_related("attache", "post")
        .order_by("accredited_on", "pk")
    )
    if not accreditations:
        return []
    spans = [
        (a, a.accredited_on.replace(day=1), (a.ended_on or max(today, a.accredited_on)).replace(day=1))
        for a in accreditations
        if a.accredited_on is not None
    ]
    series = intensity_series(
        user=user,
        start=min(first for _, first, _ in spans),
        end=max(last for _, _, last in spans),
        granularity=Granularity.MONTH,
        relationships=[relationship.pk],
    )
    months = {point.period: point for point in series.total}
    periods = []
    for accreditation, first, last in spans:
        inside = [point for month, point in months.items() if first <= month <= last]
        periods.append(
            AccreditationPeriod(
                accreditation=accreditation,
                start=accreditation.accredited_on,
                end=accreditation.ended_on,
                first_month=first,
                last_month=last,
                count=sum(point.count for point in inside),
                intensity=sum((point.intensity for point in inside), ZERO),
                pipeline=sum(point.pipeline for point in inside),
                weight_set_id=series.weight_set_id,
            )
        )
    return periods


# Comparison ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ComparisonRow:
    relationship_id: int
    label: str
    a: IntensityPoint
    b: IntensityPoint

    @property
    def change(self) -> float | None:
        """Relative change of intensity from A to B (None for a rise from zero)."""
        return relative_change(self.b.intensity, self.a.intensity)


@dataclasses.dataclass(frozen=True)
class Comparison:
    granularity: str
    a: datetime.date
    b: datetime.date
    weight_set_id: int
    rows: list[ComparisonRow]  # by label

    @property
    def a_label(self) -> str:
        return period_label(self.a, self.granularity)

    @property
    def b_label(self) -> str:
        return period_label(self.b, self.granularity)


def compare_periods(*, user: User | None, granularity: str, a: datetime.date, b: datetime.date) -> Comparison:
    """Every visible relationship's figures in two periods (those containing `a` and `b`)."""
    first = intensity_by_relationship(user=user, start=a, end=a, granularity=granularity)
    second = intensity_by_relationship(user=user, start=b, end=b, granularity=granularity)
    seconds = {row.relationship_id: row.points[0] for row in second.rows}
    rows = [
        ComparisonRow(
            relationship_id=row.relationship_id, label=row.label, a=row.points[0], b=seconds[row.relationship_id]
        )
        for row in first.rows
        if row.relationship_id in seconds
    ]
    return Comparison(
        granularity=first.granularity,
        a=first.periods[0],
        b=second.periods[0],
        weight_set_id=second.weight_set_id,
        rows=rows,
    )
