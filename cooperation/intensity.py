"""The cooperation intensity index, as docs/intensity.md defines it, and its rollups.

One conducted activity scores

    score = w_area × w_level × (1 + log10(1 + participants)) × sqrt(min(days, 30))

with days = end − start + 1 (no end date: one day), rounded to six decimals, and counts
in the month of its start date. `activity_score` is the definition in Python; `SCORE_SQL`
is the same formula for set-based aggregation, and a test holds them together.

Rollups (weight set × relationship × area × month × releasability → conducted count,
score sum, pipeline count) are recomputed from the activities, or added to by the
transaction that inserted the rows, under one advisory lock, so running a refresh twice
or concurrently cannot double count:

* `schedule_refresh(keys)` — call inside the writing transaction with the
  (relationship id, month) keys it touched; one Celery task per transaction is sent on
  commit, none on rollback. The activity services call it.
* `refresh_rollups(keys=…)` — the task's work: delete and re-insert the rows of those keys.
* `add_inserted_activities(activity_ids=…)` — for bulk inserts: add the new rows'
  contributions inside the inserting transaction (exactly once: it commits with them).
* `rebuild_rollups()` — the nightly reconcile and `manage.py rebuild_intensity`.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import math
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import TextChoices
from django.db.transaction import TransactionManagementError
from kombu.exceptions import OperationalError as BrokerError

from cooperation.choices import PIPELINE_STATUSES, ActivityLevel, ActivityStatus
from cooperation.models import Activity, IntensityRollup, Relationship, WeightSet
from cooperation.models.intensity import DEFAULT_AREA_WEIGHT, LEVEL_WEIGHT_FIELDS, MAINTAINED_STATUSES

logger = logging.getLogger(__name__)

MAX_DAYS = 30
SCORE_DECIMALS = 6
SCORE_QUANTUM = Decimal(1).scaleb(-SCORE_DECIMALS)
# PostgreSQL turns a double into numeric with 15 significant digits (DBL_DIG) before
# rounding; the Python side does the same so both give the same six decimals.
_SIGNIFICANT_DIGITS = 15


# The score ---------------------------------------------------------------------------


def activity_days(start_date: datetime.date, end_date: datetime.date | None) -> int:
    """Calendar days an activity lasts, both ends included; no end date is one day."""
    return ((end_date or start_date) - start_date).days + 1


def activity_score(
    *,
    area_weight: Decimal | float,
    level_weight: Decimal | float,
    participants: int,
    start_date: datetime.date,
    end_date: datetime.date | None,
) -> Decimal:
    """The score of one conducted activity: the definition of the index."""
    if participants < 0:
        raise ValueError("participants cannot be negative")
    days = activity_days(start_date, end_date)
    if days < 1:
        raise ValueError("the end date cannot be before the start date")
    raw = float(area_weight) * float(level_weight) * (1 + math.log10(1 + participants)) * math.sqrt(min(days, MAX_DAYS))
    return Decimal(format(raw, f".{_SIGNIFICANT_DIGITS}g")).quantize(SCORE_QUANTUM, rounding=ROUND_HALF_UP)


def counts_as_conducted(activity: Activity) -> bool:
    return activity.deleted_at is None and activity.status == ActivityStatus.CONDUCTED


def counts_in_pipeline(activity: Activity) -> bool:
    return activity.deleted_at is None and activity.status in PIPELINE_STATUSES


def score_activity(
    activity: Activity, weight_set: WeightSet, area_weights: dict[int, Decimal] | None = None
) -> Decimal:
    """The score `activity` contributes under `weight_set`; 0 unless it counts as conducted."""
    if not counts_as_conducted(activity):
        return Decimal(0)
    if area_weights is None:
        area_weights = dict(weight_set.area_weights.values_list("area_id", "weight"))
    return activity_score(
        area_weight=area_weights.get(activity.area_id, DEFAULT_AREA_WEIGHT),
        level_weight=weight_set.level_weight(activity.level),
        participants=activity.participants,
        start_date=activity.start_date,
        end_date=activity.end_date,
    )


def _level_weight_sql(activity: str, weight_set: str) -> str:
    cases = " ".join(f"WHEN '{level}' THEN {weight_set}.{field}" for level, field in LEVEL_WEIGHT_FIELDS.items())
    return f"(CASE {activity}.level {cases} END)"


# The same formula over `cooperation_activity a`, `cooperation_weightset ws` and
# `cooperation_areaweight aw` (left-joined); the factors multiply in the same order as
# in activity_score so that the doubles agree to the last bit.
SCORE_SQL = (
    f"round((coalesce(aw.weight, {DEFAULT_AREA_WEIGHT})::float8 * {_level_weight_sql('a', 'ws')}::float8"
    " * (1 + log(1 + a.participants::float8))"
    f" * sqrt(least(coalesce(a.end_date, a.start_date) - a.start_date + 1, {MAX_DAYS})::float8))::numeric,"
    f" {SCORE_DECIMALS})"
)
_CONDUCTED = f"a.status = '{ActivityStatus.CONDUCTED}'"
_PIPELINE = "a.status IN ({})".format(", ".join(f"'{status}'" for status in PIPELINE_STATUSES))
_COUNTED = "a.status IN ({})".format(", ".join(f"'{s}'" for s in (ActivityStatus.CONDUCTED, *PIPELINE_STATUSES)))
_MAINTAINED = "ws.status IN ({})".format(", ".join(f"'{status}'" for status in MAINTAINED_STATUSES))
assert set(LEVEL_WEIGHT_FIELDS) == set(ActivityLevel.values)


# Periods -----------------------------------------------------------------------------


class Granularity(TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"
    YEAR = "year", "Year"


_MONTHS_PER_PERIOD = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}


def month_of(day: datetime.date) -> datetime.date:
    """The month an activity counts in: the first day of its start date's month."""
    return day.replace(day=1)


