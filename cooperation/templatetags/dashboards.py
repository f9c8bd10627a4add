"""Template helpers of the dashboards: changes as people read them."""

from __future__ import annotations

from django import template

from cooperation.dashboards import relative, signed

register = template.Library()


@register.filter
def percent(change: float | None) -> str:
    """A relative change: "+52 %", "−10 %", "±0 %", or "from zero" (no baseline)."""
    return relative(change)


@register.filter
def difference(now: int, then: int) -> str:
    """How many more or fewer than then: "+3", "−2", "±0"."""
    return signed(int(now) - int(then))
