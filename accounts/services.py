"""Writes to user accounts."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import pghistory
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from accounts.models import SecurityEventKind, User
from accounts.security import end_sessions, record_security_event
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
    with pghistory.context(action="user.create"):
        user.save()
        user.desks.add(*desks)
    return user, chosen


@transaction.atomic
def user_deactivate(*, actor: User | None, user: User, request: HttpRequest | None = None) -> User:
    """Deactivate `user` and end every session they hold, at once."""
    if user.is_active:
        user.is_active = False
        with pghistory.context(user=actor.pk if actor is not None else None, action="user.deactivate"):
            user.save(update_fields=["is_active"])
    ended = end_sessions(user)
    record_security_event(
        kind=SecurityEventKind.USER_DEACTIVATED,
        success=True,
        request=request,
        user=actor,
        target=user.get_username(),
        sessions_ended=ended,
    )
    return user
