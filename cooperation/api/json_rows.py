"""List pages whose rows PostgreSQL writes as JSON, byte for byte as the serializer would.

A page of 100 activities through DRF's ModelSerializer costs ~15 ms of Python (model
instances, one field object per value, country names for labels, json.dumps); the query
itself ~1 ms. Here the query returns each row's JSON text directly — PostgreSQL quotes
and escapes the strings (`to_json`), formats dates and moments — and Python only joins
the pieces, splicing in values that exist only in Python (a relationship's label, made
of translated country names) from a small cache. The expressions that write the JSON are
compiled once (`row_source`); a request compiles only its page query (filters,
visibility, order, cursor, limit) and joins it to them by primary key, in one statement
(`page_statement`), which the list then keeps for the next request made of the same
terms (cooperation/api/pagination.py `KeptStatements`).
`tests/api/test_json_rows.py` holds the output equal to `JSONRenderer().render(serializer.data)`
for rows of every shape.

Moments are written in the current time zone as DRF writes them (ISO 8601, `Z` for
UTC, microseconds only when not zero); PostgreSQL and Python must share the time-zone
database for zones other than UTC (they do when both use the system's tzdata).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import connection, models
from django.db.models import F, Func
from django.db.models.expressions import Expression
from django.utils import timezone, translation

from attache import prepared_statements


@dataclasses.dataclass(frozen=True)
class JsonField:
    """One key of a row's JSON object.

    kind: int | text | date | datetime | choice (with `choices`: db value → JSON value)
    | python (with `python`: a function of the `sources` values → JSON value, cached).
    """

    name: str
    sources: Sequence[str | Expression]
    kind: str = "int"
    choices: Mapping[Any, Any] | None = None
    python: Callable[..., Any] | None = None


def field(name: str, source: str | Expression | None = None, kind: str = "int", **options: Any) -> JsonField:
    return JsonField(name, (source or name,), kind, **options)


class _Piece(Func):
    """A SQL text expression built from literal JSON text and column values."""

    output_field = models.TextField()

    def __init__(self, parts: list[str | tuple[str, Any]]):
        self.parts = parts
        super().__init__(*[value for part in parts if isinstance(part, tuple) for value in part[1:]])

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql: list[str] = []
        params: list[Any] = []
        expressions = iter(self.source_expressions)
        for part in self.parts:
            if isinstance(part, str):
                # Written into the statement, not passed as a value: the statement's only
                # values are then the page's own (filters, cursor), which lets PostgreSQL
                # reuse one plan for a prepared page query.
                sql.append(_literal(part))
                continue
            template = part[0]
            compiled, compiled_params = compiler.compile(next(expressions))
            sql.append(template.replace("§", f"({compiled})"))
            params.extend(list(compiled_params) * template.count("§"))
        return "(" + " || ".join(sql) + ")", params


# ISO 8601 as Python writes it: microseconds only when not zero; then the offset, `Z` for
# zero as DRF writes it, else ±HH:MM[:SS]. `'"' || NULL` is NULL, hence one COALESCE.
_DATETIME = (
    "COALESCE('\"' || replace(to_char(§ AT TIME ZONE {zone}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
    " || {offset} || '\"', 'null')"
)
_OFFSET = (
    "(SELECT CASE WHEN o = 0 THEN 'Z' ELSE (CASE WHEN o < 0 THEN '-' ELSE '+' END) "
    "|| lpad((abs(o) / 3600)::text, 2, '0') || ':' || lpad((mod(abs(o), 3600) / 60)::text, 2, '0') "
    "|| CASE WHEN mod(abs(o), 60) = 0 THEN '' ELSE ':' || lpad(mod(abs(o), 60)::text, 2, '0') END END "
    "FROM (SELECT round(extract(epoch FROM (§ AT TIME ZONE {zone}) - (§ AT TIME ZONE 'UTC')))::int AS o) "
    "offset_seconds)"
)


def _sql(json_field: JsonField, zone: str) -> str:
    """The SQL template (§ stands for the column) writing one value as JSON text."""
    kind = json_field.kind
    if kind == "int":
        return "COALESCE(§::text, 'null')"
    if kind == "text":
        return "COALESCE(to_json(§::text)::text, 'null')"
    if kind == "date":
        return "COALESCE('\"' || to_char(§, 'YYYY-MM-DD') || '\"', 'null')"
    if kind == "choice":
        assert json_field.choices is not None
        whens = " ".join(
            f"WHEN § = {_literal(db)} THEN {_literal(dumps(value))}" for db, value in json_field.choices.items()
        )
        return f"CASE {whens} ELSE 'null' END"
    if kind == "datetime":
        # The zone comes from settings (and PostgreSQL checks it) and goes in as a quoted literal.
        offset = "'Z'" if zone == "UTC" else _OFFSET
        return _DATETIME.replace("{offset}", offset).replace("{zone}", _literal(zone))
    raise ValueError(f"unknown JSON field kind {kind!r}")


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if "%" in text:  # the SQL runs with parameters, where % is special
        raise ValueError(f"no % in SQL literals: {text!r}")
    return "'" + text.replace("'", "''") + "'"


@dataclasses.dataclass
class RowPlan:
    """How to read a page: the annotations to select and how to join them into rows."""

    annotations: dict[str, Any]
    steps: list[tuple[str, Any]]  # ("sql", annotation name) | ("python", (names, cached function))

    def rows(self, records: Sequence[Sequence[Any]], first: int) -> list[str]:
        """Each record's JSON text; the annotations are its columns from position `first` on."""
        language = translation.get_language()  # labels are translated: cached per language
        position = {name: first + index for index, name in enumerate(self.annotations)}
        # (column, [], None): a piece PostgreSQL wrote; (-1, argument columns, function): one Python writes.
        steps: list[tuple[int, list[int], Callable[..., str] | None]] = [
            (position[detail], [], None) if step == "sql" else (-1, [position[name] for name in detail[0]], detail[1])
            for step, detail in self.steps
        ]
        result = []
        for record in records:
            out = []
            for column, arguments, function in steps:
                if function is None:
                    out.append(record[column])
                else:
                    out.append(function(language, *[record[index] for index in arguments]))
            result.append("".join(out))
        return result


