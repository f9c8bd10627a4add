"""Request rates per token, per user and (for the schema and docs) per client address.

Rates come from settings.API_THROTTLE_RATES (environment: API_THROTTLE_TOKEN,
API_THROTTLE_USER, API_THROTTLE_ANON) and are read on each request, so tests can
override them. The counters live in the default cache (Redis in production).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken
from attache.client_ip import client_ip


class _SettingsRateThrottle(SimpleRateThrottle):
    def __init__(self) -> None:
        pass  # the rate is read per request in allow_request

    def get_rate(self) -> str | None:
        rate: str | None = settings.API_THROTTLE_RATES.get(str(self.scope))
        return rate

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class TokenRateThrottle(_SettingsRateThrottle):
    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return None


class UserRateThrottle(_SettingsRateThrottle):
    """All of a user's tokens and browser sessions together."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
        return None


class AnonRateThrottle(_SettingsRateThrottle):
    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}
