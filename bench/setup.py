"""Prepare a benchmark database: migrated, with synthetic activities loaded once.

`make bench` uses BENCH_DATABASE_URL with 1,000,000 activities; `make load` uses
LOAD_DATABASE_URL with fewer (bench/load.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from scripts.check_database import ensure_database

BENCH_DIR = str(Path(__file__).resolve().parent)
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/attache_bench"
SYNTHETIC_ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
SEED = 2016


def configure(url: str | None = None) -> None:
    """Point Django at the benchmark database; call before django.setup()."""
    os.environ["DATABASE_URL"] = url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attache.settings")
    os.environ.setdefault("DJANGO_ENV", "development")
    os.environ["DEBUG"] = "false"


def seed(rows: int) -> None:
    """The demo case and `rows` synthetic activities (seed SEED), loaded once."""
    import django
    from django.core.management import call_command

    from cooperation.models import Activity

    present = Activity.objects.filter(external_ref__startswith=f"synthetic-{SEED}-").count()
    if present < rows:
        print(f"Loading {rows:,} synthetic activities (once)…", flush=True)
        call_command("seed_demo", verbosity=0)
        call_command("seed_demo", synthetic=rows, seed=SEED)
        with django.db.connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def prepare(url: str | None = None, rows: int = SYNTHETIC_ROWS) -> None:
    configure(url)
    ensure_database(os.environ["DATABASE_URL"])

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", "--noinput", verbosity=0)
    seed(rows)


def vacuum() -> None:
    """VACUUM ANALYZE the database before a benchmark runs.

    The import and intensity benchmarks insert hundreds of thousands of rows in
    transactions they roll back. Until vacuum removes those dead rows, planning any query
    that joins on an activity's id (merge-join estimates read the live end of the index)
    walks them: the API list's planning took 40–60 ms instead of 0.3 ms after a few import
    rounds. Every benchmark starts from a vacuumed database, as autovacuum would leave it.
    """
    import time

    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    print(f"(VACUUM ANALYZE: {time.monotonic() - started:.1f} s)", flush=True)


class _Rollback(Exception):
    pass


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction that is always rolled back: a benchmark writes, measures, keeps nothing.
    Inside another transaction it is a savepoint, rolled back the same way."""
    from django.db import transaction

    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass
