"""factory_boy factories for the domain. They write rows directly (no services), so
tests can set up any state, including ones the services would refuse."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import factory
from django.utils import timezone

from accounts.models import User
from cooperation.bulk import ImportRow
from cooperation.choices import (
    AccreditationKind,
    AccreditationStatus,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    Classification,
    Role,
)
from cooperation.models import Accreditation, Activity, Attache, CooperationArea, Desk, Post, Relationship

COUNTRIES = [
    "AT", "BE", "BG", "CA", "CH", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GE", "GR", "HR", "HU",
    "IE", "IT", "KZ", "LT", "LV", "MD", "NL", "NO", "PL", "PT", "RO", "RS", "SE", "SI", "SK", "TR", "AM",
]  # fmt: skip
PAIRS = list(itertools.combinations(sorted(COUNTRIES), 2))


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.DESK_OFFICER
    clearance = Classification.INTERNAL
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def desks(self, create: bool, extracted: list[Desk] | None, **kwargs: object) -> None:
        if create and extracted:
            self.desks.add(*extracted)

    @classmethod
    def _after_postgeneration(cls, instance: User, create: bool, results: object = None) -> None:
        if create:
            instance.save()


class RelationshipFactory(factory.django.DjangoModelFactory[Relationship]):
    class Meta:
        model = Relationship

    class Params:
        pair = factory.Sequence(lambda n: free_pair(n))

    state_a = factory.LazyAttribute(lambda o: o.pair[0])
    state_b = factory.LazyAttribute(lambda o: o.pair[1])


def free_pair(n: int) -> tuple[str, str]:
    """The n-th pair of PAIRS, or the next one no relationship holds yet: a test may have
    created a pair explicitly (e.g. EE–LV) that the sequence would reach, and the pair is
    unique, so where the sequence stands when a test starts must not matter."""
    taken = {tuple(sorted(pair)) for pair in Relationship.objects.values_list("state_a", "state_b")}
    for offset in range(len(PAIRS)):
        pair = PAIRS[(n + offset) % len(PAIRS)]
        if pair not in taken:
            return pair
    raise RuntimeError("every pair of states has a relationship already")


class DeskFactory(factory.django.DjangoModelFactory[Desk]):
    class Meta:
        model = Desk
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Desk {n}")

    @factory.post_generation
    def relationships(self, create: bool, extracted: list[Relationship] | None, **kwargs: object) -> None:
        if create and extracted:
            self.relationships.add(*extracted)


def course_values(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments of `services.activity_create` for a demining course (the
    relationship, at least, among `overrides`)."""
    return {
        "area": area("demining"),
        "title": "Mine clearance course",
        "kind": "course",
        "start_date": datetime.date(2017, 4, 3),
        "end_date": datetime.date(2017, 4, 14),
        "participants": 12,
        "releasability": Classification.INTERNAL,
        **overrides,
    }


def area(code: str = "education") -> CooperationArea:
    return CooperationArea.objects.get(code=code)


class PostFactory(factory.django.DjangoModelFactory[Post]):
    class Meta:
        model = Post

    name = factory.Sequence(lambda n: f"Embassy {n}")
    sending_country = "US"
    host_country = "UA"
    city = "Kyiv"


class AttacheFactory(factory.django.DjangoModelFactory[Attache]):
    class Meta:
        model = Attache

    name = factory.Sequence(lambda n: f"Attaché {n}")
    rank = "Colonel"
    sending_country = "US"


class AccreditationFactory(factory.django.DjangoModelFactory[Accreditation]):
    """An active resident accreditation unless told otherwise."""

    class Meta:
        model = Accreditation

    attache = factory.SubFactory(AttacheFactory)
    post = factory.SubFactory(PostFactory)
    host_country = factory.LazyAttribute(lambda o: o.post.host_country)
    relationship = factory.LazyAttribute(
        lambda o: Relationship.objects.get_or_create(
            state_a=min(str(o.attache.sending_country), str(o.host_country)),
            state_b=max(str(o.attache.sending_country), str(o.host_country)),
        )[0]
    )
    kind = AccreditationKind.RESIDENT
    status = AccreditationStatus.ACCREDITED
    requested_on = datetime.date(2015, 1, 5)
    agrement_on = datetime.date(2015, 2, 5)
    accredited_on = datetime.date(2015, 3, 5)


class ActivityFactory(factory.django.DjangoModelFactory[Activity]):
    class Meta:
        model = Activity

    relationship = factory.SubFactory(RelationshipFactory)
    area = factory.LazyFunction(area)
    title = factory.Sequence(lambda n: f"Activity {n}")
    kind = ActivityKind.COURSE
    level = ActivityLevel.WORKING
    status = ActivityStatus.CONDUCTED
    start_date = datetime.date(2017, 3, 1)
    participants = 10
    releasability = Classification.INTERNAL
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)


def import_row(number: int = 2, **values: Any) -> ImportRow:
    """Row `number` of an activity import (cooperation.bulk): an education course, BY–US,
    conducted in Minsk, internal; `values` replace columns by name."""
    base = {
        "external_ref": f"ext-{number}",
        "state_a": "BY",
        "state_b": "US",
        "area": "education",
        "title": f"Imported {number}",
        "kind": "course",
        "level": "working",
        "status": "conducted",
        "start_date": "2017-03-01",
        "end_date": "",
        "location": "Minsk",
        "participants": "12",
        "counterpart": "",
        "description": "",
        "outcome": "",
        "releasability": "internal",
        "accreditation": "",
    }
    base.update(values)
    return ImportRow(number, base)
