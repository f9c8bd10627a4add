"""Reading CSV and XLSX import files into rows for `activity_bulk_import`.

Files are user input: the size, the number of rows, the type (sniffed from the content,
not the name), the encoding and, for XLSX, the ZIP container are checked first, and
each problem is an `ImportFileError` with a message a person can act on.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import secrets
import zipfile
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from attache.uploads import megabytes
from cooperation.bulk import IMPORT_COLUMNS, REQUIRED_COLUMNS, ImportRow

# A ZIP member may expand at most this much, and all of them together to at most this
# many bytes: real spreadsheets stay far below; a decompression bomb does not.
XLSX_MAX_RATIO = 200
XLSX_MAX_UNZIPPED = 512 * 1024 * 1024
MAX_COLUMNS = 200
CSV_FIELD_LIMIT = 1024 * 1024

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other OLE documents)


class ImportFileError(Exception):
    """The file as a whole cannot be read; the message says why and what to do."""


@dataclasses.dataclass
class ImportFile:
    kind: str  # "csv" or "xlsx"
    columns: list[str]
    ignored_columns: list[str]
    rows: list[ImportRow]


def _normalise(header: Any) -> str:
    return str(header if header is not None else "").strip().lower().replace(" ", "_").replace("-", "_")


def _columns(headers: list[Any]) -> tuple[list[str], list[str]]:
    names = [_normalise(header) for header in headers]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise ImportFileError("The first row must hold the column names; it is empty.")
    if len(names) > MAX_COLUMNS:
        raise ImportFileError(f"The file has {len(names)} columns; at most {MAX_COLUMNS} are read.")
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise ImportFileError(f"The column {name!r} appears twice in the first row.")
        seen.add(name)
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise ImportFileError(
            f"Missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}. "
            "Download the template to see the expected columns."
        )
    ignored = [name for name in names if name and name not in IMPORT_COLUMNS]
    return names, ignored


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _rows(names: list[str], records: Iterator[Any], first_number: int) -> list[ImportRow]:
    wanted = [(index, name) for index, name in enumerate(names) if name in IMPORT_COLUMNS]
    limit = settings.IMPORT_MAX_ROWS
    rows: list[ImportRow] = []
    for number, record in enumerate(records, start=first_number):
        if all(_blank(value) for value in record):
            continue
        if len(rows) >= limit:
            raise ImportFileError(f"The file has more than {limit:,} rows; split it into smaller files.")
        width = len(record)
        rows.append(ImportRow(number, {name: record[index] if index < width else None for index, name in wanted}))
    return rows


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError("The file claims to be UTF-16 text but is not valid UTF-16.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportFileError(
            f"The file is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}). "
            "In Excel, save it as “CSV UTF-8 (comma delimited)”, or upload the XLSX file itself."
        ) from None


def read_csv(data: bytes) -> ImportFile:
    text = _decode(data)
    if "\x00" in text:
        raise ImportFileError("This is not a CSV or XLSX file.")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFileError("The file is empty.")
        names, ignored = _columns(header)
        rows = _rows(names, reader, first_number=2)
    except csv.Error as error:
        raise ImportFileError(f"The CSV is malformed near line {reader.line_num}: {error}.") from None
    return ImportFile("csv", names, ignored, rows)


def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportFileError("This is not a valid XLSX file (the ZIP container is damaged).") from None
    total = 0
    for member in archive.infolist():
        total += member.file_size
        if member.file_size > max(member.compress_size, 1) * XLSX_MAX_RATIO or total > XLSX_MAX_UNZIPPED:
            raise ImportFileError("This XLSX file expands to an implausible size; it is refused.")
    if "xl/workbook.xml" not in archive.namelist():
        raise ImportFileError("This ZIP file is not an XLSX workbook.")


def read_xlsx(data: bytes) -> ImportFile:
    import openpyxl  # imported here: only imports need it

    _check_zip(data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken workbook
        raise ImportFileError(f"This XLSX file cannot be read: {error}.") from None
    try:
        sheet = workbook.worksheets[0]
        header = next(sheet.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS + 1, values_only=True), None)
        if header is None:
            raise ImportFileError("The first sheet is empty.")
        names, ignored = _columns(list(header))
        records = sheet.iter_rows(min_row=2, max_col=len(names), values_only=True)
        rows = _rows(names, records, first_number=2)
    except ImportFileError:
        raise
    except Exception as error:
        raise ImportFileError(f"This XLSX file cannot be read: {error}.") from None
    finally:
        workbook.close()
    return ImportFile("xlsx", names, ignored, rows)


def too_large(size: int) -> str:
    """The refusal of a file of `size` bytes over IMPORT_MAX_BYTES, naming the limit."""
    return (
        f"The file is {megabytes(size, rounded_up=True)} MB; at most {megabytes(settings.IMPORT_MAX_BYTES)} MB "
        "can be imported at once."
    )


def read_import_file(data: bytes) -> ImportFile:
    """Rows of a CSV or XLSX file, whatever its name says it is."""
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if len(data) > settings.IMPORT_MAX_BYTES:
        raise ImportFileError(too_large(len(data)))
    if data.startswith(_ZIP):
        return read_xlsx(data)
    if data.startswith(_OLE):
        raise ImportFileError("Old Excel files (.xls) cannot be read: save the sheet as .xlsx or CSV UTF-8.")
    if b"\x00" in data[:8192] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError("This is not a CSV or XLSX file.")
    return read_csv(data)


# Uploads waiting for their commit -----------------------------------------------------

_STAGING_DIR = "imports"


@dataclasses.dataclass(frozen=True)
class StagedImport:
    data: bytes
    # external reference → the version of its activity when the file was checked (None:
    # not there yet); the commit refuses rows whose activity changed since.
    versions: dict[str, int | None]


def _staged_name(user_id: int, token: str) -> str:
    return f"{_STAGING_DIR}/{user_id}-{token}"


def stage_upload(*, user_id: int, data: bytes, versions: dict[str, int | None]) -> str:
    """Keep an uploaded file, and the versions its check saw, until its owner commits it;
    returns the token naming it.

    Staged files live in the default storage (MEDIA_ROOT), so every app process sees
    them; the user's earlier staged files are removed.
    """
    discard_staged(user_id=user_id)
    token = secrets.token_urlsafe(18)
    name = _staged_name(user_id, token)
    default_storage.save(f"{name}.versions.json", ContentFile(json.dumps(versions).encode()))
    default_storage.save(name, ContentFile(data))
    return token


def load_staged(*, user_id: int, token: str) -> StagedImport | None:
    """The staged file `token` of this user, or None (unknown, someone else's or gone)."""
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        return None
    name = _staged_name(user_id, token)
    if not (default_storage.exists(name) and default_storage.exists(f"{name}.versions.json")):
        return None
    with default_storage.open(name, "rb") as staged, default_storage.open(f"{name}.versions.json", "rb") as seen:
        return StagedImport(data=staged.read(), versions=json.loads(seen.read()))


def discard_staged(*, user_id: int) -> None:
    if not default_storage.exists(_STAGING_DIR):
        return
    _, files = default_storage.listdir(_STAGING_DIR)
    for name in files:
        if name.startswith(f"{user_id}-"):
            default_storage.delete(f"{_STAGING_DIR}/{name}")
