"""`make test`'s pytest part: the suite in two runs (docs/decisions.md, Faster suite).

    python scripts/run_tests.py [pytest arguments…]

First everything but the tests marked SERIAL, spread over TEST_WORKERS processes
(pytest-xdist; each has its own test database, test_<name>_gw0 …); then the SERIAL
tests in one process, alone on the machine: they start Celery workers on fixed Redis
databases, gunicorn and real PostgreSQL and Redis servers they stop or kill, and time
what they see. The arguments go to both runs; a `-m EXPR` among them narrows each run's
own selection. Exits non-zero when either run fails, and when no test ran at all.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

SERIAL = "faults or load or redis"
NO_TESTS = 5  # pytest's exit status when it collected no test


def split_markers(args: Sequence[str]) -> tuple[list[str], str | None]:
    """`args` without their `-m EXPR` (or `-mEXPR`), and that expression (the last one, as pytest takes it)."""
    rest: list[str] = []
    markers: str | None = None
    items = iter(args)
    for arg in items:
        if arg == "-m":
            markers = next(items, None)
            if markers is None:
                raise SystemExit("run_tests.py: -m needs a marker expression.")
        elif arg.startswith("-m") and not arg.startswith("--"):
            markers = arg[2:]
        else:
            rest.append(arg)
    return rest, markers


def phases(args: Sequence[str], workers: str) -> list[list[str]]:
    """The two pytest command lines (arguments after `python -m pytest`)."""
    rest, markers = split_markers(args)
    narrow = f" and ({markers})" if markers else ""
    return [
        ["-n", workers, "-m", f"not ({SERIAL}){narrow}", *rest],
        ["-m", f"({SERIAL}){narrow}", *rest],
    ]


def outcome(codes: Sequence[int], *, subset: bool) -> int:
    """The exit status of the whole from the runs' statuses.

    A failure in either run fails the whole. A run that found no test (pytest's 5) fails
    it too when the whole suite was asked for: each run has tests then, and an empty one
    means the markers no longer select what they should. Asked for a subset (arguments
    given), the subset may lie in one run only; but some test must have run.
    """
    failed = [code for code in codes if code not in (0, NO_TESTS)]
    if failed:
        return failed[0]
    if all(code == NO_TESTS for code in codes) or (NO_TESTS in codes and not subset):
        return NO_TESTS
    return 0


def main(args: Sequence[str]) -> int:
    workers = os.environ.get("TEST_WORKERS", "2")
    codes = []
    for phase in phases(args, workers):
        command = [sys.executable, "-m", "pytest", *phase]
        print(f"$ {shlex.join(command)}", flush=True)
        codes.append(subprocess.call(command))  # noqa: S603 - pytest with our own arguments
    status = outcome(codes, subset=bool(args))
    if status:
        print(f"run_tests.py: pytest exited {codes[0]} (parallel) and {codes[1]} (serial): failing.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
