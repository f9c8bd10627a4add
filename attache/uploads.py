"""Request bodies too large to be worth reading are refused by their declared size, unread.

Django keeps the fields of a request within DATA_UPLOAD_MAX_MEMORY_SIZE, but streams files
of any size to disk before a view can look at them. The largest file the app takes is an
import (IMPORT_MAX_BYTES): a multipart body larger than that plus MULTIPART_ALLOWANCE (the
boundaries, the parts' headers, the CSRF token, `back`) cannot carry an acceptable file, so
it is refused from its Content-Length, which the WSGI server holds the body to.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

MULTIPART_ALLOWANCE = 64 * 1024


def megabytes(size: int, *, rounded_up: bool = False) -> str:
    """`size` in MB (of 1,048,576 bytes) to a tenth, as the pages name limits: "20", "2.5".
    A size over a limit is rounded up, so that a byte too many never reads as the limit."""
    tenths = size / 104_857.6
    return f"{(math.ceil(tenths) if rounded_up else round(tenths)) / 10:.1f}".removesuffix(".0")


def declared_size(request: HttpRequest) -> int:
    """The request's Content-Length (0 when absent or malformed, as Django reads it)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def largest_upload_body() -> int:
    return settings.IMPORT_MAX_BYTES + MULTIPART_ALLOWANCE


class UploadTooLarge(RequestDataTooBig):
    """A multipart body larger than any upload the app accepts (Django answers with
    handler400, which says so with a 413)."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"A multipart body of {size} bytes is over the largest upload ({largest_upload_body()}).")


class _PassingChunksOn(FileUploadHandler):
    """Keeps no file itself: every chunk goes on to the next handler."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class RefuseOversizedUpload(_PassingChunksOn):
    """First of FILE_UPLOAD_HANDLERS: stops the parse of an oversized multipart body before
    anything is read; otherwise passes every chunk on to Django's own handlers."""

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> None:
        if content_length > largest_upload_body():
            raise UploadTooLarge(content_length)


class LeaveUnread(_PassingChunksOn):
    """Parses nothing: POST and FILES are empty and the body is never read. For a page that
    refused a body by its size and still reads `request.POST` (`back`) while rendering."""

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> tuple[QueryDict, MultiValueDict[str, Any]]:
        return QueryDict(), MultiValueDict()
