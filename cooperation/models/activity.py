"""Relationships, cooperation areas and the activities logged against them."""

from __future__ import annotations

import datetime
import functools
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least
from django.utils import timezone, translation
from django_countries import countries
from django_countries.fields import CountryField

from cooperation.audit import audited
from cooperation.choices import ActivityKind, ActivityLevel, ActivityStatus, Classification
from cooperation.models.visibility import VisibleQuerySet
from cooperation.validators import validate_calendar_date

if TYPE_CHECKING:
    from accounts.models import User


@functools.lru_cache(maxsize=4096)
def pair_label(state_a: str, state_b: str, language: str | None) -> str:
    """ "Belarus – United States": the two names in alphabetical order.

    Cached per language: looking a name up in django-countries costs about 0.1 ms, and
    dashboards and the digest label hundreds of relationships per page.
    """
    names = sorted(str(countries.name(code)) for code in (state_a, state_b))
    return " – ".join(names)


class RelationshipQuerySet(VisibleQuerySet):
    relationship_path = ""
    releasability_field = None

    def visible_to(self, user: User | None) -> RelationshipQuerySet:
        return self.filter(self.visibility_q(user))

    def involving(self, country: str) -> RelationshipQuerySet:
        return self.filter(Q(state_a=country) | Q(state_b=country))

    def between(self, country_a: str, country_b: str) -> RelationshipQuerySet:
        first, second = sorted((str(country_a), str(country_b)))
        return self.filter(state_a=first, state_b=second)


