"""One scoping method decides what each user sees: desk, clearance, soft delete."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from cooperation.models import Accreditation, Activity, Desk, Relationship
from tests.conftest import World
from tests.factories import AccreditationFactory, AttacheFactory, PostFactory


def titles(user: object, **kwargs: object) -> set[str]:
    return set(Activity.objects.visible_to(user, **kwargs).values_list("title", flat=True))  # type: ignore[arg-type]


def test_desk_officer_sees_own_desk_up_to_clearance(world: World) -> None:
    assert titles(world.officer_a) == {"a public", "a internal"}


def test_desk_officer_with_restricted_clearance_sees_restricted_on_own_desk_only(world: World) -> None:
    assert titles(world.officer_b) == {"b public", "b internal", "b restricted"}


def test_manager_and_api_client_see_every_desk_up_to_clearance(world: World) -> None:
    expected = {"a public", "a internal", "b public", "b internal"}
    assert titles(world.manager) == expected
    assert titles(world.api_client) == expected


def test_admin_sees_everything_whatever_the_clearance_field(world: World) -> None:
    assert titles(world.admin) == {f"{d} {c}" for d in "ab" for c in ("public", "internal", "restricted")}


def test_soft_deleted_records_are_hidden_unless_asked_for(world: World) -> None:
    assert "a deleted" not in titles(world.admin)
    assert "a deleted" in titles(world.admin, include_deleted=True)
    assert "a deleted" in titles(world.officer_a, include_deleted=True)
    assert "a deleted" not in titles(world.officer_b, include_deleted=True)


def test_anonymous_and_inactive_users_see_nothing(world: World) -> None:
    assert titles(AnonymousUser()) == set()
    assert titles(None) == set()
    world.manager.is_active = False
    world.manager.save()
    assert titles(world.manager) == set()


def test_an_inactive_desk_officer_sees_nothing_of_their_own_desk(world: World) -> None:
    """The manager above has no desks, so its check would pass on the desk rule alone: a
    desk officer keeps their desks when deactivated, and only `is_active` hides them."""
    assert titles(world.officer_a) == {"a public", "a internal"}
    world.officer_a.is_active = False
    world.officer_a.save()
    assert titles(world.officer_a) == set()
    assert titles(world.officer_a, include_deleted=True) == set()
    assert list(Relationship.objects.visible_to(world.officer_a)) == []
    assert list(Desk.objects.visible_to(world.officer_a)) == []
    assert list(Accreditation.objects.visible_to(world.officer_a)) == []


def test_counts_follow_the_same_rules(world: World) -> None:
    assert Activity.objects.visible_to(world.officer_a).count() == 2
    assert Activity.objects.visible_to(world.manager).filter(relationship=world.rel_b).count() == 2


def test_relationships_and_desks_are_scoped_for_desk_officers(world: World) -> None:
    assert list(Relationship.objects.visible_to(world.officer_a)) == [world.rel_a]
    assert set(Relationship.objects.visible_to(world.manager)) == {world.rel_a, world.rel_b}
    assert list(Desk.objects.visible_to(world.officer_a)) == [world.desk_a]
    assert set(Desk.objects.visible_to(world.manager)) == {world.desk_a, world.desk_b}


def test_accreditations_are_scoped_by_desk_and_clearance(world: World) -> None:
    post = PostFactory(sending_country="US", host_country="BY", city="Minsk")
    visible = AccreditationFactory(attache=AttacheFactory(sending_country="US"), post=post)
    restricted = AccreditationFactory(attache=AttacheFactory(sending_country="US"), post=post, releasability=30)
    other_desk = AccreditationFactory(
        attache=AttacheFactory(sending_country="US"),
        post=PostFactory(sending_country="US", host_country="CU", city="Havana"),
    )
    assert visible.relationship == world.rel_a and other_desk.relationship == world.rel_b
    assert set(Accreditation.objects.visible_to(world.officer_a)) == {visible}
    assert set(Accreditation.objects.visible_to(world.manager)) == {visible, other_desk}
    assert set(Accreditation.objects.visible_to(world.admin)) == {visible, restricted, other_desk}


def test_a_relationship_on_several_of_my_desks_is_not_counted_twice(world: World) -> None:
    world.desk_b.relationships.add(world.rel_a)
    world.desk_b.officers.add(world.officer_a)
    assert Activity.objects.visible_to(world.officer_a).count() == 4
