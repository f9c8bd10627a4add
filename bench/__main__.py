"""Run the benchmarks: `make bench`, or `python -m bench [NAME ...]`.

Each `bench/bench_<name>.py` has a `main() -> None` that prints its figures. The
benchmark database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/attache_bench)
is migrated and given 1,000,000 synthetic activities once by `bench.setup`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

from bench import setup


def main(argv: list[str]) -> int:
    setup.prepare()
    names = argv or sorted(
        module.name.removeprefix("bench_")
        for module in pkgutil.iter_modules([setup.BENCH_DIR])
        if module.name.startswith("bench_")
    )
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"\n=== {name} ===", flush=True)
        setup.vacuum()
        started = time.monotonic()
        module.main()
        print(f"({name} took {time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
