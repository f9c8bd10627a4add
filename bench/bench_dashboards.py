"""Managers' dashboards on the 1,000,000-activity database, answered server-side.

Goal (issue 6): the overview and a relationship's dashboard in at most 300 ms at the median.
Each page is requested through Django's test client in this process — URL routing,
middleware (session, authentication, CSP…), the view, its queries and the template — and
timed from request to the last byte of the response; no network, no browser. Printed side
by side in one run: the median and 90th percentile of each page, the ratio of the median to
the 300 ms goal, the median CPU time of this process per request (the Python side;
PostgreSQL's work is in the wall-clock figure only), the number of SQL queries, and the
home page (the floor every page pays). The load average is printed before and after: on
the shared 2-core machine, wall-clock figures grow with other people's work.

The users are a manager with restricted clearance (every relationship, every activity) and
a desk officer with internal clearance whose desk covers the busiest relationship.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "30"))
WARMUP = 3
GOAL_MS = 300.0
MONTHLY = "granularity=month&start=2016-01-01&end=2025-12-31"


def bench_users() -> tuple[Any, Any, int]:
    from django.db.models import Sum

    from accounts.models import User
    from accounts.services import user_create
    from cooperation.choices import Classification, Role
    from cooperation.models import Desk, IntensityRollup

    busiest = (
        IntensityRollup.objects.values("relationship_id")
        .annotate(conducted=Sum("conducted"))
        .order_by("-conducted")
        .first()
    )
    assert busiest is not None, "the benchmark database has no rollups: run `manage.py rebuild_intensity`"
    relationship_id = busiest["relationship_id"]
    manager = User.objects.filter(username="bench-dashboard-manager").first()
    if manager is None:
        manager, _ = user_create(
            username="bench-dashboard-manager", role=Role.MANAGER, clearance=Classification.RESTRICTED, validate=False
        )
    desk, _ = Desk.objects.get_or_create(name="Benchmark desk")
    desk.relationships.set([relationship_id])
    officer = User.objects.filter(username="bench-dashboard-officer").first()
    if officer is None:
        officer, _ = user_create(
            username="bench-dashboard-officer",
            role=Role.DESK_OFFICER,
            clearance=Classification.INTERNAL,
            desks=[desk],
            validate=False,
        )
    return manager, officer, relationship_id


def timed(client: Any, url: str, runs: int = RUNS) -> tuple[list[float], list[float], int, int]:
    """Milliseconds per request (after a warm-up) as wall-clock and as this process's CPU
    time (PostgreSQL's share is not in it), the query count and the response size."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def fetch() -> tuple[int, bytes]:
        response = client.get(url)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, content

    for _ in range(WARMUP):
        status, _content = fetch()
        assert status == 200, f"{url} answered {status}"
    with CaptureQueriesContext(connection) as queries:
        _, content = fetch()
    query_count = len(queries.captured_queries)  # now: the next request empties the log
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        fetch()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return samples, cpu, query_count, len(content)


def main() -> None:
    from django.test import Client
    from django.urls import reverse

    from cooperation.models import Relationship

    manager, officer, relationship_id = bench_users()
    relationship = Relationship.objects.get(pk=relationship_id)
    visible = Relationship.objects.visible_to(manager).count()
    print(f"{visible} relationships visible to the manager; busiest: {relationship.label} (#{relationship_id})")
    print(f"{RUNS} timed runs per page after {WARMUP} warm-up runs; goal: median ≤ {GOAL_MS:.0f} ms\n")

    dashboard = reverse("dashboards:relationship", kwargs={"pk": relationship_id})
    pages = [
        ("home page (floor)", manager, reverse("home")),
        ("overview, manager", manager, reverse("dashboards:overview")),
        ("overview, desk officer", officer, reverse("dashboards:overview")),
        ("relationship, by quarter (default range)", manager, dashboard),
        ("relationship, by month, 2016–2025", manager, f"{dashboard}?{MONTHLY}"),
        ("comparison (heatmap + two quarters)", manager, reverse("dashboards:comparison")),
        ("overview CSV", manager, reverse("dashboards:overview_csv")),
    ]
    clients: dict[int, Client] = {}
    print("load average before: {:.1f} {:.1f} {:.1f} (2 cores)".format(*os.getloadavg()))
    print(f"{'page':44} {'median':>9} {'p90':>9} {'÷ goal':>7} {'CPU here':>9} {'queries':>8} {'size':>9}")
    for label, user, url in pages:
        client = clients.get(user.pk)
        if client is None:
            client = clients[user.pk] = Client()
            client.force_login(user)
        samples, cpu, queries, size = timed(client, url)
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(
            f"{label:44} {median:7.1f} ms {p90:7.1f} ms {median / GOAL_MS:7.2f} {statistics.median(cpu):6.1f} ms"
            f" {queries:8d} {size / 1024:7.0f} KB",
            flush=True,
        )
    print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
