"""A contract's payment falling due while its licensee pays the arrears and mints derived units
at the same moment: the arrears are taken once, every unit's rate is either in a payment or
still owed, and the ledger's invariants hold (run on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from models.contracts import Contract, ContractStep
from models.ledger import LedgerEntry

from .test_contracts import CONTRACTS, DAY, accept, at, derive, mint, offer, parties, run_at
from .test_ledger import assert_invariant, balance

MINTS = 8


@pytest.mark.parametrize("pay_after", [0.0, 0.05])
async def test_payment_due_while_the_licensee_pays_and_mints__arrears_taken_once(api: Any, pay_after: float) -> None:
    m = await parties(api)
    terms = await offer(api, m, fee="10", period_seconds=30 * DAY, penalty="5", grace_seconds=40 * DAY, rate_per_unit="1")
    held = await accept(api, m, terms["id"])
    cid, started = held["id"], held["started_at"]
    child = await derive(api, m)
    assert child.status == 201, child
    kid = child.body["id"]

    # bob cannot pay the first period: in arrears of fee 10 + penalty 5
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "50", "to": "carol"}, token=m["bob"], expect=201)
    assert await run_at(api, at(started, 30)) == 1
    before = await Contract.get(id=cid)
    assert before.state == "in_arrears" and before.arrears == 15 and before.owed == 0
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "500", "to": "bob"}, token=m["alice"], expect=201)

    # the second payment falls due while bob pays the arrears and mints, all at once
    async def pay() -> tuple[int, str | None]:
        await asyncio.sleep(pay_after)  # 0: bob usually locks first; later: the step's payment usually does
        reply = await api.post(f"{CONTRACTS}/{cid}/pay", {}, token=m["bob"])
        return reply.status, reply.body.get("code")

    async def one_unit() -> int:
        return (await mint(api, m["bob"], kid, "1")).status

    async def step() -> int:
        return await run_at(api, at(started, 60))

    ran, paid, *minted = await asyncio.gather(step(), pay(), *(one_unit() for _ in range(MINTS)))
    assert ran == 1
    assert paid in ((200, None), (409, "nothing-due")), paid  # 409: the due payment took the arrears first
    assert Counter(minted) == {201: MINTS}, minted  # in arrears, within the grace period: minting goes on
    assert await balance(api, kid, "bob") == str(MINTS)

    after = await Contract.get(id=cid)
    taken = after.paid - before.paid
    assert after.state == "active" and after.arrears == 0
    # arrears 15 + the second fee 10 + 1 per unit minted: each in exactly one payment, or still owed
    assert taken + after.owed == 15 + 10 + MINTS, (taken, after.owed)
    assert await balance(api, m["coin"], "bob") == str(500 - taken)
    payments = await LedgerEntry.filter(type_id=m["coin"], kind="give", author__username="bob", recipient__username="alice")
    assert sum(entry.amount for entry in payments) == taken
    assert len(payments) == (2 if paid[0] == 200 else 1)  # the step's payment, and bob's when it came first
    steps = await ContractStep.filter(contract_id=cid, kind="payment").order_by("due_at")
    assert [step.outcome for step in steps] == ["missed", "paid", None]
    for owner in ("alice", "bob", "carol"):
        await assert_invariant(api, m["coin"], owner)
    await assert_invariant(api, kid, "bob")
