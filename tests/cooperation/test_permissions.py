"""Who may write what: `cooperation.permissions`, asked by the pages, the services and the importer."""

from __future__ import annotations

import pytest

from cooperation.choices import Classification
from cooperation.permissions import can_write_record, can_write_relationship, is_writer, writable_relationships
from tests.conftest import World

pytestmark = pytest.mark.django_db


def test_a_desk_officer_writes_own_desk_up_to_clearance_only(world: World) -> None:
    officer = world.officer_a  # desk A, internal
    assert can_write_record(officer, relationship_id=world.rel_a.pk, releasability=Classification.PUBLIC)
    assert can_write_record(officer, relationship_id=world.rel_a.pk, releasability=Classification.INTERNAL)
    assert not can_write_record(officer, relationship_id=world.rel_a.pk, releasability=Classification.RESTRICTED)
    assert not can_write_record(officer, relationship_id=world.rel_b.pk, releasability=Classification.PUBLIC)
    assert can_write_relationship(officer, world.rel_a.pk) and not can_write_relationship(officer, world.rel_b.pk)
    assert list(writable_relationships(officer)) == [world.rel_a]


def test_restricted_clearance_writes_restricted_on_own_desk(world: World) -> None:
    officer = world.officer_b  # desk B, restricted
    assert can_write_record(officer, relationship_id=world.rel_b.pk, releasability=Classification.RESTRICTED)
    assert not can_write_record(officer, relationship_id=world.rel_a.pk, releasability=Classification.PUBLIC)


def test_admins_write_everything_and_readers_nothing(world: World) -> None:
    for level in Classification:
        assert can_write_record(world.admin, relationship_id=world.rel_b.pk, releasability=level)
    for reader in (world.manager, world.api_client):
        assert not is_writer(reader)
        assert not can_write_record(reader, relationship_id=world.rel_a.pk, releasability=Classification.PUBLIC)
        assert list(writable_relationships(reader)) == []


def test_an_inactive_desk_officer_writes_nothing(world: World) -> None:
    world.officer_a.is_active = False
    world.officer_a.save()
    assert not is_writer(world.officer_a)
    assert not can_write_record(world.officer_a, relationship_id=world.rel_a.pk, releasability=Classification.PUBLIC)
    assert list(writable_relationships(world.officer_a)) == []
