"""System checks that read the database (`manage.py check --database default`; W002 also needs `--deploy`)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError, connections
from django.db.models import F

SHOWN_IDS = 20


@checks.register(checks.Tags.database)
def channel_rule(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Activities less restricted than the accreditation they ran through.

    Since migration 0015 the database refuses new ones; rows written before it are not
    checked by it, and whoever may see such an activity may not be allowed to see its
    channel. The history and the pages hide the channel from them; this names the rows so
    that someone can raise the activity or unlink the accreditation.
    """
    from cooperation.models import Activity

    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        violating = Activity.objects.using(alias).filter(accreditation__releasability__gt=F("releasability"))
        try:
            ids = list(violating.order_by("pk").values_list("pk", flat=True)[: SHOWN_IDS + 1])
            count = len(ids) if len(ids) <= SHOWN_IDS else violating.count()
        except DatabaseError:  # not migrated yet (`migrate` runs the checks first)
            continue
        if count:
            shown = ", ".join(str(pk) for pk in ids[:SHOWN_IDS]) + (", …" if count > SHOWN_IDS else "")
            messages.append(
                checks.Warning(
                    f"{count} activit{'y runs' if count == 1 else 'ies run'} through an accreditation more "
                    f"restricted than {'itself' if count == 1 else 'themselves'} (database {alias!r}; ids {shown}).",
                    hint="Raise each activity's releasability to its accreditation's, or unlink the accreditation.",
                    id="cooperation.W001",
                )
            )
    return messages


_AUDIT_RIGHTS_SQL = """
SELECT pg_has_role(c.relowner, 'MEMBER'),
       has_table_privilege(c.oid, 'TRUNCATE'),
       EXISTS (SELECT FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 AND a.attname <> ALL(%s::text[]) AND has_column_privilege(c.oid, a.attnum, 'UPDATE')),
       has_table_privilege(c.oid, 'DELETE'),
       has_table_privilege(c.oid, 'TRIGGER')
FROM pg_class c WHERE c.oid = to_regclass(%s)
"""
_AUDIT_RIGHTS = ("owner", "TRUNCATE", "UPDATE", "DELETE", "TRIGGER")


@checks.register(checks.Tags.database, deploy=True)
def audit_role(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The role the application connects as can erase or rewrite the audit tables.

    The triggers refuse UPDATE and DELETE of history, but not TRUNCATE, and the tables'
    owner (or a member of its role, or a superuser) can switch them off; a trigger function
    without a fixed search path writes to a temporary table of the same name. A deployment
    check (`check --deploy --database default`): development and tests connect as the
    owner on purpose.
    """
    from cooperation.audit import FUNCTIONS_SQL, audit_tables

    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        found = []
        try:
            with connections[alias].cursor() as cursor:
                for table, updatable in audit_tables().items():
                    cursor.execute(_AUDIT_RIGHTS_SQL, [list(updatable), connections[alias].ops.quote_name(table)])
                    row = cursor.fetchone()
                    rights = [right for right, held in zip(_AUDIT_RIGHTS, row or (), strict=False) if held]
                    if rights:
                        found.append(f"{table} ({', '.join(rights)})")
                cursor.execute(FUNCTIONS_SQL)
                loose = [function for function, pinned in cursor.fetchall() if not pinned]
                if loose:
                    found.append(f"{len(loose)} trigger functions whose search path is not fixed ({loose[0]}, …)")
                cursor.execute("SELECT current_user")
                role = cursor.fetchone()[0]
        except DatabaseError:  # not migrated yet, or no database
            continue
        if found:
            messages.append(
                checks.Warning(
                    f"The database role {role!r} can erase or rewrite the audit history (database {alias!r}): "
                    f"{'; '.join(found)}.",
                    hint=(
                        "Connect the application as a role that does not own the tables: migrate as the owner "
                        "with DATABASE_APP_ROLE naming the application's role, or run `manage.py grant_app_role "
                        "ROLE` as the owner (docs/deploy.md, Database)."
                    ),
                    id="cooperation.W002",
                )
            )
    return messages
