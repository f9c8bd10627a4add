"""The audit history: trigger-based (django-pghistory), so bulk writes and
QuerySet.update() are recorded as surely as single saves."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pghistory
import pgtrigger
from django.apps import apps
from django.db import models
from pghistory import runtime as pghistory_runtime
from pghistory.models import Context, Event

if TYPE_CHECKING:
    from accounts.models import User


def audited(**options: Any) -> Any:
    """Track inserts, updates and hard deletes of a model.

    Fresh tracker instances per model: pghistory's PGHISTORY_DEFAULT_TRACKERS setting
    deep-copies them, which breaks statement-level triggers.
    """
    return pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), **options)


def event_model(model: type[models.Model]) -> Any:
    """The history table (pghistory's event model) of a model tracked by `audited`."""
    return model.pgh_event_model  # type: ignore[attr-defined]  # set by pghistory.track


def audit_tables() -> dict[str, tuple[str, ...]]:
    """The append-only audit tables, each with the columns the application may still UPDATE.

    Every pghistory event table, every model with a pgtrigger `Protect` trigger (the event
    tables again, and the security events) and pghistory's context table. The context is
    upserted by pghistory's `_pgh_attach_context()` (`INSERT … ON CONFLICT DO UPDATE`), which
    needs UPDATE on the columns it sets even when nothing conflicts; migration 0008's trigger
    refuses that update once the context's transaction is over. Used by `grant_app_role`
    and the `cooperation.W002` check, so a table added by a later migration is covered.
    """
    tables: dict[str, tuple[str, ...]] = {Context._meta.db_table: ("metadata", "updated_at")}
    for model in apps.get_models():
        protected = any(isinstance(trigger, pgtrigger.Protect) for trigger in getattr(model._meta, "triggers", ()))
        if (issubclass(model, Event) or protected) and model._meta.managed and not model._meta.proxy:
            tables.setdefault(model._meta.db_table, ())
    return dict(sorted(tables.items()))


# The schema's PL/pgSQL functions (the triggers', pghistory's context upsert), each with
# whether its search path is fixed: they name tables without a schema, and a session's
# temporary tables come first in its search path, so a session allowed TEMP could stand a
# table of its own in for an audit table. Every `migrate` fixes it (cooperation/app_role.py);
# W002 warns if not.
FUNCTIONS_SQL = """
SELECT oid::regprocedure::text, 'search_path=' || current_schema() || ', pg_temp' = ANY(coalesce(proconfig, '{}'))
FROM pg_proc
WHERE pronamespace = current_schema()::regnamespace
  AND prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
ORDER BY 1
"""


# Carries a context's parent's metadata (the request or task as it began) down to the
# database, where migration 0017's trigger writes the parent's row with the first row of a
# context naming it, and drops this key from the row it stores.
PARENT_METADATA = "parent_metadata"


def _continued(current: pghistory_runtime.Context, metadata: dict[str, Any]) -> pghistory_runtime.Context:
    """A fresh context after `current`: its metadata with `metadata` over it, and `parent`,
    the outermost context's id, with that context's metadata to write it by if it never was."""
    lineage = (
        {}  # `current` already names the outermost context and carries its metadata
        if "parent" in current.metadata
        else {"parent": str(current.id), PARENT_METADATA: dict(current.metadata)}
    )
    return pghistory_runtime.Context(id=uuid.uuid4(), metadata={**current.metadata, **metadata, **lineage})


@contextlib.contextmanager
def audit_context(actor: User | None, action: str) -> Iterator[None]:
    """Attach who did what to every history event written inside the block.

    Outside any context (a command, a task) this opens one. Inside one (a web request's,
    opened by the middleware, or another action's) the block gets a context of its own: a
    fresh id, the enclosing metadata (user, url, ip) with this action, and `parent`, the
    outermost context's id, which ties the events of one request or task together. The
    enclosing context is back, unchanged, when the block ends. Nesting `pghistory.context`
    instead would merge into the enclosing context, whose one row keeps the metadata last
    written: every event of a request that called two services would name the second.
    pghistory has no public call for a fresh nested context; `runtime._tracker` holds the
    thread's current one (pinned version; tests/cooperation/test_history.py checks it).
    The outermost context's row is written, if nothing wrote it already, with the first row
    of a context that names it (`PARENT_METADATA`): `parent` always names a row.

    `actor=None` is the system acting on someone's behalf (a concurrent accreditation
    ending with its resident one) or on its own (commands, tasks): it keeps the user of an
    enclosing context.
    """
    metadata: dict[str, Any] = {"action": action}
    if actor is not None:
        metadata["user"] = actor.pk
    enclosing = getattr(pghistory_runtime._tracker, "value", None)
    if enclosing is None:
        with pghistory.context(**metadata):
            yield
        return
    pghistory_runtime._tracker.value = _continued(enclosing, metadata)
    try:
        yield
    finally:
        pghistory_runtime._tracker.value = enclosing


def audit_context_for_user(user_pk: Any) -> None:
    """Continue the thread's audit context in a fresh one when its user changes.

    pghistory writes a new `request.user` (a sign-in, DRF authenticating a token) into the
    current context's metadata, so the next event would rewrite a context row already
    written: refused by its protection trigger once that transaction has committed (a
    500), and within it the events before the change would name the new user. Instead the
    thread continues as `audit_context` does: a fresh id, the same metadata (url, ip) with
    the new user, and `parent`, the outermost context's id. Whether the current row has
    been written is not known without a query, and a context that never is costs nothing,
    so every change of user gets one; the parent's row, if never written (a token request's
    anonymous start), is written with the first row that names it. Called by
    `attache.history`'s request class.
    """
    current = getattr(pghistory_runtime._tracker, "value", None)
    if current is None or current.metadata.get("user") == user_pk:
        return
    pghistory_runtime._tracker.value = _continued(current, {"user": user_pk})