@audited()
class Relationship(models.Model):
    """The bilateral pair of states, unordered: "Belarus – United States".

    Services store the pair with state_a < state_b; the database refuses a second
    row for the same pair in either order.
    """

    state_a = CountryField()
    state_b = CountryField()
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = RelationshipQuerySet.as_manager()

    class Meta:
        ordering = ["state_a", "state_b"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state_a=F("state_b")),
                name="relationship_two_states",
                violation_error_message="A relationship needs two different states.",
            ),
            models.UniqueConstraint(
                Least("state_a", "state_b"),
                Greatest("state_a", "state_b"),
                name="relationship_unique_pair",
                violation_error_message="A relationship between these two states already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return pair_label(str(self.state_a), str(self.state_b), translation.get_language())

    def involves(self, country: str) -> bool:
        return country in (self.state_a, self.state_b)


@audited()
class CooperationArea(models.Model):
    """An area of cooperation. Data, not an enum: admins may add areas."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class ActivityQuerySet(VisibleQuerySet):
    def alive(self) -> ActivityQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> ActivityQuerySet:
        return self.filter(deleted_at__isnull=False)

    def visible_to(self, user: User | None, *, include_deleted: bool = False) -> ActivityQuerySet:
        """Records `user` may see: own desks (desk officers), up to clearance, not deleted."""
        queryset = self if include_deleted else self.alive()
        return queryset.filter(self.visibility_q(user))


# The fields that describe an activity, in the order the service's editable fields, the
# import and export columns and the bulk loads list them (each adds its own keys around).
ACTIVITY_DESCRIPTION_FIELDS = (
    "title",
    "kind",
    "level",
    "status",
    "start_date",
    "end_date",
    "location",
    "participants",
    "counterpart",
    "description",
    "outcome",
    "releasability",
)


def channel_refusal(channel: int, activity: int, *, name: str = "This accreditation") -> str | None:
    """Why an activity of releasability `activity` may not run through an accreditation of
    releasability `channel`, or None when it may.

    Whoever may see the activity must be able to see its channel: same relationship (the
    composite foreign key) and no more restricted, so visible_to(activity) implies
    visible_to(accreditation) on every path that shows the link. `Activity.clean` and the
    import's row check apply it.
    """
    if channel <= activity:
        return None
    return (
        f"{name} is {Classification(channel).label.lower()}: "
        "it cannot be more restricted than the activity that ran through it."
    )


@audited(exclude=["search_vector", "idempotency_key"])
class Activity(models.Model):
    """One defence-cooperation activity with a partner state."""

    relationship = models.ForeignKey(Relationship, on_delete=models.PROTECT, related_name="activities")
    area = models.ForeignKey(CooperationArea, on_delete=models.PROTECT, related_name="activities")
    accreditation = models.ForeignKey(
        "cooperation.Accreditation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="activities",
        help_text="The attaché channel the activity ran through, if any.",
    )
    title = models.CharField(max_length=300)
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    level = models.CharField(max_length=20, choices=ActivityLevel.choices, default=ActivityLevel.WORKING)
    status = models.CharField(max_length=20, choices=ActivityStatus.choices, default=ActivityStatus.PLANNED)
    start_date = models.DateField(validators=[validate_calendar_date])
    end_date = models.DateField(
        null=True, blank=True, validators=[validate_calendar_date], help_text="Empty for a one-day activity."
    )
    location = models.CharField(max_length=200, blank=True)
    participants = models.IntegerField(default=0)
    counterpart = models.CharField("counterpart organisation", max_length=200, blank=True)
    description = models.TextField(blank=True)
    outcome = models.TextField(blank=True)
    releasability = models.PositiveSmallIntegerField(choices=Classification.choices, default=Classification.INTERNAL)
    external_ref = models.CharField(
        "external reference",
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        help_text="A stable identifier from the source system; the natural key for imports.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The one-time key of the form or request that created this activity (see services._create_once).",
    )
    # Full-text search over the free-text fields, kept by PostgreSQL itself.
    search_vector = models.GeneratedField(
        expression=SearchVector("title", "location", "counterpart", "description", "outcome", config="simple"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["relationship", "start_date"], name="activity_rel_start_idx"),
            models.Index(fields=["start_date"], name="activity_start_idx"),
            # API lists filtered by status, paged by start date (keyset on start_date, id).
            models.Index(fields=["status", "start_date", "id"], name="activity_status_start_idx"),
            models.Index(fields=["updated_at", "id"], name="activity_updated_idx"),
            GinIndex(fields=["search_vector"], name="activity_search_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="activity_dates_in_order",
                violation_error_message="The end date cannot be before the start date.",
            ),
            models.CheckConstraint(
                condition=Q(participants__gte=0),
                name="activity_participants_non_negative",
                violation_error_message="Participants cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ActivityKind.values),
                name="activity_kind_valid",
                violation_error_message="Unknown activity kind.",
            ),
            models.CheckConstraint(
                condition=Q(level__in=ActivityLevel.values),
                name="activity_level_valid",
                violation_error_message="Unknown activity level.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ActivityStatus.values),
                name="activity_status_valid",
                violation_error_message="Unknown activity status.",
            ),
            models.CheckConstraint(
                condition=Q(releasability__in=Classification.values),
                name="activity_releasability_valid",
                violation_error_message="Unknown releasability.",
            ),
            # A form or request key creates at most one activity per user: a double submit
            # waits for the first insert here and then finds its row (services._create_once).
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="activity_once_per_key",
                violation_error_message="This form was already used to create an activity.",
            ),
            # The composite foreign key (accreditation_id, relationship_id) →
            # accreditation (id, relationship_id) is added in migration 0002:
            # Django cannot declare it, PostgreSQL enforces it.
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        """Cross-field rules that forms, the admin and the services all validate."""
        errors: dict[str, str] = {}
        accreditation = self.accreditation
        if accreditation is not None and self.relationship_id and accreditation.relationship_id != self.relationship_id:
            errors["accreditation"] = (
                f"This accreditation belongs to {accreditation.relationship.label}, not to {self.relationship.label}."
            )
        elif accreditation is not None and (
            refusal := channel_refusal(accreditation.releasability, self.releasability or 0)
        ):
            errors["accreditation"] = refusal
        if self._state.adding and self.area_id and not self.area.is_active:
            errors["area"] = f"The area {self.area.name!r} is no longer in use."
        if errors:
            raise ValidationError(errors)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def last_day(self) -> datetime.date:
        return self.end_date or self.start_date

    @property
    def days(self) -> int:
        return (self.last_day - self.start_date).days + 1
