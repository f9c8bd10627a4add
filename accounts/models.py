"""Users of Attaché: a role, a clearance and (for desk officers) desks."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from cooperation.audit import audited
from cooperation.choices import Classification, Role


@audited(exclude=["password", "last_login"])
class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DESK_OFFICER)
    clearance = models.PositiveSmallIntegerField(
        choices=Classification.choices,
        default=Classification.PUBLIC,
        help_text="The most sensitive releasability this user may see.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values),
                name="user_role_valid",
                violation_error_message="Unknown role.",
            ),
            models.CheckConstraint(
                condition=models.Q(clearance__in=Classification.values),
                name="user_clearance_valid",
                violation_error_message="Unknown clearance.",
            ),
        ]

    @property
    def is_admin_role(self) -> bool:
        return self.is_active and (self.is_superuser or self.role == Role.ADMIN)

    @property
    def sees_every_desk(self) -> bool:
        """Managers, API clients and admins see every desk; desk officers only their own."""
        return self.is_admin_role or (self.is_active and self.role in (Role.MANAGER, Role.API_CLIENT))

    @property
    def effective_clearance(self) -> int:
        return Classification.RESTRICTED if self.is_admin_role else self.clearance
