"""The monthly digest e-mailed to managers: one row per manager and month sent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class DigestSend(models.Model):
    """A monthly digest that went out: at most one per recipient and month.

    Written in the transaction that hands the e-mail to the mail backend
    (`cooperation.digests.digest_send`), so the unique key is what keeps a month from
    being sent twice, also when the task runs twice or two workers run it at once.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_sends")
    month = models.DateField(help_text="First day of the month the digest reports.")
    email = models.EmailField(help_text="The address it was sent to.")
    relationships = models.PositiveIntegerField(help_text="How many relationships its figures cover.")
    sent_at = models.DateTimeField(default=timezone.now, editable=False)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The administrator who pressed “send now”; empty for the monthly schedule.",
    )

    class Meta:
        ordering = ["-month", "recipient_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "month"],
                name="digestsend_once_per_recipient_and_month",
                violation_error_message="This month's digest has already been sent to this manager.",
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="digestsend_month_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} → {self.email}"
