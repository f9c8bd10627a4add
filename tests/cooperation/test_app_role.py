"""The application's own database role (docs/deploy.md, Database): after `grant_app_role`
it cannot erase or rewrite the audit tables, every write path of the running application
works with it, and `cooperation.W002` tells the two roles apart.

The roles log in for real (a session of each, not SET ROLE). The owner role is given the
test database and the tables and functions its migrations created, as in a deployment
where it owns the database and ran them, and PUBLIC loses its default CONNECT and TEMP on
the database, as deploy.md says.
"""

from __future__ import annotations

import contextlib
import datetime
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pghistory
import pgtrigger
import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from pghistory.models import Context
from psycopg2 import errorcodes, sql
from rest_framework.test import APIClient

from accounts.models import ApiToken, SecurityEvent, SecurityEventKind
from accounts.services import token_issue
from cooperation import intensity, services
from cooperation.app_role import after_migrate
from cooperation.audit import FUNCTIONS_SQL, audit_tables
from cooperation.bulk import activity_bulk_import
from cooperation.choices import WeightSetStatus
from cooperation.models import (
    Accreditation,
    Activity,
    ActivityChange,
    ActivityScopeChange,
    IntensityRollup,
    WeightSet,
)
from tests.api.conftest import activity_body
from tests.factories import (
    AttacheFactory,
    DeskFactory,
    PostFactory,
    RelationshipFactory,
    UserFactory,
    area,
    course_values,
)
from tests.factories import import_row as row

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str
    password: str


def sql_text(statement: sql.Composable) -> str:
    return statement.as_string(connection.connection)


