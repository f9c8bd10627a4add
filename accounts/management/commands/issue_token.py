"""python manage.py issue_token USERNAME [--days N] [--name NAME]"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import token_issue


class Command(BaseCommand):
    help = "Issue an API token for a user and print its key (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=None, help="lifetime in days (default API_TOKEN_DEFAULT_DAYS)")
        parser.add_argument("--name", default="issued from the command line")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username__iexact=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        try:
            token, key = token_issue(user=user, name=options["name"], days=options["days"])
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Issued token {token.prefix}… for {user.username}, expires {token.expires_at:%Y-%m-%d}."
            )
        )
        self.stdout.write(key)
