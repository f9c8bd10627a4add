"""The audit history: trigger-based (django-pghistory), so bulk writes and
QuerySet.update() are recorded as surely as single saves."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pghistory
from django.db import models
from pghistory import runtime as pghistory_runtime

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
    parent = enclosing.metadata.get("parent", str(enclosing.id))
    pghistory_runtime._tracker.value = pghistory_runtime.Context(
        id=uuid.uuid4(), metadata={**enclosing.metadata, **metadata, "parent": parent}
    )
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
    so every change of user gets one. Called by `attache.history`'s request class.
    """
    current = getattr(pghistory_runtime._tracker, "value", None)
    if current is None or current.metadata.get("user") == user_pk:
        return
    parent = current.metadata.get("parent", str(current.id))
    pghistory_runtime._tracker.value = pghistory_runtime.Context(
        id=uuid.uuid4(), metadata={**current.metadata, "user": user_pk, "parent": parent}
    )
