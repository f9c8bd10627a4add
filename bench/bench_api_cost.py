"""Where the API list's CPU goes, per request, in one process (no HTTP, no gunicorn).

`bench_api` measures requests per second under load; this one says what separates the
filtered list from the constant view, on three endpoints answered through Django's
WSGI handler, side by side in one run:
1. the constant view (`/bench/constant/`);
2. the list's floor: the constant view's path (middleware, token, permissions,
   throttles, ETag) answering with the list's own page statement, sent with the very
   values the list sends and its rows written as the list writes them — the list
   without its FilterSet, ORM and cursor links (its results are checked equal);
3. the filtered list (`bench_api.LIST_QUERY`), its page statement kept per process
   (cooperation/api/pagination.py `KeptStatements`);
4. the same list with no statement kept: each request builds and compiles its query.
For each: CPU of this process (Python) and of its PostgreSQL backend per request.
Then the list's Python time by part (each part timed in its own pass).

It runs in a child process, whose environment turns the benchmark views on and the
throttles' rates up before Django starts.
"""

from __future__ import annotations

import collections
import functools
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.bench_api import SERVER_ENV

ROUNDS = 5
REQUESTS = 400
PART_ROUNDS = 3
PART_REQUESTS = 200


def main() -> None:
    subprocess.run([sys.executable, "-m", "bench.bench_api_cost"], env={**os.environ, **SERVER_ENV}, check=True)


def child() -> None:
    from bench import setup

    setup.configure(os.environ["DATABASE_URL"])

    import django

    django.setup()

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from attache import prepared_statements
    from bench.bench_api import LIST_QUERY, bench_token, cpu_seconds
    from bench.bench_page_statement import page_statement
    from bench.views import ConstantView
    from cooperation.api import json_rows, pagination
    from cooperation.api.base import RenderedJsonResponse
    from cooperation.api.views import ActivityViewSet
    from cooperation.models import Activity

    application, token = WSGIHandler(), bench_token()

    def get(path: str) -> bytes:
        route, _, query = path.partition("?")
        status: list[str] = []
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr, "HTTP_AUTHORIZATION": f"Token {token}",
        }  # fmt: skip
        body = b"".join(application(environ, lambda code, headers, *_: status.append(code)))  # type: ignore[arg-type]
        if not status[0].startswith("200"):
            raise RuntimeError(f"{path}: {status[0]} {body[:200]!r}")
        return body

    sql, params = page_statement()
    source = json_rows.row_source(Activity, ActivityViewSet.json_fields)
    keys = ActivityViewSet.orderings[ActivityViewSet.default_ordering.removeprefix("-")]
    first_piece = 1 + len(keys) + 1  # after the page's pk and its ordering keys (which end with the pk)
    constant_get = ConstantView.get

    def floor_get(view: Any, request: Any) -> RenderedJsonResponse:
        with connection.cursor() as cursor:
            prepared_statements.execute(cursor, sql, params)
            records = cursor.fetchall()
        rows = source.plan.rows(records[:-1], first_piece)  # the last row only says there is a next page
        return RenderedJsonResponse(json_rows.page(None, None, rows))

    kept = pagination.KEPT_STATEMENTS
    # (path, the constant view's GET, page statements kept per process)
    endpoints: dict[str, tuple[str, Callable[..., Any], int]] = {
        "constant view": ("/bench/constant/", constant_get, kept),
        "page statement only": ("/bench/constant/", floor_get, kept),
        "filtered list": (LIST_QUERY, constant_get, kept),
        "list, none kept": (LIST_QUERY, constant_get, 0),
    }

    def answer(name: str) -> bytes:
        path, view_get, keep = endpoints[name]
        ConstantView.get = view_get  # type: ignore[method-assign]
        pagination.KEPT_STATEMENTS = keep
        if not keep:
            pagination.STATEMENTS.clear()
        return get(path)

    listed, floor = json.loads(answer("filtered list")), json.loads(answer("page statement only"))
    if floor["results"] != listed["results"] or len(listed["results"]) != 100:
        raise RuntimeError("the page statement alone does not give the list's rows")

    def backend() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid: int = cursor.fetchone()[0]
        return pid

    for name in endpoints:
        for _ in range(50):
            answer(name)
    python: dict[str, list[float]] = collections.defaultdict(list)
    postgres: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(ROUNDS):
        for name in endpoints:
            pid = backend()
            started, started_server = time.process_time(), cpu_seconds([pid])
            for _ in range(REQUESTS):
                answer(name)
            python[name].append((time.process_time() - started) / REQUESTS * 1000)
            postgres[name].append((cpu_seconds([pid]) - started_server) / REQUESTS * 1000)
            if backend() != pid:  # its CPU would be missing: SERVER_ENV's CONN_MAX_AGE is meant to prevent it
                raise RuntimeError(f"{name}: the database connection was replaced during a round")
    print(f"CPU per request, in one process (medians of {ROUNDS} rounds of {REQUESTS}):")
    totals = {}
    for name in endpoints:
        py, pg = statistics.median(python[name]), statistics.median(postgres[name])
        totals[name] = py + pg
        print(f"  {name:20} Python {py:.2f} ms + PostgreSQL {pg:.2f} ms = {py + pg:.2f} ms")
    constant = totals["constant view"]
    print(
        f"  constant ÷ page statement only {constant / totals['page statement only']:.2f}; "
        f"constant ÷ filtered list {constant / totals['filtered list']:.2f} (CPU; no HTTP or gunicorn on either side)"
    )
    print(
        f"  constant ÷ list with no statement kept {constant / totals['list, none kept']:.2f} "
        "(each request builds and compiles its page query)"
    )
    ConstantView.get = constant_get  # type: ignore[method-assign]
    list_parts(lambda: answer("filtered list"))


