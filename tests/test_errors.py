"""Errors never show a traceback; a lost database is a 503 that clears by itself."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def database_down() -> Iterator[None]:
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=OperationalError("server closed the connection unexpectedly"),
    ):
        yield


@pytest.mark.django_db
def test_unknown_page_is_a_friendly_404(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()
    assert "Traceback" not in response.content.decode()


@pytest.mark.django_db
def test_unknown_api_url_is_a_json_404(client: Client) -> None:
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at /api/v1/no-such-thing/."}


@pytest.fixture
def signed_in(client: Client, django_user_model: type) -> Client:
    client.force_login(django_user_model.objects.create(username="reader"))
    return client


@pytest.mark.django_db
def test_database_outage_is_a_503_page(signed_in: Client, database_down: None) -> None:
    response = signed_in.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert "temporarily unavailable" in body
    assert "OperationalError" not in body and "Traceback" not in body


@pytest.mark.django_db
def test_database_outage_is_a_503_json_for_api_clients(signed_in: Client, database_down: None) -> None:
    response = signed_in.get("/api/v1/activities/")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The service is temporarily unavailable")


@pytest.mark.django_db
def test_other_errors_are_a_plain_500(client: Client) -> None:
    with mock.patch("django.views.generic.base.TemplateView.get", side_effect=RuntimeError("boom")):
        response = client.get("/")
    assert response.status_code == 500
    assert "boom" not in response.content.decode()
    assert "An unexpected error occurred" in response.content.decode()


@pytest.mark.django_db
def test_a_database_outage_is_one_log_line_not_a_traceback(
    signed_in: Client, database_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    response = signed_in.get("/api/v1/activities/")
    assert response.status_code == 503
    messages = [(record.name, record.getMessage()) for record in caplog.records]
    assert (
        "attache.errors",
        "Database unavailable, 503 for GET /api/v1/activities/: server closed the connection unexpectedly",
    ) in messages
    assert not [record for record in caplog.records if record.exc_info]


def test_the_filter_keeps_every_other_error_with_its_traceback() -> None:
    import logging
    import sys

    from attache.log_filters import DatabaseUnavailableFilter

    def record(error: Exception, status: int) -> logging.LogRecord:
        try:
            raise error
        except Exception:
            entry = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", None, sys.exc_info())
        entry.status_code = status
        return entry

    keep = DatabaseUnavailableFilter().filter
    assert not keep(record(OperationalError("gone"), 503))
    assert keep(record(RuntimeError("boom"), 500))
    assert keep(record(OperationalError("gone"), 500))


@pytest.mark.django_db
def test_the_drivers_own_connection_errors_are_a_503_too(signed_in: Client) -> None:
    """Closing a server-side cursor on a dead connection raises psycopg2's error unwrapped
    (found by the PostgreSQL restart drill: a filter form's choices)."""
    import psycopg2

    with mock.patch(
        "django.views.generic.base.TemplateView.get",
        side_effect=psycopg2.OperationalError("server closed the connection unexpectedly"),
    ):
        response = signed_in.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "temporarily unavailable" in response.content.decode()
