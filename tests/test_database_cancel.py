"""A transaction cancelled while it begins gives its connection back to the pool (PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from server.database import close_database, open_database
from server.settings import Settings

from .dbutil import is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="the pool is PostgreSQL's (set TALLYSTICK_DATABASE_URL)")


async def test_cancelled_transactions__every_connection_comes_back_to_the_pool(settings: Settings) -> None:
    orm = await open_database(settings)
    try:
        pool = connections.get("default")._pool

        async def transaction() -> None:
            async with in_transaction() as connection:
                await connection.execute_query("SELECT 1")

        # Cancel after 0, 1, 2 ... turns of the loop: some land in the acquire, some in BEGIN,
        # some in the body or the COMMIT. None may keep a connection.
        for turns in range(40):
            task = asyncio.create_task(transaction())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert pool.get_idle_size() == pool.get_size(), "a cancelled transaction kept its connection"
        async with in_transaction() as connection:  # and the pool still works
            assert await connection.execute_query_dict("SELECT 1 AS one") == [{"one": 1}]
    finally:
        await close_database(orm)