def list_parts(request: Callable[[], Any]) -> None:
    """The list's Python CPU by part: each part wrapped and timed in a pass of its own
    (a wrapper costs a few microseconds, so parts are timed apart from the totals)."""
    from rest_framework import views

    from cooperation.api import base, json_rows, pagination
    from cooperation.api.views import ActivityViewSet

    parts: list[tuple[str, Any, str]] = [
        ("authentication, permissions, throttles", views.APIView, "initial"),
        ("FilterSet (its values checked, area codes looked up)", base.FilterBackend, "valid_filterset"),
        ("statement terms (filters, visibility)", ActivityViewSet, "statement_terms"),
        ("page (kept statement, cursor, statement, rows, links)", pagination.KeysetPagination, "paginate_json"),
        ("  of which the statement (send, receive, rows' JSON)", json_rows, "read_page"),
        ("  of which the rows' JSON joined", json_rows.RowPlan, "rows"),
        ("  of which the cursor links", pagination.KeysetPagination, "_finish"),
        ("  of which compiling (none when the statement is kept)", json_rows, "page_statement"),
        ("body", json_rows, "page"),
    ]
    print(f"the filtered list's Python CPU by part (medians of {PART_ROUNDS} passes of {PART_REQUESTS}):")
    for label, owner, attribute in parts:
        spent: list[float] = []
        real = getattr(owner, attribute)
        for _ in range(PART_ROUNDS):
            total = [0.0]

            @functools.wraps(real)
            def timed(*args: Any, _real: Any = real, _total: list[float] = total, **kwargs: Any) -> Any:
                started = time.thread_time()
                try:
                    return _real(*args, **kwargs)
                finally:
                    _total[0] += time.thread_time() - started

            setattr(owner, attribute, timed)
            try:
                for _ in range(PART_REQUESTS):
                    request()
            finally:
                setattr(owner, attribute, real)
            spent.append(total[0] / PART_REQUESTS * 1000)
        print(f"  {label:56} {statistics.median(spent):.2f} ms")


if __name__ == "__main__":
    child()