def add_months(month: datetime.date, count: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + count
    return datetime.date(index // 12, index % 12 + 1, 1)


def period_start(day: datetime.date, granularity: str) -> datetime.date:
    size = _MONTHS_PER_PERIOD[Granularity(granularity)]
    return datetime.date(day.year, (day.month - 1) // size * size + 1, 1)


def next_period(start: datetime.date, granularity: str) -> datetime.date:
    return add_months(start, _MONTHS_PER_PERIOD[Granularity(granularity)])


def period_starts(first: datetime.date, last: datetime.date, granularity: str) -> list[datetime.date]:
    """The periods from the one containing `first` to the one containing `last`."""
    current, end = period_start(first, granularity), period_start(last, granularity)
    starts = []
    while current <= end:
        starts.append(current)
        current = next_period(current, granularity)
    return starts


def period_label(start: datetime.date, granularity: str) -> str:
    if granularity == Granularity.YEAR:
        return f"{start.year}"
    if granularity == Granularity.QUARTER:
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return f"{start:%Y-%m}"


# Keys and scheduling -----------------------------------------------------------------

RollupKey = tuple[int, datetime.date]


def rollup_key(relationship_id: int, start_date: datetime.date) -> RollupKey:
    """The rollup key an activity of `relationship_id` starting on `start_date` counts under."""
    return (int(relationship_id), month_of(start_date))


def activity_key(activity: Activity) -> RollupKey:
    return rollup_key(activity.relationship_id, activity.start_date)


def encode_keys(keys: Iterable[RollupKey]) -> list[list[Any]]:
    """Keys as JSON for a task message: [[relationship id, "YYYY-MM-01"], …], sorted, unique."""
    return [[relationship_id, month.isoformat()] for relationship_id, month in sorted(set(keys))]


def decode_keys(payload: Iterable[Sequence[Any]]) -> list[RollupKey]:
    keys = set()
    for relationship_id, month in payload:
        day = datetime.date.fromisoformat(str(month))
        keys.add(rollup_key(int(relationship_id), day))
    return sorted(keys)


@dataclasses.dataclass
class _PendingRefresh:
    """Keys collected in one transaction; sent as one task when it commits."""

    hooks: list[Any]
    keys: set[RollupKey] = dataclasses.field(default_factory=set)
    sent: bool = False

    def send(self) -> None:
        if self.sent:
            return
        self.sent = True
        if not self.keys:
            return
        from cooperation.tasks import refresh_intensity_rollups

        try:
            refresh_intensity_rollups.delay(encode_keys(self.keys))
        except (BrokerError, OSError) as error:
            # The transaction has committed and its outbox rows with it: the next drain
            # (beat, every minute) refreshes these keys. The write must not fail for it.
            logger.warning(
                "Rollup refresh of %s keys not sent, the outbox keeps them for the next drain: %s",
                len(self.keys),
                error,
            )


def schedule_refresh(keys: Iterable[RollupKey], *, using: str = "default") -> None:
    """Refresh the rollups of `keys` once the current transaction commits.

    Call it inside the transaction that changed the activities, with every
    (relationship id, start date or month) key whose figures may have changed (on an
    update, the old and the new key); dates are reduced to their month. All keys
    scheduled within one transaction travel in ONE task, sent on commit; a
    rolled-back transaction sends nothing. Outside a transaction the
    task is sent at once. If the broker is unreachable a warning is logged and the
    write succeeds: the outbox rows its triggers left are drained once the broker is
    back (`drain_outbox`, sent by beat every minute).
    """
    keys = {rollup_key(relationship_id, day) for relationship_id, day in keys}
    if not keys:
        return
    conn = transaction.get_connection(using)
    pending: _PendingRefresh | None = getattr(conn, "_intensity_pending_refresh", None)
    if pending is None or pending.sent or not _registered(conn, pending, pending.send):
        pending = _PendingRefresh(hooks=conn.run_on_commit)
        conn._intensity_pending_refresh = pending
        pending.keys.update(keys)
        transaction.on_commit(pending.send, using=using, robust=True)
        return
    pending.keys.update(keys)


def _registered(conn: Any, state: Any, callback: Any) -> bool:
    """Whether `callback` of a per-transaction `state` still waits for the current commit.

    Django replaces `run_on_commit` with a new list whenever a transaction ends or a
    savepoint rolls back, so sharing the list proves it cheaply; after a savepoint
    rollback the (short) list is searched once.
    """
    if state.hooks is conn.run_on_commit:
        return True
    if any(registered == callback for _, registered, _ in conn.run_on_commit):
        state.hooks = conn.run_on_commit
        return True
    return False


# Recomputing -------------------------------------------------------------------------

# Every writer of rollup rows (refresh, rebuild, delta, switching the active weight set)
# holds one transaction-level advisory lock: writers take turns, and each statement
# after the lock sees every change committed before it was granted. One lock cannot
# deadlock, however many times a transaction takes it.
ROLLUP_LOCK = int.from_bytes(hashlib.blake2b(b"attache.intensity.rollups", digest_size=8).digest(), "big", signed=True)


def lock_rollups() -> None:
    """Wait for other writers of rollups; keep them out until the transaction ends."""
    if not connection.in_atomic_block:
        raise TransactionManagementError("Rollups are locked for a transaction: call inside transaction.atomic().")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        # The set-based statements below plan better without JIT compilation, which
        # costs more than it saves on these short queries.
        cursor.execute("SET LOCAL jit = off")


_ACTIVITY_COLUMNS = (
    "relationship_id, area_id, start_date, end_date, status, level, participants, releasability, deleted_at"
)
_AGGREGATE_SQL = f"""
    SELECT ws.id AS weight_set_id, a.relationship_id, a.area_id,
           date_trunc('month', a.start_date)::date AS month, a.releasability,
           count(*) FILTER (WHERE {_CONDUCTED}) AS conducted,
           coalesce(sum({SCORE_SQL}) FILTER (WHERE {_CONDUCTED}), 0) AS intensity,
           count(*) FILTER (WHERE {_PIPELINE}) AS pipeline
    FROM {{source}}
    JOIN cooperation_weightset ws ON ws.id = ANY(%(weight_sets)s)
    LEFT JOIN cooperation_areaweight aw ON aw.weight_set_id = ws.id AND aw.area_id = a.area_id
    WHERE a.deleted_at IS NULL AND {_COUNTED}
    GROUP BY ws.id, a.relationship_id, a.area_id, date_trunc('month', a.start_date), a.releasability
"""
_KEYS_SQL = "(SELECT DISTINCT * FROM unnest(%(relationships)s::bigint[], %(months)s::date[]) AS k(rel, month))"
# One index range scan per key (activity_rel_start_idx): fast for the few keys of a
# write, and never a scan of the whole table.
_SOURCES = {
    "keys": (
        f"{_KEYS_SQL} keys CROSS JOIN LATERAL ("
        f"SELECT {_ACTIVITY_COLUMNS} FROM cooperation_activity"
        " WHERE relationship_id = keys.rel AND start_date >= keys.month"
        " AND start_date < (keys.month + interval '1 month')::date OFFSET 0) a"
    ),
    "relationships": (
        f"(SELECT {_ACTIVITY_COLUMNS} FROM cooperation_activity WHERE relationship_id = ANY(%(relationships)s)) a"
    ),
    # The ids arrive as one array literal: 10,000 bound values would take longer to plan than to run.
    "activities": f"(SELECT {_ACTIVITY_COLUMNS} FROM cooperation_activity WHERE id = ANY(%(activities)s::bigint[])) a",
    "everything": "cooperation_activity a",
}
_ROLLUP_COLUMNS = "weight_set_id, relationship_id, area_id, month, releasability, conducted, intensity, pipeline"
_INSERT_SQL = f"""
    INSERT INTO cooperation_intensityrollup ({_ROLLUP_COLUMNS})
    SELECT {_ROLLUP_COLUMNS} FROM ({{aggregate}}) fresh
    WHERE fresh.weight_set_id IN (SELECT ws.id FROM cooperation_weightset ws WHERE {_MAINTAINED})
"""
_INSERT_KEYS_SQL = _INSERT_SQL.format(aggregate=_AGGREGATE_SQL.format(source=_SOURCES["keys"]))
_INSERT_RELATIONSHIPS_SQL = _INSERT_SQL.format(aggregate=_AGGREGATE_SQL.format(source=_SOURCES["relationships"]))
# Adding rows to the rollups: an upsert, fed in the order of the rollups' unique key
# (weight set, relationship, month, area, releasability — columns 1, 2, 4, 3, 5 of
# _ROLLUP_COLUMNS), so that consecutive rows land on the same index and heap pages:
# 15 % faster than the hash aggregate's order for a 10,000-row import.
_ADD_SQL = (
    _INSERT_SQL
    + " ORDER BY 1, 2, 4, 3, 5"
    + " ON CONFLICT (weight_set_id, relationship_id, month, area_id, releasability) DO UPDATE SET"
    " conducted = cooperation_intensityrollup.conducted + EXCLUDED.conducted,"
    " intensity = cooperation_intensityrollup.intensity + EXCLUDED.intensity,"
    " pipeline = cooperation_intensityrollup.pipeline + EXCLUDED.pipeline"
)
_ADD_ACTIVITIES_SQL = _ADD_SQL.format(aggregate=_AGGREGATE_SQL.format(source=_SOURCES["activities"]))
_DELETE_KEYS_SQL = (
    f"DELETE FROM cooperation_intensityrollup r USING {_KEYS_SQL} keys"
    " WHERE r.weight_set_id = ANY(%(weight_sets)s) AND r.relationship_id = keys.rel AND r.month = keys.month"
)
_DELETE_RELATIONSHIPS_SQL = (
    "DELETE FROM cooperation_intensityrollup"
    " WHERE weight_set_id = ANY(%(weight_sets)s) AND relationship_id = ANY(%(relationships)s)"
)
_DELETE_STALE_SQL = f"""
    DELETE FROM cooperation_intensityrollup r
    WHERE NOT EXISTS (SELECT 1 FROM cooperation_weightset ws WHERE ws.id = r.weight_set_id AND {_MAINTAINED})
       OR NOT EXISTS (SELECT 1 FROM cooperation_relationship rel WHERE rel.id = r.relationship_id)
       OR NOT EXISTS (SELECT 1 FROM cooperation_cooperationarea area WHERE area.id = r.area_id)
"""


@dataclasses.dataclass(frozen=True)
class RefreshResult:
    weight_set_ids: list[int]
    keys: int
    deleted: int
    inserted: int


def _weight_set_ids(weight_set_ids: Iterable[int] | None) -> list[int]:
    maintained = WeightSet.objects.maintained()
    if weight_set_ids is not None:
        maintained = maintained.filter(pk__in=list(weight_set_ids))
    return sorted(maintained.values_list("pk", flat=True))


@transaction.atomic
def refresh_rollups(*, keys: Iterable[RollupKey], weight_set_ids: Iterable[int] | None = None) -> RefreshResult:
    """Recompute the rollup rows of `keys` for every maintained weight set (or those given).

    Delete and re-insert under the rollup lock: safe to run twice or concurrently.
    """
    unique = sorted({rollup_key(relationship_id, month) for relationship_id, month in keys})
    lock_rollups()
    sets = _weight_set_ids(weight_set_ids)
    if not unique or not sets:
        return RefreshResult(weight_set_ids=sets, keys=len(unique), deleted=0, inserted=0)
    params: dict[str, Any] = {
        "relationships": [relationship_id for relationship_id, _ in unique],
        "months": [month for _, month in unique],
        "weight_sets": sets,
    }
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_KEYS_SQL, params)
        deleted = cursor.rowcount
        cursor.execute(_INSERT_KEYS_SQL, params)
        inserted = cursor.rowcount
    return RefreshResult(weight_set_ids=sets, keys=len(unique), deleted=deleted, inserted=inserted)


_TAKE_OUTBOX_SQL = (
    "DELETE FROM cooperation_intensityoutbox WHERE id IN "
    "(SELECT id FROM cooperation_intensityoutbox ORDER BY id LIMIT %s) RETURNING relationship_id, month"
)


@dataclasses.dataclass(frozen=True)
class DrainResult:
    taken: int
    keys: int
    inserted: int


def drain_outbox(*, extra_keys: Iterable[RollupKey] = (), batch: int = 5000) -> DrainResult:
    """Recompute the keys the triggers left in the outbox (and `extra_keys`), until it is empty.

    Each batch is one transaction that takes the rollup lock, removes the outbox rows it
    can see, and only then recomputes their keys: the recompute reads a later snapshot,
    so every change whose outbox row was removed is in it; rows of transactions not yet
    committed stay for the next drain. Safe to run twice or concurrently.
    """
    pending = {rollup_key(relationship_id, month) for relationship_id, month in extra_keys}
    taken = keys = inserted = 0
    while True:
        with transaction.atomic():
            lock_rollups()
            with connection.cursor() as cursor:
                cursor.execute(_TAKE_OUTBOX_SQL, [batch])
                rows = cursor.fetchall()
            batch_keys = pending | {rollup_key(relationship_id, month) for relationship_id, month in rows}
            pending = set()
            result = refresh_rollups(keys=batch_keys)
        taken += len(rows)
        keys += result.keys
        inserted += result.inserted
        if len(rows) < batch:
            return DrainResult(taken=taken, keys=keys, inserted=inserted)


@transaction.atomic
def _clear_outbox(relationship_ids: list[int] | None) -> int:
    """Forget outbox keys that a rebuild starting now will recompute anyway."""
    lock_rollups()
    with connection.cursor() as cursor:
        if relationship_ids is None:
            cursor.execute("DELETE FROM cooperation_intensityoutbox")
        else:
            cursor.execute(
                "DELETE FROM cooperation_intensityoutbox WHERE relationship_id = ANY(%s)", [relationship_ids]
            )
        return cursor.rowcount


@transaction.atomic
def refresh_relationships(
    *, relationship_ids: Iterable[int], weight_set_ids: Iterable[int] | None = None
) -> RefreshResult:
    """Recompute every month of these relationships (one transaction)."""
    relationships = sorted(set(relationship_ids))
    lock_rollups()
    sets = _weight_set_ids(weight_set_ids)
    if not relationships or not sets:
        return RefreshResult(weight_set_ids=sets, keys=0, deleted=0, inserted=0)
    params: dict[str, Any] = {"relationships": relationships, "weight_sets": sets}
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_RELATIONSHIPS_SQL, params)
        deleted = cursor.rowcount
        cursor.execute(_INSERT_RELATIONSHIPS_SQL, params)
        inserted = cursor.rowcount
    return RefreshResult(weight_set_ids=sets, keys=0, deleted=deleted, inserted=inserted)


def add_inserted_activities(*, activity_ids: Iterable[int]) -> int:
    """Add activities inserted by the current transaction to the rollups, in that transaction.

    For bulk imports that insert rows with SQL or `bulk_create` (the services schedule
    refreshes themselves). Adding is far cheaper than recomputing the months they fall
    in, and it is exactly once because it commits or rolls back with the rows
    themselves. Call it once, just before the transaction ends (it holds the rollup
    lock until then), with ids that no refresh has counted yet: rows this transaction
    inserted. Ids already added in this transaction are ignored. Rows updated or
    deleted by the import need `schedule_refresh` instead. Returns the rollup rows
    written.
    """
    if not connection.in_atomic_block:
        raise TransactionManagementError("add_inserted_activities must run in the transaction that inserted them.")
    added: _AddedActivities | None = getattr(connection, "_intensity_added_activities", None)
    if added is None or not _registered(connection, added, added.close):
        added = _AddedActivities(hooks=connection.run_on_commit)
        connection._intensity_added_activities = added  # type: ignore[attr-defined]
        transaction.on_commit(added.close)
    ids = sorted(set(map(int, activity_ids)) - added.ids)
    if not ids:
        return 0
    lock_rollups()
    sets = _weight_set_ids(None)
    if not sets:
        return 0
    with connection.cursor() as cursor:
        literal = "{" + ",".join(map(str, ids)) + "}"
        cursor.execute(_ADD_ACTIVITIES_SQL, {"activities": literal, "weight_sets": sets})
        written = cursor.rowcount
    added.ids.update(ids)
    return written


def add_staged_activities(*, staging_table: str, condition: str = "TRUE") -> int:
    """Add rows the current transaction has just inserted to the rollups, reading their
    values from the import's own staging table instead of looking the new rows up by id.

    Same contract as `add_inserted_activities` (in the inserting transaction, once per
    inserted row, holding the rollup lock until commit), for a caller that has the rows'
    values at hand: `staging_table` must have the activity columns the score depends on,
    and `condition` (SQL over its columns) selects exactly the rows inserted. Both are the
    caller's constants, never user input. Returns the rollup rows written.
    """
    if not connection.in_atomic_block:
        raise TransactionManagementError("add_staged_activities must run in the transaction that inserted them.")
    lock_rollups()
    sets = _weight_set_ids(None)
    if not sets:
        return 0
    source = (
        "(SELECT relationship_id, area_id, start_date, end_date, status, level, participants, releasability, "
        f"NULL::timestamptz AS deleted_at FROM {staging_table} WHERE {condition}) a"
    )
    sql = _ADD_SQL.format(aggregate=_AGGREGATE_SQL.format(source=source))
    with connection.cursor() as cursor:
        cursor.execute(sql, {"weight_sets": sets})
        return cursor.rowcount


@dataclasses.dataclass
class _AddedActivities:
    """Ids added to the rollups by the current transaction (see `_PendingRefresh`)."""

    hooks: list[Any]
    ids: set[int] = dataclasses.field(default_factory=set)

    def close(self) -> None:
        self.ids.clear()


@transaction.atomic
def delete_stale_rollups() -> int:
    """Drop rows of weight sets neither active nor being activated, and rows whose
    relationship or area no longer exists (deleted with SQL, bypassing the ORM's cascade)."""
    lock_rollups()
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_STALE_SQL)
        return cursor.rowcount


