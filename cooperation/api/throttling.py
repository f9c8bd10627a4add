"""Request rates per token, per user and (for the schema and docs) per client address.

Rates come from settings.API_THROTTLE_RATES (environment: API_THROTTLE_TOKEN,
API_THROTTLE_USER, API_THROTTLE_ANON) and are read on each request, so tests can
override them. The counters live in the default cache (Redis in production).

A sliding-window counter, not DRF's request log: DRF keeps every request's timestamp
of the last period in one cache entry and reads, filters and writes it back whole on
each request, so its cost grows with the rate it allows (1,200 entries at 1200/min).
Here each scope keeps two integers, the count of the current fixed window and of the
one before; the request is refused when the previous count, weighted by how much of
the previous window still lies inside the sliding period and rounded up, plus the
current count reaches the rate. Rounding up keeps a burst at a window's end from
earning an extra request at the next one's start (two at 11:59:59 and a third at
12:00:00 under 2/min). Two cache operations per scope, whatever the rate.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiToken
from attache.client_ip import client_ip

DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' → (1200, 60): requests and seconds, as DRF reads rates (settings check the form)."""
    count, _, period = rate.partition("/")
    return int(count), DURATIONS[period[0]]


class _SettingsRateThrottle(BaseThrottle):
    scope = ""
    cache_format = "throttle_%(scope)s_%(ident)s"

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        rate: str | None = settings.API_THROTTLE_RATES.get(self.scope)
        key = self.get_cache_key(request, view) if rate else None
        if rate is None or key is None:
            return True
        limit, duration = parse_rate(rate)
        now = time.time()
        window = int(now // duration)
        elapsed = now - window * duration
        current_key, previous_key = f"{key}:{window}", f"{key}:{window - 1}"
        counts = cache.get_many([previous_key, current_key])
        previous, current = counts.get(previous_key, 0), counts.get(current_key, 0)
        if self._carried(previous, duration, elapsed) + current >= limit:
            self.wait_seconds = self._wait(limit, duration, elapsed, previous, current)
            return False
        try:
            cache.incr(current_key)
        except ValueError:  # the first request of this window
            if not cache.add(current_key, 1, timeout=2 * duration + 1):
                cache.incr(current_key)
        return True

    @staticmethod
    def _carried(previous: int, duration: int, elapsed: float) -> int:
        """The previous window's requests still inside the sliding period, rounded up
        (the tolerance keeps float noise from rounding a whole number up)."""
        return math.ceil(previous * (duration - elapsed) / duration - 1e-9)

    @staticmethod
    def _wait(limit: int, duration: int, elapsed: float, previous: int, current: int) -> float:
        """Seconds until the rounded-up weighted count falls below the limit again."""
        if current >= limit:  # only the next window helps, once enough of this one has slid out
            return (duration - elapsed) + duration * (1 - (limit - 1) / current)
        return duration * (1 - (limit - current - 1) / previous) - elapsed

    def wait(self) -> float | None:
        return None if self.wait_seconds is None else max(1, math.ceil(self.wait_seconds))


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
