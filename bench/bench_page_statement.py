"""The API list's page statement alone, on one connection: what PostgreSQL spends on it.

The statement is the one `GET /api/v1/activities/?area=education&status=conducted&page_size=100`
sends (caught on its way to `attache.prepared_statements.execute`), and the next page's. Each
is run here, prepared, in three forms, interleaved rounds of each:
1. "values as parameters": every value a `$n` (how the list sent it before), under
   `plan_cache_mode = auto`, which plans each run for its values (custom plans);
2. the same, under `force_generic_plan` (measured, not used: a plan made without the
   filters' values could walk the whole date index for a rare relationship);
3. "filters written in": the filters' values in the statement's text, the cursor's
   as parameters — what the list sends now. Under `auto`, PostgreSQL uses one plan for
   a statement without parameters and decides by estimated cost for the next page's.
For each: PostgreSQL CPU and wall time per run, the estimated cost, and how many generic
and custom plans `auto` made (`pg_prepared_statements`). First the planning time
(`EXPLAIN (SUMMARY)` of the statement as text, median of 200).
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

from bench.bench_api import LIST_QUERY, bench_token, cpu_seconds

ROUNDS = 6
RUNS = 300


def page_statements(url: str) -> tuple[tuple[str, tuple[Any, ...]], tuple[str, tuple[Any, ...]], dict[str, Any]]:
    """(statement with every value a parameter, as the list sends it, the page's JSON)."""
    from django.test import Client

    from attache import prepared_statements
    from cooperation.api import pagination

    caught: list[tuple[str, tuple[Any, ...]]] = []
    written: set[str] = set()
    real_write, real_execute = prepared_statements.write_values, prepared_statements.execute

    def write(cursor: Any, sql: str, params: Any) -> Any:
        caught.append((sql, tuple(getattr(value, "value", value) for value in params)))
        text, values = real_write(cursor, sql, params)
        written.add(text)
        return text, values

    def execute(cursor: Any, sql: str, params: Any) -> None:
        if sql in written:  # the page statement (not the area codes' lookup)
            caught.append((sql, tuple(params)))
        real_execute(cursor, sql, params)

    pagination.STATEMENTS.clear()  # so that the list compiles its statement (and writes its values)
    prepared_statements.write_values, prepared_statements.execute = write, execute
    try:
        response = Client().get(url, HTTP_AUTHORIZATION=f"Token {bench_token()}")
    finally:
        prepared_statements.write_values, prepared_statements.execute = real_write, real_execute
    if response.status_code != 200 or len(caught) != 2:
        raise RuntimeError(f"expected one page statement, got {len(caught)} ({response.status_code})")
    return caught[0], caught[1], response.json()


def page_statement() -> tuple[str, tuple[Any, ...]]:
    """The first page's statement as the list sends it to `prepared_statements.execute`."""
    return page_statements(LIST_QUERY)[1]


def measure(cursor: Any, pid: int, name: str, url: str) -> None:
    from attache.prepared_statements import numbered

    (plain_sql, plain_params), (sql, params), _ = page_statements(url)
    text = cursor.mogrify(plain_sql, plain_params).decode()
    planning = []
    for _ in range(200):
        cursor.execute("EXPLAIN (SUMMARY ON) " + text.replace("%", "%%"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
        planning.append(float(re.search(r"Planning Time: ([\d.]+) ms", plan).group(1)))  # type: ignore[union-attr]
    print(
        f"{name}: {len(plain_sql):,} characters, {len(plain_params)} values, of which {len(params)} stay parameters"
        f" (the cursor's); planning {statistics.median(planning):.3f} ms"
    )

    forms = {  # label: (statement, values, plan_cache_mode)
        "values as parameters, auto": ("values_auto", plain_sql, plain_params, "auto"),
        "values as parameters, generic": ("values_generic", plain_sql, plain_params, "force_generic_plan"),
        "filters written in, auto": ("written", sql, params, "auto"),
    }
    for statement, form_sql, _, _ in forms.values():
        cursor.execute(f"PREPARE {statement} AS {numbered(form_sql)}")
    executes = {
        label: f"EXECUTE {statement}({', '.join(['%s'] * len(form_params))})" if form_params else f"EXECUTE {statement}"
        for label, (statement, _, form_params, _) in forms.items()
    }
    for label, (_, _, form_params, mode) in forms.items():
        cursor.execute(f"SET plan_cache_mode = {mode}")
        for _ in range(10):  # past the five custom plans PostgreSQL makes first
            cursor.execute(executes[label], form_params)
            cursor.fetchall()
    costs = {}
    for label, (_, _, form_params, mode) in forms.items():
        cursor.execute(f"SET plan_cache_mode = {mode}")
        cursor.execute("EXPLAIN " + executes[label], form_params)
        costs[label] = re.search(r"cost=[\d.]+\.\.([\d.]+)", cursor.fetchone()[0]).group(1)  # type: ignore[union-attr]
    cpu: dict[str, list[float]] = {label: [] for label in forms}
    wall: dict[str, list[float]] = {label: [] for label in forms}
    for _ in range(ROUNDS):
        for label, (_, _, form_params, mode) in forms.items():
            cursor.execute(f"SET plan_cache_mode = {mode}")
            started, started_cpu = time.perf_counter(), cpu_seconds([pid])
            for _ in range(RUNS):
                cursor.execute(executes[label], form_params)
                cursor.fetchall()
            cpu[label].append((cpu_seconds([pid]) - started_cpu) / RUNS * 1000)
            wall[label].append((time.perf_counter() - started) / RUNS * 1000)
    cursor.execute("SET plan_cache_mode = auto")
    cursor.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements")
    counts = {statement: (generic, custom) for statement, generic, custom in cursor.fetchall()}
    for label, (statement, _, _, _) in forms.items():
        print(
            f"  {label:30} estimated cost {costs[label]:>8}; PostgreSQL CPU {statistics.median(cpu[label]):.2f} ms, "
            f"wall {statistics.median(wall[label]):.2f} ms per run (medians of {ROUNDS} rounds of {RUNS})"
        )
        generic, custom = counts[statement]
        print(f"  {'':30} plans made: {generic} generic, {custom} custom")
    cursor.execute("DEALLOCATE ALL")


def main() -> None:
    import psycopg2
    from django.db import connection

    settings = connection.settings_dict
    server = psycopg2.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        password=settings["PASSWORD"] or None, dbname=settings["NAME"],
    )  # fmt: skip
    server.autocommit = True
    cursor = server.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    _, _, first = page_statements(LIST_QUERY)
    measure(cursor, pid, "first page", LIST_QUERY)
    measure(cursor, pid, "next page", first["next"])
    server.close()
