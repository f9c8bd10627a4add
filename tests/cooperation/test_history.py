"""Every change lands in the audit history — single saves, bulk writes and QuerySet.update."""

from __future__ import annotations

import datetime

import pghistory
import pytest
from django.test import Client, override_settings
from django.urls import reverse
from pghistory.models import Events

from cooperation import services
from cooperation.models import Activity, Relationship
from cooperation.selectors import history_for
from tests.conftest import World
from tests.factories import ActivityFactory, RelationshipFactory, area

pytestmark = pytest.mark.django_db
ActivityEvent = Activity.pgh_event_model  # type: ignore[attr-defined]


def test_a_service_write_records_who_and_what_changed(world: World) -> None:
    activity = services.activity_create(
        actor=world.officer_a,
        relationship=world.rel_a,
        area=area("medicine"),
        title="Combat lifesaver course",
        kind="course",
        start_date=datetime.date(2018, 11, 5),
        participants=24,
    )
    services.activity_update(
        actor=world.officer_a, activity=activity, data={"participants": 26, "status": "conducted"}, expected_version=1
    )
    entries = history_for(activity)
    assert [entry.label for entry in entries] == ["update", "insert"]
    update = entries[0]
    assert update.user == world.officer_a
    assert update.action == "activity.update"
    assert sorted(update.changes) == [("participants", 24, 26), ("status", "Planned", "Conducted")]
    assert ("title", None, "Combat lifesaver course") in entries[1].changes


def test_bulk_create_is_recorded_row_by_row(world: World) -> None:
    rows = [
        Activity(
            relationship=world.rel_a,
            area=area(),
            title=f"bulk {n}",
            kind="course",
            start_date=datetime.date(2019, 1, n),
        )
        for n in range(1, 4)
    ]
    with pghistory.context(user=world.admin.pk):
        created = Activity.objects.bulk_create(rows)
    events = ActivityEvent.objects.filter(pgh_obj_id__in=[row.pk for row in created], pgh_label="insert")
    assert sorted(events.values_list("title", flat=True)) == ["bulk 1", "bulk 2", "bulk 3"]
    assert {event.pgh_context.metadata["user"] for event in events} == {world.admin.pk}


def test_bulk_update_is_recorded_with_old_and_new_values(world: World) -> None:
    rows = list(Activity.objects.filter(relationship=world.rel_a, deleted_at__isnull=True))
    for row in rows:
        row.participants = 77
    Activity.objects.bulk_update(rows, ["participants"])
    for row in rows:
        latest = history_for(row)[0]
        assert latest.label == "update"
        assert latest.changes == [("participants", 10, 77)]


def test_queryset_update_is_recorded_for_every_row(world: World) -> None:
    changed = Activity.objects.filter(relationship=world.rel_b).update(location="Havana")
    assert changed == 3
    events = ActivityEvent.objects.filter(pgh_label="update", location="Havana")
    assert events.count() == 3
    one = Activity.objects.filter(relationship=world.rel_b).first()
    assert history_for(one)[0].changes == [("location", "", "Havana")]


def test_an_update_that_changes_nothing_writes_no_event(world: World) -> None:
    before = ActivityEvent.objects.count()
    Activity.objects.filter(relationship=world.rel_b).update(location="")
    assert ActivityEvent.objects.count() == before


def test_hard_deletes_are_recorded(world: World) -> None:
    world.desk_a.relationships.remove(world.rel_a)
    link_events = Events.objects.across("cooperation.DeskRelationshipEvent").filter(pgh_label="delete")
    assert [(event.pgh_data["desk_id"], event.pgh_data["relationship_id"]) for event in link_events] == [
        (world.desk_a.pk, world.rel_a.pk)
    ]
    relationship = RelationshipFactory()
    relationship_id = relationship.pk
    relationship.delete()
    assert Relationship.pgh_event_model.objects.filter(  # type: ignore[attr-defined]
        pgh_obj_id=relationship_id, pgh_label="delete"
    ).exists()


def test_every_domain_model_is_tracked() -> None:
    from django.apps import apps

    tracked = {
        model.pgh_tracked_model._meta.label  # type: ignore[attr-defined]
        for model in apps.get_models()
        if hasattr(model, "pgh_tracked_model")
    }
    for label in (
        "cooperation.Post",
        "cooperation.Attache",
        "cooperation.Accreditation",
        "cooperation.Relationship",
        "cooperation.CooperationArea",
        "cooperation.Activity",
        "cooperation.Desk",
        "cooperation.DeskRelationship",
        "cooperation.DeskOfficer",
        "accounts.User",
    ):
        assert label in tracked


