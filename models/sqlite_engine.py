"""Tortoise's SQLite backend with transactions that take the write lock when they begin.

A plain (deferred) BEGIN reads first and asks for the write lock at its first write. When
another process committed in between, SQLite cannot upgrade the stale read snapshot and fails
at once with "database is locked": busy_timeout does not apply. Two `tallystick worker`
processes on one SQLite file failed a quarter of their jobs that way. BEGIN IMMEDIATE waits
(up to busy_timeout) for the write lock instead, so concurrent processes take turns.
"""

from __future__ import annotations

import sqlite3

import aiosqlite

from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError

__all__ = ["ImmediateSqliteClient", "client_class"]


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


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
        return SqliteTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient
