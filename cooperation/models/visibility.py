"""The one place that decides which records a user may see.

Every list, detail, search, export, count, chart and API path starts from a
`visible_to(user)` queryset method built on `VisibleQuerySet.visibility_q`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models
from django.db.models import Q

from cooperation.audit import event_model

if TYPE_CHECKING:
    from accounts.models import User


NOTHING = Q(pk__in=[])


def desk_relationship_ids(user: User | int) -> models.QuerySet[Any]:
    """Ids of the relationships covered by the desks `user` (or the user of that id) belongs to (a subquery)."""
    desk_relationship = apps.get_model("cooperation", "DeskRelationship")
    return desk_relationship.objects.filter(desk__officers=user).values("relationship_id")


def can_see_all(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_admin_role


def visibility_terms(user: User | None) -> tuple[Any, ...]:
    """All that the visibility rule reads of `user`: `visibility_q` is built from these
    terms alone, so two users with equal terms get the same condition, written alike.
    Desk memberships are not among them: the condition reads them in the database, at
    the moment it runs."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ("nothing",)
    if user.is_admin_role:
        return ("everything",)
    return ("clearance", user.effective_clearance, "every desk" if user.sees_every_desk else ("desks of", user.pk))


class VisibleQuerySet(models.QuerySet[Any]):
    """A queryset of records scoped by relationship (desk) and releasability (clearance).

    Subclasses name the path to the relationship ("" when the record is the
    relationship itself) and the releasability field; either may be None for
    records that carry no such attribute.
    """

    relationship_path: str | None = "relationship"
    releasability_field: str | None = "releasability"

    def visibility_q(self, user: User | None, *, pk: str = "pk") -> Q:
        """The condition on records `user` may see; `pk` names the record's own key where a
        query runs over another table holding its versions (the history's `pgh_obj_id`)."""
        match visibility_terms(user):
            case ("nothing",):
                return NOTHING
            case ("everything",):
                return Q()
            case ("clearance", clearance, desks):
                condition = Q()
                if self.releasability_field:
                    condition &= Q(**{f"{self.releasability_field}__lte": clearance})
                if self.relationship_path is not None and desks != "every desk":
                    lookup = f"{self.relationship_path}_id__in" if self.relationship_path else f"{pk}__in"
                    condition &= Q(**{lookup: desk_relationship_ids(desks[1])})
                return condition
        raise AssertionError("unknown visibility terms")


def visible_snapshots(instance: models.Model, user: User | None) -> models.QuerySet[Any] | None:
    """The history snapshots (pghistory events) of `instance` that `user` may see: those
    taken while the record was within the user's desks and clearance, by the same rule as
    the live records. None when the model has no visibility rule (every snapshot shows)."""
    queryset = type(instance)._default_manager.all()
    if not isinstance(queryset, VisibleQuerySet):
        return None
    return (
        event_model(type(instance))
        .objects.filter(pgh_obj_id=instance.pk)
        .filter(queryset.visibility_q(user, pk="pgh_obj_id"))
    )
