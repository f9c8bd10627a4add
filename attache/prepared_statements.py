"""Server-side prepared statements for hot SELECTs whose text repeats.

A statement Django compiles is sent as text with its values interpolated (psycopg2
interpolates on the client), so PostgreSQL parses, analyses, rewrites and plans it on
every request. For a large statement that is a good part of its cost: the API list's page
query, which writes each row's JSON with some forty expressions, cost PostgreSQL 2.38 ms
of CPU sent as text and 2.00 ms as `EXECUTE` (medians of 12 interleaved rounds of 200 on
the benchmark database), and about half of that again with one plan kept for it.

`execute(cursor, sql, params)` runs `sql` as text the first time a connection sees it;
the second time it prepares it (under a name derived from its text) and from then on
runs `EXECUTE name(values…)`. A statement used once costs no PREPARE, and statements
used once do not push the repeated ones out of the connection's limited set. The values
are still interpolated by psycopg2 as literals, which PostgreSQL coerces to the
parameter types it inferred when preparing.

Plans are left to PostgreSQL's `plan_cache_mode` (`auto`): a statement without parameters
keeps one plan (made for the very values written in it, made again when the statistics
of its tables change); one with parameters is planned per run for its values until a
generic plan is estimated no worse. A plan made without the filters' values is the risk:
`status = $2` or `relationship_id = $1` estimated as an average value could walk the whole
date index for a relationship with ten activities. So `write_values` writes a
statement's values into its text — quoted by psycopg2, exactly as it quotes them when it
sends a statement — except those marked `Parameter` (the API list marks its cursor's):
each set of filters is a statement of its own with its own plan, while the pages of one
walk share one statement. `make bench BENCH=page_statement` measures the forms.

A statement the server no longer has, or can no longer run with its cached plan (a
migration changed a column it returns), is prepared again and run once more — outside a
transaction; inside one the error stands, as any failed statement aborts it.

`settings.DATABASE_PREPARED_STATEMENTS` is the number kept per connection (least recently
used ones are deallocated; each holds about 200 kB of the server's memory with its plan);
0 turns preparing off, as a pooler that hands one client's transactions to several server
connections (PgBouncer in transaction mode) requires.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg2
from django.conf import settings
from django.db import DatabaseError

_PLACEHOLDER = re.compile(r"%[s%]")
# Statements PostgreSQL refused to prepare (e.g. a parameter whose type it cannot infer):
# these run as plain text from then on, in this process.
_UNPREPARABLE: set[str] = set()
# The server no longer has the statement (a pooler's DISCARD ALL, say), or cannot run its
# cached plan (a migration changed the type of a column it returns).
_STALE = {"26000", "0A000"}
_DUPLICATE = "42P05"  # a statement of that name exists on the server
# A statement is prepared on the connection's `PREPARE_AFTER`-th run of it; the texts run
# fewer times are remembered up to `SEEN_PER_PREPARED` × the limit of prepared ones.
PREPARE_AFTER = 2
SEEN_PER_PREPARED = 4


class Parameter:
    """A value that stays a parameter of its prepared statement (see `write_values`);
    anywhere else it is the value it holds."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Parameter({self.value!r})"


psycopg2.extensions.register_adapter(Parameter, lambda parameter: psycopg2.extensions.adapt(parameter.value))


