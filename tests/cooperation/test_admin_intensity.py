"""Admin: weight sets are edited and activated through the services; rollups are read-only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from cooperation import intensity
from cooperation.choices import WeightSetStatus
from cooperation.models import CooperationArea, IntensityRollup, WeightSet
from tests.conftest import World
from tests.factories import area

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for_admin(world: World) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def weight_set_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "Education first",
        "description": "Education counts double.",
        "protocol_weight": "1",
        "working_weight": "2",
        "senior_weight": "3",
        "ministerial_weight": "4",
    }
    form.update({f"area_{a.pk}": "1" for a in CooperationArea.objects.all()})
    form.update(overrides)
    return form


@pytest.mark.parametrize("model", ["weightset", "intensityrollup"])
def test_changelists_load_and_search(client_for_admin: Client, world: World, model: str) -> None:
    intensity.rebuild_rollups()
    response = client_for_admin.get(reverse(f"admin:cooperation_{model}_changelist"), {"q": "e"})
    content = response.content.decode()
    assert response.status_code == 200
    if model == "weightset":
        assert "Default (DESIGN.md)" in content
    else:
        assert "Belarus – United States" in content


def test_adding_a_weight_set_with_area_weights_goes_through_the_service(client_for_admin: Client, world: World) -> None:
    response = client_for_admin.post(
        reverse("admin:cooperation_weightset_add"),
        weight_set_form(**{f"area_{area('education').pk}": "2.000", "senior_weight": "3.5"}),
    )
    assert response.status_code == 302
    created = WeightSet.objects.get(name="Education first")
    assert (created.status, created.created_by, created.senior_weight) == (
        WeightSetStatus.DRAFT,
        world.admin,
        Decimal("3.5"),
    )
    assert dict(created.area_weights.values_list("area__code", "weight")) == {"education": Decimal(2)}


def test_the_add_form_refuses_a_zero_weight(client_for_admin: Client) -> None:
    response = client_for_admin.post(reverse("admin:cooperation_weightset_add"), weight_set_form(working_weight="0"))
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 0.001" in response.content.decode()
    assert not WeightSet.objects.filter(name="Education first").exists()


def test_a_draft_shows_its_area_weights_for_editing(client_for_admin: Client) -> None:
    from cooperation import weight_sets

    draft = weight_sets.weight_set_create(actor=None, name="Draft", area_weights={area("medicine"): Decimal(3)})
    response = client_for_admin.get(reverse("admin:cooperation_weightset_change", args=[draft.pk]))
    content = response.content.decode()
    assert f'name="area_{area("medicine").pk}" value="3.000"' in content
    assert f'name="area_{area("education").pk}" value="1"' in content


def test_the_active_set_is_frozen_in_the_admin(client_for_admin: Client) -> None:
    active = WeightSet.objects.active()
    url = reverse("admin:cooperation_weightset_change", args=[active.pk])
    page = client_for_admin.get(url)
    content = page.content.decode()
    assert "frozen: copy the set to change them" in content
    assert 'name="senior_weight"' not in content
    loaded = page.context["adminform"].form.initial["loaded_state"]
    response = client_for_admin.post(
        url,
        {"name": "Default, renamed", "description": "", "senior_weight": "9", "loaded_state": loaded, "_save": "Save"},
    )
    assert response.status_code == 302
    active.refresh_from_db()
    assert (active.name, active.senior_weight) == ("Default, renamed", Decimal(3))


def test_activate_action_switches_the_active_set(
    client_for_admin: Client, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    from cooperation import weight_sets

    draft = weight_sets.weight_set_create(actor=None, name="Draft")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for_admin.post(
            reverse("admin:cooperation_weightset_changelist"),
            {"action": "activate", "_selected_action": [draft.pk]},
            follow=True,
        )
    assert WeightSet.objects.active() == draft
    assert "being activated" in response.content.decode()
    assert set(IntensityRollup.objects.values_list("weight_set_id", flat=True)) == {draft.pk}


def test_activate_action_needs_exactly_one_set(client_for_admin: Client) -> None:
    from cooperation import weight_sets

    drafts = [weight_sets.weight_set_create(actor=None, name=name).pk for name in ("A", "B")]
    response = client_for_admin.post(
        reverse("admin:cooperation_weightset_changelist"),
        {"action": "activate", "_selected_action": drafts},
        follow=True,
    )
    assert "Select exactly one weight set to activate." in response.content.decode()
    assert WeightSet.objects.active().name == "Default (DESIGN.md)"


def test_copy_action_makes_drafts(client_for_admin: Client) -> None:
    active = WeightSet.objects.active()
    for _ in range(2):
        client_for_admin.post(
            reverse("admin:cooperation_weightset_changelist"), {"action": "copy", "_selected_action": [active.pk]}
        )
    copies = WeightSet.objects.filter(name__startswith="Default (DESIGN.md) (copy").order_by("pk")
    assert [(c.name, c.status) for c in copies] == [
        ("Default (DESIGN.md) (copy)", WeightSetStatus.DRAFT),
        ("Default (DESIGN.md) (copy 2)", WeightSetStatus.DRAFT),
    ]


def test_only_drafts_can_be_deleted_in_the_admin(client_for_admin: Client) -> None:
    from cooperation import weight_sets

    active = WeightSet.objects.active()
    assert client_for_admin.get(reverse("admin:cooperation_weightset_delete", args=[active.pk])).status_code == 403
    draft = weight_sets.weight_set_create(actor=None, name="Draft")
    response = client_for_admin.post(reverse("admin:cooperation_weightset_delete", args=[draft.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not WeightSet.objects.filter(pk=draft.pk).exists()


def test_rollups_are_read_only(client_for_admin: Client, world: World) -> None:
    intensity.rebuild_rollups()
    rollup = IntensityRollup.objects.first()
    assert rollup is not None
    assert client_for_admin.get(reverse("admin:cooperation_intensityrollup_add")).status_code == 403
    page = client_for_admin.get(reverse("admin:cooperation_intensityrollup_change", args=[rollup.pk]))
    assert page.status_code == 200
    assert 'name="conducted"' not in page.content.decode()
    response = client_for_admin.post(reverse("admin:cooperation_intensityrollup_change", args=[rollup.pk]), {})
    assert response.status_code == 403


def test_bulk_delete_refuses_a_selection_with_a_used_set_and_deletes_drafts(client_for_admin: Client) -> None:
    from cooperation import weight_sets

    active = WeightSet.objects.active()
    draft = weight_sets.weight_set_create(actor=None, name="Draft")
    url = reverse("admin:cooperation_weightset_changelist")
    response = client_for_admin.post(
        url, {"action": "delete_selected", "_selected_action": [active.pk, draft.pk], "post": "yes"}
    )
    assert response.status_code == 403
    assert WeightSet.objects.count() == 2
    response = client_for_admin.post(url, {"action": "delete_selected", "_selected_action": [draft.pk], "post": "yes"})
    assert response.status_code == 302
    assert list(WeightSet.objects.values_list("pk", flat=True)) == [active.pk]
