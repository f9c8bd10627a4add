"""Weight sets of the cooperation intensity index, and the rollups kept from them.

The index itself (the score of one activity and its SQL twin) lives in
`cooperation.intensity`; these are the tables it reads and writes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cooperation.audit import audited
from cooperation.choices import ActivityLevel, Classification, WeightSetStatus
from cooperation.models.visibility import VisibleQuerySet

if TYPE_CHECKING:
    from accounts.models import User

# Weights are positive and at most 1000: enough range for any scheme, small enough that
# sums of scores over decades stay far inside the rollup's numeric(20, 6).
WEIGHT_VALIDATORS = [MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("1000"))]
DEFAULT_LEVEL_WEIGHTS: dict[str, Decimal] = {
    ActivityLevel.PROTOCOL: Decimal(1),
    ActivityLevel.WORKING: Decimal(2),
    ActivityLevel.SENIOR: Decimal(3),
    ActivityLevel.MINISTERIAL: Decimal(4),
}
DEFAULT_AREA_WEIGHT = Decimal(1)


def _weight_field(default: Decimal, label: str) -> models.DecimalField:
    return models.DecimalField(label, max_digits=8, decimal_places=3, default=default, validators=WEIGHT_VALIDATORS)


def _positive_weight(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": Decimal("0.001"), f"{field}__lte": Decimal("1000")}),
        name=name,
        violation_error_message="A weight must be between 0.001 and 1000.",
    )


class WeightSetQuerySet(models.QuerySet["WeightSet"]):
    def active(self) -> WeightSet:
        """The one active set (a data migration creates it; the database allows only one)."""
        return self.get(status=WeightSetStatus.ACTIVE)

    def maintained(self) -> WeightSetQuerySet:
        """Sets whose rollups are kept current: the active one and one being activated."""
        return self.filter(status__in=MAINTAINED_STATUSES)


@audited()
class WeightSet(models.Model):
    """One version of the weights of the intensity index.

    Exactly one set is active (a partial unique index). Activating another set goes
    through `cooperation.weight_sets.weight_set_activate`: its rollups are built while
    the old set stays active, then one transaction switches. A set that has ever been
    active is frozen, so a weight-set id always stands for the same weights.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    protocol_weight = _weight_field(DEFAULT_LEVEL_WEIGHTS[ActivityLevel.PROTOCOL], "weight of protocol level")
    working_weight = _weight_field(DEFAULT_LEVEL_WEIGHTS[ActivityLevel.WORKING], "weight of working level")
    senior_weight = _weight_field(DEFAULT_LEVEL_WEIGHTS[ActivityLevel.SENIOR], "weight of senior level")
    ministerial_weight = _weight_field(DEFAULT_LEVEL_WEIGHTS[ActivityLevel.MINISTERIAL], "weight of ministerial level")
    status = models.CharField(
        max_length=20, choices=WeightSetStatus.choices, default=WeightSetStatus.DRAFT, editable=False
    )
    activation_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WeightSetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status=WeightSetStatus.ACTIVE),
                name="weightset_one_active",
                violation_error_message="Only one weight set can be active.",
            ),
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status=WeightSetStatus.ACTIVATING),
                name="weightset_one_activating",
                violation_error_message="Another weight set is being activated.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=WeightSetStatus.values),
                name="weightset_status_valid",
                violation_error_message="Unknown weight set status.",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[WeightSetStatus.ACTIVE, WeightSetStatus.RETIRED])
                | Q(first_activated_at__isnull=False),
                name="weightset_activated_has_date",
                violation_error_message="An active or retired weight set needs the date it was first activated.",
            ),
            models.CheckConstraint(
                condition=~Q(status=WeightSetStatus.ACTIVATING) | Q(activation_requested_at__isnull=False),
                name="weightset_activating_has_date",
                violation_error_message="A weight set being activated needs the date it was requested.",
            ),
            _positive_weight("protocol_weight", "weightset_protocol_weight_positive"),
            _positive_weight("working_weight", "weightset_working_weight_positive"),
            _positive_weight("senior_weight", "weightset_senior_weight_positive"),
            _positive_weight("ministerial_weight", "weightset_ministerial_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def is_active(self) -> bool:
        return self.status == WeightSetStatus.ACTIVE

    @property
    def is_frozen(self) -> bool:
        """Weights of a set that has produced (or is producing) figures never change."""
        return self.status != WeightSetStatus.DRAFT

    def level_weight(self, level: str) -> Decimal:
        return getattr(self, f"{ActivityLevel(level).value}_weight")

    def level_weights(self) -> dict[str, Decimal]:
        return {level: self.level_weight(level) for level in ActivityLevel.values}


MAINTAINED_STATUSES = (WeightSetStatus.ACTIVE, WeightSetStatus.ACTIVATING)
LEVEL_WEIGHT_FIELDS = {level: f"{level}_weight" for level in ActivityLevel.values}


@audited()
class AreaWeight(models.Model):
    """The weight of one area in one set; an area without a row weighs 1.0."""

    weight_set = models.ForeignKey(WeightSet, on_delete=models.CASCADE, related_name="area_weights")
    area = models.ForeignKey("cooperation.CooperationArea", on_delete=models.CASCADE, related_name="+")
    weight = _weight_field(DEFAULT_AREA_WEIGHT, "weight")

    class Meta:
        ordering = ["weight_set", "area__position", "area__name"]
        constraints = [
            models.UniqueConstraint(fields=["weight_set", "area"], name="areaweight_one_per_set_and_area"),
            _positive_weight("weight", "areaweight_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.area} × {self.weight}"


class IntensityRollupQuerySet(VisibleQuerySet):
    relationship_path = "relationship"
    releasability_field = "releasability"

    def visible_to(self, user: User | None) -> IntensityRollupQuerySet:
        """Rollup rows of the user's desks, up to the user's clearance."""
        return self.filter(self.visibility_q(user))


class IntensityRollup(models.Model):
    """Conducted count, score sum and pipeline per weight set × relationship × area × month × releasability.

    Derived data, rebuilt from the activities by `cooperation.intensity`; never edited.
    Rows that would be all zeros are not stored. Keyed by weight set so that readers of
    the active set never see rows computed with another one.
    """

    # Derived data, written thousands of rows at a time: no index per foreign key (the
    # unique key's index leads with weight set and relationship) and no foreign-key
    # constraint checked per written row. Deletes through the ORM still cascade, and
    # the nightly reconcile drops rows whose weight set, relationship or area is gone.
    weight_set = models.ForeignKey(
        WeightSet, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    relationship = models.ForeignKey(
        "cooperation.Relationship", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    area = models.ForeignKey(
        "cooperation.CooperationArea", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    month = models.DateField(help_text="First day of the month the activities started in.")
    releasability = models.PositiveSmallIntegerField(choices=Classification.choices)
    conducted = models.PositiveIntegerField(default=0)
    intensity = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal(0))
    pipeline = models.PositiveIntegerField(default=0)

    objects = IntensityRollupQuerySet.as_manager()

    class Meta:
        ordering = ["weight_set", "relationship", "month", "area", "releasability"]
        constraints = [
            # Its index (weight set, relationship, month, …) also serves the selector.
            models.UniqueConstraint(
                fields=["weight_set", "relationship", "month", "area", "releasability"],
                name="intensityrollup_key",
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="intensityrollup_month_first_day"),
            models.CheckConstraint(
                condition=Q(releasability__in=Classification.values), name="intensityrollup_releasability_valid"
            ),
            models.CheckConstraint(condition=Q(conducted__gt=0) | Q(pipeline__gt=0), name="intensityrollup_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.relationship_id}/{self.area_id}/{self.month:%Y-%m}/{self.releasability}"


class IntensityOutbox(models.Model):
    """(Relationship, month) keys whose rollups are stale, written by database triggers
    in the same transaction as every change to an activity.

    The outbox makes refreshes survive a lost task: if the process dies between commit
    and sending the refresh, or the broker is down, the keys are still here and the
    next drain (after any later write, and every minute from beat) recomputes them.
    Bulk writes, COPY-fed inserts and `QuerySet.update()` are covered the same way.
    """

    relationship_id = models.BigIntegerField()
    month = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"relationship {self.relationship_id}, {self.month:%Y-%m}"
