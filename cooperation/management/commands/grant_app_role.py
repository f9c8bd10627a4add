"""python manage.py grant_app_role ROLE — run as the owner (docs/deploy.md); `migrate` does the
same for the role named in DATABASE_APP_ROLE."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cooperation.app_role import grant_app_role
from cooperation.audit import audit_tables


class Command(BaseCommand):
    help = (
        "Give ROLE, the role the application connects as, what the running application needs: SELECT, INSERT, "
        "UPDATE and DELETE on every table, the sequences, TEMP on the database, only SELECT and INSERT on the "
        "append-only audit tables and only SELECT on django_migrations; fixes the search path of the trigger "
        "functions. Run it as the role that owns the tables; idempotent. `migrate` does the same for the role "
        "named in DATABASE_APP_ROLE."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        database = grant_app_role(role)
        self.stdout.write(
            self.style.SUCCESS(
                f"{role} may read and write the tables of {database} and only read and add to its "
                f"{len(audit_tables())} audit tables."
            )
        )