def test_history_rows_cannot_be_rewritten(world: World) -> None:
    from django.db import InternalError, transaction

    RelationshipFactory()
    event = Relationship.pgh_event_model.objects.first()  # type: ignore[attr-defined]
    with pytest.raises(InternalError), transaction.atomic():
        Relationship.pgh_event_model.objects.filter(pk=event.pk).update(notes="forged")  # type: ignore[attr-defined]
    with pytest.raises(InternalError), transaction.atomic():
        Relationship.pgh_event_model.objects.filter(pk=event.pk).delete()  # type: ignore[attr-defined]


def test_user_history_leaves_out_the_password_hash(world: World) -> None:
    world.manager.set_password("another-long-passphrase")
    world.manager.clearance = 30
    world.manager.save()
    latest = history_for(world.manager)[0]
    assert latest.changes == [("clearance", "Internal", "Restricted")]


def test_activity_factory_rows_are_tracked_too(db: None) -> None:
    activity = ActivityFactory()
    assert ActivityEvent.objects.filter(pgh_obj_id=activity.pk, pgh_label="insert").count() == 1


def test_history_shows_related_records_and_choices_by_name(world: World) -> None:
    activity = world.activities["a_internal"]
    services.activity_update(
        actor=world.admin,
        activity=activity,
        data={"area": area("demining"), "releasability": 10},
        expected_version=activity.version,
    )
    latest = history_for(activity)[0]
    assert sorted(latest.changes) == [
        ("area", "Military education", "Demining"),
        ("releasability", "Internal", "Public"),
    ]


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_web_changes_record_the_client_address(world: World) -> None:
    client = Client(REMOTE_ADDR="10.0.0.1")
    client.force_login(world.admin)
    activity = world.activities["a_public"]
    response = client.post(
        reverse("admin:cooperation_activity_changelist"),
        {"action": "soft_delete", "_selected_action": [activity.pk]},
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.77",
    )
    assert response.status_code == 302
    event = Events.objects.tracks(activity).order_by("-pgh_created_at").first()
    assert event is not None
    assert event.pgh_context["ip"] == "203.0.113.77"
    assert event.pgh_context["user"] == world.admin.pk


def test_the_history_names_only_the_related_records_the_viewer_may_see(world: World) -> None:
    """A desk officer with internal clearance reading an internal activity's history does
    not learn a restricted accreditation's details through it, nor through the changes shown
    when their save collides with someone else's; admins (and the admin site) see them."""
    from cooperation.choices import Classification
    from cooperation.selectors import describe_changes
    from tests.factories import AccreditationFactory, PostFactory

    secret = AccreditationFactory(
        post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        relationship=world.rel_a,
        releasability=Classification.RESTRICTED,
    )
    activity = world.activities["a_internal"]
    # The services refuse a channel more restricted than its activity (Activity.clean); a
    # row written around them, or a link made before the rule, must still not name it.
    Activity.objects.filter(pk=activity.pk).update(accreditation=secret, version=activity.version + 1)
    named = str(secret)
    assert "(resident, accredited)" in named

    def accreditation_change(viewer: object) -> tuple[str, object, object]:
        changes = {change[0]: change for change in history_for(activity, viewer=viewer)[0].changes}
        return changes["accreditation"]

    assert accreditation_change(world.officer_a) == ("accreditation", None, f"#{secret.pk}")
    assert accreditation_change(world.admin) == ("accreditation", None, named)
    assert accreditation_change(None) == ("accreditation", None, named)  # the admin site's view
    stale = {"accreditation": (None, secret.pk)}
    assert describe_changes(Activity, stale, viewer=world.officer_a) == [("Accreditation", "—", f"#{secret.pk}")]
    assert describe_changes(Activity, stale, viewer=world.admin) == [("Accreditation", "—", named)]

    client = Client()
    client.force_login(world.officer_a)
    page = client.get(reverse("workspace:activity_detail", kwargs={"pk": activity.pk})).content.decode()
    assert f"#{secret.pk}" in page
    assert "(resident, accredited)" not in page