def plan(fields: Sequence[JsonField]) -> RowPlan:
    """Annotations that make PostgreSQL write `{"a":…,"b":…}` for `fields`, in order."""
    zone = timezone.get_current_timezone_name()
    annotations: dict[str, Any] = {}
    steps: list[tuple[str, Any]] = []
    parts: list[str | tuple[str, Any]] = []

    def close() -> None:
        if parts:
            name = f"_json{len(annotations)}"
            annotations[name] = _Piece(list(parts))
            steps.append(("sql", name))
            parts.clear()

    for index, json_field in enumerate(fields):
        key = ("{" if index == 0 else ",") + json.dumps(json_field.name) + ":"
        if json_field.kind == "python":
            assert json_field.python is not None
            parts.append(key)
            close()
            names = []
            for source in json_field.sources:
                name = f"_json{len(annotations)}"
                annotations[name] = F(source) if isinstance(source, str) else source
                names.append(name)
            steps.append(("python", (names, _cached_json(json_field.python))))
            continue
        source = json_field.sources[0]
        expression = F(source) if isinstance(source, str) else source
        parts.append(key)
        parts.append((_sql(json_field, zone), expression))
    parts.append("}")
    close()
    return RowPlan(annotations=annotations, steps=steps)


@dataclasses.dataclass(frozen=True)
class RowSource:
    """`SELECT <every row's JSON pieces> FROM <table and joins>`, compiled once per model,
    field list and time zone, so that each request compiles only its own small page query
    (filters, visibility, order, cursor) instead of the twenty-odd expressions that write
    the JSON."""

    sql: str
    params: tuple[Any, ...]
    plan: RowPlan
    select_list: str  # the JSON pieces and the primary key, as compiled
    from_clause: str  # ' FROM "table"', where the select list ends
    joins: tuple[str, ...]  # the join clauses the select list needs, as compiled
    join_paths: tuple[str, ...]  # ORM paths that make a queryset add those joins


_SOURCES: dict[tuple[int, str, str], tuple[Sequence[JsonField], RowSource]] = {}
_JOIN = re.compile(r'(?:INNER|LEFT OUTER) JOIN "[^"]+"(?: [A-Za-z0-9_]+)? ON \([^()]*\)')


def _paths(expression: Any) -> list[str]:
    if isinstance(expression, str):
        return [expression]
    if isinstance(expression, F):
        return [expression.name]  # type: ignore[attr-defined]  # set by F.__init__
    return [path for source in expression.get_source_expressions() for path in _paths(source)]


def row_source(model: type[models.Model], fields: Sequence[JsonField]) -> RowSource:
    zone = timezone.get_current_timezone_name()
    key = (id(fields), model._meta.label, zone)
    cached = _SOURCES.get(key)
    if cached is not None and cached[0] is fields:
        return cached[1]
    row_plan = plan(fields)
    query = model._default_manager.order_by().values(**row_plan.annotations, _pk=F("pk")).query
    sql, params = query.sql_with_params()
    from_clause = f" FROM {connection.ops.quote_name(model._meta.db_table)}"
    position = sql.index(from_clause)
    related = {path for field in fields for source in field.sources for path in _paths(source) if "__" in path}
    source = RowSource(
        sql=sql,
        params=tuple(params),
        plan=row_plan,
        select_list=sql[len("SELECT ") : position],
        from_clause=from_clause,
        joins=tuple(_JOIN.findall(sql[position:])),
        join_paths=tuple(sorted(related)),
    )
    _SOURCES[key] = (fields, source)
    return source


@dataclasses.dataclass(frozen=True)
class PageStatement:
    """A page query with its rows' JSON pieces, compiled: its text holds every value but
    the cursor's, which stay parameters (`parameters`, in the order of the placeholders)."""

    sql: str
    parameters: tuple[prepared_statements.Parameter, ...]
    source: RowSource
    first_key: int  # the column of the first ordering key
    first_piece: int  # the column of the first JSON piece
    keys: int  # how many ordering keys (the primary key last)

    def key(self, record: Sequence[Any]) -> list[Any]:
        """The ordering key values of a record the statement read."""
        return list(record[self.first_key : self.first_key + self.keys])


