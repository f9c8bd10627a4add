"""Users of Attaché: a role, a clearance and (for desk officers) desks."""

from __future__ import annotations

import pgtrigger
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

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


class SecurityEventKind(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    SIGN_OUT = "sign_out", "Signed out"
    LOCKOUT = "lockout", "Locked out"
    SESSION_EXPIRED = "session_expired", "Session expired"
    PERMISSION_DENIED = "permission_denied", "Permission denied"
    TOKEN_ISSUED = "token_issued", "Token issued"
    TOKEN_REVOKED = "token_revoked", "Token revoked"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    USER_DEACTIVATED = "user_deactivated", "User deactivated"
    SECOND_FACTOR_FAILED = "second_factor_failed", "Second factor failed"


class SecurityEvent(models.Model):
    """Sign-ins, failures, lockouts, denials and token changes: who, when, from where, outcome.

    Append-only: a trigger refuses UPDATE and DELETE, so the application cannot rewrite it.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=30, choices=SecurityEventKind.choices, db_index=True)
    success = models.BooleanField()
    user = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="security_events",
    )
    username = models.CharField(max_length=150, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        triggers = [pgtrigger.Protect(name="security_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.username or '-'}"


class UserSession(models.Model):
    """The sessions a user holds, so that deactivating them can end every one at once."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} · {self.session_key[:8]}…"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


@audited(exclude=["digest", "last_used_at"])
class ApiToken(models.Model):
    """A key for the REST API, acting as its user. Only an HMAC of the key is stored.

    The key is `<prefix>.<secret>`; the prefix finds the row, a keyed SHA-256 of the whole
    key proves it (checked on every request, so a fast keyed hash, not a password hasher).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'BI nightly pull'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="apitoken_expires_after_creation",
                violation_error_message="A token must expire after it is issued.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}, {self.user})"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.expires_at > timezone.now() else "expired"
