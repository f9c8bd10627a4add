"""Exports of activity lists (CSV, XLSX) and the import template, in constant memory.

Rows come from the database through a server-side cursor (`QuerySet.iterator`) as plain
tuples; CSV is streamed as it is written, XLSX is written by openpyxl's write-only mode
into a temporary file that is then streamed out. The columns are the import columns, so
an export can be edited and imported back. The dashboards' CSV downloads use the same
writer.

The writers (`csv_stream`, `xlsx_file`) neutralise every text cell: text that a
spreadsheet would run as a formula (starting with = + - @, tab or carriage return) is
prefixed with a quote, and so is text that starts with a quote followed by one of those
or another quote; the importer removes exactly that quote again (`bulk.unquote`), so
every text imports back as it was exported.
"""

from __future__ import annotations

import csv
import datetime
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.db.models import QuerySet

from cooperation.bulk import FORMULA_STARTS, IMPORT_COLUMNS, QUOTED_STARTS
from cooperation.choices import Classification
from cooperation.models import ACTIVITY_DESCRIPTION_FIELDS, Activity

EXPORT_COLUMNS = (*IMPORT_COLUMNS, "updated_at")
_QUERY_FIELDS = (
    "external_ref",
    "relationship__state_a",
    "relationship__state_b",
    "area__code",
    *ACTIVITY_DESCRIPTION_FIELDS,
    "accreditation_id",
    "updated_at",
)
_RELEASABILITY_CODES = {member.value: member.code for member in Classification}
_QUOTE_BEFORE = (*FORMULA_STARTS, *QUOTED_STARTS)
CHUNK_SIZE = 2000

TEMPLATE_EXAMPLE = (
    "demo-101",
    "BY",
    "US",
    "education",
    "English language course for officers",
    "course",
    "working",
    "planned",
    datetime.date(2026, 9, 14),
    datetime.date(2026, 12, 18),
    "Minsk",
    16,
    "Military Academy of Belarus",
    "",
    "",
    "internal",
    "",
)


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would evaluate, made inert; text that would look
    quoted already gets one more quote, so that `bulk.unquote` is its exact inverse."""
    if isinstance(value, str) and value.startswith(_QUOTE_BEFORE):
        return "'" + value
    return value


def export_rows(queryset: QuerySet[Activity]) -> Iterator[tuple[Any, ...]]:
    """Rows in EXPORT_COLUMNS order from a (visible, filtered, ordered) activity queryset."""
    codes = _RELEASABILITY_CODES
    for row in queryset.values_list(*_QUERY_FIELDS).iterator(chunk_size=CHUNK_SIZE):
        values = list(row)
        values[15] = codes.get(values[15], values[15])
        values[17] = values[17].replace(microsecond=0).isoformat() if values[17] else None
        yield tuple(values)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_stream(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV lines, starting with a byte-order mark so Excel reads UTF-8; text cells neutralised."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow(["" if value is None else neutralise(value) for value in row])


def xlsx_file(header: Iterable[str], rows: Iterable[Iterable[Any]], *, title: str) -> IO[bytes]:
    """A workbook written row by row (openpyxl write-only) to a temporary file, rewound;
    text cells neutralised (openpyxl would otherwise store text starting with = as a formula)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(list(header))
    for row in rows:
        sheet.append([neutralise(value) for value in row])
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    workbook.save(spooled)
    spooled.seek(0)
    return spooled


def template_rows() -> list[tuple[Any, ...]]:
    return [TEMPLATE_EXAMPLE]
