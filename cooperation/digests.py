"""The managers' monthly digest: each manager's figures of a month by e-mail (HTML and
text, with the figures as an XLSX attachment), at most once per manager and month.

* `build_digest(recipient=…, month=…)` — the figures the recipient may see (the intensity
  selectors, scoped by the recipient's clearance): per relationship the month's count,
  intensity, breadth and pipeline, against the month before and the same month a year
  before, and the engine's monthly trend flag.
* `digest_message(digest)` — the e-mail, ready to send.
* `digest_send(recipient=…, month=…)` — send it unless it went out already (service).
* `digests_schedule(month=…)` — one task per manager still waiting for that month (service);
  the Celery beat task calls it on the 1st of each month, admins through "send now".
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from cooperation.choices import Classification, Role
from cooperation.intensity import Granularity, add_months, month_of, next_period
from cooperation.intensity_selectors import (
    ZERO,
    IntensityPoint,
    TrendSignal,
    intensity_by_relationship,
    intensity_trends,
)
from cooperation.models import DigestSend

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclasses.dataclass(frozen=True)
class DigestRow:
    relationship_id: int
    label: str
    month: IntensityPoint
    previous: IntensityPoint
    year_ago: IntensityPoint
    trend: TrendSignal | None

    @property
    def flag(self) -> str | None:
        return self.trend.flag if self.trend else None

    @property
    def is_active(self) -> bool:
        """Anything to report: conducted or planned activity, or a trend flag."""
        return bool(self.month.count or self.month.pipeline or self.flag)


@dataclasses.dataclass(frozen=True)
class Digest:
    recipient: User
    month: datetime.date
    weight_set_id: int
    rows: list[DigestRow]  # every relationship the recipient may see, by label
    generated_at: datetime.datetime

    @property
    def month_label(self) -> str:
        return f"{self.month:%B %Y}"

    @property
    def active_rows(self) -> list[DigestRow]:
        return [row for row in self.rows if row.is_active]

    @property
    def quiet_count(self) -> int:
        return len(self.rows) - len(self.active_rows)

    @property
    def rising(self) -> list[DigestRow]:
        return [row for row in self.rows if row.flag == "rising"]

    @property
    def falling(self) -> list[DigestRow]:
        return [row for row in self.rows if row.flag == "falling"]

    @property
    def count(self) -> int:
        return sum(row.month.count for row in self.rows)

    @property
    def intensity(self) -> Decimal:
        return sum((row.month.intensity for row in self.rows), ZERO)

    @property
    def pipeline(self) -> int:
        return sum(row.month.pipeline for row in self.rows)

    @property
    def clearance_label(self) -> str:
        return Classification(self.recipient.effective_clearance).label


def previous_month(today: datetime.date) -> datetime.date:
    """The month a digest sent on `today` reports: the last complete one."""
    return add_months(month_of(today), -1)


def digest_recipients() -> QuerySet[User]:
    """Active managers with an e-mail address."""
    from accounts.models import User

    return User.objects.filter(role=Role.MANAGER, is_active=True).exclude(email="").order_by("username")


def build_digest(*, recipient: User, month: datetime.date) -> Digest:
    """The recipient's figures of `month` (the first of a month): four queries."""
    month = month_of(month)
    grid = intensity_by_relationship(
        user=recipient, start=add_months(month, -12), end=month, granularity=Granularity.MONTH
    )
    trends = {
        signal.relationship_id: signal
        for signal in intensity_trends(user=recipient, granularity=Granularity.MONTH, as_of=next_period(month, "month"))
    }
    rows = [
        DigestRow(
            relationship_id=row.relationship_id,
            label=row.label,
            month=row.points[-1],
            previous=row.points[-2],
            year_ago=row.points[0],
            trend=trends.get(row.relationship_id),
        )
        for row in grid.rows
    ]
    return Digest(
        recipient=recipient,
        month=month,
        weight_set_id=grid.weight_set_id,
        rows=rows,
        generated_at=timezone.now(),
    )


WORKBOOK_COLUMNS = (
    "Relationship",
    "Conducted",
    "Conducted the month before",
    "Conducted a year before",
    "Intensity",
    "Breadth (areas)",
    "Pipeline",
    "Trend vs 12-month average",
    "Change vs 12-month average",
)


