"""Operational records: background work that failed for good."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TaskFailure(models.Model):
    """A Celery task that failed after its last retry — listed for admins, never lost."""

    failed_at = models.DateTimeField(default=timezone.now, db_index=True)
    task_name = models.CharField(max_length=200, db_index=True)
    task_id = models.CharField(max_length=100, blank=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    retries = models.PositiveIntegerField(default=0)
    exception = models.TextField()
    traceback = models.TextField(blank=True)

    class Meta:
        ordering = ["-failed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.task_name} failed at {self.failed_at:%Y-%m-%d %H:%M:%S}"
