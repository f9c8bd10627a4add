"""`?format=csv` on every list: streamed, formula-injection safe, memory flat.

PostgreSQL formats each line (quoting, escaping, dates) and a server-side cursor hands
them over in chunks, so Python does little more than join strings; columns whose text
lives only in Python (a relationship's label made from country names) are spliced in
from a small dictionary. A text cell starting with = + - @ tab or carriage return is
prefixed with ' so spreadsheets do not run it as a formula.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from django.db import models
from django.db.models import F, Func, Value
from django.db.models.expressions import Expression
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

from cooperation.bulk import FORMULA_STARTS

CHUNK_ROWS = 2000


class CsvRenderer(BaseRenderer):
    """Declares text/csv for content negotiation; lists stream it themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        # Reached only for error responses and non-list actions: say it as a one-cell CSV.
        detail = data.get("detail", data) if isinstance(data, dict) else data
        return csv_line([str(detail)]).encode()


@dataclasses.dataclass(frozen=True)
class Column:
    """One CSV column: a header, an ORM path or expression, and how to write it.

    kind: text | number | date | datetime | bool | choice (with `choices`: db value → code)
    | label (with `labels`: a function of the request user → {db value: text}).
    """

    header: str
    source: str | Expression
    kind: str = "text"
    choices: Mapping[Any, str] | None = None
    labels: Callable[[Any], Mapping[Any, str]] | None = None


class _Cell(Func):
    output_field = models.TextField()

    def __init__(self, expression: Any, template: str):
        super().__init__(expression)
        self.cell_template = template

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        return self.cell_template.replace("§", f"({sql})"), list(params) * self.cell_template.count("§")


_TEXT = (
    "CASE WHEN § IS NULL THEN '' ELSE '\"' || replace(CASE WHEN left(§, 1) IN "
    "('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || § ELSE § END, '\"', '\"\"') || '\"' END"
)


def _cell(column: Column) -> Any:
    source = F(column.source) if isinstance(column.source, str) else column.source
    if column.kind == "text":
        return _Cell(source, _TEXT)
    if column.kind == "date":
        return _Cell(source, "COALESCE(to_char(§, 'YYYY-MM-DD'), '')")
    if column.kind == "datetime":
        return _Cell(source, "COALESCE(to_json(§) #>> '{}', '')")
    if column.kind == "bool":
        return _Cell(source, "CASE WHEN § THEN 'true' WHEN NOT § THEN 'false' ELSE '' END")
    if column.kind == "choice":
        assert column.choices is not None
        whens = " ".join(f"WHEN § = {_literal(db)} THEN {_literal(code)}" for db, code in column.choices.items())
        return _Cell(source, f"CASE {whens} ELSE '' END")
    return _Cell(source, "COALESCE(§::text, '')")


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def python_cell(column: Column, value: Any) -> str:
    """The same cell as the SQL above, for rows built in Python (the sync feed)."""
    if value is None:
        return ""
    if column.kind == "text":
        return text_cell(str(value))
    if column.kind == "bool":
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


def text_cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(list(cells))
    return buffer.getvalue()


def stream_rows(queryset: models.QuerySet[Any], columns: list[Column], user: Any) -> Iterator[str]:
    """The header and one line per row, computed by PostgreSQL, in chunks."""
    yield csv_line(column.header for column in columns)
    annotations: dict[str, Any] = {}
    plan: list[tuple[str, Mapping[Any, str] | None]] = []  # (annotation, labels or None)
    segment: list[Any] = []

    def close_segment() -> None:
        if segment:
            name = f"_csv{len(annotations)}"
            annotations[name] = Func(Value(","), *segment, function="concat_ws", output_field=models.TextField())
            plan.append((name, None))
            segment.clear()

    for column in columns:
        if column.kind == "label":
            assert column.labels is not None
            close_segment()
            name = f"_csv{len(annotations)}"
            annotations[name] = F(column.source) if isinstance(column.source, str) else column.source
            labels = {key: csv_line([python_cell(Column("", "", "text"), text)]).rstrip("\r\n")
                      for key, text in column.labels(user).items()}  # fmt: skip
            plan.append((name, labels))
        else:
            segment.append(_cell(column))
    close_segment()
    names = [name for name, _ in plan]
    rows = queryset.annotate(**annotations).values_list(*names).iterator(chunk_size=CHUNK_ROWS)
    pieces: list[str] = []
    for row in rows:
        line = ",".join(
            value if labels is None else labels.get(value, "") for value, (_, labels) in zip(row, plan, strict=True)
        )
        pieces.append(line)
        if len(pieces) >= CHUNK_ROWS:
            yield "\r\n".join(pieces) + "\r\n"
            pieces.clear()
    if pieces:
        yield "\r\n".join(pieces) + "\r\n"


def csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse((line.encode() for line in lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
