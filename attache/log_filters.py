"""Logging filters (settings.LOGGING)."""

from __future__ import annotations

import logging


class DatabaseUnavailableFilter(logging.Filter):
    """Drop django.request's traceback for a request answered 503 because the database was
    unreachable: `attache.views.server_error` logs one line for it instead. An outage of a
    few seconds fails hundreds of requests, and their tracebacks would bury the log's
    real errors. Every other error keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) != 503 or not record.exc_info:
            return True
        from attache.views import DATABASE_UNAVAILABLE

        return not isinstance(record.exc_info[1], DATABASE_UNAVAILABLE)
