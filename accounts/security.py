"""Recording security events and ending sessions."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from accounts.models import SecurityEvent, SecurityEventKind, UserSession
from attache.client_ip import client_ip


def record_security_event(
    *,
    kind: SecurityEventKind | str,
    success: bool,
    request: HttpRequest | None = None,
    user: AbstractBaseUser | AnonymousUser | None = None,
    username: str = "",
    **detail: Any,
) -> SecurityEvent:
    known = user if user is not None and user.is_authenticated else None
    return SecurityEvent.objects.create(
        kind=kind,
        success=success,
        user_id=getattr(known, "pk", None),
        username=(username or (known.get_username() if known is not None else ""))[:150],
        ip=client_ip(request) if request is not None else None,
        path=(request.get_full_path() if request is not None else "")[:500],
        detail=detail,
    )


def end_sessions(user: AbstractBaseUser) -> int:
    """Delete every session `user` holds; returns how many."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(UserSession.objects.filter(user_id=user.pk).values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    UserSession.objects.filter(user_id=user.pk).delete()
    return len(keys)
