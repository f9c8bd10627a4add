"""Security events for Django's authentication signals (connected in AccountsConfig.ready)."""

from __future__ import annotations

import time
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import SecurityEventKind, UserSession
from accounts.security import record_security_event


@receiver(user_logged_in)
def on_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record_security_event(kind=SecurityEventKind.SIGN_IN, success=True, request=request, user=user)
    if request is not None and hasattr(request, "session"):
        request.session["signed_in_at"] = int(time.time())
        request.session["last_seen"] = int(time.time())
        if request.session.session_key is None:
            request.session.save()
        UserSession.objects.get_or_create(session_key=request.session.session_key, defaults={"user": user})


@receiver(user_logged_out)
def on_sign_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_security_event(kind=SecurityEventKind.SIGN_OUT, success=True, request=request, user=user)
    if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()


@receiver(user_login_failed)
def on_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    record_security_event(
        kind=SecurityEventKind.SIGN_IN_FAILED,
        success=False,
        request=request,
        username=str(credentials.get("username", "")),
    )


@receiver(user_locked_out)
def on_lockout(sender: Any, request: HttpRequest | None, username: str | None = None, **kwargs: Any) -> None:
    record_security_event(kind=SecurityEventKind.LOCKOUT, success=False, request=request, username=username or "")
