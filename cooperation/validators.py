"""Validators shared by models, forms and the import."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError

# The calendar Attaché works in. A date outside it is a typo (0016 for 2016, 9016 for
# 2016), and the period arithmetic of dashboards and timelines stays far from the ends
# of Python's calendar (year 1 and year 9999).
EARLIEST = datetime.date(1900, 1, 1)
LATEST = datetime.date(2199, 12, 31)
CALENDAR_MESSAGE = f"Choose a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}."


def validate_calendar_date(value: datetime.date) -> None:
    if not EARLIEST <= value <= LATEST:
        raise ValidationError(CALENDAR_MESSAGE, code="out_of_calendar")