def page_statement(
    model: type[models.Model], fields: Sequence[JsonField], page: Any, paths: Sequence[str], descending: bool
) -> PageStatement:
    """The statement that reads `page`, an ordered and limited queryset, as rows of JSON.

    Usually the page query itself selects the JSON pieces: its select list is swapped for
    the compiled one, which is valid when the page query has the very same joins (same
    tables, same aliases — checked on the SQL text). Otherwise the pieces are joined to
    the page by primary key. Either way one statement: one snapshot.
    """
    source = row_source(model, fields)
    compiler = page.values_list("pk", *paths, *source.join_paths).query.get_compiler(page.db)
    page_sql, page_params = compiler.as_sql()
    kept = _leading_columns(compiler, page_sql, 1 + len(paths))
    own_select = page_sql.find(source.from_clause)
    same_joins = all(join in page_sql for join in source.joins)
    if kept is not None and own_select > 0 and same_joins:
        # The JSON pieces go after the page's own columns (its pk and ordering values),
        # which its ORDER BY may name by position; the columns that were there only to
        # make the ORM add the joins are left out. All of it is SQL compiled by Django.
        sql = f"SELECT {kept}, {source.select_list}{page_sql[own_select:]}"
        first_key, first_piece = 1, 1 + len(paths)  # after the page's pk; after its keys
    else:
        keys = [f"k{index}" for index in range(len(paths))]
        direction = " DESC" if descending else " ASC"
        # PostgreSQL pulls the plain subquery up into the join: JSON is written for the page's rows only.
        select = f"SELECT _rows.*, {', '.join(f'_page.{key}' for key in keys)}"
        inner = page.values_list("pk", *paths).query.sql_with_params()
        join = f"INNER JOIN ({inner[0]}) AS _page (pk, {', '.join(keys)}) ON _page.pk = _rows._pk"
        order = f"ORDER BY {', '.join(f'_page.{key}{direction}' for key in keys)}"
        sql, page_params = f"{select} FROM ({source.sql}) AS _rows {join} {order}", inner[1]
        first_key, first_piece = len(source.plan.annotations) + 1, 0
    params = (*source.params, *page_params)
    with connection.cursor() as cursor:
        sql, _ = prepared_statements.write_values(cursor, sql, params)
    parameters = tuple(value for value in params if isinstance(value, prepared_statements.Parameter))
    return PageStatement(sql, parameters, source, first_key, first_piece, len(paths))


def read_page(statement: PageStatement, values: Sequence[Any]) -> list[tuple[str, Sequence[Any]]]:
    """(row JSON, record) for each row `statement` reads, given its cursor's values
    (`statement.key(record)` is the row's ordering key)."""
    with connection.cursor() as cursor:
        prepared_statements.execute(cursor, statement.sql, values)
        records = cursor.fetchall()
    return list(zip(statement.source.plan.rows(records, statement.first_piece), records, strict=True))


def page_rows(
    model: type[models.Model], fields: Sequence[JsonField], page: Any, paths: Sequence[str], descending: bool
) -> list[tuple[str, list[Any]]]:
    """(row JSON, ordering key values) for the rows of `page`, an ordered and limited queryset."""
    statement = page_statement(model, fields, page, paths, descending)
    rows = read_page(statement, [parameter.value for parameter in statement.parameters])
    return [(text, statement.key(record)) for text, record in rows]


def _leading_columns(compiler: Any, sql: str, count: int) -> str | None:
    """The text of the first `count` columns of the statement `compiler` wrote as `sql`,
    if its select list is plain columns (as `values_list` of paths writes it), else None."""
    columns = []
    for _, (column_sql, column_params), alias in compiler.select:
        if column_params:
            return None
        columns.append(f"{column_sql} AS {compiler.connection.ops.quote_name(alias)}" if alias else column_sql)
    if not sql.startswith(f"SELECT {', '.join(columns)} FROM "):  # noqa: S608 - compares, runs nothing
        return None
    return ", ".join(columns[:count])


@functools.lru_cache(maxsize=64)
def _cached_json(function: Callable[..., Any]) -> Callable[..., str]:
    @functools.lru_cache(maxsize=16384)
    def encoded(language: str | None, *args: Any) -> str:
        return dumps(function(*args))

    return encoded


def dumps(value: Any) -> str:
    """JSON as DRF's JSONRenderer writes it (compact, UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def page(previous: str | None, next_url: str | None, rows: list[str]) -> bytes:
    """`{"next", "previous", "results"}` as DRF renders the paginated response."""
    body = '{"next":' + dumps(next_url) + ',"previous":' + dumps(previous) + ',"results":[' + ",".join(rows) + "]}"
    # DRF escapes these two (valid JSON, but not valid JavaScript string literals).
    return body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
