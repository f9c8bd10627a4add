"""What every API view shares: authentication, throttling, errors as JSON, keyset
pages, ETags with If-None-Match, and streamed CSV on lists.

An endpoint that is not a viewset (e.g. a report) should subclass `ApiView`, which
carries the same policies.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import uuid
from collections.abc import Hashable
from typing import Any

import django_filters
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.http import HttpResponseNotModified
from django_filters import utils
from django_filters.constants import EMPTY_VALUES
from django_filters.filters import QuerySetRequestMixin
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import TokenAuthentication
from cooperation.api import csv, json_rows
from cooperation.api.conditional import content_etag, none_match
from cooperation.api.errors import api_exception_handler
from cooperation.api.pagination import KeysetPagination
from cooperation.api.permissions import WritesByDeskOfficersAndAdmins
from cooperation.api.throttling import AnonRateThrottle, TokenRateThrottle, UserRateThrottle


def filter_params(name: str, field_filter: Any) -> list[str]:
    """The query parameters a filter reads: its name, or name_<suffix> for range widgets."""
    # The field *class*: building `.field` on a base filter would cache it, with its
    # choices evaluated for no user, in every FilterSet made afterwards.
    suffixes = getattr(getattr(field_filter.field_class, "widget", None), "suffixes", None)
    return [f"{name}_{suffix}" if suffix else name for suffix in suffixes] if suffixes else [name]


@functools.lru_cache(maxsize=64)
def param_filters(filterset_class: Any) -> dict[str, tuple[str, Any]]:
    """Query parameter → (filter name, filter) for every filter of the FilterSet."""
    return {
        param: (name, field_filter)
        for name, field_filter in filterset_class.base_filters.items()
        for param in filter_params(name, field_filter)
    }


@functools.lru_cache(maxsize=512)
def narrowed_filterset(filterset_class: Any, names: frozenset[str]) -> Any:
    """`filterset_class` with only the filters `names`: a request pays for the filters it uses.

    A filter whose parameters are absent filters nothing, so dropping it changes no result;
    but each FilterSet copies all its filters and builds a form field (a choice list of
    every country, querysets, …) for each, which cost milliseconds on every API request.
    """
    narrowed: Any = type(filterset_class.__name__, (filterset_class,), {"__module__": filterset_class.__module__})
    narrowed.base_filters = {name: f for name, f in filterset_class.base_filters.items() if name in names}
    if not any(_depends_on_request(f) for f in narrowed.base_filters.values()):
        narrowed.get_form_class = _form_class_once
    return narrowed


def _depends_on_request(field_filter: Any) -> bool:
    """Whether the filter's form field is built for the request (choices the user may see)."""
    return isinstance(field_filter, QuerySetRequestMixin) and callable(field_filter.queryset)


def _form_class_once(filterset: Any) -> Any:
    """The form class of a FilterSet whose fields are the same for every request, built once:
    django-filter builds a class, and a field for each filter, on every request. Each form
    still gets its own copies of the fields."""
    cls = type(filterset)
    form_class = cls.__dict__.get("_form_class")
    if form_class is None:
        form_class = super(cls, filterset).get_form_class()
        cls._form_class = form_class
    return form_class


