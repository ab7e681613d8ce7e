"""64 bidders at once on one english auction: every bid either holds its payment or moves
nothing, exactly one winner at the close, every other hold given back, and the ledger's
invariants hold for every actor (run on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from models.engine import run_due
from models.ledger import LedgerEntry
from models.machines import MARKET_CLOSES
from models.market import Bid, Lot

from .conftest import Api
from .fedhelpers import site_of
from .test_ledger import assert_invariant, balance, minted

BIDDERS = 64


async def test_64_concurrent_bidders__one_winner_and_every_other_hold_released(api: Api) -> None:
    seller = await api.user("seller")
    gem = await minted(api, seller, "1", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, seller, str(1000 * BIDDERS), smallest_unit=0)
    tokens = {}
    for index in range(BIDDERS):
        name = f"bidder{index}"
        tokens[name] = await api.user(name)
        await api.post("/api/v1/ledger/give", {"type": coin, "amount": "1000", "to": name}, token=seller, expect=201)
    closes_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    body = {"kind": "english_auction", "type": gem, "amount": "1", "price_type": coin, "start_price": "10",
            "min_increment": "1", "closes_at": closes_at}
    listed = await api.post("/api/v1/market/lots", body, token=seller, expect=201)
    lot_id = listed.body["id"]

    steps = list(range(BIDDERS))
    random.Random(17).shuffle(steps)  # bids in no order: whichever arrive after a higher one are too low

    async def bid(index: int) -> tuple[int, str | None]:
        amount = str(10 + steps[index] * 7)
        reply = await api.post(f"/api/v1/market/lots/{lot_id}/bids", {"amount": amount}, token=tokens[f"bidder{index}"])
        if reply.status != 201:
            assert reply.status == 422 and reply.body["code"] == "bid-too-low", reply  # a higher bid came first
        return reply.status, reply.body.get("code")

    statuses = Counter(status for status, _ in await asyncio.gather(*(bid(index) for index in range(BIDDERS))))
    assert statuses[201] >= 1 and statuses[422] >= 1 and statuses[201] + statuses[422] == BIDDERS, statuses
    held = await Bid.filter(lot_id=lot_id, state="held")
    assert len(held) == 1  # only the leading bid is held; each outbid one was given back at once
    assert await Bid.filter(lot_id=lot_id).count() == statuses[201]
    escrow = (await Lot.get(id=lot_id)).escrow_id
    outputs = await LedgerEntry.filter(recipient_id=escrow, remaining__gt=0)
    held_coin = sum(entry.remaining for entry in outputs if entry.type_id == coin)
    assert held_coin == sum(bid.held for bid in held)  # the escrow holds exactly the held bids
    assert sum(entry.remaining for entry in outputs if entry.type_id == gem) == 1  # and the lot

    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    lot = await Lot.get(id=lot_id)
    winner = held[0]
    assert lot.state == "sold" and lot.winner_id == winner.bidder_id and lot.sold_price == winner.amount
    assert winner.amount == 10 + (BIDDERS - 1) * 7  # the highest bid always gets in: nothing can beat it
    assert await Bid.filter(lot_id=lot_id, state="won").count() == 1
    assert await Bid.filter(lot_id=lot_id, state="held").count() == 0
    escrow_left = await LedgerEntry.filter(recipient_id=lot.escrow_id, remaining__gt=0).count()
    assert escrow_left == 0
    assert await balance(api, coin, "seller") == str(winner.amount)
    winners = [name for name in tokens if await balance(api, gem, name) == "1"]
    assert len(winners) == 1
    total = 0
    for name in tokens:
        total += int(await balance(api, coin, name))
        await assert_invariant(api, coin, name)
        await assert_invariant(api, gem, name)
    assert total == 1000 * BIDDERS - winner.amount
    await assert_invariant(api, coin, "seller")
    await assert_invariant(api, gem, "seller")


async def test_20_concurrent_buyers_of_a_fixed_price_lot__exactly_one_buys(api: Api) -> None:
    seller = await api.user("seller")
    gem = await minted(api, seller, "1", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, seller, "2000", smallest_unit=0)
    tokens = {}
    for index in range(20):
        tokens[index] = await api.user(f"buyer{index}")
        await api.post("/api/v1/ledger/give", {"type": coin, "amount": "100", "to": f"buyer{index}"}, token=seller, expect=201)
    body = {"kind": "fixed_price", "type": gem, "amount": "1", "price_type": coin, "price": "60"}
    lot_id = (await api.post("/api/v1/market/lots", body, token=seller, expect=201)).body["id"]

    async def buy(index: int) -> int:
        reply = await api.post(f"/api/v1/market/lots/{lot_id}/bids", {}, token=tokens[index])
        if reply.status != 201:
            assert reply.status == 409 and reply.body["code"] == "lot-not-open", reply
        return reply.status

    statuses = Counter(await asyncio.gather(*(buy(index) for index in range(20))))
    assert statuses == {201: 1, 409: 19}, statuses
    spent = [index for index in range(20) if await balance(api, coin, f"buyer{index}") != "100"]
    assert len(spent) == 1 and await balance(api, coin, f"buyer{spent[0]}") == "40"
    assert await balance(api, gem, f"buyer{spent[0]}") == "1"
    assert await balance(api, coin, "seller") == "60"
    for index in range(20):
        await assert_invariant(api, coin, f"buyer{index}")


async def test_close_racing_bids__one_winner_and_nothing_held_after(api: Api) -> None:
    """The close runs while bids arrive: bids after it are refused (409 lot-not-open), the lot is
    sold once to the best bid that got in, and no hold is left behind."""
    seller = await api.user("seller")
    gem = await minted(api, seller, "1", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, seller, "3000", smallest_unit=0)
    tokens = {}
    for index in range(30):
        tokens[index] = await api.user(f"bidder{index}")
        await api.post("/api/v1/ledger/give", {"type": coin, "amount": "100", "to": f"bidder{index}"}, token=seller, expect=201)
    closes_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    body = {"kind": "english_auction", "type": gem, "amount": "1", "price_type": coin, "start_price": "1", "closes_at": closes_at}
    lot_id = (await api.post("/api/v1/market/lots", body, token=seller, expect=201)).body["id"]

    async def bid(index: int) -> int:
        reply = await api.post(f"/api/v1/market/lots/{lot_id}/bids", {"amount": str(1 + index * 3)}, token=tokens[index])
        if reply.status != 201:
            assert reply.status in (409, 422) and reply.body["code"] in ("lot-not-open", "bid-too-low"), reply
        return reply.status

    async def close() -> int:
        await asyncio.sleep(0.05)
        return await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2))

    *statuses, closed = await asyncio.gather(*(bid(index) for index in range(30)), close())
    assert closed == 1
    assert await Bid.filter(lot_id=lot_id).count() == statuses.count(201)  # a refused bid left no row
    lot = await Lot.get(id=lot_id)
    assert lot.state in ("sold", "unsold")
    assert await Bid.filter(lot_id=lot_id, state="held").count() == 0
    assert await Bid.filter(lot_id=lot_id, state="won").count() == (1 if lot.state == "sold" else 0)
    assert await LedgerEntry.filter(recipient_id=lot.escrow_id, remaining__gt=0).count() == 0
    total = sum([int(await balance(api, coin, f"bidder{index}")) for index in range(30)])
    assert total == 3000 - (lot.sold_price or 0)
    assert await balance(api, coin, "seller") == str(lot.sold_price or 0)
    for index in range(30):
        await assert_invariant(api, coin, f"bidder{index}")
