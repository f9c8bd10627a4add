"""Template helpers of the dashboards: changes as people read them."""

from __future__ import annotations

from django import template

from cooperation.dashboards import relative

register = template.Library()


@register.filter
def percent(change: float | None) -> str:
    """A relative change: "+52 %", "−10 %", "±0 %", or "from zero" (no baseline)."""
    return relative(change)
