"""The audit context of a web request: who, which URL, and from which client address."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from pghistory.middleware import HistoryMiddleware

from attache.client_ip import client_ip


class AuditContextMiddleware(HistoryMiddleware):
    """pghistory's middleware, plus the client IP resolved through TRUSTED_PROXY_COUNT."""

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_context(request), "ip": client_ip(request)}