@contextlib.contextmanager
def connected_as(role: str, password: str) -> Iterator[None]:
    """The default connection logs in as `role` (what the web, API and workers use)."""
    saved = {key: connection.settings_dict[key] for key in ("USER", "PASSWORD")}
    connection.close()
    connection.settings_dict.update(USER=role, PASSWORD=password)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT session_user")
            assert cursor.fetchone()[0] == role
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def drop_role(cursor: Any, role: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone():
        name = sql.Identifier(role)
        cursor.execute(sql_text(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(name)))
        cursor.execute(sql_text(sql.SQL("DROP OWNED BY {}").format(name)))
        cursor.execute(sql_text(sql.SQL("DROP ROLE {}").format(name)))


@pytest.fixture(scope="module")
def roles(django_db_setup: None, django_db_blocker: Any) -> Iterator[Roles]:
    base = connection.settings_dict["NAME"].removeprefix("test_")
    roles = Roles(owner=f"{base}_test_owner", app=f"{base}_test_app", password=secrets.token_urlsafe(16))
    database = sql.Identifier(connection.settings_dict["NAME"])
    with django_db_blocker.unblock():
        try:
            with connection.cursor() as cursor:
                for role in (roles.app, roles.owner):
                    drop_role(cursor, role)  # left by an interrupted run
                    create = sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role))
                    cursor.execute(sql_text(create), [roles.password])
                owner = sql.Identifier(roles.owner)
                cursor.execute(sql_text(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database)))
                cursor.execute(sql_text(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, owner)))
                cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                for (table,) in cursor.fetchall():
                    alter = sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table), owner)
                    cursor.execute(sql_text(alter))
                cursor.execute(
                    "SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
                )
                for (function,) in cursor.fetchall():
                    cursor.execute(sql_text(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(function), owner)))
            with connected_as(roles.owner, roles.password):
                call_command("grant_app_role", roles.app, stdout=StringIO())
            yield roles
        finally:
            with connection.cursor() as cursor:
                for role in (roles.app, roles.owner):
                    drop_role(cursor, role)
                cursor.execute(sql_text(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO PUBLIC").format(database)))


def refusal(statement: str, params: list[Any] | None = None) -> str:
    """The SQLSTATE name PostgreSQL refuses `statement` with (in a transaction of its own)."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
    return errorcodes.lookup(caught.value.__cause__.pgcode)  # type: ignore[union-attr]


def audit_warnings() -> list[checks.CheckMessage]:
    return [
        message
        for message in checks.run_checks(
            tags=[checks.Tags.database], include_deployment_checks=True, databases=["default"]
        )
        if message.id == "cooperation.W002"
    ]


def test_the_audit_tables_are_found_from_the_models_as_the_migrations_protect_them() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE 'pgtrigger%%append_only%%' OR t.tgname = 'attache_protect_history_context'"
        )
        protected = {name for (name,) in cursor.fetchall()}
    assert set(audit_tables()) == protected
    assert {"accounts_securityevent", "pghistory_context", "cooperation_activityevent"} <= protected
    # Derived, like the change feed it stands beside: the sync's bookkeeping, not the audit.
    assert not {"cooperation_activitychange", "cooperation_activityscopechange"} & protected


def test_the_app_role_cannot_erase_or_rewrite_the_audit(roles: Roles) -> None:
    with transaction.atomic(), pghistory.context(action="test"):
        relationship = RelationshipFactory()
    with connected_as(roles.app, roles.password):
        for table in audit_tables():
            quoted = connection.ops.quote_name(table)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {quoted}")  # noqa: S608 - a table name from the models
                cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum = 1", [table])
                column = connection.ops.quote_name(cursor.fetchone()[0])
            for statement in (
                f"TRUNCATE {quoted}",
                f"DELETE FROM {quoted}",  # noqa: S608
                f"UPDATE {quoted} SET {column} = {column}",  # noqa: S608
                f"ALTER TABLE {quoted} DISABLE TRIGGER ALL",
                f"CREATE TRIGGER t BEFORE INSERT ON {quoted} EXECUTE FUNCTION attache_protect_history_context()",
            ):
                assert refusal(statement) == "INSUFFICIENT_PRIVILEGE", statement
        # pghistory's upsert may change a context's metadata; the trigger keeps committed ones.
        context = Context.objects.get()
        update = "UPDATE pghistory_context SET metadata = '{}' WHERE id = %s"
        assert refusal(update, [context.pk]) == "RAISE_EXCEPTION"
    # The owner, which the application used to connect as, could empty them.
    with connected_as(roles.owner, roles.password), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE cooperation_relationshipevent")
        transaction.set_rollback(True)
    assert relationship.pgh_event_model.objects.filter(pgh_obj_id=relationship.pk).exists()


def test_the_app_role_reads_the_migration_record_and_cannot_change_it(roles: Roles) -> None:
    with connected_as(roles.app, roles.password):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'cooperation'")
            assert cursor.fetchone()[0] > 0
        for statement in (
            "INSERT INTO django_migrations (app, name, applied) VALUES ('cooperation', '9999_x', now())",
            "DELETE FROM django_migrations WHERE app = 'cooperation'",
            "UPDATE django_migrations SET applied = now()",
            "TRUNCATE django_migrations",
        ):
            assert refusal(statement) == "INSUFFICIENT_PRIVILEGE", statement


def test_a_temporary_table_cannot_stand_in_for_an_audit_table(migrated_data: None, roles: Roles) -> None:
    """The role may create temporary tables (bulk imports), which come first in a session's
    search path; the triggers must still write to the real history."""
    relationship = RelationshipFactory()
    with connected_as(roles.app, roles.password):
        with connection.cursor() as cursor:
            for table in ("cooperation_activityevent", "pghistory_context"):
                cursor.execute(f"CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL)")
        activity = services.activity_create(actor=None, **course_values(relationship=relationship, title="Shadowed"))
        with connection.cursor() as cursor:
            for table in ("cooperation_activityevent", "pghistory_context"):
                cursor.execute(f"SELECT count(*) FROM pg_temp.{table}")  # noqa: S608 - constant names
                assert cursor.fetchone()[0] == 0, table
            cursor.execute("SELECT count(*) FROM public.cooperation_activityevent WHERE pgh_obj_id = %s", [activity.pk])
            assert cursor.fetchone()[0] == 1


def test_every_write_path_of_the_app_works_under_its_role(migrated_data: None, roles: Roles) -> None:
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    desk_officer = UserFactory(username="desk", desks=[DeskFactory(relationships=[relationship])])
    manager = UserFactory(username="manager", role="manager")
    attache = AttacheFactory(sending_country="US")
    kyiv = PostFactory(sending_country="US", host_country="UA", city="Kyiv")
    weight_set = WeightSet.objects.get(status=WeightSetStatus.ACTIVE)
    with connected_as(roles.app, roles.password):
        activity = services.activity_create(
            actor=desk_officer,
            relationship=relationship,
            area=area("demining"),
            title="Demining course",
            kind="course",
            status="conducted",
            start_date=datetime.date(2019, 4, 1),
            participants=9,
        )
        activity = services.activity_update(
            actor=desk_officer, activity=activity, data={"participants": 12}, expected_version=1
        )
        synced_up_to = ActivityChange.objects.get(pk=activity.pk).changed_at  # a client holds it
        services.activity_soft_delete(actor=desk_officer, activity=activity, expected_version=2)
        imported = activity_bulk_import(actor=desk_officer, rows=[row(2), row(3)])  # COPY into a TEMP staging table
        assert imported.committed and imported.created == 2
        accreditation = services.accreditation_request(
            actor=None, attache=attache, post=kyiv, host_country="BY", requested_on=datetime.date(2016, 3, 1)
        )
        services.accreditation_grant_agrement(actor=None, accreditation=accreditation, on=datetime.date(2016, 4, 1))
        with transaction.atomic():  # advisory lock, SET LOCAL, delete and re-insert
            intensity.refresh_rollups(keys=[(relationship.pk, datetime.date(2017, 3, 1))])
        intensity.drain_outbox()
        call_command("rebuild_intensity", stdout=StringIO())  # the nightly reconcile
        assert intensity.stored_rollups(weight_set_id=weight_set.pk) == intensity.fresh_aggregation(
            weight_set_id=weight_set.pk
        )
        assert IntensityRollup.objects.filter(relationship=relationship).exists()

        token, key = token_issue(user=manager, name="bi")
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        rows = api.get("/api/v1/activities/").json()["results"]
        assert {row["title"] for row in rows} == {"Imported 2", "Imported 3"}
        synced = api.get("/api/v1/activities/", {"updated_since": synced_up_to.isoformat()}).json()["results"]
        assert len(synced) == 3 and [row for row in synced if row.get("deleted")]  # the deleted one as a tombstone
        assert [row["title"] for row in api.get("/api/v1/activities/").json()["results"]] == [  # prepared now
            row["title"] for row in rows
        ]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone()[0] >= 1  # the API page's rows, on their second run
        assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
        _, officer_key = token_issue(user=desk_officer, name="sync")
        api.credentials(HTTP_AUTHORIZATION=f"Token {officer_key}")
        created = api.post("/api/v1/activities/", activity_body(relationship.pk), format="json")
        assert created.status_code == 201, created.content
        # The request's own context, never written by a write of its own, is written with the action's.
        action = Activity.pgh_event_model.objects.get(pgh_obj_id=created.json()["id"]).pgh_context  # type: ignore[attr-defined]
        assert Context.objects.get(pk=action.metadata["parent"]).metadata["user"] is None

        browser = Client()
        response = browser.post("/accounts/login/", {"username": "desk", "password": "correct-horse-battery"})
        assert response.status_code == 302
        assert browser.get("/activities/").status_code == 200

        histories = {
            "activity": activity.pgh_event_model.objects.filter(pgh_obj_id=activity.pk).count(),  # type: ignore[attr-defined]
            "imported": Activity.pgh_event_model.objects.filter(  # type: ignore[attr-defined]
                pgh_obj__external_ref__in=["ext-2", "ext-3"]
            ).count(),
            "accreditation": Accreditation.pgh_event_model.objects.filter(  # type: ignore[attr-defined]
                pgh_obj_id=accreditation.pk
            ).count(),
            "token": ApiToken.pgh_event_model.objects.filter(pgh_obj_id=token.pk).count(),  # type: ignore[attr-defined]
        }
        assert histories == {"activity": 3, "imported": 2, "accreditation": 2, "token": 1}
        security = SecurityEvent.objects.filter(user__in=[desk_officer, manager]).values_list("kind", flat=True)
        assert set(security) == {SecurityEventKind.SIGN_IN, SecurityEventKind.TOKEN_ISSUED}
        assert Context.objects.filter(metadata__action="activity.update").exists()
        # The sync's scope transitions, written by the triggers and stamped at commit under the role.
        scopes = ActivityScopeChange.objects.filter(activity=activity).order_by("id").values_list("deleted", flat=True)
        assert list(scopes) == [False, True]
        assert not ActivityScopeChange.objects.filter(changed_at__isnull=True).exists()


def test_the_check_warns_under_the_owner_and_not_under_the_app_role(roles: Roles) -> None:
    with connected_as(roles.owner, roles.password):
        [warning] = audit_warnings()
    assert warning.msg.startswith(f"The database role {roles.owner!r} can erase or rewrite the audit history")
    assert "cooperation_activityevent (owner, TRUNCATE, UPDATE, DELETE, TRIGGER)" in warning.msg
    assert all(table in warning.msg for table in audit_tables())
    with connected_as(roles.app, roles.password):
        assert audit_warnings() == []
    # Development and tests connect as the owner (here a superuser): only --deploy asks.
    assert [m for m in checks.run_checks(databases=["default"]) if m.id == "cooperation.W002"] == []


def test_the_command_is_idempotent_and_takes_back_broad_grants(roles: Roles) -> None:
    app = sql.Identifier(roles.app)
    with connected_as(roles.owner, roles.password), connection.cursor() as cursor:
        cursor.execute(sql_text(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(app)))
        # What a migration recreating a trigger function leaves behind.
        cursor.execute("ALTER FUNCTION attache_protect_history_context() RESET search_path")
    with connected_as(roles.app, roles.password):
        [warning] = audit_warnings()
    assert "pghistory_context (TRUNCATE, UPDATE, DELETE, TRIGGER)" in warning.msg
    assert "1 trigger functions whose search path is not fixed (attache_protect_history_context(), …)" in warning.msg
    with connected_as(roles.owner, roles.password):
        for _ in range(2):
            output = StringIO()
            call_command("grant_app_role", roles.app, stdout=output)
        assert f"only read and add to its {len(audit_tables())} audit tables" in output.getvalue()
        with pytest.raises(CommandError, match="run it as the owner"):
            call_command("grant_app_role", roles.owner)
    with connected_as(roles.app, roles.password):
        assert audit_warnings() == []


def recreate_trigger_functions() -> set[str]:
    """What a migration that re-installs triggers does: `CREATE OR REPLACE FUNCTION`, which
    drops the search path grant_app_role set (pgtrigger's AddTrigger, pghistory's own
    migrations re-installing `_pgh_attach_context()`)."""
    [(model, trigger)] = pgtrigger.registered("accounts.SecurityEvent:security_event_append_only")
    trigger.install(model)
    Context.install_pgh_attach_context_func()
    return {f"{trigger.get_pgid(model)}()", "_pgh_attach_context()"}


def loose_functions() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(FUNCTIONS_SQL)
        return [function for function, pinned in cursor.fetchall() if not pinned]


@contextlib.contextmanager
def tables_a_migration_created(roles: Roles) -> Iterator[None]:
    """A plain table created after grant_app_role ran, and an audit table recreated since
    (both leave the app role without any right on them), as the owner."""
    with connected_as(roles.owner, roles.password), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE app_role_later (id integer PRIMARY KEY, note text)")
        cursor.execute(
            sql_text(sql.SQL("REVOKE ALL ON cooperation_activityevent FROM {}").format(sql.Identifier(roles.app)))
        )
    try:
        yield
    finally:
        with connected_as(roles.owner, roles.password), connection.cursor() as cursor:
            cursor.execute("DROP TABLE app_role_later")
            cursor.execute(
                sql_text(
                    sql.SQL("GRANT SELECT, INSERT ON cooperation_activityevent TO {}").format(sql.Identifier(roles.app))
                )
            )


def test_migrate_pins_the_search_path_of_functions_a_migration_recreated(roles: Roles) -> None:
    """Without DATABASE_APP_ROLE (one role), `migrate` still fixes the functions: W002 was
    clean under the app role before and is again after, with no grant_app_role between."""
    with connected_as(roles.owner, roles.password):
        recreated = recreate_trigger_functions()
        assert recreated <= set(loose_functions())  # and pgtrigger's _pgtrigger_should_ignore(name)
    with connected_as(roles.app, roles.password):
        [warning] = audit_warnings()
    assert "trigger functions whose search path is not fixed" in warning.msg
    with connected_as(roles.owner, roles.password):
        call_command("migrate", verbosity=0)
        assert loose_functions() == []
    with connected_as(roles.app, roles.password):
        assert audit_warnings() == []


def test_migrate_grants_the_app_role_named_in_the_settings(migrated_data: None, roles: Roles) -> None:
    """With DATABASE_APP_ROLE, `migrate` (run as the owner) leaves the role as
    grant_app_role would: a table created after the last grant is read and written, a
    recreated audit table takes new events and refuses everything else, and W002 is clean."""
    relationship = RelationshipFactory()
    with tables_a_migration_created(roles):
        with connected_as(roles.owner, roles.password):
            recreate_trigger_functions()
            call_command("migrate", verbosity=0)  # without the setting: functions only
        with connected_as(roles.app, roles.password):
            assert refusal("SELECT count(*) FROM app_role_later") == "INSUFFICIENT_PRIVILEGE"
        with override_settings(DATABASE_APP_ROLE=roles.app):
            with connected_as(roles.owner, roles.password):
                recreate_trigger_functions()
                output = StringIO()
                call_command("migrate", verbosity=1, stdout=output)
            with connected_as(roles.app, roles.password):
                assert audit_warnings() == []
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO app_role_later VALUES (1, 'new')")
                    cursor.execute("UPDATE app_role_later SET note = 'changed'")
                    cursor.execute("SELECT note FROM app_role_later")
                    assert cursor.fetchall() == [("changed",)]
                    cursor.execute("DELETE FROM app_role_later")
                activity = services.activity_create(
                    actor=None, **course_values(relationship=relationship, title="After the release")
                )
                assert Activity.pgh_event_model.objects.filter(pgh_obj_id=activity.pk).count() == 1  # type: ignore[attr-defined]
                for statement in (
                    "TRUNCATE cooperation_activityevent",
                    "DELETE FROM cooperation_activityevent",
                    "UPDATE cooperation_activityevent SET title = title",
                    "DELETE FROM django_migrations",
                ):
                    assert refusal(statement) == "INSUFFICIENT_PRIVILEGE", statement
            assert f"Granted {roles.app} the application's rights (DATABASE_APP_ROLE)." in output.getvalue()


def test_migrate_stops_on_a_setting_that_names_no_usable_role(roles: Roles) -> None:
    """The migrations are in but the grants are not: say so, naming the setting."""
    with override_settings(DATABASE_APP_ROLE="hroles_nobody"), pytest.raises(CommandError) as missing:
        after_migrate(using="default")
    assert str(missing.value) == "DATABASE_APP_ROLE: No database role named 'hroles_nobody'."
    with (
        connected_as(roles.owner, roles.password),
        override_settings(DATABASE_APP_ROLE=roles.owner),
        pytest.raises(CommandError, match=r"^DATABASE_APP_ROLE: .* is the role this command connects as"),
    ):
        after_migrate(using="default")
