"""Writes to the weights of the intensity index: drafts, copies and activation.

A draft set may be edited freely. Activating it freezes it and builds its rollups
beside those of the active set (a Celery task sent on commit); when they are complete
one transaction makes it the active set, so readers never see figures of two sets
mixed or half-built ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from cooperation import intensity
from cooperation.audit import audit_context as _audit
from cooperation.choices import WeightSetStatus
from cooperation.models import AreaWeight, CooperationArea, WeightSet
from cooperation.models.intensity import DEFAULT_AREA_WEIGHT, LEVEL_WEIGHT_FIELDS

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

WEIGHT_SET_EDITABLE_FIELDS = ("name", "description", *LEVEL_WEIGHT_FIELDS.values())


def _require_admin(actor: User | None) -> None:
    """Weights are an administrator's decision; `actor=None` is the system itself."""
    if actor is not None and not actor.is_admin_role:
        raise PermissionDenied("Only administrators may change the weights of the intensity index.")


def _set_area_weights(weight_set: WeightSet, area_weights: Mapping[CooperationArea, Decimal]) -> None:
    """Store one row per area whose weight is not the default; the default needs none."""
    errors = {}
    for area, weight in area_weights.items():
        row = AreaWeight(weight_set=weight_set, area=area, weight=weight)
        try:
            row.full_clean(exclude=["weight_set"], validate_unique=False)
        except ValidationError as error:
            errors[f"area:{area.code}"] = error.messages
    if errors:
        raise ValidationError(errors)
    for area, weight in area_weights.items():
        if Decimal(weight) == DEFAULT_AREA_WEIGHT:
            AreaWeight.objects.filter(weight_set=weight_set, area=area).delete()
        else:
            AreaWeight.objects.update_or_create(weight_set=weight_set, area=area, defaults={"weight": weight})


@transaction.atomic
def weight_set_create(
    *,
    actor: User | None,
    name: str,
    description: str = "",
    level_weights: Mapping[str, Decimal] | None = None,
    area_weights: Mapping[CooperationArea, Decimal] | None = None,
) -> WeightSet:
    """A new draft set; levels and areas not given keep their default weights."""
    _require_admin(actor)
    unknown = set(level_weights or {}) - set(LEVEL_WEIGHT_FIELDS)
    if unknown:
        raise ValidationError({"level_weights": f"Unknown level(s): {', '.join(sorted(unknown))}."})
    weight_set = WeightSet(name=name, description=description, created_by=actor)
    for level, weight in (level_weights or {}).items():
        setattr(weight_set, LEVEL_WEIGHT_FIELDS[level], weight)
    weight_set.full_clean()
    with _audit(actor, "weight_set.create"):
        weight_set.save()
        _set_area_weights(weight_set, area_weights or {})
    return weight_set


