"""python manage.py seed_demo [--synthetic N [--seed S]]"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cooperation.demo import seed_demo, seed_synthetic


class Command(BaseCommand):
    help = (
        "Load the demo case (idempotent) and print the demo logins; with --synthetic N, "
        "add N synthetic activities across many relationships (deterministic per --seed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--synthetic", type=int, metavar="N", help="add N synthetic activities")
        parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed for --synthetic")
        parser.add_argument("--relationships", type=int, default=200, help="number of relationships for --synthetic")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates demo users with a known password; it does not run in production.")
        if options["synthetic"] is None:
            created = seed_demo(out=self.stdout.write)
            summary = ", ".join(f"{count} {name}" for name, count in created.items())
            self.stdout.write(self.style.SUCCESS(f"Demo data ready (created now: {summary})."))
            return
        if options["synthetic"] < 1:
            raise CommandError("--synthetic needs a positive number of activities.")
        if not 1 <= options["relationships"] <= 1000:
            raise CommandError("--relationships must be between 1 and 1000.")
        started = time.monotonic()
        inserted = seed_synthetic(
            n=options["synthetic"], seed=options["seed"], relationships=options["relationships"], out=self.stdout.write
        )
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"{inserted:,} synthetic activities inserted in {elapsed:.1f} s (seed {options['seed']})."
            )
        )
