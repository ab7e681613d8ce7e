"""Group commit for one-trip gives: concurrent gives share one transaction and one fsync.

A give on the hot path is a short list of statements led by its guard, the conditional
decrement of the output it spends (`sql.run_atomic`). Committed one by one on SQLite, each
give waits for its own fsync (synchronous=FULL) while holding the one connection, so gives
queue behind each other's commits. Here the gives that arrive while a batch is being written
wait for the next batch, and a batch runs on the database thread in one trip:

    BEGIN IMMEDIATE
      SAVEPOINT give; <guard>; <writes>; RELEASE give       -- each give in turn
      ... a failed guard or a failed write: ROLLBACK TO give, RELEASE give
    COMMIT

Each give keeps its own guard and sees the decrements of the gives before it in the batch,
so the guard stops a double spend as before; a give whose guard fails (or whose write fails)
is undone alone and its neighbours still commit. A failed COMMIT fails the whole batch, and
every give in it reports the error (nothing of it was written).

SQLite only, and only outside a caller's transaction (a job or chain step runs inside its
own): PostgreSQL has a pool of connections that commit in parallel, so a give there runs
`sql.run_atomic` alone, as before.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.connection import connections
from tortoise.exceptions import IntegrityError, OperationalError

from . import sql

__all__ = ["GROUP_MAX", "STATS", "run_grouped"]

GROUP_MAX = 256  # gives per transaction: bounds how long one batch holds the write lock


@dataclass
class Stats:
    """Counts since start: transactions committed by the group and the gives they carried."""

    batches: int = 0
    gives: int = 0


STATS = Stats()

Outcome = bool | BaseException  # guard held (True) or failed (False), or the write's error


def _run_group(raw: sqlite3.Connection, groups: Sequence[Sequence[sql.Statement]]) -> list[Outcome]:
    """Runs on aiosqlite's thread: every give's statements inside one BEGIN .. COMMIT."""
    raw.execute("BEGIN IMMEDIATE")
    outcomes: list[Outcome] = []
    try:
        for statements in groups:
            raw.execute("SAVEPOINT give")
            outcome: Outcome = True
            try:
                for statement in statements:
                    cursor = raw.execute(statement.query, statement.params)
                    if statement.expect_rows is not None and cursor.rowcount != statement.expect_rows:
                        outcome = False
                        break
            except sqlite3.DatabaseError as error:  # this give's own failure, e.g. a constraint
                outcome = error
            if outcome is not True:
                raw.execute("ROLLBACK TO give")  # undo this give alone
            raw.execute("RELEASE give")
            outcomes.append(outcome)
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    return outcomes


def _orm_error(error: BaseException) -> BaseException:
    """sqlite3's errors as tortoise raises them, so callers see what run_atomic raises."""
    if isinstance(error, sqlite3.IntegrityError):
        return IntegrityError(error)
    if isinstance(error, sqlite3.OperationalError):
        return OperationalError(error)
    return error


class _Group:
    """The gives waiting for the next batch on one event loop, and whether one is being written."""

    def __init__(self) -> None:
        self.pending: list[tuple[list[sql.Statement], asyncio.Future[bool]]] = []
        self.flushing = False
        self.task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references to tasks

    async def add(self, statements: list[sql.Statement]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append((statements, future))
        if not self.flushing:
            self.flushing = True
            self.task = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.pending:
                client = connections.get("default")
                async with client.acquire_connection() as connection:
                    # taken once the lock is ours: the gives that queued while we waited join
                    batch, self.pending = self.pending[:GROUP_MAX], self.pending[GROUP_MAX:]
                    try:
                        outcomes = await connection._execute(_run_group, connection._conn, [s for s, _ in batch])
                    except BaseException as error:  # noqa: BLE001  the batch failed: every give in it reports it
                        for _, future in batch:
                            if not future.done():
                                future.set_exception(_orm_error(error))
                        if not isinstance(error, Exception):
                            raise
                        continue
                STATS.batches += 1
                STATS.gives += len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(_orm_error(outcome))
                    else:
                        future.set_result(outcome)
        finally:
            self.flushing = False


_GROUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Group] = weakref.WeakKeyDictionary()


async def run_grouped(statements: list[sql.Statement]) -> bool:
    """`sql.run_atomic(statements)`, committed together with concurrent calls where that helps.

    True when every guard held and the writes are committed; False, with nothing of this call
    written, when a guard failed. Other calls in the same batch are not affected either way.
    """
    client = connections.get("default")
    if client.capabilities.dialect != "sqlite" or isinstance(client, TransactionalDBClient):
        return await sql.run_atomic(statements)
    loop = asyncio.get_running_loop()
    group = _GROUPS.get(loop)
    if group is None:
        group = _GROUPS[loop] = _Group()
    return await group.add(statements)
