"""Reads shared by pages, exports, the API and the admin."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Exists, OuterRef, Q, Value
from django.utils.text import capfirst
from pghistory.models import Events

from cooperation.choices import AccreditationKind
from cooperation.models import Accreditation
from cooperation.models.visibility import visible_snapshots

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


def _related_records(related_ids: dict[type[models.Model], set[Any]], viewer: Any) -> dict[type[models.Model], dict]:
    """The related records named in a history or a change list, one query per model. With
    a `viewer`, records they may not see (a restricted accreditation, another desk's
    relationship) are left out and shown by id only."""
    related: dict[type[models.Model], dict] = {}
    for model, ids in related_ids.items():
        if not ids:
            continue
        queryset = model._default_manager.filter(pk__in=ids)
        if viewer is not None and hasattr(queryset, "visible_to"):
            queryset = queryset.visible_to(viewer)
        related[model] = {record.pk: record for record in queryset}
    return related


def _readable(field: models.Field, value: Any, related: dict[type[models.Model], dict]) -> Any:
    """A stored value as people read it: a related record by name, a choice by label."""
    if field.is_relation and field.related_model is not None:
        target = related.get(field.related_model, {}).get(value)
        return str(target) if target is not None else f"#{value}"
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    return value


def _related_ids(fields: dict[str, models.Field], pairs: Any) -> dict[type[models.Model], set[Any]]:
    related_ids: dict[type[models.Model], set[Any]] = {}
    for name, old, new in pairs:
        field = fields[name]
        if field.is_relation and field.related_model is not None:
            related_ids.setdefault(field.related_model, set()).update(v for v in (old, new) if v is not None)
    return related_ids


def history_for(instance: models.Model, *, limit: int | None = None, viewer: Any = None) -> list[HistoryEntry]:
    """The change history of one record, newest first: who, when, field: old → new.

    Values are shown as people read them: choice labels, and related records by name
    (fetched in one query per related model, not per value); with a `viewer`, only the
    related records they may see are named.
    """
    events = Events.objects.tracks(instance).order_by("-pgh_created_at", "-pgh_id")
    snapshots = visible_snapshots(instance, viewer) if viewer is not None else None
    if snapshots is None:
        events = events.annotate(visible=Value(True))
    else:
        # Versions taken while the record was beyond the viewer (another desk, above their
        # clearance) are left out, by the rule that scopes the live records.
        label = snapshots.model._meta.label
        events = events.annotate(visible=Q(pgh_model=label) & Exists(snapshots.filter(pgh_id=OuterRef("pgh_id"))))
    if limit is not None:
        events = events[: limit + 1]  # one more: whether the oldest shown follows a hidden version
    rows = list(events.values("pgh_created_at", "pgh_label", "pgh_diff", "pgh_data", "pgh_context", "visible"))
    visible = [row["visible"] for row in rows]
    fields = {field.attname: field for field in instance._meta.concrete_fields}

    raw: list[tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any, Any]]]] = []
    for index, row in enumerate(rows[:limit]):
        if not visible[index]:
            continue  # a version the viewer may not see (another desk, above their clearance)
        context = row["pgh_context"] or {}
        after_hidden = index + 1 < len(rows) and not visible[index + 1]
        if row["pgh_label"] == "insert" or after_hidden:
            # After a hidden version the values it held stay hidden: the entry shows the
            # record as it became visible, not what it was before.
            pairs = [
                (name, None, value)
                for name, value in (row["pgh_data"] or {}).items()
                if name in fields and value not in (None, "")
            ]
        else:
            pairs = [(name, old, new) for name, (old, new) in (row["pgh_diff"] or {}).items() if name in fields]
        raw.append((row, context, [(name, old, new) for name, old, new in pairs if name not in HISTORY_NOISE]))

    related_ids = _related_ids(fields, [pair for _, _, pairs in raw for pair in pairs])
    user_model = apps.get_model("accounts", "User")
    related_ids.setdefault(user_model, set()).update({context.get("user") for _, context, _ in raw} - {None})
    related = _related_records(related_ids, viewer)
    users = related.get(user_model, {})

    def display(name: str, value: Any) -> Any:
        return None if value is None else _readable(fields[name], value, related)

    return [
        HistoryEntry(
            when=row["pgh_created_at"],
            user=users.get(context.get("user")),
            label=row["pgh_label"],
            action=context.get("action", ""),
            changes=[
                (str(fields[name].verbose_name), display(name, old), display(name, new)) for name, old, new in pairs
            ],
        )
        for row, context, pairs in raw
    ]


def describe_changes(
    model: type[models.Model], changes: dict[str, tuple[Any, Any]], *, viewer: Any = None
) -> list[tuple[str, Any, Any]]:
    """(label, then, now) for a `StaleVersion.changes` mapping, as people read the values:
    related records by name (one query per related model; with a `viewer`, only those
    they may see), choices by label."""
    fields = {field.name: field for field in model._meta.concrete_fields}
    related = _related_records(
        _related_ids(fields, [(name, then, now) for name, (then, now) in changes.items()]), viewer
    )

    def display(name: str, value: Any) -> Any:
        return "—" if value is None or value == "" else _readable(fields[name], value, related)

    return [
        (capfirst(str(fields[name].verbose_name)), display(name, then), display(name, now))
        for name, (then, now) in sorted(changes.items())
    ]


def concurrent_riding_on(accreditation: Accreditation, *, viewer: Any) -> list[Accreditation]:
    """The active concurrent accreditations that end with `accreditation` when it is a
    resident one (`services.accreditation_end`), as far as `viewer` may see them."""
    if accreditation.kind != AccreditationKind.RESIDENT:
        return []
    return list(
        Accreditation.objects.visible_to(viewer)
        .active()
        .filter(attache_id=accreditation.attache_id, kind=AccreditationKind.CONCURRENT)
        .select_related("attache")
        .order_by("host_country", "id")
    )


@dataclasses.dataclass(frozen=True)
class TimelineBar:
    accreditation: Any
    row: int
    pending_x: float  # requested → accredited (or refused / withdrawn), as % of the width
    pending_width: float
    active_x: float  # accredited → ended (or today), as % of the width
    active_width: float


@dataclasses.dataclass(frozen=True)
class Timeline:
    start: datetime.date
    end: datetime.date
    bars: list[TimelineBar]
    years: list[tuple[int, float]]  # (year, x %) of each 1 January inside the span


def accreditation_timeline(accreditations: list[Any], *, today: datetime.date) -> Timeline | None:
    """Geometry of an attaché's accreditations on one time axis, oldest first."""
    if not accreditations:
        return None
    items = sorted(accreditations, key=lambda a: (a.requested_on, a.pk))

    def closed(a: Any) -> datetime.date:
        return a.ended_on or a.refused_on or a.withdrawn_on or today

    start = min(a.requested_on for a in items)
    # At least a month wide, without stepping past the calendar's last day.
    end = max(max(closed(a) for a in items), start + min(datetime.timedelta(days=30), datetime.date.max - start))
    span = max((end - start).days, 1)

    def x(day: datetime.date) -> float:
        return round(100 * (day - start).days / span, 2)

    bars = []
    for row, a in enumerate(items):
        began = a.accredited_on
        pending_end = began or closed(a)
        bars.append(
            TimelineBar(
                accreditation=a,
                row=row,
                pending_x=x(a.requested_on),
                pending_width=max(x(pending_end) - x(a.requested_on), 0.3),
                active_x=x(began) if began else 0,
                active_width=max(x(closed(a)) - x(began), 0.3) if began else 0,
            )
        )
    years = [(year, x(datetime.date(year, 1, 1))) for year in range(start.year + 1, end.year + 1)]
    return Timeline(start=start, end=end, bars=bars, years=years)