@transaction.atomic
def weight_set_update(
    *,
    actor: User | None,
    weight_set: WeightSet,
    data: Mapping[str, Any],
    area_weights: Mapping[CooperationArea, Decimal] | None = None,
) -> WeightSet:
    """Edit a draft. Sets that have been (or are being) activated are frozen: copy them instead."""
    _require_admin(actor)
    unknown = set(data) - set(WEIGHT_SET_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    current = WeightSet.objects.select_for_update().get(pk=weight_set.pk)
    weights_change = any(name in LEVEL_WEIGHT_FIELDS.values() for name in data) or bool(area_weights)
    if current.is_frozen and weights_change:
        raise ValidationError(
            f"The weights of “{current.name}” have produced figures and cannot change; copy the set and edit the copy."
        )
    for name, value in data.items():
        setattr(current, name, value)
    current.full_clean()
    with _audit(actor, "weight_set.update"):
        current.save()
        _set_area_weights(current, area_weights or {})
    return current


@transaction.atomic
def weight_set_copy(*, actor: User | None, weight_set: WeightSet, name: str) -> WeightSet:
    """A new draft with the same weights, to edit and activate."""
    return weight_set_create(
        actor=actor,
        name=name,
        description=weight_set.description,
        level_weights=weight_set.level_weights(),
        area_weights={row.area: row.weight for row in weight_set.area_weights.select_related("area")},
    )


@transaction.atomic
def weight_set_activate(*, actor: User | None, weight_set: WeightSet) -> WeightSet:
    """Make `weight_set` the active set once its rollups are built (a task sent on commit).

    Until then the current set stays active. Asking again for a set already being
    activated sends the task again (it is idempotent); asking for another set abandons
    the pending one.
    """
    _require_admin(actor)
    current = WeightSet.objects.select_for_update().get(pk=weight_set.pk)
    if current.status == WeightSetStatus.ACTIVE:
        raise ValidationError(f"“{current.name}” is already the active weight set.")
    if current.status != WeightSetStatus.ACTIVATING:
        with _audit(actor, "weight_set.activate"):
            for other in WeightSet.objects.select_for_update().filter(status=WeightSetStatus.ACTIVATING):
                _abandon(other)
            current.status = WeightSetStatus.ACTIVATING
            current.activation_requested_at = timezone.now()
            current.full_clean()
            current.save()
    from cooperation.tasks import activate_weight_set

    transaction.on_commit(lambda: activate_weight_set.delay(current.pk), robust=True)
    return current


def _abandon(weight_set: WeightSet) -> None:
    weight_set.status = WeightSetStatus.RETIRED if weight_set.first_activated_at else WeightSetStatus.DRAFT
    weight_set.activation_requested_at = None
    weight_set.save(update_fields=["status", "activation_requested_at"])


def weight_set_complete_activation(*, weight_set_id: int) -> bool:
    """Build the rollups of a set being activated, then make it the active set.

    Returns False (and does nothing) when the set is no longer being activated, so
    the task can run twice. The build runs chunk by chunk while the old set stays
    active; refreshes meanwhile keep both sets current; the switch is one transaction.
    """
    if not WeightSet.objects.filter(pk=weight_set_id, status=WeightSetStatus.ACTIVATING).exists():
        return False
    intensity.rebuild_rollups(weight_set_ids=[weight_set_id])
    with transaction.atomic():
        intensity.lock_rollups()
        weight_set = WeightSet.objects.select_for_update().filter(pk=weight_set_id).first()
        if weight_set is None or weight_set.status != WeightSetStatus.ACTIVATING:
            return False
        with _audit(None, "weight_set.activated"):
            for previous in WeightSet.objects.select_for_update().filter(status=WeightSetStatus.ACTIVE):
                previous.status = WeightSetStatus.RETIRED
                previous.save(update_fields=["status"])
            now = timezone.now()
            weight_set.status = WeightSetStatus.ACTIVE
            weight_set.activation_requested_at = None
            weight_set.first_activated_at = weight_set.first_activated_at or now
            weight_set.save(update_fields=["status", "activation_requested_at", "first_activated_at"])
    intensity.delete_stale_rollups()
    logger.info("Weight set %s is now active.", weight_set_id)
    return True


def complete_pending_activations() -> list[int]:
    """Finish activations whose task was lost (the nightly reconcile calls this)."""
    return [
        pk
        for pk in WeightSet.objects.filter(status=WeightSetStatus.ACTIVATING).values_list("pk", flat=True)
        if weight_set_complete_activation(weight_set_id=pk)
    ]


@transaction.atomic
def weight_set_delete(*, actor: User | None, weight_set: WeightSet) -> None:
    """Only drafts may be deleted: a set that produced figures stays as their reference."""
    _require_admin(actor)
    current = WeightSet.objects.select_for_update().get(pk=weight_set.pk)
    if current.status != WeightSetStatus.DRAFT:
        raise ValidationError(f"“{current.name}” has produced figures and cannot be deleted.")
    with _audit(actor, "weight_set.delete"):
        current.delete()
