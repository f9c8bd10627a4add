"""Prepared statements (attache/prepared_statements.py): same rows, prepared once per connection."""

from __future__ import annotations

from typing import Any

import pghistory
import pytest
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from attache import prepared_statements
from attache.prepared_statements import numbered

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_statements_yet(db: None) -> None:
    """Statements outlive a test on pytest-django's connection: start each test without any."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection._attache_prepared = None  # type: ignore[attr-defined]


def run(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        prepared_statements.execute(cursor, sql, params)
        return cursor.fetchall()


def prepared_on_connection() -> dict[str, str]:
    """name → statement text, as PostgreSQL lists them for this session."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'attache\\_%%'")
        return dict(cursor.fetchall())


def test_placeholders_are_numbered_and_percent_signs_unescaped() -> None:
    assert numbered("SELECT %s, '100%%', %s || '%%s'") == "SELECT $1, '100%', $2 || '%s'"
    assert numbered("SELECT 1") == "SELECT 1"


def test_a_select_is_prepared_once_per_connection_and_gives_the_plain_rows() -> None:
    sql = "SELECT n, n * %s FROM generate_series(1, %s) AS n WHERE n <> %s ORDER BY n"
    with connection.cursor() as cursor:
        cursor.execute(sql, (3, 4, 2))
        plain = cursor.fetchall()
    assert run(sql, (3, 4, 2)) == plain == [(1, 3), (3, 9), (4, 12)]
    assert run(sql, (10, 2, 1)) == [(2, 20)]  # other values, the same statement
    statements = prepared_on_connection()
    name = prepared_statements.statement_name(sql)
    assert list(statements) == [name]
    assert f"PREPARE {name} AS {numbered(sql)};" in statements[name]  # inside a savepoint: a test's transaction


def test_the_request_sees_one_query_per_execution_and_none_for_preparing() -> None:
    sql = "SELECT %s::int + 1"
    with CaptureQueriesContext(connection) as first:
        assert run(sql, (1,)) == [(2,)]
    with CaptureQueriesContext(connection) as second:
        assert run(sql, (41,)) == [(42,)]
    name = prepared_statements.statement_name(sql)
    assert [query["sql"] for query in first.captured_queries] == [f"EXECUTE {name}(1)"]
    assert [query["sql"] for query in second.captured_queries] == [f"EXECUTE {name}(41)"]


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again() -> None:
    sql = "SELECT %s::text || 'x'"
    assert run(sql, ("a",)) == [("ax",)]
    assert list(prepared_on_connection()) == [prepared_statements.statement_name(sql)]
    connection.close()
    assert prepared_on_connection() == {}  # a new server connection
    assert run(sql, ("b",)) == [("bx",)]
    assert list(prepared_on_connection()) == [prepared_statements.statement_name(sql)]


@override_settings(DATABASE_PREPARED_STATEMENTS=2)
def test_the_least_recently_used_statement_is_deallocated_beyond_the_limit() -> None:
    first, second, third = ("SELECT %s::int", "SELECT %s::int + 1", "SELECT %s::int + 2")
    run(first, (1,))
    run(second, (1,))
    run(first, (1,))  # used again: now the second is the oldest
    assert run(third, (1,)) == [(3,)]
    assert set(prepared_on_connection()) == {prepared_statements.statement_name(sql) for sql in (first, third)}


@override_settings(DATABASE_PREPARED_STATEMENTS=0)
def test_zero_turns_preparing_off() -> None:
    sql = "SELECT %s::int * 2"
    with CaptureQueriesContext(connection) as queries:
        assert run(sql, (21,)) == [(42,)]
    assert [query["sql"] for query in queries.captured_queries] == ["SELECT 21::int * 2"]
    assert prepared_on_connection() == {}


def test_a_statement_other_than_a_select_runs_as_it_is() -> None:
    with connection.cursor() as cursor:
        prepared_statements.execute(cursor, "CREATE TEMPORARY TABLE prepared_check (n int)", ())
        prepared_statements.execute(cursor, "INSERT INTO prepared_check VALUES (%s)", (7,))
        cursor.execute("SELECT n FROM prepared_check")
        assert cursor.fetchall() == [(7,)]
    assert prepared_on_connection() == {}


def test_a_statement_postgresql_cannot_prepare_runs_as_text_and_keeps_the_transaction() -> None:
    sql = "SELECT 1 WHERE %s IS NULL"  # the parameter's type cannot be inferred
    assert connection.in_atomic_block
    assert run(sql, (None,)) == [(1,)]
    assert run(sql, ("x",)) == []
    assert prepared_on_connection() == {}
    assert run("SELECT %s::int", (5,)) == [(5,)]  # the transaction is still usable


def test_the_audit_context_is_not_sent_with_a_prepared_select() -> None:
    """pghistory prefixes writes with its context; a prepared SELECT needs none (and, as
    EXECUTE, would otherwise get it)."""
    sql = "SELECT %s::int"
    run(sql, (0,))
    with pghistory.context(user=1), CaptureQueriesContext(connection) as queries:
        assert run(sql, (3,)) == [(3,)]
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_user SET first_name = first_name WHERE id = -1")
    executed, update = (query["sql"] for query in queries.captured_queries)
    assert executed == f"EXECUTE {prepared_statements.statement_name(sql)}(3)"
    assert "set_config('pghistory.context_id'" in update  # the writes still carry it


@pytest.mark.django_db(transaction=True)
def test_a_statement_the_server_lost_or_cannot_run_any_more_is_prepared_again() -> None:
    sql = "SELECT value, label FROM prepared_again WHERE value <> %s ORDER BY value"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE prepared_again (value int, label int)")
        cursor.execute("INSERT INTO prepared_again VALUES (1, 10), (2, 20)")
    try:
        assert run(sql, (2,)) == [(1, 10)]
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would
        assert run(sql, (1,)) == [(2, 20)]
        with connection.cursor() as cursor:  # the cached plan's result type changes
            cursor.execute("ALTER TABLE prepared_again ALTER COLUMN label TYPE text")
        assert run(sql, (1,)) == [(2, "20")]
        assert list(prepared_on_connection()) == [prepared_statements.statement_name(sql)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE prepared_again")


def test_inside_a_transaction_a_lost_statement_is_an_error() -> None:
    """A failed statement aborts the caller's transaction: nothing can be retried there."""
    sql = "SELECT %s::int + 1"
    assert run(sql, (1,)) == [(2,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError), transaction.atomic():
        run(sql, (1,))


@override_settings(DATABASE_PREPARED_STATEMENTS=1)
def test_preparing_over_statements_the_server_lost_or_kept_is_no_error() -> None:
    first, second = "SELECT %s::int", "SELECT %s::int + 1"
    assert run(first, (1,)) == [(1,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # the server lost `first`; this process still lists it
    assert run(second, (1,)) == [(2,)]  # evicting `first` finds nothing to deallocate
    connection._attache_prepared = None  # type: ignore[attr-defined]  # forgotten here, kept there
    assert run(second, (2,)) == [(3,)]
    assert run(first, (3,)) == [(3,)]
    assert list(prepared_on_connection()) == [prepared_statements.statement_name(first)]
