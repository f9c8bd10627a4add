"""Errors as JSON: one handler for every API view.

400 is always `{field: [messages]}` (errors that belong to no field under
`non_field_errors`); every other error is `{"detail": message}`, except 412, which also
says which version is current and which fields changed.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from cooperation.services import StaleVersion

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = (
        "This request must say which version it changes: send If-Match with the ETag of your last GET "
        "(or the record's `version` in the body)."
    )
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The If-Match header does not match the current version of this record."
    default_code = "precondition_failed"


def etag_for(instance: Any) -> str:
    """The strong ETag of a versioned record: it changes exactly when its version does."""
    return f'"{instance.pk}-{instance.version}"'


def _field_errors(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        if set(data) == {"detail"} and not isinstance(data["detail"], list | dict):
            return {NON_FIELD: [data["detail"]]}
        return {(NON_FIELD if key == "__all__" else key): value for key, value in data.items()}
    if isinstance(data, list):
        return {NON_FIELD: data}
    return {NON_FIELD: [data]}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, StaleVersion):
        return Response(
            {
                "detail": str(exc),
                "current_version": exc.current_version,
                "changed_fields": sorted(exc.changes),
            },
            status=status.HTTP_412_PRECONDITION_FAILED,
            headers={"ETag": etag_for(exc.instance)},
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=serializers.as_serializer_error(exc))
    response = exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_400_BAD_REQUEST:
        response.data = _field_errors(response.data)
    return response


@csrf_exempt  # it changes nothing; without this a cookie-carrying PUT would get Django's HTML 403
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any path under /api/v1/ that names no endpoint."""
    hint = ""
    if path and not path.endswith("/"):
        hint = " API paths end with a slash."
    return JsonResponse({"detail": f"No API endpoint at {request.path}.{hint}"}, status=404)
