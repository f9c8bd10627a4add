"""The incremental-sync feed of activities: every change after a position, in commit order.

The position is (changed_at, activity id) of cooperation_activitychange, which the
database stamps at commit (see cooperation/models/sync.py and docs/decisions.md,
"Incremental sync"). A change shows as the record when the record is alive, visible to
the user and matches the request's filters, and as a tombstone otherwise — but only to a
user who could see some version of the record (its history), so a record that was never
visible to them does not exist for them here either.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.db.models import Exists, F, OuterRef, QuerySet

from cooperation.models import Activity, ActivityChange
from cooperation.models.visibility import can_see_all

if TYPE_CHECKING:
    from accounts.models import User


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    activity_id: int
    changed_at: datetime.datetime
    activity: Activity | None  # None: a tombstone (deleted, hidden from you, or no longer matching)

    @property
    def position(self) -> tuple[datetime.datetime, int]:
        return self.changed_at, self.activity_id


def activity_feed(
    *,
    user: User,
    matching: QuerySet[Activity],
    since: datetime.datetime | None = None,
    after: tuple[datetime.datetime, int] | None = None,
    limit: int,
) -> list[FeedEntry]:
    """Up to `limit` changes after `since` and after the position `after`, oldest first.

    `matching` is what the user asked for: visible, alive activities that pass the filters
    (select_related as the caller wants to serialize them).
    """
    from cooperation.api.pagination import RowCompare

    changes = ActivityChange.objects.filter(changed_at__isnull=False)
    if since is not None:
        changes = changes.filter(changed_at__gt=since)
    if after is not None:
        changes = changes.filter(changed_at__gte=after[0]).filter(
            RowCompare([F("changed_at"), F("activity_id")], list(after), greater=True)
        )
    if not can_see_all(user):
        event_model: Any = apps.get_model("cooperation", "ActivityEvent")
        ever_visible = event_model.objects.filter(pgh_obj_id=OuterRef("activity_id")).filter(
            Activity.objects.visibility_q(user)
        )
        changes = changes.filter(Exists(ever_visible))
    changes = changes.annotate(matches=Exists(matching.order_by().filter(pk=OuterRef("activity_id"))))
    rows = list(
        changes.order_by("changed_at", "activity_id").values_list("activity_id", "changed_at", "matches")[:limit]
    )
    wanted = [activity_id for activity_id, _, matches in rows if matches]
    records = matching.in_bulk(wanted) if wanted else {}
    return [
        FeedEntry(
            activity_id=activity_id, changed_at=cast(datetime.datetime, changed_at), activity=records.get(activity_id)
        )
        for activity_id, changed_at, _ in rows
    ]
