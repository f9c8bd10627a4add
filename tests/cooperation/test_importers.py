"""Reading import files: CSV and XLSX, and every way a file can be wrong."""

from __future__ import annotations

import codecs
import datetime
import io
import zipfile

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from cooperation.bulk import IMPORT_COLUMNS, activity_bulk_import, unquote
from cooperation.exporters import EXPORT_COLUMNS, csv_stream, export_rows, neutralise, template_rows, xlsx_file
from cooperation.importers import ImportFileError, read_import_file
from cooperation.models import Activity
from tests.conftest import World
from tests.factories import ActivityFactory

HEADER = ",".join(IMPORT_COLUMNS)
LINE = "r-1,BY,US,education,English course,course,working,planned,2017-03-01,,Minsk,12,,,,internal,"


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for values in rows:
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def error_of(data: bytes) -> str:
    with pytest.raises(ImportFileError) as caught:
        read_import_file(data)
    return str(caught.value)


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    parsed = read_import_file(f"{HEADER}\n{LINE}\n\n{LINE.replace('r-1', 'r-2')}\n".encode())
    assert parsed.kind == "csv"
    assert [row.number for row in parsed.rows] == [2, 4]  # the blank line 3 is skipped
    assert parsed.rows[0].values["title"] == "English course"


def test_csv_with_bom_semicolons_utf16_and_extra_columns() -> None:
    semicolons = f"{HEADER.replace(',', ';')};notes\n{LINE.replace(',', ';')};ignored\n"
    parsed = read_import_file(codecs.BOM_UTF8 + semicolons.encode())
    assert parsed.rows[0].values["state_b"] == "US" and parsed.ignored_columns == ["notes"]
    utf16 = read_import_file(f"{HEADER}\n{LINE}\n".encode("utf-16"))
    assert utf16.rows[0].values["external_ref"] == "r-1"


def test_headers_are_forgiving_about_case_and_spaces() -> None:
    header = HEADER.replace("external_ref", "External Ref").replace("start_date", " Start-Date ")
    assert read_import_file(f"{header}\n{LINE}\n".encode()).rows[0].values["start_date"] == "2017-03-01"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"external_ref,title\nx,y\n", "Missing columns: state_a, state_b, area, kind, start_date."),
        (f"{HEADER},title\n".encode(), "The column 'title' appears twice in the first row."),
        (f"{HEADER}\n{LINE},caf\xe9\n".encode("latin-1"), "The file is not UTF-8 text (byte 0xe9 on line 2)."),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Old Excel files (.xls) cannot be read"),
        (b"PK\x03\x04garbage", "This is not a valid XLSX file (the ZIP container is damaged)."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "This is not a CSV or XLSX file."),
        (f'{HEADER}\n"unclosed,{LINE}\n'.encode(), "The CSV is malformed"),
    ],
)
def test_unreadable_files_get_a_clear_message(data: bytes, message: str) -> None:
    assert message in error_of(data)


@override_settings(IMPORT_MAX_ROWS=3)
def test_too_many_rows_are_refused() -> None:
    data = "\n".join([HEADER] + [LINE.replace("r-1", f"r-{n}") for n in range(4)]).encode()
    assert error_of(data) == "The file has more than 3 rows; split it into smaller files."


@override_settings(IMPORT_MAX_BYTES=1_048_576)
def test_too_large_files_are_refused_naming_the_limit_in_mb() -> None:
    """A byte over the limit never reads as the limit itself ("1.0 MB; at most 1 MB")."""
    data = f"{HEADER}\n{LINE}\n".encode()
    assert error_of(data + b"x" * (1_048_576 - len(data) + 1)) == (
        "The file is 1.1 MB; at most 1 MB can be imported at once."
    )


def test_xlsx_rows_keep_their_cell_types() -> None:
    data = xlsx([list(IMPORT_COLUMNS), ["r-1", "BY", "US", "education", "Course", "course", None, None,
                                         datetime.datetime(2017, 3, 1), None, None, 12]])  # fmt: skip
    parsed = read_import_file(data)
    assert parsed.kind == "xlsx"
    values = parsed.rows[0].values
    assert values["start_date"] == datetime.datetime(2017, 3, 1) and values["participants"] == 12
    assert values["accreditation"] is None


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert error_of(buffer.getvalue()) == "This ZIP file is not an XLSX workbook."


def test_an_xlsx_decompression_bomb_is_refused_before_parsing() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<row/>" * 5_000_000)  # 30 MB of zeros-like text
    assert len(buffer.getvalue()) < 200_000
    assert error_of(buffer.getvalue()) == "This XLSX file expands to an implausible size; it is refused."


def test_a_workbook_with_a_broken_sheet_is_a_clear_error() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook><not xml")
    assert error_of(buffer.getvalue()).startswith("This XLSX file cannot be read")


# Exports use the same columns: an export can be imported back ---------------------------


def test_formula_like_text_is_neutralised() -> None:
    assert [neutralise(value) for value in ("=1+1", "+3", "-x", "@SUM", "\tx", "plain", 5)] == [
        "'=1+1",
        "'+3",
        "'-x",
        "'@SUM",
        "'\tx",
        "plain",
        5,
    ]


def test_text_that_looks_quoted_gets_one_more_quote_and_other_quotes_are_left_alone() -> None:
    values = ("'=1+1", "''", "''=x", "'", "'s-Hertogenbosch", "it's")
    assert [neutralise(value) for value in values] == ["''=1+1", "'''", "'''=x", "'", "'s-Hertogenbosch", "it's"]


@given(st.text())
def test_the_import_takes_off_exactly_the_quote_the_export_put_on(text: str) -> None:
    exported = neutralise(text)
    assert unquote(exported) == text
    assert not exported.startswith(("=", "+", "-", "@", "\t", "\r"))


# Texts a spreadsheet would run, texts that begin with the quote itself, and both.
ROUND_TRIP_TEXTS = (
    "=1+1", "+32 2 555 01 01", "-", "@SUM(A1)", "'", "''", "'''", "'=1+1", "''=1+1", "'+3", "'-x", "'@x",
    "'plain", "''plain", "'s-Hertogenbosch", "plain", "it's = fine",
)  # fmt: skip


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_export_imports_back_to_exactly_the_same_texts(world: World, kind: str) -> None:
    for number, text in enumerate(ROUND_TRIP_TEXTS):
        ActivityFactory(relationship=world.rel_a, external_ref=f"rt-{number}", title=text, location=text)
    rows = export_rows(Activity.objects.filter(external_ref__startswith="rt-").order_by("external_ref"))
    if kind == "csv":
        data = "".join(csv_stream(EXPORT_COLUMNS, rows)).encode()
    else:
        data = xlsx_file(EXPORT_COLUMNS, rows, title="Activities").read()
    parsed = read_import_file(data)
    result = activity_bulk_import(actor=world.admin, rows=parsed.rows, dry_run=True)
    assert result.ok, result.errors
    # Unchanged: every title and location read back is the one stored.
    assert (result.rows, result.unchanged) == (len(ROUND_TRIP_TEXTS), len(ROUND_TRIP_TEXTS))


def test_the_templates_read_back_as_one_valid_row() -> None:
    csv_bytes = "".join(csv_stream(IMPORT_COLUMNS, template_rows())).encode()
    xlsx_bytes = xlsx_file(IMPORT_COLUMNS, template_rows(), title="Activities").read()
    for data in (csv_bytes, xlsx_bytes):
        parsed = read_import_file(data)
        assert parsed.columns == list(IMPORT_COLUMNS) and len(parsed.rows) == 1
        assert parsed.rows[0].values["external_ref"] == "demo-101"
