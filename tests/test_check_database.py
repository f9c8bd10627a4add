"""`make test` and `make restore-drill` first run scripts/check_database.py: a clear message
when PostgreSQL is unreachable, and the database of DATABASE_URL created when missing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
from django.db import connection

from bench.servers import database_url

ROOT = Path(__file__).resolve().parent.parent


def check(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / "check_database.py")],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def server_url(name: str) -> str:
    return database_url({**connection.settings_dict, "NAME": name})


def databases() -> set[str]:
    server = psycopg2.connect(server_url("postgres"))
    try:
        with server.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database")
            return {row[0] for row in cursor.fetchall()}
    finally:
        server.close()


def test_a_missing_database_is_created_once() -> None:
    name = f"attache_check_{uuid.uuid4().hex[:8]}"
    url = server_url(name)
    try:
        first = check(url)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == f"Created the database {name}."
        assert name in databases()
        again = check(url)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == ""
    finally:
        server = psycopg2.connect(server_url("postgres"))
        server.autocommit = True
        with server.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        server.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    result = check("postgres://postgres@127.0.0.1:1/attache")
    assert result.returncode == 1
    assert "Cannot reach PostgreSQL at 127.0.0.1:1 as postgres" in result.stderr
    assert "point DATABASE_URL at a running server" in result.stderr
