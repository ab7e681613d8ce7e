"""The award of an offers lot with many held offers: every other offer is given back by a ledger
entry of its own (traceable to its hold, with its description and event), in the award's one
transaction, so a failure at its very end leaves every offer held and nothing moved."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from models.actors import User
from models.context import Context
from models.errors import Conflict
from models.events import Event
from models.ledger import LedgerEntry, LedgerSource
from models.market import Bid, Lot

from .conftest import Api, assert_problem
from .test_ledger import assert_invariant, balance, minted

LOTS = "/api/v1/market/lots"
BIDDERS = 6
FUNDS = 1000


async def offers_lot(api: Api, offers: int) -> dict[str, Any]:
    """alice lists one gem for offers; `offers` held offers from six funded bidders, round robin."""
    alice = await api.user("alice")
    gem = await minted(api, alice, "1", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, alice, str(FUNDS * BIDDERS), smallest_unit=0)
    tokens = {}
    for index in range(BIDDERS):
        name = f"bidder{index}"
        tokens[name] = await api.user(name)
        await api.post("/api/v1/ledger/give", {"type": coin, "amount": str(FUNDS), "to": name}, token=alice, expect=201)
    body = {"kind": "offers", "type": gem, "amount": "1", "price_type": coin}
    lot_id = (await api.post(LOTS, body, token=alice, expect=201)).body["id"]
    placed = []
    for number in range(offers):
        name = f"bidder{number % BIDDERS}"
        amount = 1 + number % 7
        reply = await api.post(f"{LOTS}/{lot_id}/offers", {"amount": str(amount)}, token=tokens[name], expect=201)
        placed.append({"id": reply.body["id"], "bidder": name, "amount": amount})
    return {"alice": alice, "gem": gem, "coin": coin, "lot": lot_id, "offers": placed}


async def actor_ids() -> dict[str, str]:
    return {user.username: user.actor_id for user in await User.filter(username__startswith="bidder")}


async def test_award_with_300_held_offers__each_other_offer_given_back_by_its_own_entry_and_event(api: Api) -> None:
    m = await offers_lot(api, 300)
    winner = max(m["offers"], key=lambda offer: offer["amount"])
    awarded = await api.post(f"{LOTS}/{m['lot']}/award", {"offer": winner["id"]}, token=m["alice"], expect=200)
    assert awarded.body["state"] == "sold" and awarded.body["sold_price"] == str(winner["amount"]), awarded

    lot = await Lot.get(id=m["lot"])
    bids = {bid.id: bid for bid in await Bid.filter(lot_id=lot.id)}
    assert Counter(bid.state for bid in bids.values()) == {"released": 299, "won": 1}
    released = sorted((bid for bid in bids.values() if bid.state == "released"), key=lambda bid: bid.id)
    settled = [bid.settled_id for bid in released]
    assert None not in settled and len(set(settled)) == 299  # one entry each
    entries = {entry.id: entry for entry in await LedgerEntry.filter(id__in=settled)}
    sources = {source.entry_id: source for source in await LedgerSource.filter(entry_id__in=settled)}
    assert len(sources) == 299
    actors = await actor_ids()
    by_bidder = {offer["id"]: offer["bidder"] for offer in m["offers"]}
    for bid in released:
        entry = entries[bid.settled_id]
        assert (entry.kind, entry.author_id, entry.recipient_id) == ("give", lot.escrow_id, actors[by_bidder[bid.id]])
        assert entry.amount == entry.remaining == bid.amount and entry.type_id == m["coin"]
        assert entry.description == f"released: another bid won (lot {lot.id})"
        assert (sources[entry.id].source_id, sources[entry.id].amount) == (bid.hold_id, bid.amount)  # its own hold
    assert settled == sorted(settled)  # the entries follow the bids' order
    holds = await LedgerEntry.filter(id__in=[bid.hold_id for bid in bids.values()])
    assert {hold.remaining for hold in holds} == {0} and len(holds) == 300

    gives = {event.object_id: event.payload for event in await Event.filter(name="ledger.give", object_id__in=settled)}
    assert len(gives) == 299
    assert all(gives[entry_id]["author"] == lot.escrow_id and gives[entry_id]["amount"] == str(entries[entry_id].amount)
               for entry_id in settled)
    events = await Event.filter(name="market.bid.released", object_id__in=list(bids))
    assert sorted((event.object_id, event.payload["entry"]) for event in events) == [(bid.id, bid.settled_id) for bid in released]

    trace = await api.get(f"/api/v1/ledger/operations/{settled[0]}/trace", expect=200)
    assert released[0].hold_id in {item["id"] for item in trace.body["ancestors"]}
    assert await LedgerEntry.filter(recipient_id=lot.escrow_id, remaining__gt=0).count() == 0
    for index in range(BIDDERS):
        name = f"bidder{index}"
        expected = FUNDS - winner["amount"] if name == winner["bidder"] else FUNDS
        assert await balance(api, m["coin"], name) == str(expected)
        await assert_invariant(api, m["coin"], name)
    assert await balance(api, m["coin"], "alice") == str(winner["amount"])
    assert await balance(api, m["gem"], winner["bidder"]) == "1"


async def test_award_with_held_offers__a_failure_at_its_end_undoes_every_release(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = await offers_lot(api, 40)
    emit = Context.emit

    async def failing_emit(self: Context, name: str, object_type: str, object_id: str, payload: dict[str, Any]) -> None:
        if name == "market.sale":  # the award's last write, after every release
            raise Conflict("injected at the end of the award", code="injected")
        await emit(self, name, object_type, object_id, payload)

    monkeypatch.setattr(Context, "emit", failing_emit)
    first = m["offers"][0]
    assert_problem(await api.post(f"{LOTS}/{m['lot']}/award", {"offer": first["id"]}, token=m["alice"]), 409, "injected")

    lot = await Lot.get(id=m["lot"])
    assert lot.state == "open" and lot.winner_id is None
    bids = await Bid.filter(lot_id=lot.id)
    assert {bid.state for bid in bids} == {"held"} and {bid.settled_id for bid in bids} == {None}
    assert await LedgerEntry.filter(author_id=lot.escrow_id).count() == 0  # no release, no payment, no item moved
    assert await Event.filter(name="market.bid.released").count() == 0
    held = await LedgerEntry.filter(recipient_id=lot.escrow_id, remaining__gt=0)
    assert sum(entry.remaining for entry in held if entry.type_id == m["coin"]) == sum(offer["amount"] for offer in m["offers"])
    for index in range(BIDDERS):
        await assert_invariant(api, m["coin"], f"bidder{index}")

    monkeypatch.setattr(Context, "emit", emit)
    awarded = await api.post(f"{LOTS}/{m['lot']}/award", {"offer": first["id"]}, token=m["alice"], expect=200)
    assert awarded.body["state"] == "sold"
    assert await Bid.filter(lot_id=lot.id, state="released").count() == 39
