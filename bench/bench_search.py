"""Text search (`q`) over the 1,000,000-activity database: the web list and the API.

For each search, the match count and the median time through Django's test client with the
filter as it is and with its few-matches rewrite switched off (`FEW_SEARCH_MATCHES = 0`),
side by side in one run. A rare word is the case the rewrite is for (PostgreSQL assumes a
prefix matches 2 % of the table and walks the date index); a common word pays the extra
count. The user is the dashboards benchmark's manager (restricted clearance, every desk).
"""

from __future__ import annotations

import os
import statistics

from bench.bench_dashboards import bench_users, timed

# Each request of a rare word without the rewrite takes about two seconds.
RUNS = int(os.environ.get("BENCH_SEARCH_RUNS", "7"))
SEARCHES = (("english", "a rare word"), ("training", "a common word"))
PATHS = ("/activities/?q={}", "/api/v1/activities/?q={}")


def main() -> None:
    from django.test import Client

    from cooperation import filtersets
    from cooperation.models import Activity

    manager, _, _ = bench_users()
    client = Client()
    client.force_login(manager)
    few = filtersets.FEW_SEARCH_MATCHES
    print(f"median of {RUNS} requests after warm-up, each way")
    print(f"{'request':40} {'matches':>8} {'rewrite off':>12} {'as it is':>10} {'queries':>8}")
    for word, what in SEARCHES:
        matches = filtersets.ActivityFilterSet({"q": word}, queryset=Activity.objects.visible_to(manager)).qs.count()
        for template in PATHS:
            url = template.format(word)
            figures = {}
            for setting in (0, few):
                filtersets.FEW_SEARCH_MATCHES = setting
                try:
                    samples, _, queries, _ = timed(client, url, runs=RUNS)
                finally:
                    filtersets.FEW_SEARCH_MATCHES = few
                figures[setting] = (statistics.median(samples), queries)
            print(
                f"{url:40} {matches:8,d} {figures[0][0]:9.1f} ms {figures[few][0]:7.1f} ms {figures[few][1]:8d}"
                f"   ({what})",
                flush=True,
            )
