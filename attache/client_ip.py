"""The client's IP address, trusting exactly TRUSTED_PROXY_COUNT reverse proxies.

Login throttling, API throttling and the audit all ask this one function, so a forged
X-Forwarded-For header cannot help a client slip past any of them: with N trusted
proxies, the address is the N-th entry from the right of X-Forwarded-For (each proxy
appends the address it received the request from); entries further left are whatever
the client chose to send and are ignored. With no trusted proxy, REMOTE_ADDR.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    remote = _valid(request.META.get("REMOTE_ADDR", "") or "")
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        # Fewer hops than trusted proxies: the request did not come through them all.
        return remote
    return _valid(forwarded[-proxies])
