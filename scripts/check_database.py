"""Fail early, with a clear message, when the PostgreSQL at DATABASE_URL is unreachable."""

from __future__ import annotations

import os
import sys
from typing import Any

import environ
import psycopg2
from psycopg2 import sql


def _server(config: dict[str, Any]) -> dict[str, Any]:
    """Connection parameters for the server's `postgres` database (the target may not exist yet)."""
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": "postgres",
        "connect_timeout": 5,
    }
    return {key: value for key, value in params.items() if value}


def ensure_database(url: str) -> bool:
    """CREATE DATABASE for `url` unless it exists; True when it was created. psycopg2's
    errors are raised. (`make test` via main() below, and the benchmarks' setup.)"""
    config = environ.Env.db_url_config(url)
    server = psycopg2.connect(**_server(config))
    try:
        server.autocommit = True
        with server.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
            if cursor.fetchone() is not None:
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            return True
    finally:
        server.close()


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("DATABASE_URL is not set.", file=sys.stderr)
        return 2
    config = environ.Env.db_url_config(url)
    try:
        psycopg2.connect(**_server(config)).close()
    except psycopg2.OperationalError as error:
        where = f"{config.get('HOST') or 'local socket'}:{config.get('PORT') or 5432}"
        print(
            f"\nCannot reach PostgreSQL at {where} as {config.get('USER') or 'the current user'}:\n  {error}\n"
            "Start it (e.g. `pg_ctlcluster --skip-systemctl-redirect 15 main start`) or point "
            "DATABASE_URL at a running server, e.g. postgres://USER:PASSWORD@HOST:5432/attache\n",
            file=sys.stderr,
        )
        return 1
    # The database itself (the test database is made from its name) is created when missing,
    # so that commands that look at it, such as the migrations check, find it.
    name = config.get("NAME")
    try:
        if name and ensure_database(url):
            print(f"Created the database {name}.")
    except psycopg2.Error as error:
        print(f"Note: could not create the database {name}: {error}".strip(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
