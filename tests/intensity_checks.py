"""Checks of the intensity rollups shared by tests."""

from __future__ import annotations

from cooperation import intensity
from cooperation.models import IntensityOutbox, WeightSet


def rollups_are_current() -> bool:
    """The active weight set's rollups equal a fresh aggregation over the activities."""
    active = WeightSet.objects.active().pk
    return intensity.stored_rollups(weight_set_id=active) == intensity.fresh_aggregation(weight_set_id=active)


def outbox_is_empty() -> bool:
    return not IntensityOutbox.objects.exists()