def write_values(cursor: Any, sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
    """`sql` with every value but the `Parameter`s written into its text (quoted by psycopg2,
    exactly as it quotes them when it sends a statement), and the values that remain."""
    raw = cursor.cursor
    values = iter(params)
    kept: list[Any] = []

    def replace(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%%"
        value = next(values)
        if isinstance(value, Parameter):
            kept.append(value.value)
            return "%s"
        return raw.mogrify("%s", (value,)).decode().replace("%", "%%")

    text = _PLACEHOLDER.sub(replace, sql)
    return text, kept


class _Prepared:
    """The statements prepared on one psycopg2 connection: SQL text → statement name."""

    def __init__(self, raw_connection: Any) -> None:
        self.raw_connection = raw_connection
        self.names: OrderedDict[str, str] = OrderedDict()
        self.runs: OrderedDict[str, int] = OrderedDict()  # not yet prepared: text → runs so far

    def due(self, sql: str, limit: int) -> bool:
        """Count a run of `sql` (not prepared yet); whether to prepare it now."""
        runs = self.runs.pop(sql, 0) + 1
        if runs >= PREPARE_AFTER:
            return True
        self.runs[sql] = runs
        while len(self.runs) > SEEN_PER_PREPARED * limit:
            self.runs.popitem(last=False)
        return False


def numbered(sql: str) -> str:
    """Django's `%s` placeholders as PostgreSQL's `$1, $2, …` (and `%%` as `%`)."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(replace, sql)


def statement_name(sql: str) -> str:
    return "attache_" + hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()


def _registry(wrapper: Any) -> _Prepared:
    raw = wrapper.connection
    prepared: _Prepared | None = getattr(wrapper, "_attache_prepared", None)
    if prepared is None or prepared.raw_connection is not raw:
        # A new server connection (or the first): it holds no statements.
        prepared = _Prepared(raw)
        wrapper._attache_prepared = prepared
    return prepared


def execute(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """Run the SELECT `sql` with `params` on `cursor` (a Django cursor), as a prepared
    statement. Anything but a SELECT runs as it is."""
    limit = getattr(settings, "DATABASE_PREPARED_STATEMENTS", 0)
    if limit <= 0 or sql in _UNPREPARABLE or not sql.startswith("SELECT "):
        cursor.execute(sql, params)
        return
    wrapper = cursor.db  # Django's connection the cursor belongs to
    prepared = _registry(wrapper)
    name = prepared.names.get(sql)
    if name is None:
        if not prepared.due(sql, limit):
            cursor.execute(sql, params)
            return
        name = _prepare(wrapper, cursor, prepared, sql, limit)
        if name is None:
            cursor.execute(sql, params)
            return
    else:
        prepared.names.move_to_end(sql)
    try:
        _execute(wrapper, cursor, name, params)
    except DatabaseError as error:
        if wrapper.in_atomic_block or getattr(error.__cause__, "pgcode", None) not in _STALE:
            raise
        # Outside a transaction nothing was lost: prepare the statement afresh, run it again.
        prepared.names.pop(sql, None)
        name = _prepare(wrapper, cursor, prepared, sql, limit)
        if name is None:
            cursor.execute(sql, params)
            return
        _execute(wrapper, cursor, name, params)


def _execute(wrapper: Any, cursor: Any, name: str, params: Sequence[Any]) -> None:
    with _read_only(wrapper):
        if params:
            cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
        else:
            cursor.execute(f"EXECUTE {name}")


@contextlib.contextmanager
def _read_only(wrapper: Any) -> Iterator[None]:
    """Without pghistory's execute wrapper: it prefixes every statement but a SELECT with
    the audit context (two set_config calls, 0.2 ms of the server's time), for triggers
    that record changes; the EXECUTE of a prepared SELECT changes nothing either."""
    wrappers = wrapper.execute_wrappers
    wrapper.execute_wrappers = [hook for hook in wrappers if getattr(hook, "__module__", None) != "pghistory.runtime"]
    try:
        yield
    finally:
        wrapper.execute_wrappers = wrappers


def _prepare(wrapper: Any, cursor: Any, prepared: _Prepared, sql: str, limit: int) -> str | None:
    """PREPARE `sql` on the connection. Like the session settings Django makes when it
    connects, this runs on the driver's own cursor: it is not one of the request's queries
    (nor counted as one), and it changes no data."""
    name = statement_name(sql)
    raw = cursor.cursor  # psycopg2's cursor under Django's wrapper
    in_transaction = wrapper.in_atomic_block
    while len(prepared.names) >= limit:
        _, oldest = prepared.names.popitem(last=False)
        _session_statement(raw, f"DEALLOCATE {oldest}", in_transaction)  # gone already: as well
    statement = f"PREPARE {name} AS {numbered(sql)}"
    refused = _session_statement(raw, statement, in_transaction)
    if refused == _DUPLICATE:  # still on the server (its plan may be stale): replaced
        _session_statement(raw, f"DEALLOCATE {name}", in_transaction)
        refused = _session_statement(raw, statement, in_transaction)
    if refused is not None:
        if not refused.startswith("42"):  # not about the statement itself (e.g. an aborted transaction)
            raise DatabaseError(f"PREPARE failed with SQLSTATE {refused}")
        _UNPREPARABLE.add(sql)  # e.g. a parameter whose type PostgreSQL cannot infer
        return None
    prepared.names[sql] = name
    return name


def _session_statement(raw: Any, statement: str, in_transaction: bool) -> str | None:
    """Run PREPARE or DEALLOCATE; the SQLSTATE of a refusal is returned, not raised. In a
    transaction a savepoint keeps a refusal from aborting it. A lost connection is raised."""
    try:
        raw.execute(
            f"SAVEPOINT attache_prepare; {statement}; RELEASE SAVEPOINT attache_prepare"
            if in_transaction
            else statement
        )
    except psycopg2.Error as error:
        if error.pgcode is None:
            raise
        if in_transaction:
            raw.execute("ROLLBACK TO SAVEPOINT attache_prepare; RELEASE SAVEPOINT attache_prepare")
        return str(error.pgcode)
    return None
