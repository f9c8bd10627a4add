"""ETags and If-None-Match / If-Match for the API; Idempotency-Key for creates."""

from __future__ import annotations

import hashlib
import re
import uuid

from rest_framework import exceptions
from rest_framework.request import Request

from cooperation.api.errors import PreconditionFailed, PreconditionRequired

_ETAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


def parse_etags(header: str) -> list[str]:
    """The opaque tags of an If-Match / If-None-Match header, weak marks dropped; ['*'] for *."""
    if header.strip() == "*":
        return ["*"]
    return [match.group(2) for match in _ETAG.finditer(header)]


def content_etag(content: bytes) -> str:
    return f'W/"{hashlib.sha256(content).hexdigest()[:32]}"'


def none_match(request: Request, etag: str) -> bool:
    """True when the client's If-None-Match already names this representation."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = parse_etags(header)
    return "*" in tags or etag.removeprefix("W/").strip('"') in tags


def expected_version(request: Request, pk: int) -> int:
    """The version the client says it is changing: If-Match, else `version` in the body.

    Missing → 428; an If-Match naming another record or no version of this one → 412
    (it cannot match); a malformed `version` → 400.
    """
    header = request.headers.get("If-Match")
    if header is not None:
        tags = parse_etags(header)
        if tags == ["*"]:
            raise PreconditionRequired(
                "If-Match: * does not protect against lost updates: send the ETag of the version you read."
            )
        for tag in tags:
            record, dash, version = tag.partition("-")
            if dash and record == str(pk) and version.isdigit() and len(version) < 10:
                return int(version)
        raise PreconditionFailed()
    data = request.data
    body_version = data.get("version") if hasattr(data, "get") else None
    if body_version is None:
        raise PreconditionRequired()
    if isinstance(body_version, bool) or not isinstance(body_version, int | str) or not str(body_version).isdigit():
        raise exceptions.ValidationError({"version": ["A valid integer is required."]})
    if len(str(body_version)) >= 10:
        raise exceptions.ValidationError({"version": ["This is not a version of this record."]})
    return int(body_version)


def idempotency_key(request: Request) -> uuid.UUID | None:
    """The client's one-time key for a create (the same guard as the HTML forms' hidden key).

    Absent → None (no guard); present but not a UUID → 400, not silently unguarded.
    """
    header = request.headers.get("Idempotency-Key")
    if header is None:
        return None
    try:
        return uuid.UUID(header.strip().strip('"'))
    except ValueError:
        raise exceptions.ValidationError(
            {"Idempotency-Key": ["Send a UUID, a fresh one for each new record (and the same one on a retry)."]}
        ) from None
