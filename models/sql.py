"""Hand-written SQL for the hottest paths, where building ORM queries dominated the time.

Measured with bench/ledger.py and a profiler: tortoise spent about 1 ms building each
query with joins (`select_related`), more than SQLite spent running it. These helpers run
plain parameterised SQL on the current connection (so they join the caller's transaction)
and turn rows back into ordinary model instances. Queries are written with `?`
placeholders; PostgreSQL gets `$1, $2, ...`.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.connection import connections
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

__all__ = [
    "Statement", "columns", "deferred", "execute", "fetch", "fetch_together", "insert", "insert_many", "is_sqlite", "load", "now",
    "run_atomic",
]

M = TypeVar("M", bound=Model)
_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=256)
def _numbered(query: str) -> str:
    """The query with PostgreSQL's placeholders: `?` becomes $1, $2, ..."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", query)


_CACHED_LENGTH = 4096  # longer queries (multi-row INSERTs, bulk UPDATEs) vary by row count: not kept


def _prepare(query: str) -> tuple[Any, str]:
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        return connection, query
    return connection, _numbered(query) if len(query) <= _CACHED_LENGTH else _numbered.__wrapped__(query)


async def fetch(query: str, *params: Any) -> list[dict[str, Any]]:
    connection, sql = _prepare(query)
    rows: list[dict[str, Any]] = await connection.execute_query_dict(sql, list(params))
    return rows


def in_transaction_now() -> bool:
    """Whether the caller runs inside an open transaction (a job's, say): network waits there
    would hold the transaction (and SQLite's write lock) open."""
    return isinstance(connections.get("default"), TransactionalDBClient)


def is_sqlite() -> bool:
    """Whether the default connection is SQLite (some statements are cheaper written for it)."""
    return bool(connections.get("default").capabilities.dialect == "sqlite")


async def execute(query: str, *params: Any) -> int:
    """Run an UPDATE/INSERT/DELETE; return the number of rows it changed. (On PostgreSQL
    tortoise reads an INSERT's count from the wrong field of "INSERT 0 n": count inserted rows
    there with RETURNING.)"""
    connection, sql = _prepare(query)
    count, _ = await connection.execute_query(sql, list(params))
    return int(count)


def _fetch_in_sqlite_thread(raw: sqlite3.Connection, queries: list[tuple[str, tuple[Any, ...]]]) -> list[list[dict[str, Any]]]:
    return [[dict(row) for row in raw.execute(query, params).fetchall()] for query, params in queries]


async def fetch_together(*queries: tuple[Any, ...]) -> list[list[dict[str, Any]]]:
    """Several independent reads, each `(query, *params)`: on SQLite in one trip to the
    database thread (see run_atomic for why trips matter), elsewhere one after another."""
    client = connections.get("default")
    if client.capabilities.dialect == "sqlite":
        batch = [(query, tuple(params)) for query, *params in queries]
        async with client.acquire_connection() as connection:
            try:
                return _fetch_in_sqlite_thread(connection._conn, batch)
            except sqlite3.OperationalError as error:
                raise OperationalError(error) from error
    return [await fetch(query, *params) for query, *params in queries]


def columns(model: type[Model], alias: str, only: Iterable[str] | None = None) -> str:
    """`alias.col AS "alias__col", ...` for every column, or those `only` names (a reader that needs
    no timestamps saves parsing them); call after ORM init: FKs come then."""
    key = None if only is None else tuple(only)
    return _columns(model, alias, key) if model._meta._inited else _columns.__wrapped__(model, alias, key)


@lru_cache(maxsize=256)
def _columns(model: type[Model], alias: str, only: tuple[str, ...] | None) -> str:
    names = model._meta.db_fields if only is None else [name for name in model._meta.db_fields if name in set(only)]
    return ", ".join(f'{alias}."{column}" AS "{alias}__{column}"' for column in names)


def load(model: type[M], row: dict[str, Any], alias: str) -> M:
    """A model instance from the aliased columns of a joined row (as if the ORM had loaded it;
    columns the query left out stay unset, as with QuerySet.only)."""
    prefix = f"{alias}__"
    return model._init_from_db(**{column: row[prefix + column] for column in model._meta.db_fields if prefix + column in row})


def now() -> datetime:
    """Timestamps as the ORM writes them (aware UTC); tortoise adapts them for SQLite."""
    return datetime.now(UTC)


