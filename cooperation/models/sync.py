"""The change feed behind the API's incremental sync (`updated_since`).

One row per activity that ever existed, stamped by the database when the transaction
that last changed the activity commits: `changed_at` strictly increases from one
committing transaction to the next and is equal within one. Triggers in migration 0004
keep it, so bulk writes (COPY, INSERT … SELECT, QuerySet.update) are covered like single
saves; the application never writes it. See docs/decisions.md, "Incremental sync".
"""

from __future__ import annotations

from django.db import models


class ActivityChange(models.Model):
    activity = models.OneToOneField(
        "cooperation.Activity",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # the row outlives a hard-deleted activity as its tombstone
        related_name="change",
    )
    # NULL only inside the writing transaction, until its commit stamps it.
    changed_at = models.DateTimeField(null=True, editable=False)
    # The activity row itself is gone (hard delete); soft deletes keep the row.
    purged = models.BooleanField(default=False, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["changed_at", "activity"], name="activitychange_feed_idx"),
            models.Index(
                fields=["activity"], condition=models.Q(changed_at__isnull=True), name="activitychange_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"activity {self.activity_id} changed at {self.changed_at}"


class ActivityScopeChange(models.Model):
    """A transition of what decides who may see an activity: its relationship (desks), its
    releasability (clearance) and whether it is deleted. Append-only: the triggers of
    migration 0016 add a row when an activity is inserted, deleted (soft or hard) or
    changes one of these, and the commit stamps it with the same `changed_at` as the
    transaction's ActivityChange rows. The sync feed reads the scope an activity had at a
    client's `since`, to send a tombstone only to a client that may hold the record (see
    docs/decisions.md, "Exact sync tombstones (scope)")."""

    activity = models.ForeignKey(
        "cooperation.Activity", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # NULL only inside the writing transaction, until its commit stamps it.
    changed_at = models.DateTimeField(null=True, editable=False)
    relationship = models.ForeignKey(
        "cooperation.Relationship", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    releasability = models.PositiveSmallIntegerField()
    deleted = models.BooleanField()

    class Meta:
        indexes = [
            models.Index(fields=["activity", "changed_at", "id"], name="activityscope_asof_idx"),
            models.Index(
                fields=["activity"], condition=models.Q(changed_at__isnull=True), name="activityscope_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"activity {self.activity_id} scope at {self.changed_at}"
