"""The dashboards' query parameters (all in the URL, so a link reproduces a view).

Wrong input is a form error shown on the page (HTTP 400), never a 500: dates are kept
inside a range the calendar arithmetic can handle, and ranges are capped so that a chart
or heatmap stays readable.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.http import QueryDict

from cooperation.intensity import Granularity, add_months, period_start, period_starts
from cooperation.validators import validate_calendar_date

MAX_CHART_PERIODS = 240
MAX_HEATMAP_PERIODS = 60
# A relationship's chart opens on its figures up to today, or up to its last planned
# activity when that is sooner than this.
DEFAULT_HORIZON_MONTHS = 24
MONTHS: dict[str, int] = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def bounded_date(label: str, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=DateInput(),
        help_text=help_text,
        validators=[validate_calendar_date],
    )


class DashboardForm(forms.Form):
    """Cleaned data always holds every field: missing values get their defaults."""

    defaults: dict[str, Any] = {}

    def __init__(self, data: Any = None, *, today: datetime.date, **kwargs: Any) -> None:
        self.today = today
        super().__init__(data, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        shown: Any = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        for name, default in self.initial_values().items():
            if cleaned.get(name) in (None, "") and name not in self.errors:
                cleaned[name] = default
                shown[name] = default.isoformat() if isinstance(default, datetime.date) else str(default)
        self.data = shown  # the page shows the values in use, defaults included
        return cleaned

    def initial_values(self) -> dict[str, Any]:
        return {}


class OverviewForm(DashboardForm):
    as_of = bounded_date("As of", "The overview as it looked on this day (default: today).")

    def initial_values(self) -> dict[str, Any]:
        return {"as_of": self.today}


class RangeForm(DashboardForm):
    """Granularity and date range of a relationship's chart. Without dates the range runs
    from the relationship's first figures (`extent`) to today."""

    granularity = forms.ChoiceField(choices=Granularity.choices, required=False)
    start = bounded_date("From")
    end = bounded_date("To")
    max_periods = MAX_CHART_PERIODS

    def __init__(
        self, data: Any = None, *, today: datetime.date, extent: tuple[datetime.date, datetime.date] | None = None
    ) -> None:
        self.extent = extent
        super().__init__(data, today=today)

    def requested_granularity(self) -> str:
        value = self.data.get("granularity") or Granularity.QUARTER
        return value if value in Granularity.values else Granularity.QUARTER

    def initial_values(self) -> dict[str, Any]:
        """From the first figures to today (or the last planned month, at most DEFAULT_HORIZON
        ahead), shortened from the start when that is more periods than a chart shows."""
        granularity = self.requested_granularity()
        first, last = self.extent or (add_months(self.today.replace(day=1), -35), self.today)
        end = min(max(last, self.today), add_months(self.today.replace(day=1), DEFAULT_HORIZON_MONTHS))
        earliest = add_months(period_start(end, granularity), -MONTHS[granularity] * (self.max_periods - 1))
        return {"granularity": Granularity.QUARTER, "start": min(max(first, earliest), end), "end": end}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        start, end, granularity = cleaned["start"], cleaned["end"], cleaned["granularity"]
        if start > end:
            self.add_error("end", "The end of the range cannot be before its start.")
        elif len(period_starts(start, end, granularity)) > self.max_periods:
            self.add_error(
                "end", f"At most {self.max_periods} periods at a time: choose a shorter range or a coarser granularity."
            )
        return cleaned


class ComparisonForm(RangeForm):
    """The heatmap's range (by default the last eight periods) and two periods side by side
    (by default the latest complete period and the same period a year before)."""

    a = bounded_date("Period A", "Any day in the first period.")
    b = bounded_date("Period B", "Any day in the second period.")
    max_periods = MAX_HEATMAP_PERIODS

    def initial_values(self) -> dict[str, Any]:
        granularity = self.requested_granularity()
        current = period_start(self.today, granularity)
        latest = period_start(add_months(current, -1), granularity)
        return {
            "granularity": Granularity.QUARTER,
            "start": add_months(current, -7 * MONTHS[granularity]),
            "end": self.today,
            "a": add_months(latest, -12),
            "b": latest,
        }
