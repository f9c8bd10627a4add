"""The channel rule (an activity is never less restricted than the accreditation it ran
through) holds when a link and a raise of the accreditation's releasability arrive at the
same time: each checks the other's committed state, never a state from before it
(services._lock_channel, accreditation_update's row lock, the import's locked levels)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cooperation import services
from cooperation.bulk import activity_bulk_import
from cooperation.choices import Classification
from cooperation.models import Accreditation, Activity
from tests.concurrency import hold_open
from tests.factories import AccreditationFactory, AttacheFactory, PostFactory, course_values, import_row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def channel(migrated_data: None) -> Accreditation:
    """An internal accreditation, US attaché in Minsk."""
    accreditation: Accreditation = AccreditationFactory.create(
        attache=AttacheFactory(sending_country="US"),
        post=PostFactory(sending_country="US", host_country="BY"),
        releasability=Classification.INTERNAL,
    )
    return accreditation


def raise_to_restricted(accreditation: Accreditation) -> Accreditation:
    return services.accreditation_update(
        actor=None,
        accreditation=accreditation,
        data={"releasability": Classification.RESTRICTED},
        expected_version=None,
    )


def link_internal_activity(accreditation: Accreditation) -> Activity:
    return services.activity_create(
        actor=None,
        **course_values(relationship=accreditation.relationship, accreditation=accreditation, title="Via the channel"),
    )


def linked_below(accreditation: Accreditation) -> int:
    current = Accreditation.objects.get(pk=accreditation.pk)
    return Activity.objects.filter(accreditation=current, releasability__lt=current.releasability).count()


def test_a_link_arriving_during_a_raise_waits_and_is_refused(channel: Accreditation) -> None:
    results = hold_open(lambda: raise_to_restricted(channel), lambda: link_internal_activity(channel))
    assert isinstance(results["first"], Accreditation), results
    assert results["second waited"], "the link should wait for the raise to commit"
    assert isinstance(results["second"], ValidationError), results
    assert "cannot be more restricted than the activity" in str(results["second"].message_dict["accreditation"])
    assert not Activity.objects.filter(title="Via the channel").exists()
    assert Accreditation.objects.get(pk=channel.pk).releasability == Classification.RESTRICTED


def test_a_raise_arriving_during_a_link_waits_and_is_refused(channel: Accreditation) -> None:
    results = hold_open(lambda: link_internal_activity(channel), lambda: raise_to_restricted(channel))
    assert isinstance(results["first"], Activity), results
    assert results["second waited"], "the raise should wait for the link to commit"
    assert isinstance(results["second"], ValidationError), results
    assert "1 activity that ran through this accreditation is less restricted" in str(
        results["second"].message_dict["releasability"]
    )
    assert Accreditation.objects.get(pk=channel.pk).releasability == Classification.INTERNAL
    assert linked_below(channel) == 0


def test_an_edit_lowering_an_activity_during_a_raise_is_refused(channel: Accreditation) -> None:
    activity = services.activity_create(
        actor=None,
        **course_values(
            relationship=channel.relationship,
            accreditation=channel,
            title="Restricted course",
            releasability=Classification.RESTRICTED,
        ),
    )
    Accreditation.objects.filter(pk=channel.pk).update(releasability=Classification.RESTRICTED)
    channel.refresh_from_db()

    def lower() -> Activity:
        return services.activity_update(
            actor=None,
            activity=activity,
            data={"releasability": Classification.INTERNAL},
            expected_version=activity.version,
        )

    # The accreditation is held (as by a raise in flight); the edit must read it afresh.
    results = hold_open(lambda: raise_to_restricted(channel), lower)
    assert results["second waited"], "the edit should wait for the accreditation to be released"
    assert isinstance(results["second"], ValidationError), results
    assert Activity.objects.get(pk=activity.pk).releasability == Classification.RESTRICTED
    assert linked_below(channel) == 0


def test_an_import_linking_during_a_raise_waits_and_refuses_the_row(channel: Accreditation) -> None:
    results = hold_open(
        lambda: raise_to_restricted(channel),
        lambda: activity_bulk_import(
            actor=None,
            rows=[import_row(2, external_ref="race-1", area="demining", accreditation=str(channel.pk))],
        ),
    )
    assert results["second waited"], "the import should wait for the raise to commit"
    result = results["second"]
    assert not isinstance(result, BaseException), result
    assert [(error.row, error.column) for error in result.errors] == [(2, "accreditation")], result.errors
    assert "cannot be more restricted than the activity" in result.errors[0].message
    assert not Activity.objects.filter(external_ref="race-1").exists()
