"""Group commit of one-trip gives (models/ledger_commit.py): shared transactions, separate fates."""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType

import pytest
from tortoise.exceptions import IntegrityError

from models import sql
from models.ledger import LedgerEntry

from .conftest import Api
from .dbutil import is_postgres
from .test_ledger import assert_invariant, balance, minted


SQLITE_ONLY = pytest.mark.skipif(
    is_postgres(), reason="PostgreSQL commits on a pool of connections in parallel: gives are not grouped there"
)


def _group_commit() -> ModuleType:
    """The module under test, imported when a test runs (so the rest of the file still loads without it)."""
    return importlib.import_module("models.ledger_commit")


async def _create_scratch() -> None:
    await sql.execute("CREATE TABLE scratch_gives (id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    await sql.execute("INSERT INTO scratch_gives (id, n) VALUES ('pot', 3)")


def _spend(key: str, amount: int, *, duplicate_of: str | None = None) -> list[sql.Statement]:
    """A give in miniature: the guard (a conditional decrement), then its row."""
    return [
        sql.Statement(
            "UPDATE scratch_gives SET n = n - ? WHERE id = 'pot' AND n >= ?", (amount, amount), expect_rows=1
        ),
        sql.Statement("INSERT INTO scratch_gives (id, n) VALUES (?, ?)", (duplicate_of or key, amount)),
    ]


@SQLITE_ONLY
async def test_group_commit__a_failed_guard_or_write_fails_only_its_own_give(api: Api) -> None:
    """Four gives committed together: the one whose guard fails and the one whose write fails are
    undone alone; the others are written, each seeing the decrements before it."""
    run_grouped = _group_commit().run_grouped
    await _create_scratch()
    outcomes = await asyncio.gather(
        run_grouped(_spend("a", 2)),  # 3 -> 1
        run_grouped(_spend("b", 2)),  # only 1 left: the guard fails
        run_grouped(_spend("c", 1, duplicate_of="a")),  # the guard holds, the insert fails
        run_grouped(_spend("d", 1)),  # c was undone: 1 -> 0
        return_exceptions=True,
    )
    assert outcomes[0] is True and outcomes[1] is False and outcomes[3] is True, outcomes
    assert isinstance(outcomes[2], IntegrityError), outcomes
    rows = {row["id"]: row["n"] for row in await sql.fetch("SELECT id, n FROM scratch_gives")}
    assert rows == {"pot": 0, "a": 2, "d": 1}


@SQLITE_ONLY
async def test_group_commit__concurrent_gives_share_commits(api: Api) -> None:
    """32 gives sent at once are committed in fewer transactions than gives (one fsync serves many)."""
    stats = _group_commit().STATS
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "100", smallest_unit=0)
    batches, gives = stats.batches, stats.gives

    async def give() -> int:
        reply = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "1", "to": "bob"}, token=alice)
        return reply.status

    statuses = await asyncio.gather(*(give() for _ in range(32)))
    assert statuses == [201] * 32
    assert stats.gives - gives == 32
    assert stats.batches - batches < 32, "each give was committed alone"
    assert await balance(api, type_id, "bob") == "32"
    assert await LedgerEntry.filter(kind="give").count() == 32
    await assert_invariant(api, type_id, "alice")
