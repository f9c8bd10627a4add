"""Session timeouts, the user ↔ session map, no caching of signed-in responses, and
security events for permission denials."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from accounts.models import SecurityEventKind, UserSession
from accounts.security import record_security_event

# Refresh the idle clock at most this often, so a busy session is not written on every request.
TOUCH_INTERVAL = 60


class SessionTimeoutMiddleware:
    """Sign a browser session out after SESSION_IDLE_TIMEOUT of inactivity or
    SESSION_ABSOLUTE_TIMEOUT after sign-in, whichever comes first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and user.is_authenticated and session is not None:
            now = int(time.time())
            signed_in_at = session.setdefault("signed_in_at", now)
            last_seen = session.setdefault("last_seen", now)
            idle = now - last_seen > settings.SESSION_IDLE_TIMEOUT
            expired = now - signed_in_at > settings.SESSION_ABSOLUTE_TIMEOUT
            if idle or expired:
                record_security_event(
                    kind=SecurityEventKind.SESSION_EXPIRED,
                    success=True,
                    request=request,
                    user=user,
                    reason="idle" if idle else "absolute",
                )
                logout(request)
                messages.info(request, "Your session expired. Please sign in again.")
            elif now - last_seen >= TOUCH_INTERVAL:
                session["last_seen"] = now
        return self.get_response(request)


class SessionKeyMiddleware:
    """Keep `UserSession` pointing at a session whose key changed during the request.

    Django gives a signed-in session a new key when its password changes
    (`update_session_auth_hash`), and Attaché when the second factor is passed; without
    this, deactivating the user would miss that session, which would come back if the
    user were reactivated.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        before = session.session_key if session is not None else None
        response = self.get_response(request)
        if session is not None and before is not None:
            after = session.session_key
            if after is not None and after != before:
                UserSession.objects.filter(session_key=before).update(session_key=after)
        return response


class NoStoreMiddleware:
    """Every response to a signed-in user or an API token is `Cache-Control: no-store, private`.

    Records, exports, dashboards and a freshly issued token key are for that user only and
    only while signed in: neither a shared proxy nor the browser's disk cache may keep
    them. Checked after the view, so the user a DRF token authenticated counts too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class SecurityEventMiddleware:
    """Record every PermissionDenied raised by a view before Django turns it into a 403."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, PermissionDenied):
            record_security_event(
                kind=SecurityEventKind.PERMISSION_DENIED,
                success=False,
                request=request,
                user=getattr(request, "user", None),
                message=str(exception)[:500],
            )
