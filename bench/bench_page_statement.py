"""The API list's page statement alone, on one connection: what PostgreSQL spends on it.

The statement is the one `GET /api/v1/activities/?area=education&status=conducted&page_size=100`
sends (caught on its way to `attache.prepared_statements.execute`), run here:
1. planning time (`EXPLAIN (SUMMARY)` of the statement as text, median of 200);
2. prepared, under `plan_cache_mode` = force_custom_plan (what `auto` chooses for it)
   and force_generic_plan, interleaved rounds: PostgreSQL CPU and wall time per run,
   and each mode's estimated cost, with `pg_prepared_statements`' count of generic plans
   under `auto`.
The generic plan is measured, not used: docs/decisions.md says why.
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

from bench.bench_api import LIST_QUERY, bench_token, cpu_seconds

ROUNDS = 6
RUNS = 300
MODES = ("force_custom_plan", "force_generic_plan")


def page_statement() -> tuple[str, tuple[Any, ...]]:
    from django.test import Client

    from attache import prepared_statements

    caught: list[tuple[str, tuple[Any, ...]]] = []
    real = prepared_statements.execute

    def catch(cursor: Any, sql: str, params: Any) -> None:
        caught.append((sql, tuple(params)))
        real(cursor, sql, params)

    prepared_statements.execute = catch
    try:
        response = Client().get(LIST_QUERY, HTTP_AUTHORIZATION=f"Token {bench_token()}")
    finally:
        prepared_statements.execute = real
    if response.status_code != 200 or len(caught) != 1:
        raise RuntimeError(f"expected one page statement, got {len(caught)} ({response.status_code})")
    return caught[0]


def main() -> None:
    import psycopg2
    from django.db import connection

    from attache.prepared_statements import numbered

    sql, params = page_statement()
    settings = connection.settings_dict
    server = psycopg2.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        password=settings["PASSWORD"] or None, dbname=settings["NAME"],
    )  # fmt: skip
    server.autocommit = True
    cursor = server.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    text = cursor.mogrify(sql, params).decode()

    planning = []
    for _ in range(200):
        cursor.execute("EXPLAIN (SUMMARY ON) " + text.replace("%", "%%"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
        planning.append(float(re.search(r"Planning Time: ([\d.]+) ms", plan).group(1)))  # type: ignore[union-attr]
    print(
        f"page statement: {len(sql):,} characters, {len(params)} values; planning {statistics.median(planning):.3f} ms"
    )

    cursor.execute(f"PREPARE page AS {numbered(sql)}")
    execute = f"EXECUTE page({', '.join(['%s'] * len(params))})"
    for _ in range(10):
        cursor.execute(execute, params)  # past the five custom plans PostgreSQL always makes first
    cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'page'")
    generic, custom = cursor.fetchone()
    print(f"plan_cache_mode = auto, after 10 runs: {generic} generic plans, {custom} custom plans")

    costs: dict[str, str] = {}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    for mode in MODES:
        cursor.execute(f"SET plan_cache_mode = {mode}")
        cursor.execute("EXPLAIN " + execute, params)
        costs[mode] = re.search(r"cost=[\d.]+\.\.([\d.]+)", cursor.fetchone()[0]).group(1)  # type: ignore[union-attr]
    for _ in range(ROUNDS):
        for mode in MODES:
            cursor.execute(f"SET plan_cache_mode = {mode}")
            started, started_cpu = time.perf_counter(), cpu_seconds([pid])
            for _ in range(RUNS):
                cursor.execute(execute, params)
                cursor.fetchall()
            cpu[mode].append((cpu_seconds([pid]) - started_cpu) / RUNS * 1000)
            wall[mode].append((time.perf_counter() - started) / RUNS * 1000)
    for mode in MODES:
        print(
            f"{mode:20} estimated cost {costs[mode]:>8}; PostgreSQL CPU {statistics.median(cpu[mode]):.2f} ms, "
            f"wall {statistics.median(wall[mode]):.2f} ms per run (medians of {ROUNDS} rounds of {RUNS})"
        )
    server.close()