class FilterBackend(DjangoFilterBackend):
    """The shared FilterSets, minus parameters a view handles itself (e.g. `updated_since`).

    Stricter than an HTML form: an empty value, or a boolean other than true/false, is an
    error here rather than "no filter", as the OpenAPI schema says.
    """

    def get_filterset(self, request: Request, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return None
        kwargs = self.get_filterset_kwargs(request, queryset, view)
        by_param = param_filters(filterset_class)
        names = frozenset(by_param[param][0] for param in kwargs["data"] if param in by_param)
        return narrowed_filterset(filterset_class, names)(**kwargs)

    def valid_filterset(self, request: Request, queryset: Any, view: Any) -> Any:
        """The request's FilterSet, its values validated (a 400 with the errors otherwise), or None."""
        filterset = self.get_filterset(request, queryset, view)
        if filterset is not None and not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        return filterset

    def get_filterset_kwargs(self, request: Request, queryset: Any, view: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_filterset_kwargs(request, queryset, view)
        handled = getattr(view, "filter_params_handled_by_view", ())
        data = kwargs["data"].copy()
        for name in handled:
            data.pop(name, None)
        kwargs["data"] = data
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            self._check_values(request, filterset_class, handled)
        return kwargs

    @staticmethod
    def _check_values(request: Request, filterset_class: Any, handled: Any) -> None:
        errors: dict[str, list[str]] = {}
        by_param = param_filters(filterset_class)
        for param in request.query_params:
            if param not in by_param:
                continue
            field_filter = by_param[param][1]
            for value in request.query_params.getlist(param):
                if value == "":
                    errors.setdefault(param, []).append("This may not be empty: leave the parameter out.")
                elif isinstance(field_filter, django_filters.BooleanFilter) and value.lower() not in (
                    "true",
                    "false",
                ):
                    errors.setdefault(param, []).append("Must be true or false.")
                elif (bounds := _integer_bounds(filterset_class, field_filter)) and not _integer_within(value, bounds):
                    errors.setdefault(param, []).append(f"Must be a whole number from {bounds[0]} to {bounds[1]}.")
        for name in handled:
            if request.query_params.get(name) == "":
                errors.setdefault(name, []).append("This may not be empty: leave the parameter out.")
        if errors:
            raise exceptions.ValidationError(errors)


def filter_terms(filterset: Any) -> Hashable | None:
    """A validated FilterSet's filters and values as hashable terms, which determine the
    queryset it filters to; None when they may not: a filter with a `method` that the
    FilterSet does not list in `methods_of_values_only` (one that reads the database, say,
    like the text search's count), or a value of a type not known here (querysets, …)."""
    methods_of_values = getattr(filterset, "methods_of_values_only", ())
    terms = []
    for name, value in filterset.form.cleaned_data.items():
        method = filterset.filters[name].method
        if method is not None and method not in methods_of_values and value not in EMPTY_VALUES:
            return None  # (a method is not called for an empty value)
        term = _value_term(value)
        if term is None:
            return None
        terms.append((name, term))
    return (type(filterset), tuple(terms))


_SCALARS = (str, int, float, decimal.Decimal, datetime.date, datetime.time, uuid.UUID)


def _value_term(value: Any) -> Hashable | None:
    """`value` as a hashable term equal only for values the ORM writes alike; None if unknown.
    (Not `value` itself: 1 == 1.0 == True, and moments in two zones can be equal.)"""
    if value is None or isinstance(value, (bool, *_SCALARS)):
        return (type(value), repr(value))
    if isinstance(value, list | tuple):
        items = [_value_term(item) for item in value]
        return None if any(item is None for item in items) else (type(value), tuple(items))
    if isinstance(value, slice):
        return _value_term(("slice", value.start, value.stop, value.step))
    if isinstance(value, models.Model) and value.pk is not None:
        return (type(value), _value_term(value.pk))
    return None


class JsonErrors:
    """Errors as JSON (see cooperation/api/errors.py) whatever format the request asked for."""

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


def _integer_bounds(filterset_class: Any, field_filter: Any) -> tuple[int, int] | None:
    """The range of the integer column a number filter compares with, or None."""
    if not isinstance(field_filter, django_filters.NumberFilter | django_filters.RangeFilter):
        return None
    model = filterset_class._meta.model
    try:
        *relations, last = field_filter.field_name.split("__")
        for name in relations:
            model = model._meta.get_field(name).related_model
        field = model._meta.get_field(last)
    except (FieldDoesNotExist, AttributeError):
        return None
    if not isinstance(field, models.IntegerField):
        return None
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    return int(low), int(high)


def _integer_within(value: str, bounds: tuple[int, int]) -> bool:
    digits = value[1:] if value.startswith("-") else value
    return digits.isascii() and digits.isdigit() and bounds[0] <= int(value) <= bounds[1]


def check_present_not_empty(request: Request, *names: str) -> None:
    errors = {
        name: ["This may not be empty: leave the parameter out."]
        for name in names
        if request.query_params.get(name) == ""
    }
    if errors:
        raise exceptions.ValidationError(errors)


class ApiPolicies(JsonErrors):
    authentication_classes: Any = [TokenAuthentication, SessionAuthentication]
    permission_classes: Any = [IsAuthenticated, WritesByDeskOfficersAndAdmins]
    throttle_classes: Any = [TokenRateThrottle, UserRateThrottle, AnonRateThrottle]
    renderer_classes: Any = [JSONRenderer]
    metadata_class: Any = None  # OPTIONS answers 405 like any other method an endpoint lacks

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in ("GET", "HEAD") and isinstance(response, Response) and response.status_code == 200:
            response.render()
            etag = response.get("ETag") or content_etag(response.content)
            response["ETag"] = etag
            if none_match(request, etag):
                not_modified = HttpResponseNotModified()
                not_modified["ETag"] = etag
                return not_modified
        return response


class ApiView(ApiPolicies, APIView):
    pass


class RenderedJsonResponse(Response):
    """A DRF response whose JSON body is already written (so ETags, 304 and errors work as usual)."""

    def __init__(self, body: bytes, **kwargs: Any) -> None:
        super().__init__(data=None, **kwargs)
        self.body = body

    @property
    def rendered_content(self) -> bytes:  # type: ignore[override]  # bytes, as DRF's own Response returns
        self["Content-Type"] = JSONRenderer.media_type
        return self.body


class ApiViewSet(ApiPolicies, viewsets.GenericViewSet):
    """A list and detail endpoint; subclasses declare queryset, serializer, filterset,
    `orderings`/`default_ordering` and `csv_columns`."""

    filter_backends = [FilterBackend]
    pagination_class = KeysetPagination
    orderings: dict[str, tuple[str, ...]] = {"id": ()}
    default_ordering = "id"
    csv_columns: list[csv.Column] = []
    csv_filename = "export"
    # When set, list pages are written by PostgreSQL (json_rows), equal to the serializer's output.
    json_fields: list[json_rows.JsonField] = []

    def get_renderers(self) -> list[Any]:
        # No action: a method the endpoint lacks, which must answer 405 whatever ?format says.
        if self.action in ("list", None):
            return [JSONRenderer(), csv.CsvRenderer()]
        return [JSONRenderer()]

    def wants_csv(self) -> bool:
        renderer = getattr(self.request, "accepted_renderer", None)
        return isinstance(renderer, csv.CsvRenderer)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        check_present_not_empty(request, "format", "ordering", "cursor", "page_size")
        if (
            self.json_fields
            and not self.wants_csv()
            and "indent" not in (getattr(request, "accepted_media_type", "") or "")
        ):
            return self.json_list(request)
        queryset = self.filter_queryset(self.get_queryset())
        if self.wants_csv():
            self.paginator.page_size(request)  # type: ignore[union-attr]  # validated, though CSV has no pages
            ordering = self.paginator.ordering(request, self)  # type: ignore[union-attr]
            order = [f"-{path}" if ordering.descending else path for path in ordering.paths]
            lines = csv.stream_rows(queryset.order_by(*order), self.csv_columns, request.user)
            return csv.csv_response(lines, self.csv_filename)
        page = self.paginate_queryset(queryset)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def json_list(self, request: Request) -> RenderedJsonResponse:
        """A page whose rows PostgreSQL writes (json_rows). The FilterSet is validated first;
        the queryset is built only when no statement made of the same terms is kept
        (`statement_terms`). Views with `json_fields` filter through `FilterBackend` alone."""
        paginator: Any = self.paginator
        model: type[models.Model] = self.get_serializer_class().Meta.model  # type: ignore[attr-defined]
        filterset = FilterBackend().valid_filterset(request, model._default_manager.none(), self)

        def build() -> Any:
            queryset = self.get_queryset()
            return queryset if filterset is None else filterset.filter_queryset(queryset)

        terms = self.statement_terms(filterset)
        rows = paginator.paginate_json(build, model, request, self, self.json_fields, terms)
        return RenderedJsonResponse(json_rows.page(paginator.previous, paginator.next, rows))

    def statement_terms(self, filterset: Any) -> Hashable | None:
        """All that the list's filtered queryset is made of, as hashable values: the view, the
        filters' values and what `visibility_terms` says; None when that cannot be told (a
        filter whose method reads more than its value, a value of an unknown type)."""
        visibility = self.visibility_terms()
        if visibility is None:
            return None
        filters = () if filterset is None else filter_terms(filterset)
        if filters is None:
            return None
        return (type(self), filters, visibility)

    def visibility_terms(self) -> Hashable | None:
        """All that `get_queryset` reads of the request, or None (its statements are not kept)."""
        return None

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        return Response(self.get_serializer(instance).data)
