"""Fail early, with a clear message, when the PostgreSQL at DATABASE_URL is unreachable."""

from __future__ import annotations

import os
import sys

import environ
import psycopg2
from psycopg2 import sql


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("DATABASE_URL is not set.", file=sys.stderr)
        return 2
    config = environ.Env.db_url_config(url)
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": "postgres",
        "connect_timeout": 5,
    }
    try:
        server = psycopg2.connect(**{key: value for key, value in params.items() if value})
    except psycopg2.OperationalError as error:
        where = f"{params['host'] or 'local socket'}:{params['port'] or 5432}"
        print(
            f"\nCannot reach PostgreSQL at {where} as {params['user'] or 'the current user'}:\n  {error}\n"
            "Start it (e.g. `pg_ctlcluster --skip-systemctl-redirect 15 main start`) or point "
            "DATABASE_URL at a running server, e.g. postgres://USER:PASSWORD@HOST:5432/attache\n",
            file=sys.stderr,
        )
        return 1
    # The database itself (the test database is made from its name) is created when missing,
    # so that commands that look at it, such as the migrations check, find it.
    name = config.get("NAME")
    try:
        server.autocommit = True
        with server.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if name and cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"Created the database {name}.")
    except psycopg2.Error as error:
        print(f"Note: could not create the database {name}: {error}".strip(), file=sys.stderr)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
