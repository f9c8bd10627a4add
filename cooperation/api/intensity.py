"""GET /api/v1/intensity/: the cooperation intensity report as JSON or streamed CSV.

A thin view over `cooperation.intensity_selectors.intensity_series`, which reads the
rollups of the active weight set scoped by desk and clearance. This module only turns
query parameters into its arguments (strictly: every wrong value is a 400 naming the
parameter) and its result into flat rows: for every period, one row per selected area
in the areas' order, then one row with `area: null` that totals the selected areas.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django_countries import countries
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from cooperation.api import csv
from cooperation.api.base import ApiView
from cooperation.intensity import Granularity
from cooperation.intensity_selectors import IntensitySeries, intensity_series
from cooperation.models import CooperationArea, Relationship

MIN_YEAR, MAX_YEAR = 1900, 2199
MAX_SPAN_MONTHS = 600  # 50 years: 600 monthly periods at most
BIGINT_MAX = 2**63 - 1
SINGLE_VALUED = ("relationship", "country", "period", "start", "end", "format")
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN.strip("^$"))
_WHOLE_NUMBER = re.compile(r"[0-9]+")

INTENSITY_DOC = f"""Cooperation intensity per period and area, as docs/intensity.md defines it.

Give exactly one of `relationship` (its id) or `country` (every relationship of that state
you may see). Periods run from the one containing `start` to the one containing `end`
(whole periods: `start=2017-02&period=quarter` begins with 2017 Q1), at most
{MAX_SPAN_MONTHS} months from `start` to `end`, months from {MIN_YEAR}-01 to {MAX_YEAR}-12.
Every period is present, empty ones with zeros.

