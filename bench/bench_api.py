"""REST API v1 under load: gunicorn on 127.0.0.1 against the 1,000,000-activity database.

Three ratios, measured side by side in one run:
1. a filtered list, page of 100: requests per second ÷ those of a bare DRF view returning a
   constant 100-item JSON on the same server (goal ≥ 0.5); then the same when every request
   brings a set of filters no process has seen (its page statement compiled and planned
   afresh: the list keeps statements per set of filters, cooperation/api/pagination.py);
2. median latency of a deep cursor page ÷ of the first page (goal ≤ 1.5);
3. streamed CSV of every row: rows per second ÷ those of `COPY … TO STDOUT` (goal ≥ 0.25),
   with the gunicorn worker's memory sampled throughout (flat: no growth with rows).

The load generator is threads (http.client), in this process; gunicorn's sync workers close
each connection after its response, for both endpoints alike. Each round also reports the CPU
time per request of the gunicorn workers, of the PostgreSQL backends serving them and of the
load generator, so the split between Python and the database is measured, not guessed.
"""

from __future__ import annotations

import datetime
import http.client
import itertools
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import servers

CLIENTS = 8
SECONDS = 6
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "7"))
LIST_QUERY = "/api/v1/activities/?area=education&status=conducted&page_size=100"


def bench_token() -> str:
    from accounts.models import User
    from accounts.services import token_issue, user_create
    from cooperation.choices import Classification

    user = User.objects.filter(username="bench-api-client").first()
    if user is None:
        user, _ = user_create(
            username="bench-api-client", role="api_client", clearance=Classification.RESTRICTED, validate=False
        )
    return token_issue(user=user, name="benchmark", days=1)[1]


# The benchmark's server: the constant view served, no throttle refusing, quiet logs.
SERVER_ENV = {
    "API_BENCHMARK_VIEWS": "true",
    "API_THROTTLE_TOKEN": "100000000/min",
    "API_THROTTLE_USER": "100000000/min",
    "API_THROTTLE_ANON": "100000000/min",
    "LOG_LEVEL": "WARNING",
    # Django replaces a connection older than CONN_MAX_AGE (60 s) at a request's end: the
    # old backend's CPU would then drop out of the measurement (it is read per backend).
    "CONN_MAX_AGE": "3600",
}


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SERVER_ENV}
    # The production settings (workers: GUNICORN_WORKERS, else 2 × cores + 1), except no
    # worker recycling in the middle of a measurement, no access log, room for the CSV.
    return servers.start_gunicorn(
        port, env, extra_args=("--timeout", "600", "--max-requests", "0", "--access-logfile", "/dev/null")
    )


