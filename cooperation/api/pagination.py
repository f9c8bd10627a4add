"""Keyset ("cursor") pagination: `{"next", "previous", "results"}`, up to 500 a page.

A cursor is an opaque, URL-safe encoding of the position after (or before) the last row
sent — the values of the ordering columns and the primary key — so a deep page costs the
same as the first (an index range scan, never an OFFSET), and rows written meanwhile
neither shift nor repeat the pages that follow.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.db.models import F, Q
from django.db.models.expressions import Expression
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from attache.prepared_statements import Parameter
from cooperation.api import json_rows

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
# Page statements kept per process (see `KeptStatements`), the least recently used dropped.
KEPT_STATEMENTS = 256
# When true (the test suite sets it), a request that finds its statement kept compiles it
# afresh all the same and fails unless the two are identical.
VERIFY_KEPT_STATEMENTS = False


class KeptStatements:
    """Compiled page statements by what they are made of (`KeysetPagination.paginate_json`).

    Building and compiling a filtered page query through django-filter and the ORM costs
    more Python than everything else a list request does; for a given set of filters'
    values, viewer's visibility terms, ordering, page size, direction and time zone, it
    always gives the same statement text, with the cursor's values as its parameters.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[Hashable, json_rows.PageStatement] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> json_rows.PageStatement | None:
        with self._lock:
            statement = self._items.get(key)
            if statement is not None:
                self._items.move_to_end(key)
            return statement

    def put(self, key: Hashable, statement: json_rows.PageStatement) -> None:
        with self._lock:
            self._items[key] = statement
            self._items.move_to_end(key)
            while len(self._items) > KEPT_STATEMENTS:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


STATEMENTS = KeptStatements()


def _same_statement(kept: json_rows.PageStatement, fresh: json_rows.PageStatement, values: list[Any]) -> None:
    """Fail unless the kept statement, run with `values`, is the statement compiled afresh."""
    fresh_values = [parameter.value for parameter in fresh.parameters]
    kept_slots = [getattr(parameter, "slot", None) for parameter in kept.parameters]
    fresh_slots = [getattr(parameter, "slot", None) for parameter in fresh.parameters]
    if (kept.sql, kept_slots, kept.first_key, kept.first_piece, kept.keys, values) != (
        fresh.sql,
        fresh_slots,
        fresh.first_key,
        fresh.first_piece,
        fresh.keys,
        fresh_values,
    ):
        raise AssertionError(f"a kept page statement differs from its fresh compilation:\n{kept}\n{fresh}")


class CursorParameter(Parameter):
    """A cursor's value in a page statement, with its place in the cursor (`slot`)."""

    __slots__ = ("slot",)

    def __init__(self, value: Any, slot: int) -> None:
        super().__init__(value)
        self.slot = slot


class CursorValue(models.Value):
    """A cursor's value (the `slot`-th of the cursor's values): it stays a parameter of
    the prepared page statement, whose text holds the filters' values
    (attache/prepared_statements.py `write_values`)."""

    def __init__(self, value: Any, output_field: Any = None, *, slot: int) -> None:
        super().__init__(value, output_field=output_field)
        self.slot = slot

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        sql, params = super().as_sql(compiler, connection)
        return sql, [CursorParameter(value, self.slot) for value in params]


class RowCompare(Expression):
    """`(a, b, …) > (x, y, …)` (or `<`): a row comparison PostgreSQL answers from a
    multi-column index as a range, unlike the equivalent chain of ORs."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, columns: Sequence[Any], values: Sequence[Any], *, greater: bool):
        super().__init__()
        self.columns = list(columns)
        self.values = list(values)
        self.greater = greater

    def get_source_expressions(self) -> list[Any]:
        return [*self.columns, *self.values]

    def set_source_expressions(self, exprs: Any) -> None:
        self.columns, self.values = exprs[: len(self.columns)], exprs[len(self.columns) :]

    def resolve_expression(self, *args: Any, **kwargs: Any) -> RowCompare:
        clone = self.copy()
        clone.columns = [column.resolve_expression(*args, **kwargs) for column in self.columns]
        clone.values = [
            (
                value
                if hasattr(value, "resolve_expression")
                else CursorValue(value, output_field=column.output_field, slot=slot)
            ).resolve_expression(*args, **kwargs)
            for slot, (column, value) in enumerate(zip(clone.columns, self.values, strict=True))
        ]
        return clone

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        left, right, params = [], [], []
        for column in self.columns:
            sql, column_params = compiler.compile(column)
            left.append(sql)
            params.extend(column_params)
        for value in self.values:
            sql, value_params = compiler.compile(value)
            right.append(sql)
            params.extend(value_params)
        operator = ">" if self.greater else "<"
        return f"({', '.join(left)}) {operator} ({', '.join(right)})", params


@dataclasses.dataclass(frozen=True)
class _Place:
    """Where a page is: its ordering and size, and the cursor's values (None on page one)."""

    ordering: Ordering
    size: int
    position: list[Any] | None
    backwards: bool

    @property
    def started(self) -> bool:
        return self.position is not None

    @property
    def descending(self) -> bool:
        """The order of the query (the page's order reversed when going backwards)."""
        return self.ordering.descending != self.backwards


