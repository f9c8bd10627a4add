"""python manage.py rebuild_intensity [--enqueue] — what the nightly reconcile does, by hand."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cooperation import intensity, weight_sets


class Command(BaseCommand):
    help = (
        "Recompute every cooperation-intensity rollup from the activities (for the active weight set and one "
        "being activated), finish activations whose task was lost, and drop rows of retired sets. Safe to run "
        "at any time, also while workers refresh rollups. With --enqueue a Celery worker does it instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="send the reconcile task to the broker (CELERY_BROKER_URL) for a worker, and return at once",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enqueue"]:
            self._enqueue()
            return
        started = time.monotonic()
        activated = weight_sets.complete_pending_activations()
        for weight_set_id in activated:
            self.stdout.write(f"Weight set {weight_set_id} is now active.")
        result = intensity.rebuild_rollups()
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {result.rows:,} rollup rows for {result.relationships:,} relationships "
                f"(weight sets {', '.join(map(str, result.weight_set_ids)) or 'none'}) in {elapsed:.1f} s; "
                f"{result.stale_deleted:,} stale rows dropped."
            )
        )

    def _enqueue(self) -> None:
        from cooperation.tasks import reconcile_intensity_rollups

        if not settings.CELERY_BROKER_URL:
            raise CommandError("--enqueue needs CELERY_BROKER_URL (without a broker, run the rebuild here).")
        message = reconcile_intensity_rollups.delay()
        self.stdout.write(self.style.SUCCESS(f"Sent the rebuild to the workers as task {message.id}."))
