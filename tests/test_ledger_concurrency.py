"""No double spend under concurrency: 200 simultaneous gives of 1 unit from a balance of 100."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from models.ledger import LedgerEntry

from .conftest import Api
from .test_ledger import assert_invariant, balance, minted


async def test_concurrent_gives__exactly_the_balance_succeeds(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "100", smallest_unit=0)

    async def give() -> int:
        reply = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "1", "to": "bob"}, token=alice)
        if reply.status == 409:
            assert reply.body["code"] == "insufficient", reply
        return reply.status

    statuses = Counter(await asyncio.gather(*(give() for _ in range(200))))
    assert statuses == {201: 100, 409: 100}, statuses
    assert await balance(api, type_id, "alice") == "0"
    assert await balance(api, type_id, "bob") == "100"
    assert await LedgerEntry.filter(kind="give").count() == 100
    await assert_invariant(api, type_id, "alice")


async def test_concurrent_explicit_double_spend__one_wins(api: Api) -> None:
    alice, _, _ = await api.user("alice"), await api.user("bob"), await api.user("carol")
    type_id = await minted(api, alice, "10", smallest_unit=0)
    source = (await api.get("/api/v1/ledger/operations", params={"type": type_id})).body["items"][0]["id"]

    async def give(to: str) -> int:
        body = {"type": type_id, "amount": "10", "to": to, "sources": [["10", source]]}
        return (await api.post("/api/v1/ledger/give", body, token=alice)).status

    statuses = sorted(await asyncio.gather(*(give(name) for name in ["bob", "carol"] * 10)))
    assert statuses.count(201) == 1 and statuses.count(409) == 19
    assert int(await balance(api, type_id, "bob")) + int(await balance(api, type_id, "carol")) == 10


async def test_concurrent_mints__cannot_pass_the_largest_total_together(api: Api) -> None:
    """30 mints of 1 unit at 18 decimals race for room for 9: exactly 9 win."""
    alice = await api.user("alice")
    type_id = await minted(api, alice, "0.000000000000000001", smallest_unit=18)

    async def mint() -> int:
        reply = await api.post("/api/v1/ledger/create", {"type": type_id, "amount": "1"}, token=alice)
        if reply.status == 422:
            assert reply.body["code"] == "amount-out-of-range", reply
        return reply.status

    statuses = Counter(await asyncio.gather(*(mint() for _ in range(30))))
    assert statuses == {201: 9, 422: 21}, statuses
    assert await balance(api, type_id, "alice") == "9.000000000000000001"
    listed = await api.get(f"/api/v1/types/{type_id}")
    assert listed.status == 200 and listed.body["minted"] == "9.000000000000000001", listed


async def test_concurrent_gives__overspends_refused_alone_and_balances_exact(api: Api) -> None:
    """Two givers race many gives at once, some past their balance: every answer is right on
    its own (201 with the entry, or 409 insufficient), and the balances add up exactly:
    no double spend, no lost give (gives committed together fail and succeed one by one)."""
    alice, carol, _, _ = await api.user("alice"), await api.user("carol"), await api.user("bob"), await api.user("dave")
    type_a = await minted(api, alice, "100", smallest_unit=0)
    type_c = await minted(api, carol, "50", smallest_unit=0)

    async def give(token: str, type_id: str, amount: str, to: str) -> tuple[str, str, int, Any]:
        reply = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": amount, "to": to}, token=token)
        return type_id, to, reply.status, reply.body

    calls = [give(alice, type_a, "7", ["bob", "dave"][i % 2]) for i in range(40)]  # 14 fit in 100
    calls += [give(carol, type_c, "2", "bob") for _ in range(30)]  # 25 fit in 50
    answers = await asyncio.gather(*calls)

    received: Counter[tuple[str, str]] = Counter()
    ids = set()
    for type_id, to, status, body in answers:
        if status == 409:
            assert body["code"] == "insufficient", body
            continue
        assert status == 201, (status, body)
        amount = "7" if type_id == type_a else "2"
        recipient = body["recipient"].partition("@")[0]
        assert (body["type"], recipient, body["amount"], body["kind"]) == (type_id, to, amount, "give"), body
        assert sum(int(taken) for taken, _ in body["sources"]) == int(amount), body
        received[(type_id, to)] += int(amount)
        ids.add(body["id"])
    statuses = Counter((type_id, status) for type_id, _, status, _ in answers)
    assert statuses == {(type_a, 201): 14, (type_a, 409): 26, (type_c, 201): 25, (type_c, 409): 5}, statuses
    assert len(ids) == 39
    assert await balance(api, type_a, "alice") == "2"
    assert await balance(api, type_c, "carol") == "0"
    assert int(await balance(api, type_a, "bob")) == received[(type_a, "bob")]
    assert int(await balance(api, type_a, "dave")) == received[(type_a, "dave")] == 98 - received[(type_a, "bob")]
    assert await balance(api, type_c, "bob") == "50"
    assert await LedgerEntry.filter(kind="give", id__in=list(ids)).count() == 39
    assert await LedgerEntry.filter(kind="give").count() == 39
    for type_id, owner in [(type_a, "alice"), (type_a, "bob"), (type_a, "dave"), (type_c, "carol"), (type_c, "bob")]:
        await assert_invariant(api, type_id, owner)