@dataclasses.dataclass(frozen=True)
class Ordering:
    name: str  # as the client writes it: "start_date" or "-start_date"
    paths: tuple[str, ...]  # ORM paths, the primary key last
    descending: bool


class _CursorEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat()  # every microsecond: DjangoJSONEncoder keeps only milliseconds
        return super().default(o)


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, cls=_CursorEncoder, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        raise exceptions.ValidationError({"cursor": ["Invalid cursor: use the next or previous link as given."]})
    return payload


def _field_at(model: type[models.Model], path: str) -> models.Field[Any, Any]:
    *relations, last = path.split("__")
    for name in relations:
        model = model._meta.get_field(name).related_model  # type: ignore[assignment]
    field = model._meta.pk if last == "pk" else model._meta.get_field(last)
    assert isinstance(field, models.Field)
    return field


class KeysetPagination(BasePagination):
    """Views declare `orderings = {"start_date": ("start_date",), …}` and `default_ordering`."""

    page_size_query_param = "page_size"
    cursor_query_param = "cursor"
    ordering_query_param = "ordering"

    def __init__(self) -> None:
        self.next: str | None = None
        self.previous: str | None = None

    # Request parsing ---------------------------------------------------------------

    def page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return DEFAULT_PAGE_SIZE
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"Ensure this is a whole number from 1 to {MAX_PAGE_SIZE}."]}
            )
        return int(raw)

    def ordering(self, request: Request, view: Any) -> Ordering:
        orderings: dict[str, tuple[str, ...]] = view.orderings
        name = request.query_params.get(self.ordering_query_param) or view.default_ordering
        paths = orderings.get(name.removeprefix("-"))
        if paths is None:
            choices = ", ".join(f"{key}, -{key}" for key in orderings)
            raise exceptions.ValidationError({self.ordering_query_param: [f"Choose one of: {choices}."]})
        return Ordering(name=name, paths=(*paths, "pk"), descending=name.startswith("-"))

    def position(
        self, request: Request, model: type[models.Model], ordering: Ordering
    ) -> tuple[list[Any], bool] | None:
        """(values after/before which to start, backwards?) from the cursor, or None on page one."""
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor is None:
            return None
        payload = decode_cursor(cursor)
        values, backwards = payload.get("v"), payload.get("r", False)
        if payload.get("o") != ordering.name:
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["This cursor belongs to another ordering: use the links as given."]}
            )
        if not isinstance(values, list) or len(values) != len(ordering.paths) or not isinstance(backwards, bool):
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        try:
            typed = [
                _field_at(model, path).to_python(value) for path, value in zip(ordering.paths, values, strict=True)
            ]
        except (DjangoValidationError, TypeError, ValueError):
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
        if any(value is None for value in typed):
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return typed, backwards

    # Paging --------------------------------------------------------------------------

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        place = self._place(request, view, queryset.model)
        rows = list(self._window(queryset, place))
        return self._finish(request, place, rows, lambda row: self._key(row, place.ordering))

    def paginate_json(
        self,
        build: Callable[[], Any],
        model: type[models.Model],
        request: Request,
        view: Any,
        fields: Any,
        terms: Hashable | None = None,
    ) -> list[str]:
        """The page's rows as JSON text written by PostgreSQL (cooperation/api/json_rows.py).

        `build()` gives the filtered queryset of `model`. `terms`, when given, are all that
        its statement is made of besides the page's place (filters' values, the viewer's
        visibility terms …): the statement compiled for them is kept and, for the next
        request with the same terms, run with that request's cursor values, without
        building or compiling the queryset again.
        """
        place = self._place(request, view, model)
        key = None
        if terms is not None:
            zone = timezone.get_current_timezone_name()
            key = (terms, place.ordering.name, place.size, place.started, place.backwards, zone)
        statement = STATEMENTS.get(key) if key is not None else None
        if statement is None or VERIFY_KEPT_STATEMENTS:
            window = self._window(build(), place)
            fresh = json_rows.page_statement(model, fields, window, place.ordering.paths, place.descending)
            if statement is not None:
                _same_statement(statement, fresh, self._cursor_values(statement, place, model))
            statement = fresh
            if key is not None and all(isinstance(p, CursorParameter) for p in fresh.parameters):
                STATEMENTS.put(key, fresh)
            values = [parameter.value for parameter in fresh.parameters]
        else:
            values = self._cursor_values(statement, place, model)
        rows = json_rows.read_page(statement, values)
        page = self._finish(request, place, rows, lambda row: statement.key(row[1]))
        return [text for text, _ in page]

    @staticmethod
    def _cursor_values(statement: json_rows.PageStatement, place: _Place, model: type[models.Model]) -> list[Any]:
        """The values of `statement`'s parameters for the cursor of `place`, as the page
        query's `CursorValue`s would give them."""
        values = []
        for parameter in statement.parameters:
            assert isinstance(parameter, CursorParameter) and place.position
            value = CursorValue(
                place.position[parameter.slot],
                output_field=_field_at(model, place.ordering.paths[parameter.slot]),
                slot=parameter.slot,
            )
            _, (prepared,) = value.as_sql(None, connection)
            values.append(prepared.value)
        return values

    def _place(self, request: Request, view: Any, model: type[models.Model]) -> _Place:
        size = self.page_size(request)
        ordering = self.ordering(request, view)
        position = self.position(request, model, ordering)
        if position is None:
            return _Place(ordering, size, None, backwards=False)
        return _Place(ordering, size, position[0], backwards=position[1])

    def _window(self, queryset: Any, place: _Place) -> Any:
        """`queryset` ordered, after the cursor, limited to the page's size + 1."""
        descending = place.descending
        paths = place.ordering.paths
        columns = [F(path) for path in paths]
        if place.position is not None:
            queryset = queryset.filter(RowCompare(columns, place.position, greater=not descending))
            # A plain bound on the leading column lets PostgreSQL use a single-column index too.
            lead = paths[0]
            bound = CursorValue(place.position[0], output_field=_field_at(queryset.model, lead), slot=0)
            queryset = queryset.filter(Q(**{f"{lead}__{'lte' if descending else 'gte'}": bound}))
        order = [F(path).desc() if descending else F(path).asc() for path in paths]
        return queryset.order_by(*order)[: place.size + 1]

    def _finish(self, request: Request, place: _Place, rows: list[Any], key: Any) -> list[Any]:
        more = len(rows) > place.size
        rows = rows[: place.size]
        if place.backwards:
            rows.reverse()
        self._links(request, place.ordering, rows, key, more=more, backwards=place.backwards, started=place.started)
        return rows

    def _key(self, row: Any, ordering: Ordering) -> list[Any]:
        values = []
        for path in ordering.paths:
            value = row
            for part in path.split("__"):
                value = getattr(value, part)
            values.append(value)
        return values

    def _link(self, request: Request, payload: dict[str, Any]) -> str:
        url = request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, encode_cursor(payload))

    def _links(
        self,
        request: Request,
        ordering: Ordering,
        rows: list[Any],
        key: Any,
        *,
        more: bool,
        backwards: bool,
        started: bool,
    ) -> None:
        self.next = self.previous = None
        if not rows:
            if started and backwards:
                self.next = remove_query_param(request.build_absolute_uri(), self.cursor_query_param)
            return
        has_next = more if not backwards else True
        has_previous = more if backwards else started
        if has_next:
            self.next = self._link(request, {"o": ordering.name, "v": key(rows[-1])})
        if has_previous:
            self.previous = self._link(request, {"o": ordering.name, "v": key(rows[0]), "r": True})

    def set_links(self, next_url: str | None, previous_url: str | None) -> None:
        self.next, self.previous = next_url, previous_url

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.next, "previous": self.previous, "results": data})

    # Schema --------------------------------------------------------------------------

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        choices = [prefix + name for name in view.orderings for prefix in ("", "-")]
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Opaque position from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": f"Results per page (default {DEFAULT_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
            {
                "name": self.ordering_query_param,
                "in": "query",
                "required": False,
                "description": f"Order of the results (default `{view.default_ordering}`); `-` for descending.",
                "schema": {"type": "string", "enum": choices},
            },
        ]
