"""The interactive API docs (/api/v1/docs/) work in a browser under the app's own
Content-Security-Policy: Swagger UI's start-up script must not be inline."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_the_api_operations_without_a_policy_violation(live_server: Any, page: Any) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(f"{live_server.url}/api/v1/docs/")

    # Swagger UI read the schema and drew an operation block for each endpoint.
    activities = page.locator(".opblock-summary-path", has_text="/api/v1/activities/")
    expect(activities.first).to_be_visible()
    assert page.locator(".opblock").count() >= 10
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Attach")
    assert not [text for text in messages if "Content Security Policy" in text], messages
    # Its assets came from this server (the sidecar package), nothing from elsewhere.
    hosts = page.evaluate("[...document.scripts].map(s => s.src && new URL(s.src).host).filter(Boolean)")
    assert hosts and set(hosts) == {live_server.url.split("//", 1)[1]}