def get(port: int, path: str, headers: dict[str, str], conn: http.client.HTTPConnection | None = None) -> bytes:
    connection = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return body


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def backend_pids() -> list[int]:
    """The PostgreSQL backends of the benchmark database other than this process's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def measured(
    port: int, path: str | Callable[[], str], headers: dict[str, str], master: int
) -> tuple[float, tuple[float, float, float]]:
    """Requests per second, and CPU milliseconds per request: (workers, PostgreSQL, load generator)."""
    workers, backends = servers.child_pids(master), backend_pids()
    before = (cpu_seconds(workers), cpu_seconds(backends), sum(os.times()[:2]))
    rate = requests_per_second(port, path, headers)
    after = (cpu_seconds(workers), cpu_seconds(backends), sum(os.times()[:2]))
    count = rate * SECONDS
    return rate, tuple((end - start) / count * 1000 for start, end in zip(before, after, strict=True))  # type: ignore[return-value]


def requests_per_second(port: int, path: str | Callable[[], str], headers: dict[str, str]) -> float:
    """Requests per second of CLIENTS threads asking for `path` (or `path()`, afresh each time)."""
    done = [0] * CLIENTS
    stop = time.monotonic() + SECONDS

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop:
            get(port, path if isinstance(path, str) else path(), headers, conn)
            done[index] += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def new_filters() -> Callable[[], str]:
    """The filtered list with another set of filters each time: a bound on the start date
    that every activity meets, a day later per request. No process has compiled (or
    PostgreSQL planned) such a statement before, so nothing is kept for it."""
    days = itertools.count()
    end = datetime.date(2100, 1, 1)
    return lambda: f"{LIST_QUERY}&start_date_before={end + datetime.timedelta(days=next(days))}"


def median_latency(port: int, path: str, headers: dict[str, str], count: int = 60) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    get(port, path, headers, conn)  # warm
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        get(port, path, headers, conn)
        timings.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(timings)


def deep_cursor_path() -> tuple[str, int]:
    from cooperation.api.pagination import encode_cursor
    from cooperation.models import Activity

    queryset = (
        Activity.objects.alive().filter(area__code="education", status="conducted").order_by("-start_date", "-id")
    )
    total = queryset.count()
    row = queryset.values("start_date", "id")[int(total * 0.9)]
    cursor = encode_cursor({"o": "-start_date", "v": [row["start_date"], row["id"]]})
    return f"{LIST_QUERY}&cursor={cursor}", int(total * 0.9 / 100)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def csv_rows_per_second(port: int, headers: dict[str, str], master: int) -> tuple[float, int, list[float]]:
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(max((rss_mib(pid) for pid in servers.child_pids(master)), default=0.0))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.monotonic()
    conn.request("GET", "/api/v1/activities/?format=csv&ordering=start_date", headers=headers)
    response = conn.getresponse()
    lines = 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")  # a "\r\n" may straddle two chunks; the data has no other line breaks
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    conn.close()
    rows = lines - 1  # the header
    return rows / elapsed, rows, samples


def copy_rows_per_second() -> tuple[float, int]:
    from django.db import connection

    class Sink:
        lines = 0

        def write(self, data: Any) -> int:
            self.lines += data.count(b"\n") if isinstance(data, bytes) else data.count("\n")
            return len(data)

    sink = Sink()
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.copy_expert(
            "COPY (SELECT * FROM cooperation_activity WHERE deleted_at IS NULL ORDER BY start_date, id) "
            "TO STDOUT WITH (FORMAT csv, HEADER)",
            sink,
        )
    elapsed = time.monotonic() - started
    return (sink.lines - 1) / elapsed, sink.lines - 1


def main() -> None:
    headers = {"Authorization": f"Token {bench_token()}"}
    port = servers.free_port()
    server = start_server(port)
    try:
        for _ in range(20):
            for path in ("/bench/constant/", LIST_QUERY):
                get(port, path, headers)  # warm the workers' code paths
        print(
            f"gunicorn (gunicorn.conf.py) with {len(servers.child_pids(server.pid))} sync workers, "
            f"{CLIENTS} client threads, {os.cpu_count()} cores",
            flush=True,
        )
        # Alternating rounds, so that other work on the machine weighs on both sides alike.
        ratios: list[float] = []
        cpu: dict[str, list[tuple[float, float, float]]] = {"list": [], "constant": []}
        for round_number in range(1, ROUNDS + 1):
            load = os.getloadavg()[0]
            constant_rps, constant_cpu = measured(port, "/bench/constant/", headers, server.pid)
            list_rps, list_cpu = measured(port, LIST_QUERY, headers, server.pid)
            cpu["constant"].append(constant_cpu)
            cpu["list"].append(list_cpu)
            ratios.append(list_rps / constant_rps)
            print(
                f"round {round_number}: filtered list (page of 100) {list_rps:.0f} req/s; "
                f"constant view {constant_rps:.0f} req/s; ratio {ratios[-1]:.2f} (load average {load:.2f})",
                flush=True,
            )
        print(f"  median ratio {statistics.median(ratios):.2f} over {ROUNDS} rounds (goal >= 0.5)")
        # The same list when each request brings a set of filters never seen before.
        fresh = new_filters()
        fresh_ratios = []
        for _ in range(3):
            constant_rps, _ = measured(port, "/bench/constant/", headers, server.pid)
            fresh_rps, _ = measured(port, fresh, headers, server.pid)
            fresh_ratios.append(fresh_rps / constant_rps)
        print(
            f"  every request a new set of filters (no statement kept, none planned before): "
            f"ratio {statistics.median(fresh_ratios):.2f} (median of 3 rounds: "
            f"{', '.join(f'{ratio:.2f}' for ratio in fresh_ratios)})"
        )
        for name, samples in cpu.items():
            workers, database, client = (statistics.median(part) for part in zip(*samples, strict=True))
            print(
                f"  CPU per request, {name}: gunicorn workers {workers:.2f} ms, PostgreSQL {database:.2f} ms, "
                f"load generator {client:.2f} ms (medians of the rounds)"
            )

        deep_path, page_number = deep_cursor_path()
        first = median_latency(port, LIST_QUERY, headers)
        deep = median_latency(port, deep_path, headers)
        print(f"median latency: first page {first * 1000:.1f} ms, cursor page ~{page_number} {deep * 1000:.1f} ms")
        print(f"  ratio {deep / first:.2f} (goal <= 1.5)")

        copy_rps, copy_rows = copy_rows_per_second()
        csv_rps, csv_rows, rss = csv_rows_per_second(port, headers, server.pid)
        print(
            f"CSV: {csv_rows:,} rows at {csv_rps:,.0f} rows/s; "
            f"COPY TO STDOUT: {copy_rows:,} rows at {copy_rps:,.0f} rows/s"
        )
        print(f"  ratio {csv_rps / copy_rps:.2f} (goal >= 0.25)")
        if rss:
            quarter = max(1, len(rss) // 4)
            print(
                f"  worker RSS during the stream: first quarter max {max(rss[:quarter]):.0f} MiB, "
                f"last quarter max {max(rss[-quarter:]):.0f} MiB, overall max {max(rss):.0f} MiB ({len(rss)} samples)"
            )
    finally:
        servers.stop(server)
