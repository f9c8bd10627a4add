"""The database itself enforces the domain's rules; validation reports them clearly first."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cooperation.choices import AccreditationKind, AccreditationStatus
from cooperation.models import Accreditation, Activity, Attache, Relationship
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory, RelationshipFactory

pytestmark = pytest.mark.django_db
D = datetime.date


def db_rejects(constraint: str, action) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        action()
    assert constraint in str(caught.value)


def validation_messages(instance: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()  # type: ignore[attr-defined]
    return caught.value.messages


# Activities ---------------------------------------------------------------------------


def test_activity_end_before_start_is_rejected() -> None:
    activity = ActivityFactory(start_date=D(2017, 5, 10))
    activity.end_date = D(2017, 5, 9)
    assert "The end date cannot be before the start date." in validation_messages(activity)
    db_rejects(
        "activity_dates_in_order", lambda: Activity.objects.filter(pk=activity.pk).update(end_date=D(2017, 5, 9))
    )


def test_activity_negative_participants_are_rejected() -> None:
    activity = ActivityFactory()
    activity.participants = -1
    assert "Participants cannot be negative." in validation_messages(activity)
    db_rejects(
        "activity_participants_non_negative", lambda: Activity.objects.filter(pk=activity.pk).update(participants=-1)
    )


def test_activity_zero_participants_and_same_day_end_are_fine() -> None:
    activity = ActivityFactory(participants=0, start_date=D(2017, 5, 10), end_date=D(2017, 5, 10))
    activity.full_clean()
    assert activity.days == 1


def test_unknown_choice_values_are_rejected_by_the_database() -> None:
    activity = ActivityFactory()
    db_rejects("activity_status_valid", lambda: Activity.objects.filter(pk=activity.pk).update(status="done"))
    db_rejects("activity_releasability_valid", lambda: Activity.objects.filter(pk=activity.pk).update(releasability=99))


def test_activity_accreditation_must_belong_to_the_activity_relationship() -> None:
    accreditation = AccreditationFactory()  # US attaché resident in Ukraine
    other = RelationshipFactory()
    activity = ActivityFactory(relationship=other)
    activity.accreditation = accreditation
    messages = validation_messages(activity)
    assert any("This accreditation belongs to Ukraine – United States" in message for message in messages)
    db_rejects(
        "activity_accreditation_in_relationship",
        lambda: Activity.objects.filter(pk=activity.pk).update(accreditation=accreditation),
    )
    # The same accreditation on its own relationship is accepted.
    Activity.objects.filter(pk=activity.pk).update(accreditation=accreditation, relationship=accreditation.relationship)


# Relationships ------------------------------------------------------------------------


def test_one_relationship_per_pair_whatever_the_order() -> None:
    Relationship.objects.create(state_a="BY", state_b="US")
    duplicate = Relationship(state_a="US", state_b="BY")
    assert "A relationship between these two states already exists." in validation_messages(duplicate)
    db_rejects("relationship_unique_pair", lambda: Relationship.objects.create(state_a="US", state_b="BY"))
    db_rejects("relationship_unique_pair", lambda: Relationship.objects.create(state_a="BY", state_b="US"))


def test_a_relationship_needs_two_states() -> None:
    assert "A relationship needs two different states." in validation_messages(Relationship(state_a="BY", state_b="BY"))
    db_rejects("relationship_two_states", lambda: Relationship.objects.create(state_a="BY", state_b="BY"))


# Accreditations ------------------------------------------------------------------------


def test_one_active_resident_accreditation_per_attache() -> None:
    first = AccreditationFactory()
    second_post = PostFactory(sending_country="US", host_country="PL", city="Warsaw")
    second = Accreditation(
        attache=first.attache,
        post=second_post,
        host_country="PL",
        relationship=RelationshipFactory(state_a="PL", state_b="US"),
        kind=AccreditationKind.RESIDENT,
        status=AccreditationStatus.ACCREDITED,
        requested_on=D(2016, 1, 1),
        agrement_on=D(2016, 2, 1),
        accredited_on=D(2016, 3, 1),
    )
    assert "This attaché already holds an active resident accreditation." in validation_messages(second)
    db_rejects("accreditation_one_active_resident_per_attache", second.save)
    # Once the first has ended, the second may become active.
    Accreditation.objects.filter(pk=first.pk).update(status=AccreditationStatus.ENDED, ended_on=D(2016, 2, 28))
    second.save()


@pytest.mark.parametrize(
    ("changes", "constraint", "message"),
    [
        ({"agrement_on": D(2014, 12, 31)}, "accreditation_agrement_after_request", "Agrément cannot be granted before"),
        (
            {"accredited_on": D(2015, 2, 1)},
            "accreditation_accredited_after_agrement",
            "Credentials cannot be presented",
        ),
        (
            {"status": AccreditationStatus.ENDED, "ended_on": D(2015, 3, 1)},
            "accreditation_ended_after_accredited",
            "An accreditation cannot end before it began.",
        ),
        ({"ended_on": D(2016, 1, 1)}, "accreditation_accredited_status_has_date", "An active accreditation needs"),
        ({"status": AccreditationStatus.ENDED}, "accreditation_ended_status_has_date", "An ended accreditation needs"),
        (
            {"status": AccreditationStatus.REFUSED, "refused_on": D(2014, 1, 1)},
            "accreditation_refused_after_request",
            "A request cannot be refused before",
        ),
        (
            {"status": AccreditationStatus.WITHDRAWN},
            "accreditation_withdrawn_status_has_date",
            "A withdrawn accreditation needs",
        ),
    ],
)
def test_accreditation_dates_and_statuses_stay_consistent(changes: dict, constraint: str, message: str) -> None:
    accreditation = AccreditationFactory()
    for name, value in changes.items():
        setattr(accreditation, name, value)
    assert any(text.startswith(message) for text in validation_messages(accreditation))
    db_rejects(constraint, lambda: Accreditation.objects.filter(pk=accreditation.pk).update(**changes))


def test_one_open_accreditation_per_attache_and_host_country() -> None:
    first = AccreditationFactory(status=AccreditationStatus.REQUESTED, agrement_on=None, accredited_on=None)
    again = Accreditation(
        attache=first.attache,
        post=first.post,
        host_country=first.host_country,
        relationship=first.relationship,
        kind=first.kind,
        requested_on=D(2015, 6, 1),
    )
    assert "This attaché already has an open accreditation to this country." in validation_messages(again)
    db_rejects("accreditation_one_open_per_attache_and_host", again.save)


def test_attache_service_must_be_known() -> None:
    attache = AttacheFactory()
    db_rejects("attache_service_valid", lambda: Attache.objects.filter(pk=attache.pk).update(service="space"))


# The channel rule ----------------------------------------------------------------------


def _channel(releasability: int) -> Accreditation:
    accreditation: Accreditation = AccreditationFactory.create(
        attache=AttacheFactory(sending_country="US"),
        post=PostFactory(sending_country="US", host_country="BY"),
        releasability=releasability,
    )
    return accreditation


def test_an_activity_less_restricted_than_its_channel_is_rejected_by_the_database() -> None:
    from cooperation.choices import Classification

    internal, restricted = _channel(Classification.INTERNAL), _channel(Classification.RESTRICTED)
    activity = ActivityFactory(relationship=internal.relationship, accreditation=internal)
    rule = "activity_channel_not_more_restricted"
    db_rejects(rule, lambda: Activity.objects.filter(pk=activity.pk).update(accreditation=restricted))
    db_rejects(rule, lambda: Activity.objects.filter(pk=activity.pk).update(releasability=Classification.PUBLIC))
    db_rejects(
        rule,
        lambda: ActivityFactory(
            relationship=restricted.relationship, accreditation=restricted, releasability=Classification.INTERNAL
        ),
    )
    # Equal or more restricted is fine, as is no channel at all.
    Activity.objects.filter(pk=activity.pk).update(accreditation=restricted, releasability=Classification.RESTRICTED)
    Activity.objects.filter(pk=activity.pk).update(accreditation=None, releasability=Classification.PUBLIC)
    activity.refresh_from_db()
    assert (activity.accreditation_id, activity.releasability) == (None, Classification.PUBLIC)


def test_an_accreditation_raised_above_its_activities_is_rejected_by_the_database() -> None:
    from cooperation.choices import Classification

    channel = _channel(Classification.PUBLIC)
    ActivityFactory(relationship=channel.relationship, accreditation=channel, releasability=Classification.INTERNAL)
    rule = "accreditation_not_above_its_activities"
    raise_it = Accreditation.objects.filter(pk=channel.pk)
    db_rejects(rule, lambda: raise_it.update(releasability=Classification.RESTRICTED))
    Accreditation.objects.filter(pk=channel.pk).update(releasability=Classification.INTERNAL)
    channel.refresh_from_db()
    assert channel.releasability == Classification.INTERNAL
    # The message the services give first is unchanged.
    channel.releasability = Classification.RESTRICTED
    assert validation_messages(channel) == [
        "1 activity that ran through this accreditation is less restricted: it cannot be more restricted than "
        "the activities that ran through it. Raise theirs first."
    ]
