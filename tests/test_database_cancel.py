"""A transaction cancelled while it begins lets go of what it took: the connection (PostgreSQL's
pool) or the client's one lock (SQLite). Before, the process lost a connection or, on SQLite,
every later query waited forever."""

from __future__ import annotations

import asyncio

from tortoise import connections
from tortoise.transactions import in_transaction

from server.database import close_database, open_database
from server.settings import Settings

from .dbutil import is_postgres


async def test_cancelled_transactions__the_database_still_answers_and_keeps_its_connections(settings: Settings) -> None:
    orm = await open_database(settings)
    try:

        async def transaction() -> int:
            async with in_transaction() as connection:
                rows = await connection.execute_query_dict("SELECT 1 AS one")
            return rows[0]["one"]  # type: ignore[no-any-return]

        # Cancel after 0, 1, 2 ... turns of the loop: some land in the start, some in BEGIN,
        # some in the body or the COMMIT. After each, a new transaction still runs (the limit
        # only turns a hang into a failure; it is not a timing goal).
        for turns in range(40):
            task = asyncio.create_task(transaction())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            try:
                assert await asyncio.wait_for(transaction(), timeout=30) == 1
            except asyncio.TimeoutError:
                raise AssertionError(f"the database stopped answering after a cancel at turn {turns}") from None
        if is_postgres():
            pool = connections.get("default")._pool
            assert pool.get_idle_size() == pool.get_size(), "a cancelled transaction kept its connection"
    finally:
        await close_database(orm)
