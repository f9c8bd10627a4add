"""Backup restore drill: dump a seeded database, restore it into a fresh one, compare.

    python scripts/restore_drill.py [--synthetic N]

Uses the PostgreSQL server of DATABASE_URL (default the local one) and two scratch
databases, attache_drill_<pid>_source and attache_drill_<pid>_restored, dropped afterwards. Every
table's row count must match, and every audit-history table must match row for row
(an md5 over its ordered rows). Exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import environ
import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
# Per-run names, so that drills running side by side (CI, several checkouts) never collide.
SOURCE, RESTORED = f"attache_drill_{os.getpid()}_source", f"attache_drill_{os.getpid()}_restored"


def connect(config: dict[str, object], dbname: str) -> Any:
    return psycopg2.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname=dbname,
    )


def recreate(config: dict[str, object], *names: str, drop_only: bool = False) -> None:
    connection = connect(config, "postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop_only:
                cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def fingerprint(config: dict[str, object], dbname: str) -> dict[str, tuple[int, str | None]]:
    """Row count of every table; for history tables also an md5 of all rows in order."""
    connection = connect(config, dbname)
    result: dict[str, tuple[int, str | None]] = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        for (table,) in cursor.fetchall():
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            count = cursor.fetchone()[0]
            digest = None
            if table.endswith("event") or table in {"pghistory_context", "accounts_securityevent"}:
                key = "pgh_id" if table.endswith("event") and table != "accounts_securityevent" else "id"
                cursor.execute(
                    sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY t.{})) FROM {} t").format(
                        sql.Identifier(key), sql.Identifier(table)
                    )
                )
                digest = cursor.fetchone()[0]
            result[table] = (count, digest)
    connection.close()
    return result


def env_for(config: dict[str, object], dbname: str) -> dict[str, str]:
    user = config["USER"] or ""
    password = f":{config['PASSWORD']}" if config["PASSWORD"] else ""
    host = config["HOST"] or "127.0.0.1"
    port = config["PORT"] or 5432
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{dbname}",
        "DJANGO_ENV": "development",
        "PGPASSWORD": str(config["PASSWORD"] or ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=20_000)
    args = parser.parse_args()
    config = environ.Env.db_url_config(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/attache"))
    python = sys.executable
    recreate(config, SOURCE, RESTORED)
    try:
        source_env = env_for(config, SOURCE)
        for command in (
            ["migrate", "--noinput", "-v", "0"],
            ["seed_demo"],
            ["seed_demo", "--synthetic", str(args.synthetic), "--seed", "42"],
        ):
            step = subprocess.run(  # noqa: S603
                [python, "manage.py", *command], cwd=ROOT, env=source_env, capture_output=True, text=True
            )
            if step.returncode != 0:
                print(f"Restore drill FAILED while seeding ({' '.join(command)}):\n{step.stdout}{step.stderr}")
                return 1
        connection_args = ["-h", str(config["HOST"] or "127.0.0.1"), "-p", str(config["PORT"] or 5432)]
        if config["USER"]:
            connection_args += ["-U", str(config["USER"])]
        with tempfile.TemporaryDirectory() as scratch:
            dump = Path(scratch) / "attache.dump"
            started = time.monotonic()
            subprocess.run(["pg_dump", "-Fc", "-f", str(dump), *connection_args, SOURCE], env=source_env, check=True)  # noqa: S603, S607
            dumped = time.monotonic() - started
            started = time.monotonic()
            subprocess.run(  # noqa: S603
                ["pg_restore", "--no-owner", "--exit-on-error", "-d", RESTORED, *connection_args, str(dump)],  # noqa: S607
                env=source_env,
                check=True,
            )
            restored = time.monotonic() - started
            size = dump.stat().st_size
        before, after = fingerprint(config, SOURCE), fingerprint(config, RESTORED)
        differences = [
            f"  {table}: source {before.get(table)} restored {after.get(table)}"
            for table in sorted(set(before) | set(after))
            if before.get(table) != after.get(table)
        ]
        history_rows = sum(count for table, (count, digest) in before.items() if digest is not None)
        print(
            f"Dumped {len(before)} tables ({size / 1e6:.1f} MB) in {dumped:.1f} s, restored in {restored:.1f} s; "
            f"{sum(count for count, _ in before.values()):,} rows, {history_rows:,} of them audit history."
        )
        if differences:
            print("Restore drill FAILED — differences:\n" + "\n".join(differences))
            return 1
        print("Restore drill passed: every table's row count and every history table's content match.")
        return 0
    finally:
        recreate(config, SOURCE, RESTORED, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
