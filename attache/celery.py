"""Celery application. Settings come from Django's settings under the CELERY_ prefix."""

import json
import logging
import os
from typing import Any

from celery import Celery
from celery.signals import task_failure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attache.settings")

logger = logging.getLogger(__name__)

app = Celery("attache")
app.config_from_object("django.conf:settings", namespace="CELERY")
if app.conf.task_always_eager and not app.conf.broker_url:
    # Tasks run inline without a broker; Celery still builds a producer to serialize
    # their arguments, which must not reach for the default broker (amqp on localhost).
    app.conf.update(broker_url="memory://localhost/")
app.autodiscover_tasks()


@task_failure.connect
def record_task_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    kwargs: Any = None,
    einfo: Any = None,
    **extra: Any,
) -> None:
    """Keep a record of a task that failed after its last retry (admins list them)."""
    from cooperation.models import TaskFailure

    request = getattr(sender, "request", None)
    try:
        TaskFailure.objects.create(
            task_name=getattr(sender, "name", str(sender)),
            task_id=task_id or "",
            args=_jsonable(args or []),
            kwargs=_jsonable(kwargs or {}),
            retries=getattr(request, "retries", 0) or 0,
            exception=repr(exception)[:2000],
            traceback=str(einfo or "")[:20000],
        )
    except Exception:  # the database may be what failed; the log still has it
        logger.exception("Could not record the failure of task %s", task_id)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
