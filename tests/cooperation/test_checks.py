"""`python manage.py check --database default` names activities left less restricted
than their accreditation from before the database enforced the rule (cooperation/checks.py)."""

from __future__ import annotations

import io

import pytest
from django.core import checks
from django.core.management import call_command
from django.db import connection

from cooperation.choices import Classification
from cooperation.models import Accreditation, Activity
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory

pytestmark = pytest.mark.django_db


def channel_warnings() -> list[checks.CheckMessage]:
    return [
        message
        for message in checks.run_checks(tags=[checks.Tags.database], databases=["default"])
        if message.id == "cooperation.W001"
    ]


def link_before_the_rule(activity: Activity, accreditation: Accreditation) -> None:
    """A link as one written before migration 0015: with its trigger off (this transaction only)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending checks
        cursor.execute("ALTER TABLE cooperation_activity DISABLE TRIGGER activity_channel_not_more_restricted")
        Activity.objects.filter(pk=activity.pk).update(accreditation=accreditation)
        cursor.execute("ALTER TABLE cooperation_activity ENABLE TRIGGER activity_channel_not_more_restricted")


def test_activities_less_restricted_than_their_channel_are_named() -> None:
    restricted: Accreditation = AccreditationFactory.create(
        attache=AttacheFactory(sending_country="US"),
        post=PostFactory(sending_country="US", host_country="BY"),
        releasability=Classification.RESTRICTED,
    )
    fine = ActivityFactory(
        relationship=restricted.relationship, accreditation=restricted, releasability=Classification.RESTRICTED
    )
    old = ActivityFactory(relationship=restricted.relationship, releasability=Classification.INTERNAL)
    assert channel_warnings() == []

    link_before_the_rule(old, restricted)
    [warning] = channel_warnings()
    assert warning.level == checks.WARNING
    assert warning.msg == (
        f"1 activity runs through an accreditation more restricted than itself (database 'default'; ids {old.pk})."
    )
    assert str(fine.pk) not in warning.msg.split("ids ")[1]
    output = io.StringIO()
    call_command("check", "--database", "default", stderr=output, stdout=output)
    assert "cooperation.W001" in output.getvalue() and f"ids {old.pk})" in output.getvalue()


def test_checks_without_a_database_do_not_read_it(django_assert_num_queries: object) -> None:
    with django_assert_num_queries(0):  # type: ignore[operator]
        assert [m for m in checks.run_checks() if m.id == "cooperation.W001"] == []
