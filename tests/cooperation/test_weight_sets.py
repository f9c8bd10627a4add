"""Weight sets: versioned, exactly one active, frozen once used, activated through a task."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cooperation import intensity, weight_sets
from cooperation.choices import ActivityLevel, WeightSetStatus
from cooperation.models import AreaWeight, IntensityRollup, WeightSet
from tests.conftest import World
from tests.factories import ActivityFactory, area

D = datetime.date
pytestmark = pytest.mark.django_db


def test_the_default_set_of_design_md_is_active_after_migrating() -> None:
    default = WeightSet.objects.active()
    assert default.name == "Default (DESIGN.md)"
    assert default.level_weights() == {
        ActivityLevel.PROTOCOL: Decimal(1),
        ActivityLevel.WORKING: Decimal(2),
        ActivityLevel.SENIOR: Decimal(3),
        ActivityLevel.MINISTERIAL: Decimal(4),
    }
    assert not default.area_weights.exists()  # every area weighs 1.0
    assert default.is_frozen


def test_the_database_allows_one_active_set_only() -> None:
    with pytest.raises(IntegrityError, match="weightset_one_active"), transaction.atomic():
        WeightSet.objects.create(name="Second", status=WeightSetStatus.ACTIVE, first_activated_at=timezone.now())


def test_the_database_allows_one_set_being_activated_only() -> None:
    now = timezone.now()
    WeightSet.objects.create(name="A", status=WeightSetStatus.ACTIVATING, activation_requested_at=now)
    with pytest.raises(IntegrityError, match="weightset_one_activating"), transaction.atomic():
        WeightSet.objects.create(name="B", status=WeightSetStatus.ACTIVATING, activation_requested_at=now)


def test_a_draft_stores_only_the_weights_that_differ_from_the_default() -> None:
    draft = weight_sets.weight_set_create(
        actor=None,
        name="Medicine first",
        level_weights={ActivityLevel.MINISTERIAL: Decimal(6)},
        area_weights={area("medicine"): Decimal("2.5"), area("education"): Decimal(1)},
    )
    assert draft.status == WeightSetStatus.DRAFT and not draft.is_frozen
    assert draft.level_weight(ActivityLevel.MINISTERIAL) == Decimal(6)
    assert draft.level_weight(ActivityLevel.WORKING) == Decimal(2)
    assert dict(draft.area_weights.values_list("area__code", "weight")) == {"medicine": Decimal("2.500")}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level_weights": {ActivityLevel.SENIOR: Decimal(0)}}, "greater than or equal to 0.001"),
        ({"level_weights": {"colonel": Decimal(2)}}, "Unknown level"),
        ({"area_weights": {"medicine": Decimal(-1)}}, "greater than or equal to 0.001"),
        ({"name": "Default (DESIGN.md)"}, "already exists"),
        ({"name": ""}, "cannot be blank"),
    ],
)
def test_invalid_weight_sets_are_refused_and_nothing_is_written(kwargs: dict[str, Any], message: str) -> None:
    if "area_weights" in kwargs:
        kwargs["area_weights"] = {area(code): weight for code, weight in kwargs["area_weights"].items()}
    fields: dict[str, Any] = {"actor": None, "name": "Bad"} | kwargs
    before = WeightSet.objects.count()
    with pytest.raises(ValidationError, match=message):
        weight_sets.weight_set_create(**fields)
    assert WeightSet.objects.count() == before


@pytest.mark.parametrize("who", ["officer_a", "manager", "api_client"])
def test_only_administrators_change_weights(world: World, who: str) -> None:
    with pytest.raises(PermissionDenied):
        weight_sets.weight_set_create(actor=world.users()[who], name="Mine")
    with pytest.raises(PermissionDenied):
        weight_sets.weight_set_activate(actor=world.users()[who], weight_set=WeightSet.objects.active())
    assert weight_sets.weight_set_create(actor=world.admin, name="Admin's").created_by == world.admin


def test_a_draft_can_be_edited_but_a_used_set_is_frozen() -> None:
    draft = weight_sets.weight_set_create(actor=None, name="Draft")
    weight_sets.weight_set_update(
        actor=None, weight_set=draft, data={"senior_weight": Decimal(5)}, area_weights={area("demining"): Decimal(3)}
    )
    draft.refresh_from_db()
    assert draft.senior_weight == Decimal(5)
    assert draft.area_weights.get().weight == Decimal(3)
    active = WeightSet.objects.active()
    with pytest.raises(ValidationError, match="cannot change; copy the set"):
        weight_sets.weight_set_update(actor=None, weight_set=active, data={"senior_weight": Decimal(5)})
    with pytest.raises(ValidationError, match="cannot change; copy the set"):
        weight_sets.weight_set_update(
            actor=None, weight_set=active, data={}, area_weights={area("demining"): Decimal(3)}
        )
    renamed = weight_sets.weight_set_update(actor=None, weight_set=active, data={"name": "Default, renamed"})
    assert renamed.name == "Default, renamed" and renamed.senior_weight == Decimal(3)
    with pytest.raises(ValidationError, match="cannot be changed"):
        weight_sets.weight_set_update(actor=None, weight_set=draft, data={"status": WeightSetStatus.ACTIVE})


def test_a_copy_is_an_editable_draft_with_the_same_weights() -> None:
    source = weight_sets.weight_set_create(
        actor=None,
        name="Source",
        level_weights={"protocol": Decimal("0.5")},
        area_weights={area("medicine"): Decimal(2)},
    )
    copy = weight_sets.weight_set_copy(actor=None, weight_set=source, name="Source v2")
    assert copy.pk != source.pk and copy.status == WeightSetStatus.DRAFT
    assert copy.level_weights() == source.level_weights()
    assert list(copy.area_weights.values_list("area__code", "weight")) == [("medicine", Decimal("2.000"))]


def test_activation_builds_then_switches_and_retires_the_old_set(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    intensity.rebuild_rollups()
    old = WeightSet.objects.active()
    new = weight_sets.weight_set_create(actor=None, name="New", level_weights={"working": Decimal(1)})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        weight_sets.weight_set_activate(actor=world.admin, weight_set=new)
    assert len(callbacks) == 1
    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.status, old.status) == (WeightSetStatus.ACTIVE, WeightSetStatus.RETIRED)
    assert new.first_activated_at is not None and new.activation_requested_at is None
    assert set(IntensityRollup.objects.values_list("weight_set_id", flat=True)) == {new.pk}
    assert intensity.stored_rollups(weight_set_id=new.pk) == intensity.fresh_aggregation(weight_set_id=new.pk)
    with pytest.raises(ValidationError, match="already the active weight set"):
        weight_sets.weight_set_activate(actor=None, weight_set=new)


def test_an_old_set_can_be_activated_again(django_capture_on_commit_callbacks: Any) -> None:
    old = WeightSet.objects.active()
    new = weight_sets.weight_set_create(actor=None, name="New")
    for weight_set in (new, old):
        with django_capture_on_commit_callbacks(execute=True):
            weight_sets.weight_set_activate(actor=None, weight_set=weight_set)
    assert WeightSet.objects.active() == old
    assert WeightSet.objects.get(pk=new.pk).status == WeightSetStatus.RETIRED


def test_a_newer_request_abandons_a_pending_activation(monkeypatch: pytest.MonkeyPatch) -> None:
    from cooperation import tasks

    monkeypatch.setattr(tasks.activate_weight_set, "delay", lambda pk: None)
    first = weight_sets.weight_set_create(actor=None, name="First")
    second = weight_sets.weight_set_create(actor=None, name="Second")
    weight_sets.weight_set_activate(actor=None, weight_set=first)
    weight_sets.weight_set_activate(actor=None, weight_set=second)
    first.refresh_from_db()
    assert first.status == WeightSetStatus.DRAFT and not first.is_frozen
    assert weight_sets.weight_set_complete_activation(weight_set_id=first.pk) is False
    assert weight_sets.weight_set_complete_activation(weight_set_id=second.pk) is True
    assert weight_sets.weight_set_complete_activation(weight_set_id=second.pk) is False  # safe to run twice
    assert WeightSet.objects.active() == second


def test_a_lost_activation_is_finished_by_the_reconcile(monkeypatch: pytest.MonkeyPatch) -> None:
    from cooperation import tasks

    monkeypatch.setattr(tasks.activate_weight_set, "delay", lambda pk: None)
    ActivityFactory(start_date=D(2017, 3, 1))
    pending = weight_sets.weight_set_create(actor=None, name="Pending")
    weight_sets.weight_set_activate(actor=None, weight_set=pending)
    assert tasks.reconcile_intensity_rollups() == {"relationships": 1, "rows": 1, "activated": 1}
    assert WeightSet.objects.active() == pending


def test_only_drafts_can_be_deleted() -> None:
    draft = weight_sets.weight_set_create(actor=None, name="Draft", area_weights={area("medicine"): Decimal(2)})
    weight_sets.weight_set_delete(actor=None, weight_set=draft)
    assert not WeightSet.objects.filter(pk=draft.pk).exists()
    assert not AreaWeight.objects.exists()
    with pytest.raises(ValidationError, match="cannot be deleted"):
        weight_sets.weight_set_delete(actor=None, weight_set=WeightSet.objects.active())
