"""Prepared statements (attache/prepared_statements.py): same rows, prepared once per connection."""

from __future__ import annotations

import datetime
from typing import Any

import pghistory
import pytest
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from attache import prepared_statements
from attache.prepared_statements import Parameter, numbered, write_values

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_statements_yet(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Statements outlive a test on pytest-django's connection: start each test without any.
    Most tests here are about statements once prepared: they are prepared on their first run
    (the tests of `PREPARE_AFTER` set it back)."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection._attache_prepared = None  # type: ignore[attr-defined]
    monkeypatch.setattr(prepared_statements, "PREPARE_AFTER", 1)


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


def test_a_statement_is_prepared_on_its_second_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared_statements, "PREPARE_AFTER", 2)
    sql = "SELECT %s::int * 3"
    name = prepared_statements.statement_name(sql)
    with CaptureQueriesContext(connection) as first:
        assert run(sql, (1,)) == [(3,)]
    assert prepared_on_connection() == {}
    with CaptureQueriesContext(connection) as later:
        assert run(sql, (2,)) == [(6,)]
        assert run(sql, (3,)) == [(9,)]
    assert [query["sql"] for query in first.captured_queries] == ["SELECT 1::int * 3"]
    assert [query["sql"] for query in later.captured_queries] == [f"EXECUTE {name}(2)", f"EXECUTE {name}(3)"]
    assert list(prepared_on_connection()) == [name]


@override_settings(DATABASE_PREPARED_STATEMENTS=2)
def test_statements_run_once_neither_get_prepared_nor_push_out_the_repeated_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prepared_statements, "PREPARE_AFTER", 2)
    repeated = "SELECT %s::int - 1"
    run(repeated, (1,))
    run(repeated, (1,))
    for number in range(50):
        assert run(f"SELECT %s::int + {number}", (1,)) == [(1 + number,)]
    assert list(prepared_on_connection()) == [prepared_statements.statement_name(repeated)]
    registry = connection._attache_prepared  # type: ignore[attr-defined]
    assert len(registry.runs) == prepared_statements.SEEN_PER_PREPARED * 2  # the oldest forgotten
    assert run("SELECT %s::int + 49", (1,)) == [(50,)]  # remembered: its second run prepares it
    assert len(prepared_on_connection()) == 2


def test_values_are_written_into_the_text_as_psycopg2_quotes_them_except_parameters() -> None:
    day = datetime.date(2024, 2, 29)
    sql = "SELECT %s::text, %s = ANY(%s), %s::date, %s, '100%%' WHERE %s IS NULL"
    params = ("it's 50%", 3, [1, 3], Parameter(day), Parameter("a%s'b"), None)
    with connection.cursor() as cursor:
        text, kept = write_values(cursor, sql, params)
        cursor.execute(sql, params)  # a Parameter anywhere else is its value
        plain = cursor.fetchall()
    assert text == "SELECT 'it''s 50%%'::text, 3 = ANY(ARRAY[1,3]), %s::date, %s, '100%%' WHERE NULL IS NULL"
    assert kept == [day, "a%s'b"]
    assert plain == [("it's 50%", True, day, "a%s'b", "100%")]
    assert run(text, tuple(kept)) == plain  # as text (and, prepared at once here, as EXECUTE)
    assert run(text, tuple(kept)) == plain
    assert numbered(text) in next(iter(prepared_on_connection().values()))


def test_a_statement_with_every_value_written_in_keeps_one_plan() -> None:
    """Without parameters PostgreSQL plans the statement once, for the values in its text."""
    with connection.cursor() as cursor:
        text, kept = write_values(cursor, "SELECT count(*) FROM accounts_user WHERE id > %s", (0,))
    assert kept == []
    for _ in range(3):
        run(text, ())
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'attache\\_%%'")
        assert cursor.fetchall() == [(3, 0)]
