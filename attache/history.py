"""The audit context of a web request: who, which URL, and from which client address."""

from __future__ import annotations

from typing import Any

import pghistory
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponseBase
from pghistory import config as pghistory_config
from pghistory.middleware import HistoryMiddleware

from attache.client_ip import client_ip
from cooperation.audit import audit_context_for_user


class _UserChangeStartsAContext:
    """A request whose `user`, once set again, continues in a fresh audit context.

    Stands in for pghistory's request classes, which put the new user into the current
    context (see `cooperation.audit.audit_context_for_user`).
    """

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr == "user":
            audit_context_for_user(getattr(value, "pk", None))
        super().__setattr__(attr, value)


class AuditedWSGIRequest(_UserChangeStartsAContext, WSGIRequest):
    pass


class AuditedASGIRequest(_UserChangeStartsAContext, ASGIRequest):
    pass


class AuditContextMiddleware(HistoryMiddleware):
    """pghistory's middleware, plus the client IP resolved through TRUSTED_PROXY_COUNT, and
    a fresh context when the request's user changes rather than a rewritten one."""

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_context(request), "ip": client_ip(request)}

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in pghistory_config.middleware_methods():
            return self.get_response(request)
        with pghistory.context(**self.get_context(request)):
            if isinstance(request, ASGIRequest):
                request.__class__ = AuditedASGIRequest
            elif isinstance(request, WSGIRequest):
                request.__class__ = AuditedWSGIRequest
            return self.get_response(request)
