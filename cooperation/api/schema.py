"""OpenAPI details drf-spectacular cannot infer: the token scheme, the error responses
every operation can give, conditional requests and the CSV variant of lists."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_array_type, build_basic_type, build_object_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

ERROR = build_object_type(properties={"detail": build_basic_type(OpenApiTypes.STR)}, required=["detail"])
STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
FIELD_ERRORS = build_object_type(
    additionalProperties=build_array_type(STRING),
    description="Messages per field; errors of no single field under `non_field_errors`.",
)
STALE = build_object_type(
    properties={
        "detail": STRING,
        "current_version": INTEGER,
        "changed_fields": build_array_type(STRING),
    },
    required=["detail"],
)

ALREADY_CREATED = build_object_type(
    properties={
        "detail": STRING,
        "id": build_basic_type(OpenApiTypes.INT),
        "changed_fields": build_array_type(STRING),
    },
    required=["detail", "id", "changed_fields"],
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description=(
        "A UUID of your choosing, fresh for each new record and the same on a retry: a second POST with "
        "the key you already used answers with the record the first one created instead of creating "
        "another (422 if its body differs). Keys are per user."
    ),
)

DESCRIPTIONS = {
    "304": "Not modified: your If-None-Match names the current representation.",
    "400": "Invalid input.",
    "401": "No or invalid credentials.",
    "403": "Your role may not do this.",
    "404": "No such record (or not visible to you).",
    "406": "Cannot answer in the format asked for (Accept header or ?format).",
    "412": "Stale: the record changed since the version you sent.",
    "415": "Unsupported request body media type.",
    "428": "Say which version you change: If-Match or `version` in the body.",
    "429": "Too many requests; retry after the number of seconds in Retry-After.",
}


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: issue keys with `manage.py issue_token` or on /accounts/tokens/.",
        }


class ApiAutoSchema(AutoSchema):
    def _is_detail(self) -> bool:
        return "{" in self.path

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "GET":
            parameters.append(
                OpenApiParameter(
                    "If-None-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description="An ETag from a previous GET.",
                )
            )
            if self._is_list_view():
                parameters.append(
                    OpenApiParameter(
                        "format",
                        OpenApiTypes.STR,
                        enum=["json", "csv"],
                        description="`csv` streams every matching row (no pages) as CSV.",
                    )
                )
        if self.method in ("PUT", "PATCH", "DELETE"):
            parameters.append(
                OpenApiParameter(
                    "If-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description="The ETag of the version you change (or send `version` in the body).",
                )
            )
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if "200" in responses and self.method == "GET" and self._is_list_view():
            content = responses["200"].get("content", {})
            if "text/csv" in content:
                content["text/csv"] = {"schema": build_basic_type(OpenApiTypes.STR)}
        if "200" in responses:
            responses["200"].setdefault("headers", {})["ETag"] = {"schema": build_basic_type(OpenApiTypes.STR)}
        codes = ["401", "403", "406", "429"]
        if self.method == "GET":
            codes += ["304", "400", "404"]
        else:
            codes += ["400", "415"]
        if self._is_detail():
            codes.append("404")
        if self.method in ("PUT", "PATCH", "DELETE"):
            codes += ["412", "428"]
        for code in sorted(set(codes)):
            if code in responses:
                continue
            if code == "304":
                responses[code] = {"description": DESCRIPTIONS[code]}
                continue
            schema = FIELD_ERRORS if code == "400" else STALE if code == "412" else ERROR
            response: dict[str, Any] = {
                "content": {"application/json": {"schema": schema}},
                "description": DESCRIPTIONS[code],
            }
            if code == "429":
                response["headers"] = {"Retry-After": {"schema": build_basic_type(OpenApiTypes.INT)}}
            responses[code] = response
        return responses
