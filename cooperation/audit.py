"""The audit history: trigger-based (django-pghistory), so bulk writes and
QuerySet.update() are recorded as surely as single saves."""

from __future__ import annotations

from typing import Any

import pghistory


def audited(**options: Any) -> Any:
    """Track inserts, updates and hard deletes of a model.

    Fresh tracker instances per model: pghistory's PGHISTORY_DEFAULT_TRACKERS setting
    deep-copies them, which breaks statement-level triggers.
    """
    return pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), **options)
