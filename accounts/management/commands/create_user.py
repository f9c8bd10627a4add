"""python manage.py create_user USERNAME --role ROLE [--desk NAME ...] [--clearance C] [--password P]"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import user_create
from cooperation.choices import Classification, Role
from cooperation.models import Desk


class Command(BaseCommand):
    help = "Create a user with a role, desks and a clearance. Prints a generated password unless --password is given."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--desk", action="append", default=[], metavar="NAME", help="repeatable")
        parser.add_argument("--clearance", default="public", choices=[member.code for member in Classification])
        parser.add_argument("--password")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        desks = []
        for name in options["desk"]:
            desk = Desk.objects.filter(name__iexact=name).first()
            if desk is None:
                known = ", ".join(Desk.objects.values_list("name", flat=True)) or "none yet"
                raise CommandError(f"Unknown desk {name!r}. Existing desks: {known}.")
            desks.append(desk)
        try:
            user, password = user_create(
                username=options["username"],
                role=options["role"],
                clearance=Classification.from_code(options["clearance"]),
                desks=desks,
                password=options["password"],
                email=options["email"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"Created {user.get_role_display().lower()} {user.username}."))
        if options["password"] is None:
            self.stdout.write(f"Password: {password}")
