"""The application's database role cannot rewrite the audit: history events, their
contexts and security events refuse UPDATE and DELETE once written."""

from __future__ import annotations

import pghistory
import pytest
from django.db import InternalError, connection, transaction
from pghistory.models import Context

from cooperation.models import Activity
from tests.factories import ActivityFactory, RelationshipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def refused(sql: str, params: list[object]) -> str:
    with pytest.raises(InternalError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(caught.value)


def test_history_events_refuse_update_and_delete(migrated_data: None) -> None:
    activity = ActivityFactory(relationship=RelationshipFactory())
    assert Activity.pgh_event_model._meta.db_table == "cooperation_activityevent"  # type: ignore[attr-defined]
    update = "UPDATE cooperation_activityevent SET title = %s WHERE pgh_obj_id = %s"
    assert "Cannot update or delete" in refused(update, ["x", activity.pk])
    delete = "DELETE FROM cooperation_activityevent WHERE pgh_obj_id = %s"
    assert "Cannot update or delete" in refused(delete, [activity.pk])


def test_audit_contexts_cannot_be_rewritten_after_their_transaction(migrated_data: None) -> None:
    with transaction.atomic(), pghistory.context(user=1, action="test"):
        RelationshipFactory()
        # Within its own transaction pghistory may still merge metadata into it.
        context = Context.objects.get()
        Context.objects.filter(pk=context.pk).update(metadata={"user": 1, "action": "test", "more": True})
    assert "cannot be changed after its transaction" in refused(
        "UPDATE pghistory_context SET metadata = %s WHERE id = %s", ['{"user": 2}', str(context.pk)]
    )
    assert "cannot be deleted" in refused("DELETE FROM pghistory_context WHERE id = %s", [str(context.pk)])
    assert Context.objects.get().metadata == {"user": 1, "action": "test", "more": True}
