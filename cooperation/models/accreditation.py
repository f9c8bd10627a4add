"""Posts, attachés and their accreditations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_countries import countries
from django_countries.fields import CountryField

from cooperation.audit import audited
from cooperation.choices import (
    OPEN_ACCREDITATION_STATUSES,
    AccreditationKind,
    AccreditationStatus,
    Classification,
    Service,
)
from cooperation.models.visibility import VisibleQuerySet
from cooperation.validators import validate_calendar_date

if TYPE_CHECKING:
    from accounts.models import User


@audited()
class Post(models.Model):
    """A diplomatic mission where attachés reside, e.g. "US Embassy Kyiv"."""

    name = models.CharField(max_length=200, unique=True)
    sending_country = CountryField()
    host_country = CountryField()
    city = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@audited()
class Attache(models.Model):
    """A military attaché: a person sent by one state."""

    name = models.CharField(max_length=200)
    rank = models.CharField(max_length=100, blank=True)
    service = models.CharField(max_length=20, choices=Service.choices, default=Service.JOINT)
    sending_country = CountryField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(service__in=Service.values),
                name="attache_service_valid",
                violation_error_message="Unknown service.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rank} {self.name}".strip()


class AccreditationQuerySet(VisibleQuerySet):
    def open(self) -> AccreditationQuerySet:
        return self.filter(status__in=OPEN_ACCREDITATION_STATUSES)

    def active(self) -> AccreditationQuerySet:
        return self.filter(status=AccreditationStatus.ACCREDITED)

    def visible_to(self, user: User | None) -> AccreditationQuerySet:
        return self.filter(self.visibility_q(user))


def _on_or_after(later: str, earlier: str) -> Q:
    return Q(**{f"{later}__isnull": True}) | Q(**{f"{later}__gte": F(earlier)})


@audited(exclude=["idempotency_key"])
class Accreditation(models.Model):
    """An attaché accredited to a host country from a post.

    `resident` when the post is in the host country, `concurrent` when it is
    elsewhere (resident in Kyiv, also accredited to Minsk). The lifecycle runs
    requested → agrément granted → accredited → ended, or ends in refused or
    withdrawn; each step keeps its date.
    """

    attache = models.ForeignKey(Attache, on_delete=models.PROTECT, related_name="accreditations")
    post = models.ForeignKey(Post, on_delete=models.PROTECT, related_name="accreditations")
    host_country = CountryField()
    relationship = models.ForeignKey(
        "cooperation.Relationship", on_delete=models.PROTECT, related_name="accreditations"
    )
    kind = models.CharField(max_length=20, choices=AccreditationKind.choices)
    status = models.CharField(max_length=20, choices=AccreditationStatus.choices, default=AccreditationStatus.REQUESTED)
    requested_on = models.DateField(validators=[validate_calendar_date])
    agrement_on = models.DateField("agrément granted on", null=True, blank=True, validators=[validate_calendar_date])
    accredited_on = models.DateField("accredited on", null=True, blank=True, validators=[validate_calendar_date])
    ended_on = models.DateField(null=True, blank=True, validators=[validate_calendar_date])
    refused_on = models.DateField(null=True, blank=True, validators=[validate_calendar_date])
    withdrawn_on = models.DateField(null=True, blank=True, validators=[validate_calendar_date])
    releasability = models.PositiveSmallIntegerField(choices=Classification.choices, default=Classification.PUBLIC)
    notes = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The one-time key of the form that requested this accreditation (see services._create_once).",
    )

    objects = AccreditationQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_on", "-id"]
        indexes = [models.Index(fields=["relationship", "status"], name="accreditation_rel_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AccreditationKind.values),
                name="accreditation_kind_valid",
                violation_error_message="Unknown accreditation kind.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AccreditationStatus.values),
                name="accreditation_status_valid",
                violation_error_message="Unknown accreditation status.",
            ),
            models.CheckConstraint(
                condition=Q(releasability__in=Classification.values),
                name="accreditation_releasability_valid",
                violation_error_message="Unknown releasability.",
            ),
            models.CheckConstraint(
                condition=_on_or_after("agrement_on", "requested_on"),
                name="accreditation_agrement_after_request",
                violation_error_message="Agrément cannot be granted before it was requested.",
            ),
            models.CheckConstraint(
                condition=Q(accredited_on__isnull=True)
                | (Q(agrement_on__isnull=False) & Q(accredited_on__gte=F("agrement_on"))),
                name="accreditation_accredited_after_agrement",
                violation_error_message="Credentials cannot be presented before agrément was granted.",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True)
                | (Q(accredited_on__isnull=False) & Q(ended_on__gte=F("accredited_on"))),
                name="accreditation_ended_after_accredited",
                violation_error_message="An accreditation cannot end before it began.",
            ),
            models.CheckConstraint(
                condition=_on_or_after("refused_on", "requested_on"),
                name="accreditation_refused_after_request",
                violation_error_message="A request cannot be refused before it was made.",
            ),
            models.CheckConstraint(
                condition=_on_or_after("withdrawn_on", "requested_on"),
                name="accreditation_withdrawn_after_request",
                violation_error_message="A request cannot be withdrawn before it was made.",
            ),
            models.CheckConstraint(
                condition=~Q(status=AccreditationStatus.AGREMENT_GRANTED) | Q(agrement_on__isnull=False),
                name="accreditation_agrement_status_has_date",
                violation_error_message="An accreditation with agrément granted needs the date of agrément.",
            ),
            models.CheckConstraint(
                condition=~Q(status=AccreditationStatus.ACCREDITED)
                | Q(accredited_on__isnull=False, ended_on__isnull=True),
                name="accreditation_accredited_status_has_date",
                violation_error_message=(
                    "An active accreditation needs the date credentials were presented and no end date."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(status=AccreditationStatus.ENDED) | Q(ended_on__isnull=False),
                name="accreditation_ended_status_has_date",
                violation_error_message="An ended accreditation needs its end date.",
            ),
            models.CheckConstraint(
                condition=~Q(status=AccreditationStatus.REFUSED) | Q(refused_on__isnull=False),
                name="accreditation_refused_status_has_date",
                violation_error_message="A refused accreditation needs the date of refusal.",
            ),
            models.CheckConstraint(
                condition=~Q(status=AccreditationStatus.WITHDRAWN) | Q(withdrawn_on__isnull=False),
                name="accreditation_withdrawn_status_has_date",
                violation_error_message="A withdrawn accreditation needs the date of withdrawal.",
            ),
            models.UniqueConstraint(
                fields=["attache"],
                condition=Q(kind=AccreditationKind.RESIDENT, status=AccreditationStatus.ACCREDITED),
                name="accreditation_one_active_resident_per_attache",
                violation_error_message="This attaché already holds an active resident accreditation.",
            ),
            models.UniqueConstraint(
                fields=["attache", "host_country"],
                condition=Q(status__in=OPEN_ACCREDITATION_STATUSES),
                name="accreditation_one_open_per_attache_and_host",
                violation_error_message="This attaché already has an open accreditation to this country.",
            ),
            # A form key requests at most one accreditation per user (services._create_once).
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="accreditation_once_per_key",
                violation_error_message="This form was already used to request an accreditation.",
            ),
            # Target of the composite foreign key from Activity (accreditation, relationship).
            models.UniqueConstraint(fields=["id", "relationship"], name="accreditation_id_relationship_key"),
        ]

    def __str__(self) -> str:
        kind, status = self.get_kind_display().lower(), self.get_status_display().lower()
        return f"{self.attache} → {countries.name(self.host_country)} ({kind}, {status})"

    def clean(self) -> None:
        """An accreditation is never more restricted than an activity that ran through it
        (see `Activity.clean`): whoever may see the activity may see its channel."""
        if self.pk is None or self.releasability is None:
            return
        below = self.activities.filter(releasability__lt=self.releasability).count()
        if below:
            raise ValidationError(
                {
                    "releasability": (
                        f"{below} activit{'y' if below == 1 else 'ies'} that ran through this accreditation "
                        f"{'is' if below == 1 else 'are'} less restricted: it cannot be more restricted than "
                        "the activities that ran through it. Raise theirs first."
                    )
                }
            )
