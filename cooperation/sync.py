"""The incremental-sync feed of activities: every change after a position, in commit order.

The position is (changed_at, activity id) of cooperation_activitychange, which the
database stamps at commit (see cooperation/models/sync.py and docs/decisions.md,
"Incremental sync"). A change shows as the record when the record is alive, visible to
the user and matches the request's filters, and as a tombstone otherwise — but only when
the user can see the record now, or the client may hold it: the record was visible to the
user at the client's `since`, or during the walk, after its first page and before the
position reached (ActivityScopeChange; docs/decisions.md, "Exact sync tombstones (scope)").
A record that left the user's view before the client's `since` does not exist for it here.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, cast

from django.db import connection
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Subquery, When

from cooperation.models import Activity, ActivityChange, ActivityScopeChange

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


def clock() -> datetime.datetime | None:
    """The latest commit stamp in this transaction's snapshot: every change the snapshot
    does not see is stamped later (the feed's `walk_started`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT stamped_at FROM cooperation_changeclock")
        row = cursor.fetchone()
    return row[0] if row else None


def activity_feed(
    *,
    user: User,
    matching: QuerySet[Activity],
    since: datetime.datetime | None = None,
    after: tuple[datetime.datetime, int] | None = None,
    walk_started: datetime.datetime | None = None,
    limit: int,
) -> list[FeedEntry]:
    """Up to `limit` changes after `since` and after the position `after`, oldest first.

    `matching` is what the user asked for: visible, alive activities that pass the filters
    (select_related as the caller wants to serialize them). `walk_started` is `clock()` as
    the walk's first page saw it (None: as if the walk started at `since`).
    """
    from cooperation.api.pagination import RowCompare

    changes = ActivityChange.objects.filter(changed_at__isnull=False)
    if since is not None:
        changes = changes.filter(changed_at__gt=since)
    if after is not None:
        changes = changes.filter(changed_at__gte=after[0]).filter(
            RowCompare([F("changed_at"), F("activity_id")], list(after), greater=True)
        )
    visible = Activity.objects.visibility_q(user) & Q(deleted=False)
    scopes = ActivityScopeChange.objects.filter(activity_id=OuterRef("activity_id")).order_by("-changed_at", "-id")

    # Each test is one probe of the record's latest transition by a stamp (an index scan
    # that stops at the first row, never a scan of every activity or transition per page).
    def as_of(stamp: datetime.datetime | None, condition: Q) -> Subquery:
        """Whether the record's scope at `stamp` (the latest transition by then; None: now) met `condition`."""
        latest = scopes if stamp is None else scopes.filter(changed_at__lte=stamp)
        return Subquery(latest.annotate(ok=Case(When(condition, then=True), default=False)).values("ok")[:1])

    # A tombstone for a record hidden from the user now only if the client may hold it.
    changes = changes.alias(visible_now=as_of(None, visible))
    held = Q(visible_now=True)
    if since is not None:
        changes = changes.alias(held_at_since=as_of(since, visible))
        held |= Q(held_at_since=True)
    if after is not None:
        # Sent during this walk: visible at a position the walk has passed, and still when it began.
        last_passed = scopes.filter(visible, changed_at__lte=after[0]).values("changed_at")[:1]
        changes = changes.alias(last_passed=Subquery(last_passed))
        started = walk_started or since
        if started is None:
            held |= Q(last_passed__isnull=False)
        else:
            changes = changes.alias(held_at_start=as_of(started, visible & Q(changed_at__lte=after[0])))
            held |= Q(held_at_start=True) | Q(last_passed__gt=started)
    changes = changes.filter(held).annotate(matches=Exists(matching.order_by().filter(pk=OuterRef("activity_id"))))
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