@dataclasses.dataclass(frozen=True)
class RebuildResult:
    weight_set_ids: list[int]
    relationships: int
    rows: int
    stale_deleted: int


def rebuild_rollups(
    *,
    weight_set_ids: Iterable[int] | None = None,
    relationship_ids: Iterable[int] | None = None,
    chunk_size: int = 25,
) -> RebuildResult:
    """Recompute the rollups of every relationship (or those given) from scratch.

    One transaction per chunk of relationships, so refreshes go on in between and
    readers see each relationship either before or after, never half.
    """
    sets = _weight_set_ids(weight_set_ids)
    relationships = sorted(
        set(relationship_ids) if relationship_ids is not None else Relationship.objects.values_list("pk", flat=True)
    )
    if weight_set_ids is None:
        # Every maintained set is rebuilt below, from snapshots later than this one.
        _clear_outbox(None if relationship_ids is None else relationships)
    rows = 0
    for start in range(0, len(relationships), chunk_size):
        result = refresh_relationships(relationship_ids=relationships[start : start + chunk_size], weight_set_ids=sets)
        rows += result.inserted
    stale = delete_stale_rollups() if weight_set_ids is None and relationship_ids is None else 0
    return RebuildResult(weight_set_ids=sets, relationships=len(relationships), rows=rows, stale_deleted=stale)


