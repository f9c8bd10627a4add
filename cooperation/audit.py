"""The audit history: trigger-based (django-pghistory), so bulk writes and
QuerySet.update() are recorded as surely as single saves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pghistory
from django.db import models

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

    pghistory merges nested contexts into the outermost one (a web request's, opened by
    the middleware), so a key set here holds for every event of that request. `actor=None`
    is the system acting on someone's behalf (a concurrent accreditation ending with its
    resident one) or on its own (commands, tasks): it leaves the user of an enclosing
    context in place instead of erasing it.
    """
    metadata: dict[str, Any] = {"action": action}
    if actor is not None:
        metadata["user"] = actor.pk
    with pghistory.context(**metadata):
        yield
