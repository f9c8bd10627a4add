"""Desks: groups of relationships and the desk officers who cover them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from cooperation.audit import audited

if TYPE_CHECKING:
    from accounts.models import User


class DeskQuerySet(models.QuerySet[Any]):
    def visible_to(self, user: User | None) -> DeskQuerySet:
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.sees_every_desk:
            return self
        return self.filter(officers=user)


@audited()
class Desk(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    relationships = models.ManyToManyField(
        "cooperation.Relationship", through="DeskRelationship", related_name="desks", blank=True
    )
    officers = models.ManyToManyField(settings.AUTH_USER_MODEL, through="DeskOfficer", related_name="desks", blank=True)

    objects = DeskQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@audited()
class DeskRelationship(models.Model):
    desk = models.ForeignKey(Desk, on_delete=models.CASCADE)
    relationship = models.ForeignKey("cooperation.Relationship", on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["desk", "relationship"], name="desk_relationship_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.desk} · {self.relationship}"


@audited()
class DeskOfficer(models.Model):
    desk = models.ForeignKey(Desk, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["desk", "user"], name="desk_officer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.desk} · {self.user}"
