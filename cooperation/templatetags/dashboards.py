"""Template helpers of the dashboards: changes as people read them."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(change: float | None) -> str:
    """A relative change: "+52 %", "−10 %", "±0 %", or "from zero" (no baseline)."""
    if change is None:
        return "from zero"
    rounded = round(change * 100)
    if rounded == 0:
        return "±0 %"
    return f"+{rounded} %" if rounded > 0 else f"−{-rounded} %"


@register.filter
def difference(now: int, then: int) -> str:
    """How many more or fewer than then: "+3", "−2", "±0"."""
    delta = int(now) - int(then)
    if delta == 0:
        return "±0"
    return f"+{delta}" if delta > 0 else f"−{-delta}"
