"""python manage.py grant_app_role ROLE — run as the owner after every `migrate` (docs/deploy.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from psycopg2 import sql

from cooperation.audit import FUNCTIONS_SQL, audit_tables


class Command(BaseCommand):
    help = (
        "Give ROLE, the role the application connects as, what the running application needs: SELECT, INSERT, "
        "UPDATE and DELETE on every table, the sequences, TEMP on the database, only SELECT and INSERT on the "
        "append-only audit tables and only SELECT on django_migrations; fixes the search path of the trigger "
        "functions. Run it as the role that owns the tables, after each migrate; idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        audit = audit_tables()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_database(), current_schema(), current_user, "
                "EXISTS (SELECT FROM pg_roles WHERE rolname = %s)",
                [role],
            )
            database, schema, owner, exists = cursor.fetchone()
            if not exists:
                raise CommandError(f"No database role named {role!r}.")
            if role == owner:
                raise CommandError(f"{role!r} is the role this command connects as: run it as the owner of the tables.")
            names = {
                "role": sql.Identifier(role),
                "database": sql.Identifier(database),
                "schema": sql.Identifier(schema),
            }
            statements = [
                sql.SQL(text).format(**names)
                for text in (
                    "GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
                    "GRANT USAGE ON SCHEMA {schema} TO {role}",
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
                    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
                    # Only `migrate`, run as the owner, records migrations.
                    "REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {role}",
                )
            ]
            for table, columns in audit.items():
                target = {**names, "table": sql.Identifier(table)}
                statements.append(sql.SQL("REVOKE ALL ON {table} FROM {role}").format(**target))
                statements.append(sql.SQL("GRANT SELECT, INSERT ON {table} TO {role}").format(**target))
                if columns:
                    statements.append(
                        sql.SQL("GRANT UPDATE ({columns}) ON {table} TO {role}").format(
                            columns=sql.SQL(", ").join(map(sql.Identifier, columns)), **target
                        )
                    )
            cursor.execute(FUNCTIONS_SQL)  # recreating a function drops its path: run after every migrate
            for function, _ in cursor.fetchall():
                statements.append(
                    sql.SQL("ALTER FUNCTION {function} SET search_path = {schema}, pg_temp").format(
                        function=sql.SQL(function), **names
                    )
                )
            raw = connection.connection
            for statement in statements:
                cursor.execute(statement.as_string(raw))
            # A GRANT on what the current role does not own only warns: fail instead.
            cursor.execute(
                "SELECT relname::text FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                "AND relkind IN ('r', 'p') AND NOT has_table_privilege(%s, oid, 'SELECT') "
                "UNION ALL SELECT current_database() WHERE NOT has_database_privilege(%s, current_database(), 'TEMP')",
                [role, role],
            )
            missing = [name for (name,) in cursor.fetchall()]
            if missing:
                raise CommandError(
                    f"Not granted to {role} on {', '.join(sorted(missing))}: run this as the owner of the database "
                    "and its tables."
                )
        self.stdout.write(
            self.style.SUCCESS(
                f"{role} may read and write the tables of {database} and only read and add to its "
                f"{len(audit)} audit tables."
            )
        )
