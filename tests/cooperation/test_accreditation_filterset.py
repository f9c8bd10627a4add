"""AccreditationFilterSet: every field filterable, choices scoped to the user."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from cooperation.filtersets import AccreditationFilterSet
from cooperation.models import Accreditation
from tests.conftest import World
from tests.factories import AccreditationFactory, AttacheFactory, PostFactory

pytestmark = pytest.mark.django_db

COVERED_ELSEWHERE = {
    "notes": "q",
    "updated_at": "updated_since",
    "version": None,  # a concurrency token
    "idempotency_key": None,  # the one-time key of the form that requested it, not a property
}


def filtered(user: Any, **params: object) -> set[str]:
    request = RequestFactory().get("/")
    request.user = user
    filterset = AccreditationFilterSet(params, queryset=Accreditation.objects.visible_to(user), request=request)
    assert filterset.is_valid(), filterset.errors
    return {str(accreditation.attache) for accreditation in filterset.qs}


def test_every_model_field_has_a_filter() -> None:
    filters = set(AccreditationFilterSet.base_filters)
    for field in Accreditation._meta.concrete_fields:
        covering = COVERED_ELSEWHERE.get(field.name, field.name)
        assert covering is None or covering in filters, f"Accreditation.{field.name} has no filter"


def test_filters_by_status_kind_country_and_words(world: World) -> None:
    post = PostFactory(sending_country="US", host_country="BY", city="Minsk")
    AccreditationFactory(attache=AttacheFactory(name="Alice Active", sending_country="US"), post=post)
    AccreditationFactory(
        attache=AttacheFactory(name="Rob Requested", sending_country="US"),
        post=post,
        status="requested",
        agrement_on=None,
        accredited_on=None,
        notes="Awaiting the ministry",
    )
    assert filtered(world.officer_a, status=["requested"]) == {"Colonel Rob Requested"}
    assert filtered(world.officer_a, q="ministry awaiting") == {"Colonel Rob Requested"}
    assert filtered(world.officer_a, host_country="BY", kind=["resident"]) == {
        "Colonel Alice Active",
        "Colonel Rob Requested",
    }
    assert filtered(world.officer_b, host_country="BY") == set()  # not on desk B
