"""Reads shared by pages, exports, the API and the admin."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from django.apps import apps
from django.db import models
from pghistory.models import Events

# Bookkeeping columns that change on every write; the history shows them only through
# the entry's own "who" and "when".
HISTORY_NOISE = {"id", "version", "updated_at", "updated_by_id", "created_at", "created_by_id"}


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    when: datetime.datetime
    user: Any
    label: str
    action: str
    changes: list[tuple[str, Any, Any]]


def history_for(instance: models.Model, *, limit: int | None = None) -> list[HistoryEntry]:
    """The change history of one record, newest first: who, when, field: old → new."""
    events = Events.objects.tracks(instance).order_by("-pgh_created_at", "-pgh_id")
    if limit is not None:
        events = events[:limit]
    rows = list(events.values("pgh_created_at", "pgh_label", "pgh_diff", "pgh_data", "pgh_context"))
    user_model = apps.get_model("accounts", "User")
    user_ids = {(row["pgh_context"] or {}).get("user") for row in rows} - {None}
    users = user_model.objects.in_bulk(user_ids)
    verbose = {field.attname: str(field.verbose_name) for field in instance._meta.concrete_fields}
    entries = []
    for row in rows:
        context = row["pgh_context"] or {}
        if row["pgh_label"] == "insert":
            changes = [
                (verbose.get(name, name), None, value)
                for name, value in (row["pgh_data"] or {}).items()
                if name not in HISTORY_NOISE and name in verbose and value not in (None, "")
            ]
        else:
            changes = [
                (verbose.get(name, name), old, new)
                for name, (old, new) in (row["pgh_diff"] or {}).items()
                if name not in HISTORY_NOISE
            ]
        entries.append(
            HistoryEntry(
                when=row["pgh_created_at"],
                user=users.get(context.get("user")),
                label=row["pgh_label"],
                action=context.get("action", ""),
                changes=changes,
            )
        )
    return entries
