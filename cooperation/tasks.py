"""Celery tasks. Thin: they take ids or keys, call a service, and can run twice.

Database hiccups (a dropped connection, a deadlock, a lock timeout) are retried with
exponential backoff; messages are acknowledged after the work (acks_late), so a worker
that dies mid-task leaves the message for another.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from attache.task_limits import LONG_TASK_SOFT_TIME_LIMIT, LONG_TASK_TIME_LIMIT, RETRY_BACKOFF_MAX
from cooperation import digests, intensity, weight_sets

logger = logging.getLogger(__name__)

RETRY_OPTIONS: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
}
# Sending mail also retries when the mail server cannot be reached (smtplib's errors are OSErrors).
MAIL_RETRY_OPTIONS: dict[str, Any] = RETRY_OPTIONS | {"autoretry_for": (OperationalError, InterfaceError, OSError)}


@shared_task(**RETRY_OPTIONS, soft_time_limit=5 * 60, time_limit=6 * 60)
def refresh_intensity_rollups(keys: list[list[Any]]) -> dict[str, int]:
    """Recompute the rollups of these [relationship id, "YYYY-MM-01"] keys, and of every
    key waiting in the outbox (a write whose own task was lost)."""
    result = intensity.drain_outbox(extra_keys=intensity.decode_keys(keys))
    return {"taken": result.taken, "keys": result.keys, "inserted": result.inserted}


@shared_task(**RETRY_OPTIONS, soft_time_limit=5 * 60, time_limit=6 * 60)
def drain_intensity_outbox() -> dict[str, int]:
    """Every minute (beat): recompute whatever the outbox holds — writes whose refresh
    was never sent (process died after commit, broker down) catch up here."""
    result = intensity.drain_outbox()
    if result.taken:
        logger.info("Intensity outbox drained: %s entries, %s keys.", result.taken, result.keys)
    return {"taken": result.taken, "keys": result.keys, "inserted": result.inserted}


@shared_task(**RETRY_OPTIONS, soft_time_limit=LONG_TASK_SOFT_TIME_LIMIT, time_limit=LONG_TASK_TIME_LIMIT)
def reconcile_intensity_rollups() -> dict[str, int]:
    """Nightly: finish lost activations, then rebuild every rollup from the activities.

    Catches writes that bypassed the services (SQL, `QuerySet.update()` in a shell)
    and refreshes whose task was lost.
    """
    activated = weight_sets.complete_pending_activations()
    result = intensity.rebuild_rollups()
    logger.info(
        "Intensity rollups rebuilt: %s relationships, %s rows, weight sets %s.",
        result.relationships,
        result.rows,
        result.weight_set_ids,
    )
    return {"relationships": result.relationships, "rows": result.rows, "activated": len(activated)}


@shared_task(**RETRY_OPTIONS, soft_time_limit=LONG_TASK_SOFT_TIME_LIMIT, time_limit=LONG_TASK_TIME_LIMIT)
def activate_weight_set(weight_set_id: int) -> bool:
    """Build the rollups of a weight set being activated, then switch to it."""
    return weight_sets.weight_set_complete_activation(weight_set_id=weight_set_id)


@shared_task(**RETRY_OPTIONS, soft_time_limit=5 * 60, time_limit=6 * 60)
def send_monthly_digests(month: str | None = None) -> dict[str, Any]:
    """Beat, on the 1st: queue last month's digest (or `month`, "YYYY-MM-01") for every
    manager who has not had it yet."""
    target = datetime.date.fromisoformat(month) if month else digests.previous_month(timezone.localdate())
    scheduled = digests.digests_schedule(month=target)
    return {"month": scheduled.month.isoformat(), "queued": scheduled.queued, "already_sent": scheduled.already_sent}


@shared_task(**MAIL_RETRY_OPTIONS, soft_time_limit=2 * 60, time_limit=3 * 60)
def send_digest(recipient_id: int, month: str, actor_id: int | None = None) -> bool:
    """Send one manager one month's digest; False when it went out already or cannot go."""
    from accounts.models import User

    recipient = User.objects.filter(pk=recipient_id).first()
    if recipient is None:
        return False
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    try:
        record = digests.digest_send(recipient=recipient, month=datetime.date.fromisoformat(month), actor=actor)
    except ValidationError as error:
        logger.warning("Digest of %s not sent to user %s: %s", month, recipient_id, error.messages)
        return False
    return record is not None
