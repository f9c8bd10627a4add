"""The application's least-privilege database role (docs/deploy.md, Database).

`manage.py grant_app_role ROLE` and `migrate` share this code. After every `migrate`,
`after_migrate` (connected to `post_migrate` by `CooperationConfig.ready`) fixes the
search path of trigger functions a migration recreated and, where `DATABASE_APP_ROLE`
names the application's role, grants it the tables the migration created, so that a
release needs no second step to leave the database right.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.utils import CursorWrapper
from psycopg2 import sql

from cooperation.audit import FUNCTIONS_SQL, audit_tables


def pin_function_search_paths(cursor: CursorWrapper) -> list[str]:
    """Set `search_path = <schema>, pg_temp` on the schema's PL/pgSQL functions that lack it.

    `CREATE OR REPLACE FUNCTION` (pgtrigger and pghistory re-installing a trigger in a
    migration) drops the setting. Returns the functions it fixed; only those are altered,
    so a run with nothing to fix is one catalog query.
    """
    cursor.execute(FUNCTIONS_SQL)
    loose = [function for function, pinned in cursor.fetchall() if not pinned]
    if loose:
        cursor.execute("SELECT current_schema()")
        schema = sql.Identifier(cursor.fetchone()[0])
        raw = cursor.db.connection
        for function in loose:
            statement = sql.SQL("ALTER FUNCTION {} SET search_path = {}, pg_temp").format(sql.SQL(function), schema)
            cursor.execute(statement.as_string(raw))
    return loose


def grant_app_role(role: str, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """Give `role` what the running application needs, and no more; returns the database's name.

    SELECT, INSERT, UPDATE and DELETE on every table, the sequences, CONNECT and TEMP on
    the database, only SELECT and INSERT on the append-only audit tables (plus the context
    columns pghistory's upsert sets) and only SELECT on django_migrations; also pins the
    trigger functions' search path. Idempotent; run as the tables' owner.
    """
    connection = connections[using]
    audit = audit_tables()
    with transaction.atomic(using=using), connection.cursor() as cursor:
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
        raw = connection.connection
        for statement in statements:
            cursor.execute(statement.as_string(raw))
        pin_function_search_paths(cursor)
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
    return str(database)


def after_migrate(using: str = DEFAULT_DB_ALIAS, verbosity: int = 1, stdout: Any = None, **kwargs: Any) -> None:
    """`post_migrate`, once per `migrate` (sent for the cooperation app, after pgtrigger's and
    pghistory's own handlers): leave the database as `grant_app_role` would.

    Runs as whoever migrates, the owner. Without `DATABASE_APP_ROLE` (one role: development,
    tests) only the functions' search path is fixed. A role that does not exist, or is the
    one migrating, stops `migrate` with an error naming the setting: the migrations are in,
    the grants are not.
    """
    role = settings.DATABASE_APP_ROLE
    if not role:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            pin_function_search_paths(cursor)
        return
    try:
        grant_app_role(role, using=using)
    except CommandError as error:
        raise CommandError(f"DATABASE_APP_ROLE: {error}") from error
    if verbosity >= 1 and stdout is not None:
        stdout.write(f"Granted {role} the application's rights (DATABASE_APP_ROLE).\n")