MAX_PARAMS = 10_000  # per statement: under PostgreSQL's 32,767 and SQLite's 32,766 (3.32+)


async def insert_many(table: str, rows: list[dict[str, Any]]) -> None:
    """INSERT rows that share their columns; values must already be database-ready. Many rows
    go in several statements of at most MAX_PARAMS values each.
    Inside `deferred()` the statements are queued instead of run."""
    if not rows:
        return
    names = list(rows[0])
    one = "(" + ", ".join("?" for _ in names) + ")"
    quoted = ", ".join(f'"{name}"' for name in names)
    per_statement = max(1, MAX_PARAMS // len(names))
    # SQLite: timestamps turned into the text tortoise's adapter writes (isoformat(" ")) here, once
    # per distinct value, instead of one call of that Python adapter per value on the database
    # thread (up to 40% of the time of an INSERT of thousands of rows)
    stamps = [index for index, name in enumerate(names) if isinstance(rows[0][name], datetime)] if is_sqlite() else []
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        params = [row[name] for row in part for name in names]
        for index in stamps:
            column = params[index :: len(names)]
            distinct = {id(value): value for value in column}  # the rows of a batch share one moment
            texts = {key: value.isoformat(" ") if isinstance(value, datetime) else value for key, value in distinct.items()}
            params[index :: len(names)] = [texts[id(value)] for value in column]
        query = f'INSERT INTO "{table}" ({quoted}) VALUES ' + ", ".join(one for _ in part)
        queued = _DEFERRED.get()
        if queued is not None:
            queued.append(Statement(query, tuple(params)))
            continue
        await execute(query, *params)


# ---------------------------------------------------------------- one round trip for a whole write


@dataclass(frozen=True)
class Statement:
    """One write of an atomic batch; with `expect_rows`, a guard: unless it changes exactly that
    many rows, the whole batch is rolled back (e.g. the conditional decrement of a spend)."""

    query: str
    params: tuple[Any, ...] = ()
    expect_rows: int | None = None


_DEFERRED: ContextVar[list[Statement] | None] = ContextVar("deferred_writes", default=None)


@contextmanager
def deferred() -> Iterator[list[Statement]]:
    """Collect the INSERTs made by insert()/insert_many() (and so ctx.emit) instead of running
    them, for `run_atomic`. Code inside must not read back what it inserts."""
    statements: list[Statement] = []
    token = _DEFERRED.set(statements)
    try:
        yield statements
    finally:
        _DEFERRED.reset(token)


class _GuardFailed(Exception):
    pass


def _run_in_sqlite_thread(raw: sqlite3.Connection, statements: list[Statement]) -> bool:
    """Runs on aiosqlite's thread: BEGIN .. COMMIT without going back to the event loop."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            cursor = raw.execute(statement.query, statement.params)
            if statement.expect_rows is not None and cursor.rowcount != statement.expect_rows:
                raw.execute("ROLLBACK")
                return False
        raw.execute("COMMIT")
        return True
    except BaseException:
        raw.execute("ROLLBACK")
        raise


async def run_atomic(statements: list[Statement]) -> bool:
    """Run the statements in one transaction; False, with nothing written, when a guard fails.

    On SQLite, outside any transaction, the batch goes to the database thread in ONE round trip
    while holding tortoise's connection lock. Every statement in tortoise's SQLite client holds
    that one lock, so a write that takes eight trips holds it across eight event-loop turns,
    and under load that, not SQLite, is what bounds throughput (bench/ledger.py). Elsewhere
    (PostgreSQL, or inside a caller's transaction) the statements run one by one.
    """
    client = connections.get("default")
    if client.capabilities.dialect == "sqlite" and not isinstance(client, TransactionalDBClient):
        async with client.acquire_connection() as connection:
            try:
                applied: bool = await connection._execute(_run_in_sqlite_thread, connection._conn, statements)
                return applied
            except sqlite3.IntegrityError as error:
                raise IntegrityError(error) from error
            except sqlite3.OperationalError as error:
                raise OperationalError(error) from error
    try:
        async with in_transaction():
            for statement in statements:
                changed = await execute(statement.query, *statement.params)
                if statement.expect_rows is not None and changed != statement.expect_rows:
                    raise _GuardFailed
    except _GuardFailed:
        return False
    return True


async def insert(table: str, **values: Any) -> None:
    await insert_many(table, [values])
