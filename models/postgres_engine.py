"""Tortoise's asyncpg backend, with transactions that give their connection back when cancelled.

Tortoise's pooled transaction takes a connection from the pool, then sends BEGIN. A task
cancelled during that BEGIN (the engine's runner stopping, a timeout) leaves `__aenter__`
without `__aexit__` ever running, so the connection is never released. Each such cancel lost a
connection for good: closing the pool then waited 10 s for it before terminating it (a stop of
a busy process; about one PostgreSQL test in 40), and a process that lost all of its pool's
connections would wait forever for one.
"""

from __future__ import annotations

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import TransactionalDBClient, TransactionContext, TransactionContextPooled
from tortoise.connection import get_connections

__all__ = ["ReleasingAsyncpgClient", "client_class"]


class _ReleasingTransactionContext(TransactionContextPooled):
    async def __aenter__(self) -> TransactionalDBClient:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException:  # cancelled or failed: __aexit__ will not run, so give it back here
            get_connections().reset(self.token)
            await pool.release(self.client._connection)
            raise
        return self.client


class ReleasingAsyncpgClient(AsyncpgDBClient):
    def _in_transaction(self) -> TransactionContext:
        return _ReleasingTransactionContext(TransactionWrapper(self), self._pool_init_lock)


client_class = ReleasingAsyncpgClient