def digest_workbook(digest: Digest) -> bytes:
    """The digest's figures for every relationship, as an XLSX workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Figures"
    sheet.append(list(WORKBOOK_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in digest.rows:
        change = row.trend.change_vs_average if row.trend else None
        sheet.append(
            [
                row.label,
                row.month.count,
                row.previous.count,
                row.year_ago.count,
                float(row.month.intensity),
                row.month.breadth,
                row.month.pipeline,
                row.flag or "",
                change,
            ]
        )
    sheet.column_dimensions["A"].width = 36
    about = workbook.create_sheet("About")
    for pair in (
        ("Month", digest.month_label),
        ("Recipient", digest.recipient.get_username()),
        ("Clearance", digest.clearance_label),
        ("Weight set", digest.weight_set_id),
        ("Generated", timezone.localtime(digest.generated_at).strftime("%Y-%m-%d %H:%M")),
        ("Note", "Activities above the recipient's clearance are not counted."),
    ):
        about.append(list(pair))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def digest_message(digest: Digest) -> EmailMultiAlternatives:
    site = settings.SITE_URL.rstrip("/")
    context = {
        "digest": digest,
        "dashboard_url": f"{site}{reverse('dashboards:overview')}" if site else "",
    }
    message = EmailMultiAlternatives(
        subject=f"Attaché digest: cooperation in {digest.month_label}",
        body=render_to_string("email/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[digest.recipient.email],
    )
    message.attach_alternative(render_to_string("email/digest.html", context), "text/html")
    message.attach(f"attache-digest-{digest.month:%Y-%m}.xlsx", digest_workbook(digest), XLSX_TYPE)
    return message


def _check_recipient(recipient: User) -> None:
    if not (recipient.is_active and recipient.role == Role.MANAGER):
        raise ValidationError({"recipient": "Digests go to active managers only."})
    if not recipient.email:
        raise ValidationError({"recipient": f"{recipient.get_username()} has no e-mail address."})


def _check_month(month: datetime.date, today: datetime.date) -> datetime.date:
    if month.day != 1:
        raise ValidationError({"month": "A digest covers a whole month: give its first day."})
    if month >= month_of(today):
        raise ValidationError({"month": "Only a month that has ended can be sent."})
    return month


@transaction.atomic
def digest_send(*, recipient: User, month: datetime.date, actor: User | None = None) -> DigestSend | None:
    """Send `recipient` the digest of `month` unless it went out already (then None).

    The send record and the hand-off to the mail backend happen in one transaction: if
    sending fails nothing is recorded (a retry sends again); a concurrent sender of the
    same month waits on the record's unique key and then sends nothing.
    """
    _check_recipient(recipient)
    _check_month(month, timezone.localdate())
    if DigestSend.objects.filter(recipient=recipient, month=month).exists():
        return None
    digest = build_digest(recipient=recipient, month=month)
    record = DigestSend(
        recipient=recipient, month=month, email=recipient.email, relationships=len(digest.rows), triggered_by=actor
    )
    record.full_clean(validate_constraints=False)  # the unique key decides, also under concurrency
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        logger.info("Digest of %s for %s sent meanwhile by another worker.", month, recipient.pk)
        return None
    digest_message(digest).send()
    return record


@dataclasses.dataclass(frozen=True)
class Scheduled:
    month: datetime.date
    queued: int
    already_sent: int


@transaction.atomic
def digests_schedule(*, month: datetime.date, actor: User | None = None) -> Scheduled:
    """Queue the digest of `month` for every manager who has not had it (one task each,
    sent when this transaction commits). `actor` is the administrator pressing "send now";
    None is the monthly schedule."""
    from cooperation.tasks import send_digest

    if actor is not None and not actor.is_admin_role:
        raise PermissionDenied("Only administrators may send the digest.")
    _check_month(month, timezone.localdate())
    recipients = list(digest_recipients())
    done = set(DigestSend.objects.filter(month=month).values_list("recipient_id", flat=True))
    waiting = [recipient.pk for recipient in recipients if recipient.pk not in done]
    actor_id = actor.pk if actor is not None else None
    for recipient_id in waiting:
        transaction.on_commit(
            lambda recipient_id=recipient_id: send_digest.delay(recipient_id, month.isoformat(), actor_id),  # type: ignore[misc]
            robust=True,
        )
    return Scheduled(month=month, queued=len(waiting), already_sent=len(recipients) - len(waiting))
