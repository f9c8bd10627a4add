"""Bulk import of 100,000 activities from CSV against PostgreSQL COPY of the same rows.

Import: the CSV file's bytes → `read_import_file` (decode, parse) → `activity_bulk_import`
(validate every row with set-based lookups, desk and clearance checks, then COPY into a
staging table and one INSERT … SELECT) as a desk officer covering every relationship.

COPY: the same 100,000 rows, already as table values in memory, `COPY`-ed straight into
cooperation_activity — the bare operation the import cannot beat.

Both run against the same 1,000,000-activity table, with its indexes and every trigger
on (audit history, sync feed, intensity outbox), each inside a transaction whose deferred
checks are run (SET CONSTRAINTS ALL IMMEDIATE) inside the timing and which is then rolled
back, so every round starts from the same state. Rounds alternate (COPY, import, COPY, import …); the best of each is
compared.
"""

from __future__ import annotations

import csv
import datetime
import io
import random
import time
import uuid

from bench import setup

ROWS = 100_000
ROUNDS = 2
GOAL = 0.3


def _bench_user() -> object:
    from accounts.models import User
    from accounts.services import user_create
    from cooperation.choices import Classification, Role
    from cooperation.models import Relationship
    from cooperation.services import desk_get_or_create

    desk = desk_get_or_create(name="Benchmark desk", relationships=Relationship.objects.all())
    user = User.objects.filter(username="bench-importer").first()
    if user is None:
        user, _ = user_create(
            username="bench-importer",
            role=Role.DESK_OFFICER,
            clearance=Classification.RESTRICTED,
            desks=[desk],
            validate=False,
        )
    return user


def _rows(run: str) -> tuple[bytes, io.StringIO, list[str]]:
    """The same rows twice: as an import file, and as COPY input for the table."""
    from cooperation.bulk import IMPORT_COLUMNS
    from cooperation.choices import ActivityKind, ActivityLevel, ActivityStatus, Classification
    from cooperation.models import CooperationArea, Relationship

    rng = random.Random(2016)
    relationships = list(Relationship.objects.values_list("pk", "state_a", "state_b"))
    areas = list(CooperationArea.objects.filter(is_active=True).values_list("pk", "code"))
    codes = {member.value: member.code for member in Classification}
    now = datetime.datetime.now(datetime.UTC).isoformat()
    file_buffer, copy_buffer = io.StringIO(), io.StringIO()
    file_writer, copy_writer = csv.writer(file_buffer), csv.writer(copy_buffer)
    file_writer.writerow(IMPORT_COLUMNS)
    copy_columns = [
        "relationship_id", "area_id", "title", "kind", "level", "status", "start_date", "end_date", "location",
        "participants", "counterpart", "description", "outcome", "releasability", "external_ref", "version",
        "created_at", "updated_at",
    ]  # fmt: skip
    first_day = datetime.date(2010, 1, 1)
    for index in range(ROWS):
        relationship_id, state_a, state_b = rng.choice(relationships)
        area_id, area_code = rng.choice(areas)
        kind = rng.choice(ActivityKind.values)
        level = rng.choice(ActivityLevel.values)
        status = rng.choice(ActivityStatus.values)
        start = first_day + datetime.timedelta(days=rng.randrange(6000))
        end = start + datetime.timedelta(days=rng.randrange(0, 14)) if rng.random() < 0.5 else None
        participants = rng.randrange(0, 200)
        releasability = rng.choice(Classification.values)
        title = f"{ActivityKind(kind).label} {index} (benchmark import)"
        ref = f"bench-import-{run}-{index}"
        file_writer.writerow(
            [ref, state_a, state_b, area_code, title, kind, level, status, start.isoformat(),
             end.isoformat() if end else "", "Minsk", participants, "Ministry of Defence", "", "",
             codes[releasability], ""]
        )  # fmt: skip
        copy_writer.writerow(
            [relationship_id, area_id, title, kind, level, status, start.isoformat(),
             end.isoformat() if end else "\\N", "Minsk", participants, "Ministry of Defence", "", "",
             releasability, ref, 1, now, now]
        )  # fmt: skip
    return file_buffer.getvalue().encode(), copy_buffer, copy_columns


def _time_copy(buffer: io.StringIO, columns: list[str]) -> float:
    from django.db import connection

    buffer.seek(0)
    started = time.perf_counter()
    with setup.rolled_back(), connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY cooperation_activity ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
        # Deferred work (foreign-key checks, the sync feed's commit stamp) counts too.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        elapsed = time.perf_counter() - started
    return elapsed


def time_import(data: bytes, actor: object, rows: int) -> float:
    """Seconds to import the CSV file `data` through the application (decode, parse,
    validate, write, deferred constraints), rolled back; it must create `rows` activities."""
    from django.db import connection

    from cooperation import bulk
    from cooperation.importers import read_import_file

    started = time.perf_counter()
    with setup.rolled_back():
        parsed = read_import_file(data)
        result = bulk.activity_bulk_import(actor=actor, rows=parsed.rows)  # type: ignore[arg-type]
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        elapsed = time.perf_counter() - started
        if not result.committed or result.created != rows:
            raise RuntimeError(f"The benchmark import failed: {result.errors[:5]}")
    return elapsed


def main() -> None:
    from django.conf import settings
    from django.db import connection

    from cooperation.models import Activity

    actor = _bench_user()
    run = uuid.uuid4().hex[:8]
    data, copy_buffer, columns = _rows(run)
    print(
        f"{ROWS:,} rows ({len(data) / 1_048_576:.1f} MB of CSV) into a table of "
        f"{Activity.objects.count():,} activities",
        flush=True,
    )
    settings.IMPORT_MAX_BYTES = max(settings.IMPORT_MAX_BYTES, len(data))
    copies, imports = [], []
    for round_number in range(1, ROUNDS + 1):
        copies.append(_time_copy(copy_buffer, columns))
        imports.append(time_import(data, actor, ROWS))
        print(f"  round {round_number}: COPY {copies[-1]:.2f} s, import {imports[-1]:.2f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM cooperation_activity WHERE external_ref LIKE %s", [f"bench-import-{run}-%"]
        )
        assert cursor.fetchone() == (0,), "the benchmark rows were not rolled back"
    copy_rate, import_rate = ROWS / min(copies), ROWS / min(imports)
    ratio = import_rate / copy_rate
    print(f"COPY:   {copy_rate:,.0f} rows/s (best of {ROUNDS})")
    print(f"import: {import_rate:,.0f} rows/s (best of {ROUNDS}; parse + validate + commit)")
    print(f"ratio:  {ratio:.2f} × COPY (goal ≥ {GOAL})  {'OK' if ratio >= GOAL else 'BELOW GOAL'}")
