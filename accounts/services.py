"""Writes to user accounts."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, SecurityEventKind, User
from accounts.security import end_sessions, record_security_event
from cooperation.audit import audit_context
from cooperation.choices import Classification, Role
from cooperation.models import Desk


def generate_password() -> str:
    return secrets.token_urlsafe(15)


@transaction.atomic
def user_create(
    *,
    username: str,
    role: str,
    clearance: int = Classification.PUBLIC,
    desks: Iterable[Desk] = (),
    password: str | None = None,
    email: str = "",
    validate: bool = True,
) -> tuple[User, str]:
    """Create a user with a role, clearance and desks; returns the user and the password.

    Without `password` a random one is generated. Admins get staff and superuser
    rights and the highest clearance; desks apply to desk officers only.
    """
    desks = list(desks)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; expected one of {', '.join(Role.values)}."})
    if desks and role != Role.DESK_OFFICER:
        raise ValidationError({"desks": "Desks apply to desk officers only."})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"A user named {username!r} already exists."})
    is_admin = role == Role.ADMIN
    user = User(
        username=username,
        email=email,
        role=role,
        clearance=Classification.RESTRICTED if is_admin else clearance,
        is_staff=is_admin,
        is_superuser=is_admin,
    )
    user.full_clean(exclude=["password"])
    chosen = password if password is not None else generate_password()
    if validate:
        validate_password(chosen, user)
    user.set_password(chosen)
    with audit_context(None, "user.create"):
        user.save()
        user.desks.add(*desks)
    return user, chosen


@transaction.atomic
def user_deactivate(*, actor: User | None, user: User, request: HttpRequest | None = None) -> User:
    """Deactivate `user` and end every session they hold, at once."""
    if user.is_active:
        user.is_active = False
        with audit_context(actor, "user.deactivate"):
            user.save(update_fields=["is_active"])
    ended = end_sessions(user)
    revoked = 0
    for token in ApiToken.objects.filter(user=user).usable():
        token_revoke(token=token, actor=actor, request=request)
        revoked += 1
    record_security_event(
        kind=SecurityEventKind.USER_DEACTIVATED,
        success=True,
        request=request,
        user=actor,
        target=user.get_username(),
        sessions_ended=ended,
        tokens_revoked=revoked,
    )
    return user


# API tokens ------------------------------------------------------------------------


def _token_days(days: int) -> int:
    maximum: int = settings.API_TOKEN_MAX_DAYS
    if not 1 <= days <= maximum:
        raise ValidationError({"days": f"A token lives between 1 and {maximum} days, not {days}."})
    return days


@transaction.atomic
def token_issue(
    *, user: User, name: str, days: int | None = None, actor: User | None = None, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """Issue an API token acting as `user`; returns the token and its key, shown only once."""
    if not user.is_active:
        raise ValidationError({"user": f"{user.username} is not active."})
    lifetime = _token_days(settings.API_TOKEN_DEFAULT_DAYS if days is None else days)
    prefix, key = tokens.generate_key()
    now = timezone.now()
    token = ApiToken(
        user=user,
        name=name.strip(),
        prefix=prefix,
        digest=tokens.digest(key),
        created_at=now,
        expires_at=now + datetime.timedelta(days=lifetime),
    )
    token.full_clean()
    with audit_context(actor, "token.issue"):
        token.save()
    record_security_event(
        kind=SecurityEventKind.TOKEN_ISSUED,
        success=True,
        request=request,
        user=actor or user,
        token=token.prefix,
        owner=user.get_username(),
        expires_at=token.expires_at.isoformat(),
    )
    return token, key


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: User | None = None, request: HttpRequest | None = None) -> ApiToken:
    """Revoke a token for good; revoking a revoked token changes nothing."""
    current = ApiToken.objects.select_for_update().get(pk=token.pk)
    if current.revoked_at is not None:
        return current
    current.revoked_at = timezone.now()
    with audit_context(actor, "token.revoke"):
        current.save(update_fields=["revoked_at"])
    record_security_event(
        kind=SecurityEventKind.TOKEN_REVOKED,
        success=True,
        request=request,
        user=actor,
        token=current.prefix,
        owner=current.user.get_username(),
    )
    return current


def token_touch(*, token: ApiToken) -> None:
    """Record that the token was used, at most once per API_TOKEN_TOUCH_SECONDS (one UPDATE, no lock)."""
    now = timezone.now()
    interval = datetime.timedelta(seconds=settings.API_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is not None and now - token.last_used_at < interval:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