# A fresh aggregation, for checks ---------------------------------------------------------

RollupFigures = tuple[int, Decimal, int]


def fresh_aggregation(*, weight_set_id: int) -> dict[tuple[int, int, datetime.date, int], RollupFigures]:
    """What the rollups of `weight_set_id` must hold, computed straight from the activities.

    Keys are (relationship id, area id, month, releasability); values (conducted, intensity, pipeline).
    """
    sql = _AGGREGATE_SQL.format(source=_SOURCES["everything"])
    with connection.cursor() as cursor:
        cursor.execute(sql, {"weight_sets": [weight_set_id]})
        return {
            (relationship_id, area_id, month, releasability): (conducted, intensity, pipeline)
            for _, relationship_id, area_id, month, releasability, conducted, intensity, pipeline in cursor.fetchall()
        }


def stored_rollups(*, weight_set_id: int) -> dict[tuple[int, int, datetime.date, int], RollupFigures]:
    rows = IntensityRollup.objects.filter(weight_set_id=weight_set_id).values_list(
        "relationship_id", "area_id", "month", "releasability", "conducted", "intensity", "pipeline"
    )
    return {
        (relationship_id, area_id, month, releasability): (conducted, intensity, pipeline)
        for relationship_id, area_id, month, releasability, conducted, intensity, pipeline in rows
    }
