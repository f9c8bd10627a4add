"""One proxy rule everywhere: a forged X-Forwarded-For entry bypasses neither login
throttling, nor API throttling, nor the audit's client address."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from cooperation.api import throttling

pytestmark = pytest.mark.django_db


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_api_throttling_counts_the_real_client_whatever_it_forges(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The four requests fall in one window whatever the wall clock says (a burst across a
    # window boundary is tests/api/test_throttling.py's concern).
    monkeypatch.setattr(throttling.time, "time", lambda: 600_030.0)
    cache.clear()
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "anon": "2/min"}
    client = Client(REMOTE_ADDR="10.0.0.1")  # the proxy
    statuses = [
        client.get("/api/v1/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{forged}, 203.0.113.5").status_code
        for forged in range(4)
    ]
    assert statuses[:2] == [200, 200]
    assert statuses[2:] == [429, 429]
    # Another real client behind the same proxy is not affected.
    other = client.get("/api/v1/schema/", HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert other.status_code == 200
    cache.clear()
