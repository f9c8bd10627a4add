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


def desk_relationship_ids(user: User) -> models.QuerySet[Any]:
    """Ids of the relationships covered by the desks `user` belongs to (a subquery)."""
    desk_relationship = apps.get_model("cooperation", "DeskRelationship")
    return desk_relationship.objects.filter(desk__officers=user).values("relationship_id")


def can_see_all(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_admin_role


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
        if user is None or not user.is_authenticated or not user.is_active:
            return NOTHING
        if user.is_admin_role:
            return Q()
        condition = Q()
        if self.releasability_field:
            condition &= Q(**{f"{self.releasability_field}__lte": user.effective_clearance})
        if self.relationship_path is not None and not user.sees_every_desk:
            lookup = f"{self.relationship_path}_id__in" if self.relationship_path else f"{pk}__in"
            condition &= Q(**{lookup: desk_relationship_ids(user)})
        return condition


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
