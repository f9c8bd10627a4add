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
    """The change history of one record, newest first: who, when, field: old → new.

    Values are shown as people read them: choice labels, and related records by name
    (fetched in one query per related model, not per value).
    """
    events = Events.objects.tracks(instance).order_by("-pgh_created_at", "-pgh_id")
    if limit is not None:
        events = events[:limit]
    rows = list(events.values("pgh_created_at", "pgh_label", "pgh_diff", "pgh_data", "pgh_context"))
    fields = {field.attname: field for field in instance._meta.concrete_fields}

    raw: list[tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any, Any]]]] = []
    for row in rows:
        context = row["pgh_context"] or {}
        if row["pgh_label"] == "insert":
            pairs = [
                (name, None, value)
                for name, value in (row["pgh_data"] or {}).items()
                if name in fields and value not in (None, "")
            ]
        else:
            pairs = [(name, old, new) for name, (old, new) in (row["pgh_diff"] or {}).items() if name in fields]
        raw.append((row, context, [(name, old, new) for name, old, new in pairs if name not in HISTORY_NOISE]))

    related_ids: dict[type[models.Model], set[Any]] = {}
    for _, _, pairs in raw:
        for name, old, new in pairs:
            field = fields[name]
            if field.is_relation and field.related_model is not None:
                related_ids.setdefault(field.related_model, set()).update(v for v in (old, new) if v is not None)
    user_model = apps.get_model("accounts", "User")
    user_ids = {context.get("user") for _, context, _ in raw} - {None}
    related_ids.setdefault(user_model, set()).update(user_ids)
    related = {model: model._default_manager.in_bulk(ids) for model, ids in related_ids.items() if ids}

    def display(name: str, value: Any) -> Any:
        field = fields[name]
        if value is None:
            return None
        if field.is_relation and field.related_model is not None:
            target = related.get(field.related_model, {}).get(value)
            return str(target) if target is not None else f"#{value}"
        if field.choices:
            return dict(field.flatchoices).get(value, value)
        return value

    return [
        HistoryEntry(
            when=row["pgh_created_at"],
            user=related.get(user_model, {}).get(context.get("user")),
            label=row["pgh_label"],
            action=context.get("action", ""),
            changes=[
                (str(fields[name].verbose_name), display(name, old), display(name, new)) for name, old, new in pairs
            ],
        )
        for row, context, pairs in raw
    ]