`results` has, for each period in order, one row per selected area (all areas when `area`
is not given) in the areas' order, then one row with `"area": null`: the total over the
selected areas (its breadth is the number of areas with a conducted activity). Activities
and relationships you may not see (desk, clearance) count nowhere; a relationship you may
not see is a 404, like one that does not exist. `weight_set` is the id of the weight set
that produced every figure. `?format=csv` streams the same rows (the total's area empty)."""


class QueryValueField(serializers.Field):
    """One query-string value, taken as sent (no trimmed spaces: the schema allows none)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or data == "":
            raise serializers.ValidationError("This may not be empty: leave the parameter out.")
        return self.parse(data)

    def to_representation(self, value: Any) -> Any:
        return value

    def parse(self, text: str) -> Any:
        raise NotImplementedError


@extend_schema_field({"type": "string", "pattern": MONTH_PATTERN, "example": "2017-01"})
class MonthField(QueryValueField):
    """YYYY-MM → the first day of that month."""

    def parse(self, text: str) -> datetime.date:
        if not _MONTH.fullmatch(text):
            raise serializers.ValidationError("Give a month as YYYY-MM, e.g. 2017-03.")
        year, month = int(text[:4]), int(text[5:])
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise serializers.ValidationError(f"Give a month from {MIN_YEAR}-01 to {MAX_YEAR}-12.")
        return datetime.date(year, month, 1)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGINT_MAX})
class IdField(QueryValueField):
    """A record id: ASCII digits only (no sign, decimals or spaces), within PostgreSQL's bigint."""

    def parse(self, text: str) -> int:
        if not _WHOLE_NUMBER.fullmatch(text) or not 1 <= int(text) <= BIGINT_MAX:
            raise serializers.ValidationError(f"Give a whole number from 1 to {BIGINT_MAX}.")
        return int(text)


@extend_schema_field({"type": "string", "enum": sorted(countries.countries)})
class CountryCodeField(QueryValueField):
    """An ISO 3166-1 alpha-2 code, upper case, as in the rest of the API."""

    def parse(self, text: str) -> str:
        if text not in countries:
            raise serializers.ValidationError(f"{text!r} is not an ISO 3166-1 alpha-2 country code (e.g. BY).")
        return text


class CodeListField(serializers.ListField):
    """Repeated codes; a bad one is reported by value, in a flat list of messages."""

    def run_child_validation(self, data: list[Any]) -> list[Any]:
        result, errors = [], []
        for value in data:
            try:
                result.append(self.child.run_validation(value))
            except serializers.ValidationError as error:
                detail = error.detail if isinstance(error.detail, list) else [error.detail]
                errors += [f"{value!r}: {message}" for message in detail]
        if errors:
            raise serializers.ValidationError(errors)
        return result


class IntensityQuerySerializer(serializers.Serializer[Any]):
    relationship = IdField(required=False, help_text="A relationship's id. Give this or `country`.")
    country = CountryCodeField(
        required=False, help_text="Every relationship of this state you may see. Give this or `relationship`."
    )
    area = CodeListField(
        child=serializers.SlugField(max_length=50, trim_whitespace=False),
        required=False,
        help_text="Area codes, repeatable (`area=education&area=demining`); default every area.",
    )
    period = serializers.ChoiceField(choices=Granularity.choices, default=Granularity.QUARTER)
    start = MonthField(help_text="First month, YYYY-MM.")
    end = MonthField(help_text="Last month, YYYY-MM.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("relationship" in attrs) == ("country" in attrs):
            raise serializers.ValidationError("Give exactly one of `relationship` or `country`.")
        start, end = attrs["start"], attrs["end"]
        if end < start:
            raise serializers.ValidationError({"end": ["The end month cannot be before the start month."]})
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        if months > MAX_SPAN_MONTHS:
            raise serializers.ValidationError(
                {"end": [f"At most {MAX_SPAN_MONTHS} months from start to end (this asks for {months})."]}
            )
        return attrs


class IntensityRowSerializer(serializers.Serializer[Any]):
    period_start = serializers.DateField(help_text="First day of the period.")
    label: Any = serializers.CharField(help_text="The period as people write it: 2017-03, 2017 Q1 or 2017.")
    area = serializers.CharField(
        allow_null=True, help_text="The area's code; null in the row that totals the selected areas."
    )
    count = serializers.IntegerField(help_text="Conducted activities starting in the period.")
    intensity = serializers.DecimalField(max_digits=20, decimal_places=6, help_text="The sum of their scores.")
    breadth = serializers.IntegerField(help_text="Areas with a conducted activity (0 or 1 in an area's row).")
    pipeline = serializers.IntegerField(help_text="Planned and confirmed activities starting in the period.")


class IntensityReportSerializer(serializers.Serializer[Any]):
    weight_set = serializers.IntegerField(help_text="Id of the weight set that produced every figure.")
    period = serializers.ChoiceField(choices=Granularity.choices)
    relationship = serializers.IntegerField(allow_null=True)
    country = serializers.CharField(allow_null=True)
    areas = serializers.ListField(child=serializers.CharField(), help_text="The selected areas' codes, in order.")
    results = IntensityRowSerializer(many=True)


CSV_HEADER = ["weight_set", "period_start", "label", "area", "count", "intensity", "breadth", "pipeline"]


def _rows(series: IntensitySeries) -> Iterator[dict[str, Any]]:
    for index, period in enumerate(series.periods):
        points: list[tuple[str | None, Any]] = [(area.code, area.points[index]) for area in series.areas]
        points.append((None, series.total[index]))
        for code, point in points:
            yield {
                "period_start": period.isoformat(),
                "label": point.label,
                "area": code,
                "count": point.count,
                "intensity": _decimal(point.intensity),
                "breadth": point.breadth,
                "pipeline": point.pipeline,
            }


def _decimal(value: Decimal) -> str:
    return f"{value:.6f}"


class IntensityView(ApiView):
    renderer_classes = [JSONRenderer, csv.CsvRenderer]

    @extend_schema(
        operation_id="intensity_report",
        description=INTENSITY_DOC,
        parameters=[
            IntensityQuerySerializer,
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "csv"], description="`csv` streams the rows as CSV."
            ),
        ],
        responses={(200, "application/json"): IntensityReportSerializer, (200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Any:
        params = self._params(request)
        user: Any = request.user
        relationship = params.get("relationship")
        if relationship is not None and not Relationship.objects.visible_to(user).filter(pk=relationship).exists():
            raise exceptions.NotFound("No relationship with this id.")
        area_ids = self._area_ids(params.get("area"))
        try:
            series = intensity_series(
                user=user,
                start=params["start"],
                end=params["end"],
                granularity=params["period"],
                relationships=None if relationship is None else [relationship],
                country=params.get("country"),
                areas=area_ids,
            )
        except DjangoValidationError as error:
            raise exceptions.ValidationError(
                {
                    ("period" if field == "granularity" else field): messages
                    for field, messages in error.message_dict.items()
                }
            ) from None
        if isinstance(getattr(request, "accepted_renderer", None), csv.CsvRenderer):
            return csv.csv_response(self._csv(series), "intensity")
        return Response(
            {
                "weight_set": series.weight_set_id,
                "period": series.granularity,
                "relationship": relationship,
                "country": params.get("country"),
                "areas": [area.code for area in series.areas],
                "results": list(_rows(series)),
            }
        )

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        for name in (*SINGLE_VALUED, "area"):
            values = request.query_params.getlist(name)
            if "" in values:
                errors[name] = ["This may not be empty: leave the parameter out."]
            elif len(values) > 1 and name != "area":
                errors[name] = ["Give this parameter once."]
        if errors:
            raise exceptions.ValidationError(errors)
        query = IntensityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return dict(query.validated_data)

    @staticmethod
    def _area_ids(codes: list[str] | None) -> list[int] | None:
        if codes is None:
            return None
        found = dict(CooperationArea.objects.filter(code__in=codes).values_list("code", "pk"))
        unknown = sorted({code for code in codes if code not in found})
        if unknown:
            raise exceptions.ValidationError({"area": [f"No area with the code {code!r}." for code in unknown]})
        return list(found.values())

    @staticmethod
    def _csv(series: IntensitySeries) -> Iterator[str]:
        yield csv.csv_line(CSV_HEADER)
        weight_set = str(series.weight_set_id)
        lines = []
        for row in _rows(series):
            cells = [weight_set, row["period_start"], csv.text_cell(row["label"]), csv.text_cell(row["area"] or "")]
            cells += [str(row[name]) for name in ("count", "intensity", "breadth", "pipeline")]
            lines.append(csv.csv_line(cells))
            if len(lines) >= csv.CHUNK_ROWS:
                yield "".join(lines)
                lines.clear()
        if lines:
            yield "".join(lines)
