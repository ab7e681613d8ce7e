"""Tortoise's SQLite backend with transactions that take the write lock when they begin.

A plain (deferred) BEGIN reads first and asks for the write lock at its first write. When
another process committed in between, SQLite cannot upgrade the stale read snapshot and fails
at once with "database is locked": busy_timeout does not apply. Two `tallystick worker`
processes on one SQLite file failed a quarter of their jobs that way. BEGIN IMMEDIATE waits
(up to busy_timeout) for the write lock instead, so concurrent processes take turns.

Tortoise's transaction also takes the client's one lock before BEGIN and gives it back only in
`__aexit__`, which never runs when the task is cancelled during BEGIN (a runner stopping, a
timeout): every later query of the process then waited forever. Ours lets go of it.
"""

from __future__ import annotations

import contextlib
import sqlite3

import aiosqlite
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

__all__ = ["ImmediateSqliteClient", "client_class"]


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class _ReleasingTransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:  # cancelled or failed: __aexit__ will not run, so undo here
            try:
                if self.connection._connection is not None:  # a BEGIN still queued on aiosqlite's thread ends
                    with contextlib.suppress(Exception):
                        await self.connection._connection.rollback()
            finally:
                self._trxlock.release()
            raise
        return self.connection  # type: ignore[no-any-return]  # tortoise leaves `connection` untyped


class ImmediateSqliteClient(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        """Tortoise's own, but opened with check_same_thread=False: sql.fetch_together runs small
        reads on the event loop's thread, under the client's lock, on this same connection
        (tortoise has no way to pass that argument through)."""
        if not self._connection:
            self._connection = await aiosqlite.connect(self.filename, isolation_level=None, check_same_thread=False)
            self._connection._conn.row_factory = sqlite3.Row
            for pragma, val in self.pragmas.items():
                cursor = await self._connection.execute(f"PRAGMA {pragma}={val}")
                await cursor.close()
            await self._post_connect()

    def _in_transaction(self) -> SqliteTransactionContext:
        return _ReleasingTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient
