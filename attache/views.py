"""Error pages: JSON under /api/, HTML elsewhere, never a traceback.

A lost database connection is a 503 (try again shortly), not a 500: the next request
reconnects by itself (CONN_HEALTH_CHECKS), so the app recovers without a restart.
"""

from __future__ import annotations

import logging
import sys

import psycopg2
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from attache.uploads import UploadTooLarge, megabytes

logger = logging.getLogger("attache.errors")

RETRY_AFTER_SECONDS = 5
# Errors that mean "the database is unreachable now". psycopg2's own classes too: a few
# calls reach the driver outside Django's error wrapper (closing a server-side cursor in
# `cursor_iter`'s `finally`), and raise them unwrapped.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, psycopg2.OperationalError, psycopg2.InterfaceError)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def _respond(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    """JSON for API clients; otherwise `<status>.html` (with the site's navigation) for
    client errors, and the self-contained `error.html` for server errors, which must
    render even when the database is gone."""
    if _wants_json(request):
        return JsonResponse({"detail": detail}, status=status)
    context = {"status": status, "title": title, "detail": detail}
    body: str
    try:
        if status < 500:
            template = loader.select_template([f"{status}.html", "error.html"])
            body = template.render(context, request)
        else:
            body = loader.render_to_string("error.html", context)
    except Exception:  # the template layer itself may need the database
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{detail}</p>"
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return _respond(request, 413, "Too large", _too_large(exception))
    return _respond(request, 400, "Bad request", "The request could not be understood.")


def _too_large(exception: RequestDataTooBig) -> str:
    """What was over which limit: an upload (refused unread), or the fields of a form or the
    JSON of an API request (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    if isinstance(exception, UploadTooLarge):
        size, limit = megabytes(exception.size, rounded_up=True), megabytes(settings.IMPORT_MAX_BYTES)
        return f"The upload is {size} MB; at most {limit} MB can be sent at once. Nothing was saved."
    return (
        f"The request carries more than {megabytes(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)} MB besides files, "
        "more than Attaché accepts at once. Nothing was saved."
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, 403, "Not allowed", "You do not have permission to do this.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, 404, "Not found", "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if isinstance(error, DATABASE_UNAVAILABLE):
        logger.warning("Database unavailable, 503 for %s %s: %s", request.method, request.path, str(error).strip())
        response = _respond(
            request,
            503,
            "Temporarily unavailable",
            "The service is temporarily unavailable. Please try again in a few seconds.",
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return _respond(request, 500, "Something went wrong", "An unexpected error occurred; it has been logged.")
