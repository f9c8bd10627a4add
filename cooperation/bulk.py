"""Bulk writes: many activities at once, validated as a whole and written all or nothing.

`activity_create` per row is too slow for 100,000 rows (a full_clean, a permission query
and an INSERT each), so `activity_bulk_import` applies the same rules set-wise:

- each row is converted and checked in Python against the model's own field metadata
  (lengths, choices, nullability) and the rules of `Activity.clean()` and the services
  (dates in order, participants ≥ 0, an accreditation of the same relationship, an area
  in use for new records, desk and clearance);
- the relationships, areas, accreditations and already-imported external references
  are each read with one query, and write permission is decided once per relationship;
- the accepted rows go to PostgreSQL with `COPY` into a temporary staging table, then
  one `INSERT … SELECT` for new references and one `UPDATE … FROM` for changed ones,
  inside `audit_context` so the statement-level audit triggers record who and why.

The database constraints remain the last line of defence. The external reference is the
natural key: importing the same file twice creates nothing the second time.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import io
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_countries import countries

from cooperation.audit import audit_context
from cooperation.choices import ActivityKind, ActivityLevel, ActivityStatus, Classification
from cooperation.intensity import add_staged_activities, schedule_refresh
from cooperation.models import ACTIVITY_DESCRIPTION_FIELDS, Accreditation, Activity, CooperationArea, Relationship
from cooperation.models.activity import channel_refusal
from cooperation.permissions import is_writer, writable_relationships
from cooperation.validators import validate_calendar_date

if TYPE_CHECKING:
    from accounts.models import User

# The columns of an import file, in the template's order. The relationship is the pair
# of states (ISO 3166 codes, either order); the area is its code; releasability is
# public|internal|restricted; accreditation is the id shown on its page.
IMPORT_COLUMNS = ("external_ref", "state_a", "state_b", "area", *ACTIVITY_DESCRIPTION_FIELDS, "accreditation")
REQUIRED_COLUMNS = ("external_ref", "state_a", "state_b", "area", "title", "kind", "start_date")

# Model fields a row sets, in the staging table's order.
_WRITTEN = ("relationship_id", "area_id", "accreditation_id", *ACTIVITY_DESCRIPTION_FIELDS)
# Which written field each import column sets (a column missing from the file leaves
# the field as it is on update, and at its default on create).
_COLUMN_FIELDS = {
    "state_a": ("relationship_id",),
    "state_b": ("relationship_id",),
    "area": ("area_id",),
    "accreditation": ("accreditation_id",),
    **{name: (name,) for name in _WRITTEN if not name.endswith("_id")},
}
_DEFAULTS: dict[str, Any] = {
    "accreditation_id": None,
    "level": ActivityLevel.WORKING.value,
    "status": ActivityStatus.PLANNED.value,
    "end_date": None,
    "location": "",
    "participants": 0,
    "counterpart": "",
    "description": "",
    "outcome": "",
    "releasability": Classification.INTERNAL.value,
}
_INT_MAX = 2_147_483_647
# Text a spreadsheet would run as a formula. Exports put a quote before it, and before
# text that already starts with a quote followed by such a character or another quote
# (`exporters.neutralise`), so the import takes exactly one quote off what starts with
# QUOTED_STARTS and every text comes back as it was.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTED_STARTS = tuple("'" + start for start in (*FORMULA_STARTS, "'"))


@dataclasses.dataclass(frozen=True)
class ImportRow:
    """One data row: its number as a spreadsheet shows it (the header is row 1) and its cells."""

    number: int
    values: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str


@dataclasses.dataclass
class BulkImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)
    committed: bool = False
    # (relationship id, first day of the start month) of every created or updated row,
    # before and after the change: the intensity rollups that the write makes stale.
    rollup_keys: frozenset[tuple[int, datetime.date]] = frozenset()
    # The version of each valid row's activity as the check found it (None: not there
    # yet). A commit of what a dry run reported passes them back as `expected_versions`.
    versions: dict[str, int | None] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class _RowInvalid(Exception):
    def __init__(self, column: str, message: str):
        self.column, self.message = column, message


# Cell conversions ------------------------------------------------------------------


def unquote(text: str) -> str:
    """The text an export quoted, as it was before (the inverse of `exporters.neutralise`)."""
    return text[1:] if text.startswith(QUOTED_STARTS) else text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unquote(str(value).strip())


def _check_text(column: str, text: str, max_length: int | None) -> str:
    if "\x00" in text:
        raise _RowInvalid(column, "Contains a NUL character, which text cannot hold.")
    if max_length is not None and len(text) > max_length:
        raise _RowInvalid(column, f"At most {max_length} characters (this has {len(text)}).")
    return text


def _date(column: str, value: Any) -> datetime.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        day = value.date()
    elif isinstance(value, datetime.date):
        day = value
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            day = datetime.date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text)
        except ValueError:
            raise _RowInvalid(column, f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2016-06-29.") from None
    try:
        validate_calendar_date(day)
    except ValidationError as error:
        raise _RowInvalid(column, error.messages[0]) from None
    return day


def _integer(column: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _RowInvalid(column, f"{value!r} is not a whole number.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                raise _RowInvalid(column, f"{text!r} is not a whole number.") from None
            if not as_float.is_integer():
                raise _RowInvalid(column, f"{text!r} is not a whole number.") from None
            number = int(as_float)
    if abs(number) > _INT_MAX:
        raise _RowInvalid(column, f"{number} is too large.")
    return number


def _choice_lookup(choices: Iterable[tuple[Any, str]]) -> dict[str, Any]:
    """Accept a choice by its code or its label, in any case."""
    lookup: dict[str, Any] = {}
    for value, label in choices:
        lookup[str(label).lower()] = value
        lookup[str(value).lower()] = value
    return lookup


def _choice(column: str, value: Any, lookup: Mapping[str, Any], allowed: str) -> Any:
    text = _text(value)
    try:
        return lookup[text.lower()]
    except KeyError:
        raise _RowInvalid(column, f"{text!r} is not one of: {allowed}.") from None


@functools.lru_cache(maxsize=4096)
def _country(text: str) -> str:
    code = countries.alpha2(text) if text else ""
    if not code and len(text) > 3:
        code = countries.by_name(text, insensitive=True) or ""
    return code


# Validation --------------------------------------------------------------------------


@dataclasses.dataclass
class _Row:
    number: int
    ref: str
    pair: tuple[str, str]
    area_code: str
    accreditation_id: int | None
    given: set[str]  # written fields the file sets
    values: dict[str, Any]  # written field → value (relationship_id / area_id filled in later)
    existing: dict[str, Any] | None = None


class _Validator:
    """Converts cells to field values; one instance per import (it caches lookups)."""

    def __init__(self) -> None:
        meta = Activity._meta
        self.max_length = {
            name: getattr(meta.get_field(name), "max_length", None)
            for name in ("title", "location", "counterpart", "external_ref")
        }
        self.kinds = _choice_lookup(ActivityKind.choices)
        self.levels = _choice_lookup(ActivityLevel.choices)
        self.statuses = _choice_lookup(ActivityStatus.choices)
        self.clearances = _choice_lookup(
            [(member.value, member.code) for member in Classification] + list(Classification.choices)
        )
        self.allowed = {
            "kind": ", ".join(ActivityKind.values),
            "level": ", ".join(ActivityLevel.values),
            "status": ", ".join(ActivityStatus.values),
            "releasability": ", ".join(member.code for member in Classification),
        }

    def row(self, row: ImportRow, columns: frozenset[str]) -> _Row:
        cells = row.values
        ref = _check_text("external_ref", _text(cells.get("external_ref")), self.max_length["external_ref"])
        if not ref:
            raise _RowInvalid("external_ref", "Required: the external reference identifies the row.")
        values: dict[str, Any] = {}
        given: set[str] = set()

        codes = []
        for column in ("state_a", "state_b"):
            text = _text(cells.get(column))
            if not text:
                raise _RowInvalid(column, "Required: an ISO 3166 country code such as BY or US.")
            code = _country(text)
            if not code:
                raise _RowInvalid(column, f"{text!r} is not an ISO 3166 country code.")
            codes.append(code)
        if codes[0] == codes[1]:
            raise _RowInvalid("state_b", "A relationship needs two different states.")
        pair = (min(codes), max(codes))
        given.add("relationship_id")

        area_code = _text(cells.get("area")).lower()
        if not area_code:
            raise _RowInvalid("area", "Required: the code of a cooperation area, e.g. education.")
        given.add("area_id")

        title = _check_text("title", _text(cells.get("title")), self.max_length["title"])
        if not title:
            raise _RowInvalid("title", "Required.")
        values["title"] = title
        given.add("title")

        kind = _text(cells.get("kind"))
        if not kind:
            raise _RowInvalid("kind", f"Required: one of {self.allowed['kind']}.")
        values["kind"] = _choice("kind", kind, self.kinds, self.allowed["kind"])
        given.add("kind")
        for column, lookup in (("level", self.levels), ("status", self.statuses)):
            if column in columns:
                given.add(column)
                text = _text(cells.get(column))
                values[column] = _choice(column, text, lookup, self.allowed[column]) if text else _DEFAULTS[column]
        if "releasability" in columns:
            given.add("releasability")
            text = _text(cells.get("releasability"))
            values["releasability"] = (
                _choice("releasability", text, self.clearances, self.allowed["releasability"])
                if text
                else _DEFAULTS["releasability"]
            )

        start = _date("start_date", cells.get("start_date"))
        if start is None:
            raise _RowInvalid("start_date", "Required: a date written YYYY-MM-DD.")
        values["start_date"] = start
        given.add("start_date")
        if "end_date" in columns:
            given.add("end_date")
            end = _date("end_date", cells.get("end_date"))
            if end is not None and end < start:
                raise _RowInvalid("end_date", "The end date cannot be before the start date.")
            values["end_date"] = end

        if "participants" in columns:
            given.add("participants")
            participants = _integer("participants", cells.get("participants"))
            if participants is not None and participants < 0:
                raise _RowInvalid("participants", "Participants cannot be negative.")
            values["participants"] = participants if participants is not None else 0

        for column in ("location", "counterpart", "description", "outcome"):
            if column in columns:
                given.add(column)
                values[column] = _check_text(column, _text(cells.get(column)), self.max_length.get(column))

        accreditation_id = None
        if "accreditation" in columns:
            given.add("accreditation_id")
            accreditation_id = _integer("accreditation", cells.get("accreditation"))
            if accreditation_id is not None and accreditation_id <= 0:
                raise _RowInvalid("accreditation", f"{accreditation_id} is not an accreditation number.")
        values["accreditation_id"] = accreditation_id
        return _Row(
            number=row.number,
            ref=ref,
            pair=pair,
            area_code=area_code,
            accreditation_id=accreditation_id,
            given=given,
            values=values,
        )


@dataclasses.dataclass
class _Plan:
    result: BulkImportResult
    creates: list[_Row]
    updates: list[_Row]


def _month(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def affected_rollup_keys(creates: Iterable[_Row], updates: Iterable[_Row]) -> frozenset[tuple[int, datetime.date]]:
    """(relationship id, month) of every created row, and of every updated row before
    and after the change: the intensity rollups this import makes stale."""
    keys = {(row.values["relationship_id"], _month(row.values["start_date"])) for row in creates}
    for row in updates:
        assert row.existing is not None
        keys.add((row.values["relationship_id"], _month(row.values["start_date"])))
        keys.add((row.existing["relationship_id"], _month(row.existing["start_date"])))
    return frozenset(keys)


def _changed_since(ref: str, expected: int | None, current: int | None) -> str:
    if expected is None:
        what = f"{ref!r} was created by someone else after the file was checked"
    elif current is None:
        what = f"{ref!r} is no longer there since the file was checked"
    else:
        what = f"{ref!r} was changed by someone else after the file was checked (version {expected} → {current})"
    return f"{what}; nothing was saved: upload the file again to see what it would change now."


def _plan(
    actor: User | None,
    rows: Iterable[ImportRow],
    *,
    lock: bool,
    expected_versions: Mapping[str, int | None] | None = None,
) -> _Plan:
    """Validate every row (not just up to the first error) and sort them into creates,
    updates and unchanged."""
    result = BulkImportResult()
    errors = result.errors
    validator = _Validator()
    if actor is not None and not is_writer(actor):
        errors.append(RowError(0, "", "Your role may not record activities."))
        return _Plan(result, [], [])

    parsed: list[_Row] = []
    first_row_of: dict[str, int] = {}
    columns: frozenset[str] | None = None
    for row in rows:
        result.rows += 1
        if columns is None:
            columns = frozenset(row.values)
        try:
            item = validator.row(row, columns)
        except _RowInvalid as invalid:
            errors.append(RowError(row.number, invalid.column, invalid.message))
            continue
        if item.ref in first_row_of:
            errors.append(
                RowError(
                    row.number,
                    "external_ref",
                    f"{item.ref!r} appears again: it was already on row {first_row_of[item.ref]}.",
                )
            )
            continue
        first_row_of[item.ref] = row.number
        parsed.append(item)

    # One query each for relationships, areas, accreditations and existing references.
    # Only the relationships the actor may see: another desk's is "not registered", as one
    # that does not exist is, so an import cannot tell the two apart.
    known = Relationship.objects.all() if actor is None else Relationship.objects.visible_to(actor)
    relationships = {(state_a, state_b): pk for pk, state_a, state_b in known.values_list("pk", "state_a", "state_b")}
    labels: dict[int, str] = {}
    writable: set[int] | None = (
        None
        if actor is None or actor.is_admin_role
        else set(writable_relationships(actor).values_list("pk", flat=True))
    )
    clearance = Classification.RESTRICTED if actor is None else actor.effective_clearance
    areas = {code: (pk, active) for pk, code, active in CooperationArea.objects.values_list("pk", "code", "is_active")}
    accreditation_ids = {item.accreditation_id for item in parsed if item.accreditation_id is not None}
    accreditations: dict[int, int] = {}
    if accreditation_ids:
        visible = Accreditation.objects.all() if actor is None else Accreditation.objects.visible_to(actor)
        accreditations = dict(visible.filter(pk__in=accreditation_ids).values_list("pk", "relationship_id"))
    existing_qs = Activity.objects.filter(external_ref__in=[item.ref for item in parsed])
    if lock:
        existing_qs = existing_qs.select_for_update()
    existing = {
        values["external_ref"]: values
        for values in existing_qs.values("id", "external_ref", "deleted_at", "version", *_WRITTEN)
    }
    # The releasability of every channel a row may end up with (named in the file, or kept
    # from the existing activity): an activity is never less restricted than its channel.
    channel_ids = accreditation_ids | {
        values["accreditation_id"] for values in existing.values() if values["accreditation_id"] is not None
    }
    channel_queryset = Accreditation.objects.filter(pk__in=channel_ids).order_by("pk")
    if lock:  # held until the commit, as services._lock_channel does for a single write
        channel_queryset = channel_queryset.select_for_update(no_key=True)
    channel_levels = dict(channel_queryset.values_list("pk", "releasability")) if channel_ids else {}

    def label(relationship_id: int) -> str:
        if relationship_id not in labels:
            pair = next(p for p, pk in relationships.items() if pk == relationship_id)
            labels[relationship_id] = " – ".join(sorted(str(countries.name(code)) for code in pair))
        return labels[relationship_id]

    def may_write(relationship_id: int, releasability: int) -> bool:
        return (writable is None or relationship_id in writable) and releasability <= clearance

    creates, updates = [], []
    for item in parsed:
        values = item.values
        relationship_id = relationships.get(item.pair)
        if relationship_id is None:
            names = " and ".join(str(countries.name(code)) for code in item.pair)
            errors.append(RowError(item.number, "state_a", f"No relationship between {names} is registered."))
            continue
        values["relationship_id"] = relationship_id
        area = areas.get(item.area_code)
        if area is None:
            errors.append(RowError(item.number, "area", f"{item.area_code!r} is not the code of a cooperation area."))
            continue
        values["area_id"] = area[0]
        current = existing.get(item.ref)
        if current is not None and not may_write(current["relationship_id"], current["releasability"]):
            # First, before anything is read from it: an activity the user may not change
            # (another desk's, above their clearance) lends the row no values, so no later
            # message can tell what it holds (its releasability, channel or version).
            errors.append(
                RowError(
                    item.number, "external_ref", f"{item.ref!r} is already used by an activity you may not change."
                )
            )
            continue
        version = current["version"] if current is not None else None
        if expected_versions is not None and expected_versions.get(item.ref) != version:
            errors.append(
                RowError(
                    item.number, "external_ref", _changed_since(item.ref, expected_versions.get(item.ref), version)
                )
            )
            continue
        result.versions[item.ref] = version
        if current is not None:
            # Columns the file does not have keep their current values.
            for name in _WRITTEN:
                if name not in item.given:
                    values[name] = current[name]
        else:
            for name, default in _DEFAULTS.items():
                values.setdefault(name, default)
        if values["releasability"] > clearance:
            errors.append(
                RowError(item.number, "releasability", "You may not record an activity above your clearance.")
            )
            continue
        if writable is not None and relationship_id not in writable:
            errors.append(
                RowError(item.number, "state_a", f"You may not record anything for {label(relationship_id)}.")
            )
            continue
        if item.accreditation_id is not None:
            owner = accreditations.get(item.accreditation_id)
            if owner is None:
                errors.append(
                    RowError(item.number, "accreditation", f"There is no accreditation {item.accreditation_id}.")
                )
                continue
            if owner != relationship_id:
                errors.append(
                    RowError(
                        item.number,
                        "accreditation",
                        f"Accreditation {item.accreditation_id} belongs to {label(owner)}, "
                        f"not to {label(relationship_id)}.",
                    )
                )
                continue
        channel = values["accreditation_id"]
        refusal = channel is not None and channel_refusal(
            channel_levels.get(channel, 0), values["releasability"], name=f"Accreditation {channel}"
        )
        if refusal:
            field = "accreditation" if "accreditation_id" in item.given else "releasability"
            errors.append(RowError(item.number, field, refusal))
            continue
        if current is None:
            if not area[1]:
                errors.append(RowError(item.number, "area", f"The area {item.area_code!r} is no longer in use."))
                continue
            creates.append(item)
            continue
        if current["deleted_at"] is not None:
            errors.append(
                RowError(item.number, "external_ref", f"The activity {item.ref!r} is deleted; restore it first.")
            )
            continue
        if all(values[name] == current[name] for name in _WRITTEN):
            result.unchanged += 1
            continue
        item.existing = current
        updates.append(item)

    errors.sort(key=lambda error: (error.row, error.column))
    result.created, result.updated = len(creates), len(updates)
    return _Plan(result, creates, updates)


# Writing -------------------------------------------------------------------------------

_STAGING_COLUMNS = ("existing_id", *_WRITTEN, "external_ref")


def _copy_rows(plan: _Plan) -> io.StringIO:
    """COPY input for the staging table: new rows without an id, changed rows with theirs."""
    buffer = io.StringIO()
    write: Callable[[Iterable[Any]], Any] = csv.writer(buffer).writerow
    null = "\\N"
    for item in (*plan.creates, *plan.updates):
        values = item.values
        write(
            [
                item.existing["id"] if item.existing is not None else null,
                *(null if values[name] is None else values[name] for name in _WRITTEN),
                item.ref,
            ]
        )
    buffer.seek(0)
    return buffer


def _write(actor: User | None, plan: _Plan) -> None:
    table = Activity._meta.db_table
    now = timezone.now()
    actor_id = actor.pk if actor is not None else None
    written = ", ".join(_WRITTEN)
    staged = ", ".join(f"s.{name}" for name in _WRITTEN)
    assignments = ", ".join(f"{name} = s.{name}" for name in _WRITTEN)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE activity_import_staging ON COMMIT DROP AS "
            f"SELECT id AS existing_id, {written}, external_ref FROM {table} WITH NO DATA"
        )
        cursor.copy_expert(
            f"COPY activity_import_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
            _copy_rows(plan),
        )
        if plan.creates:
            # This transaction adds its new rows to the rollups itself (below), so the
            # intensity outbox trigger need not record them.
            cursor.execute("SELECT set_config('attache.rollups_added_by_caller', 'on', true)")
            cursor.execute(
                f"INSERT INTO {table} ({written}, external_ref, version, created_at, updated_at, "
                "created_by_id, updated_by_id) "
                f"SELECT {staged}, s.external_ref, 1, %s, %s, %s, %s "
                "FROM activity_import_staging s WHERE s.existing_id IS NULL RETURNING id",
                [now, now, actor_id, actor_id],
            )
            inserted = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT set_config('attache.rollups_added_by_caller', 'off', true)")
            if len(inserted) != len(plan.creates):
                raise IntegrityError("Some rows were not inserted.")
            # New rows are added to the rollups in this transaction (cheaper than
            # recomputing their months, and exactly once: it commits with them), read
            # from the staging table rather than looked up again by id.
            add_staged_activities(staging_table="activity_import_staging", condition="existing_id IS NULL")
        if plan.updates:
            cursor.execute(
                f"UPDATE {table} AS a SET {assignments}, version = a.version + 1, updated_at = %s, "
                "updated_by_id = %s FROM activity_import_staging s WHERE a.id = s.existing_id",
                [now, actor_id],
            )
            if cursor.rowcount != len(plan.updates):
                raise IntegrityError("Some rows were not updated.")
            # Updated rows may have moved between months or relationships: recompute
            # the old and the new months once the import commits.
            schedule_refresh(affected_rollup_keys((), plan.updates))
        cursor.execute("DROP TABLE activity_import_staging")


@transaction.atomic
def activity_bulk_import(
    *,
    actor: User | None,
    rows: Iterable[ImportRow],
    dry_run: bool = False,
    expected_versions: Mapping[str, int | None] | None = None,
) -> BulkImportResult:
    """Validate every row, then (unless `dry_run`, and only if no row has an error) write
    them all in one transaction: new external references are created, changed ones
    updated (version bumped, updated_at/updated_by set), unchanged ones left alone.

    With any error nothing is written and `result.errors` lists every bad row. `actor=None`
    is the system itself. `result.rollup_keys` names the (relationship, month) keys the
    write touched. `expected_versions` (a dry run's `result.versions`) makes a row whose
    activity was created or changed since that dry run an error, so a commit never
    overwrites a change its report did not show.
    """
    plan = _plan(actor, rows, lock=not dry_run, expected_versions=expected_versions)
    result = plan.result
    if dry_run or result.errors:
        return result
    if not (plan.creates or plan.updates):
        result.committed = True
        return result
    try:
        with transaction.atomic(), audit_context(actor, "activity.import"):
            _write(actor, plan)
    except IntegrityError:
        # Someone created one of these references (or broke a rule the database
        # enforces) since the rows were checked. The savepoint is rolled back.
        result.created = result.updated = 0
        result.errors.append(
            RowError(0, "", "The activities changed while the file was being imported; nothing was saved. Try again.")
        )
        return result
    result.committed = True
    result.rollup_keys = affected_rollup_keys(plan.creates, plan.updates)
    return result
