from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from attache.client_ip import client_ip


def request(remote: str = "10.0.0.2", forwarded: str | None = None):  # type: ignore[no-untyped-def]
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@override_settings(TRUSTED_PROXY_COUNT=0)
def test_without_proxies_the_header_is_ignored() -> None:
    assert client_ip(request(forwarded="1.2.3.4")) == "10.0.0.2"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_one_proxy_takes_the_rightmost_entry_and_ignores_forged_ones() -> None:
    assert client_ip(request(forwarded="203.0.113.9")) == "203.0.113.9"
    # The client forged "1.1.1.1"; the proxy appended the real address.
    assert client_ip(request(forwarded="1.1.1.1, 203.0.113.9")) == "203.0.113.9"


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_two_proxies() -> None:
    assert client_ip(request(forwarded="6.6.6.6, 203.0.113.9, 10.0.0.1")) == "203.0.113.9"


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_too_few_hops_falls_back_to_the_socket_address() -> None:
    assert client_ip(request(forwarded="203.0.113.9")) == "10.0.0.2"


@pytest.mark.parametrize("junk", ["not-an-ip", "", " , "])
@override_settings(TRUSTED_PROXY_COUNT=1)
def test_garbage_is_not_an_address(junk: str) -> None:
    assert client_ip(request(forwarded=junk)) in (None, "10.0.0.2")
