"""Dutch and sealed auctions, the english auction's soft close, and withdrawing an offer (issue 17):
each end to end with balances, an empty escrow and the ledger's invariants after; one winner
among many dutch accepters; sealed amounts unseen by others; a moved close that runs once, at
the new time; bad input that holds nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from federation.outbox import publish_due_events
from models.actors import User
from models.engine import claim, run_claimed, run_due
from models.events import Event
from models.federation import OutboxActivity
from models.ledger import LedgerEntry
from models.machines import MARKET_CLOSES
from models.market import Bid, Lot, LotClose
from models.webhooks import can_see

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .test_ledger import assert_invariant, balance, minted
from .test_market import LOTS, _later, balances, escrow_holds, invariants, lot, users

HOUR = 3600


def _closes(lot_view: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(lot_view["closes_at"])


async def _schedule_started(lot_id: str, ago: timedelta) -> None:
    """Move a dutch lot's schedule into the past (its price falls from opens_at)."""
    await Lot.filter(id=lot_id).update(opens_at=datetime.now(UTC) - ago)


# ---------------------------------------------------------------- dutch


async def test_dutch__price_falls_by_steps_and_the_first_acceptance_buys_at_the_price_now(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "dutch_auction", start_price="100", reserve="50", drop="10", drop_every=HOUR, closes_at=_later(24))
    assert listed["current_price"] == "100" and listed["reserve"] == "50" and listed["drop"] == "10", listed
    assert listed["drop_every"] == HOUR and listed["next_minimum"] == "100"
    await _schedule_started(listed["id"], timedelta(hours=2, minutes=30))
    shown = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert shown.body["current_price"] == "80", shown.body  # two whole steps down
    next_drop = datetime.fromisoformat(shown.body["next_drop_at"])
    assert timedelta(minutes=29) < next_drop - datetime.now(UTC) <= timedelta(minutes=30)

    low = await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "70"}, token=m["bob"])
    assert_problem(low, 422, "bid-too-low")
    assert "80" in low.body["detail"]
    bought = await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "90"}, token=m["bob"])  # a ceiling: pays 80
    assert bought.status == 201 and bought.body["state"] == "won" and bought.body["amount"] == "80", bought
    assert await balances(api, m, "coin") == {"alice": "80", "bob": "20", "carol": "100", "dave": "100"}
    assert await balances(api, m, "gem") == {"alice": "6", "bob": "4", "carol": "0", "dave": "0"}
    assert await escrow_holds(listed["id"]) == 0
    sold = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert sold.body["state"] == "sold" and sold.body["sold_price"] == "80" and sold.body["current_price"] is None
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["carol"]), 409, "lot-not-open")
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(days=2)) == 1
    assert (await LotClose.get(lot_id=listed["id"])).outcome == "ended"
    await invariants(api, m)


async def test_dutch__amount_left_out_pays_the_price_now_which_stops_at_the_floor(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "dutch_auction", start_price="100", reserve="55", drop="10", drop_every=HOUR, closes_at=_later(24))
    await _schedule_started(listed["id"], timedelta(hours=10))
    shown = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert shown.body["current_price"] == "55" and shown.body["next_drop_at"] is None, shown.body
    bought = await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["carol"])
    assert bought.status == 201 and bought.body["amount"] == "55", bought
    assert await balances(api, m, "coin") == {"alice": "55", "bob": "100", "carol": "45", "dave": "100"}
    await invariants(api, m)


async def test_dutch__nobody_accepts_and_the_close_leaves_it_unsold(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "dutch_auction", start_price="100", reserve="50", drop="10", drop_every=HOUR, closes_at=_later(3))
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=4)) == 1
    closed = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert closed.body["state"] == "unsold" and closed.body["winner"] is None, closed.body
    assert await balance(api, m["gem"], "alice") == "10"
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_dutch__20_accept_at_once_exactly_one_buys_and_the_others_hold_nothing(api: Api) -> None:
    seller = await api.user("seller")
    gem = await minted(api, seller, "1", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, seller, "2000", smallest_unit=0)
    tokens = {}
    for index in range(20):
        tokens[index] = await api.user(f"buyer{index}")
        await api.post("/api/v1/ledger/give", {"type": coin, "amount": "100", "to": f"buyer{index}"}, token=seller, expect=201)
    body = {"kind": "dutch_auction", "type": gem, "amount": "1", "price_type": coin, "start_price": "90", "reserve": "30",
            "drop": "5", "drop_every": HOUR, "closes_at": _later(24)}
    lot_id = (await api.post(LOTS, body, token=seller, expect=201)).body["id"]

    async def accept(index: int) -> int:
        reply = await api.post(f"{LOTS}/{lot_id}/bids", {}, token=tokens[index])
        if reply.status != 201:
            assert reply.status == 409 and reply.body["code"] == "lot-not-open", reply
        return reply.status

    statuses = Counter(await asyncio.gather(*(accept(index) for index in range(20))))
    assert statuses == {201: 1, 409: 19}, statuses
    assert await Bid.filter(lot_id=lot_id).count() == 1  # a refused acceptance left no bid and no hold
    spent = [index for index in range(20) if await balance(api, coin, f"buyer{index}") != "100"]
    assert len(spent) == 1 and await balance(api, coin, f"buyer{spent[0]}") == "10"
    assert await balance(api, gem, f"buyer{spent[0]}") == "1"
    assert await balance(api, coin, "seller") == "90"
    assert await LedgerEntry.filter(recipient_id=(await Lot.get(id=lot_id)).escrow_id, remaining__gt=0).count() == 0
    for index in range(20):
        await assert_invariant(api, coin, f"buyer{index}")


# ---------------------------------------------------------------- sealed


async def test_sealed__highest_wins_pays_its_bid_tie_to_the_earlier_others_given_back(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "sealed_auction", start_price="10", closes_at=_later(2))
    path = f"{LOTS}/{listed['id']}/bids"
    placed = {}
    for name, amount in (("bob", "30"), ("carol", "50"), ("dave", "50")):
        reply = await api.post(path, {"amount": amount}, token=m[name])
        assert reply.status == 201 and reply.body["state"] == "held" and reply.body["amount"] == amount, reply
        placed[name] = reply.body
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "70", "carol": "50", "dave": "50"}
    assert_problem(await api.post(path, {"amount": "60"}, token=m["bob"]), 409, "already-bid")
    assert_problem(await api.post(path, {"amount": "5"}, token=m["carol"]), 422, "bid-too-low")

    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=3)) == 1
    closed = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert closed.body["state"] == "sold" and closed.body["sold_price"] == "50", closed.body
    assert closed.body["winner"].startswith("carol@") and closed.body["sealed"] is False
    states = {bid["bidder"].partition("@")[0]: (bid["state"], bid["amount"]) for bid in closed.body["bids"]}
    assert states == {"bob": ("released", "30"), "carol": ("won", "50"), "dave": ("released", "50")}  # opened
    assert await balances(api, m, "coin") == {"alice": "50", "bob": "100", "carol": "50", "dave": "100"}
    assert await balances(api, m, "gem") == {"alice": "6", "bob": "0", "carol": "4", "dave": "0"}
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_sealed__amounts_and_leader_hidden_from_seller_others_and_the_ledger_until_the_close(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "sealed_auction", reserve="20", closes_at=_later(2))
    mine = await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "35"}, token=m["bob"], expect=201)
    hold = mine.body["hold"]
    for viewer in (m["alice"], m["carol"], None):
        shown = await api.get(f"{LOTS}/{listed['id']}", token=viewer, expect=200)
        assert shown.body["sealed"] is True and shown.body["bid_count"] == 1, shown.body
        assert shown.body["best_bid"] is None and shown.body["reserve_met"] is None and shown.body["bids"] == []
        assert '"35"' not in shown.text
        assert_problem(await api.get(f"/api/v1/ledger/operations/{hold}", token=viewer), 404, "operation-not-found")
        assert_problem(await api.get(f"/api/v1/ledger/operations/{hold}/trace", token=viewer), 404, "operation-not-found")
        listed_entries = await api.get("/api/v1/ledger/operations", params={"type": m["coin"], "page_size": "50"}, token=viewer, expect=200)
        assert hold not in {entry["id"] for entry in listed_entries.body["items"]}
    # nor through federation: the entry's ActivityPub document is 404, and it is not published
    ap = {"Accept": "application/activity+json"}
    assert (await api.get(f"/ledger/{hold}", headers=ap)).status == 404
    await publish_due_events(site_of(api), now=datetime.now(UTC) + timedelta(minutes=5))
    given = await Event.get(name="ledger.give", object_id=hold)
    assert not await OutboxActivity.filter(event_id=given.id).exists()
    own = await api.get(f"{LOTS}/{listed['id']}", token=m["bob"], expect=200)
    assert [(bid["bidder"].partition("@")[0], bid["amount"]) for bid in own.body["bids"]] == [("bob", "35")]
    assert (await api.get(f"/api/v1/ledger/operations/{hold}", token=m["bob"], expect=200)).body["amount"] == "35"
    source = (await api.get(f"/api/v1/ledger/operations/{hold}", token=m["bob"], expect=200)).body["sources"][0][1]
    down = await api.get(f"/api/v1/ledger/operations/{source}/descendants", token=m["carol"], expect=200)
    assert hold not in {entry["id"] for entry in down.body["descendants"]}
    assert all(edge["entry"] != hold for edge in down.body["edges"])
    # webhooks deliver a bid's event to its bidder alone: the seller's subscription cannot see it
    event = await Event.get(name="market.bid.placed", object_id=mine.body["id"])
    assert not await can_see(await User.get(username="alice"), event)
    assert await can_see(await User.get(username="bob"), event)

    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=3)) == 1
    opened = await api.get(f"{LOTS}/{listed['id']}", token=m["carol"], expect=200)
    assert opened.body["state"] == "sold" and opened.body["best_bid"] == "35" and opened.body["bids"][0]["amount"] == "35"
    assert (await api.get(f"/api/v1/ledger/operations/{hold}", token=m["carol"], expect=200)).body["amount"] == "35"
    assert orjson.loads((await api.get(f"/ledger/{hold}", headers=ap, expect=200)).text)["amount"] == "35"


async def test_sealed__best_below_the_reserve_closes_unsold_and_gives_everything_back(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "sealed_auction", reserve="60", closes_at=_later(2))
    for name, amount in (("bob", "40"), ("carol", "55")):
        await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": amount}, token=m[name], expect=201)
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=3)) == 1
    closed = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert closed.body["state"] == "unsold" and {bid["state"] for bid in closed.body["bids"]} == {"released"}
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "100", "dave": "100"}
    assert await balance(api, m["gem"], "alice") == "10"
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_sealed__no_proxy_no_withdrawal_no_amountless_bid(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "sealed_auction", closes_at=_later(2))
    path = f"{LOTS}/{listed['id']}/bids"
    assert_problem(await api.post(path, {"max_amount": "50"}, token=m["bob"]), 422, "wrong-kind")
    assert_problem(await api.post(path, {}, token=m["bob"]), 422, "amount-required")
    bid = await api.post(path, {"amount": "25"}, token=m["bob"], expect=201)
    refused = await api.post(f"{LOTS}/{listed['id']}/offers/{bid.body['id']}/withdraw", {}, token=m["bob"])
    assert_problem(refused, 409, "bid-not-withdrawable")
    assert "binding" in refused.body["detail"]
    assert await balance(api, m["coin"], "bob") == "75"


# ---------------------------------------------------------------- soft close (anti-sniping)


async def test_soft_close__a_late_bid_moves_the_close_and_it_runs_once_at_the_new_time(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", extend_by=HOUR, closes_at=_later(1 / 6))
    old_close = _closes(listed)
    before = datetime.now(UTC)
    await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "20"}, token=m["bob"], expect=201)
    moved = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    new_close = _closes(moved.body)
    assert before + timedelta(hours=1) <= new_close <= datetime.now(UTC) + timedelta(hours=1), (old_close, new_close)
    row = await LotClose.get(lot_id=listed["id"])
    assert row.state == "pending" and row.next_at is not None
    assert abs((row.next_at.replace(tzinfo=UTC) if row.next_at.tzinfo is None else row.next_at) - new_close) < timedelta(seconds=1)
    extended = await Event.get(name="market.lot.extended", object_id=listed["id"])
    assert extended.payload["closes_at"] == moved.body["closes_at"]

    assert await run_due(site_of(api), MARKET_CLOSES, now=old_close + timedelta(minutes=1)) == 0  # not due any more
    assert (await api.get(f"{LOTS}/{listed['id']}", expect=200)).body["state"] == "open"
    assert await run_due(site_of(api), MARKET_CLOSES, now=new_close + timedelta(seconds=1)) == 1
    assert await run_due(site_of(api), MARKET_CLOSES, now=new_close + timedelta(hours=1)) == 0
    closed = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert closed.body["state"] == "sold" and closed.body["sold_price"] == "20", closed.body
    assert await LedgerEntry.filter(description=f"sold in lot {listed['id']}").count() == 1
    assert await balances(api, m, "coin") == {"alice": "20", "bob": "80", "carol": "100", "dave": "100"}
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_soft_close__a_bid_outside_the_window_leaves_the_close_alone(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", extend_by=600, closes_at=_later(2))
    await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "20"}, token=m["bob"], expect=201)
    assert (await api.get(f"{LOTS}/{listed['id']}", expect=200)).body["closes_at"] == listed["closes_at"]
    assert not await Event.filter(name="market.lot.extended").exists()


async def test_soft_close__a_close_already_claimed_when_the_bid_moves_it_does_not_commit(api: Api) -> None:
    """The runner took the close row (its clock past the old time) just as a late bid came in:
    the bid's move drops that claim, the running close cannot commit, and the lot closes once,
    at the new time."""
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", extend_by=HOUR, closes_at=_later(1 / 6))
    lease, rows = await claim(MARKET_CLOSES, site_of(api), now=_closes(listed) + timedelta(seconds=1))
    assert len(rows) == 1
    await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "20"}, token=m["bob"], expect=201)
    assert await run_claimed(lease, rows) == {rows[0].id: None}  # taken from it: nothing recorded
    assert (await api.get(f"{LOTS}/{listed['id']}", expect=200)).body["state"] == "open"
    new_close = _closes((await api.get(f"{LOTS}/{listed['id']}", expect=200)).body)
    assert await run_due(site_of(api), MARKET_CLOSES, now=new_close + timedelta(seconds=1)) == 1
    assert (await api.get(f"{LOTS}/{listed['id']}", expect=200)).body["state"] == "sold"
    assert await balances(api, m, "coin") == {"alice": "20", "bob": "80", "carol": "100", "dave": "100"}


async def test_soft_close__the_handler_rechecks_closes_at_and_reschedules(api: Api) -> None:
    """A close row claimed for the old time whose lot's closes_at moved meanwhile (the row kept
    its claim): the handler reads the lot under its lock and retries at the new time."""
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", extend_by=HOUR, closes_at=_later(1 / 6))
    await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "20"}, token=m["bob"], expect=201)
    moved = _closes((await api.get(f"{LOTS}/{listed['id']}", expect=200)).body)
    await LotClose.filter(lot_id=listed["id"]).update(next_at=_closes(listed))  # as if the row had not moved
    clock = _closes(listed) + timedelta(seconds=1)
    lease, rows = await claim(MARKET_CLOSES, site_of(api), now=clock)
    assert len(rows) == 1
    await run_claimed(lease, rows)
    row = await LotClose.get(lot_id=listed["id"])
    next_at = row.next_at.replace(tzinfo=UTC) if row.next_at and row.next_at.tzinfo is None else row.next_at
    assert row.state == "pending" and next_at is not None and abs(next_at - moved) < timedelta(seconds=1), row.__dict__
    assert (await api.get(f"{LOTS}/{listed['id']}", expect=200)).body["state"] == "open"
    assert await run_due(site_of(api), MARKET_CLOSES, now=moved + timedelta(seconds=1)) == 1
    assert (await api.get(f"{LOTS}/{listed['id']}", expect=200)).body["state"] == "sold"


# ---------------------------------------------------------------- withdrawing an offer


async def test_withdraw_offer__gives_the_hold_back_at_once_and_only_to_its_bidder(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "offers")
    offers = {}
    for name, amount in (("bob", "20"), ("carol", "30")):
        offers[name] = (await api.post(f"{LOTS}/{listed['id']}/offers", {"amount": amount}, token=m[name], expect=201)).body["id"]
    path = f"{LOTS}/{listed['id']}/offers/{offers['bob']}/withdraw"
    assert_problem(await api.post(path, {}, token=m["carol"]), 403, "not-bidder")
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/offers/nope/withdraw", {}, token=m["bob"]), 404, "offer-not-found")
    withdrawn = await api.post(path, {}, token=m["bob"])
    assert withdrawn.status == 200 and withdrawn.body["state"] == "withdrawn" and withdrawn.body["settled"], withdrawn
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "70", "dave": "100"}
    assert await Event.filter(name="market.bid.withdrawn", object_id=offers["bob"]).exists()
    assert_problem(await api.post(path, {}, token=m["bob"]), 409, "offer-not-held")
    mine = await api.get("/api/v1/market/bids", params={"state": "withdrawn"}, token=m["bob"], expect=200)
    assert [bid["id"] for bid in mine.body["items"]] == [offers["bob"]]
    late = await api.post(f"{LOTS}/{listed['id']}/award", {"offer": offers["bob"]}, token=m["alice"])
    assert_problem(late, 409, "offer-not-held")

    await api.post(f"{LOTS}/{listed['id']}/award", {"offer": offers["carol"]}, token=m["alice"], expect=200)
    after = await api.post(f"{LOTS}/{listed['id']}/offers/{offers['carol']}/withdraw", {}, token=m["carol"])
    assert_problem(after, 409, "lot-not-open")
    assert await balances(api, m, "coin") == {"alice": "30", "bob": "100", "carol": "70", "dave": "100"}
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_withdraw__an_english_bid_is_refused_clearly(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", closes_at=_later())
    bid = await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "15"}, token=m["bob"], expect=201)
    refused = await api.post(f"{LOTS}/{listed['id']}/offers/{bid.body['id']}/withdraw", {}, token=m["bob"])
    assert_problem(refused, 409, "bid-not-withdrawable")
    assert "leading bid" in refused.body["detail"]
    assert await balance(api, m["coin"], "bob") == "85"


# ---------------------------------------------------------------- bad input: clear 4xx, nothing held


async def test_bad_auction_listings__refused_and_nothing_held(api: Api) -> None:
    m = await users(api)
    base = {"type": m["gem"], "amount": "1", "price_type": m["coin"], "closes_at": _later(2)}
    cases = [
        ({"kind": "dutch_auction", "start_price": "10", "reserve": "5", "drop_every": 60}, 400, None),  # no drop
        ({"kind": "dutch_auction", "start_price": "10", "reserve": "10", "drop": "1", "drop_every": 60}, 422, "invalid-price"),
        ({"kind": "dutch_auction", "start_price": "10", "reserve": "5", "drop": "1", "drop_every": 0}, 400, None),
        ({"kind": "dutch_auction", "start_price": "10", "reserve": "5", "drop": "0", "drop_every": 60}, 400, "invalid-amount"),
        ({"kind": "sealed_auction", "extend_by": 60}, 400, None),
        ({"kind": "sealed_auction", "min_increment": "1"}, 400, None),
        ({"kind": "fixed_price", "price": "5", "extend_by": 60}, 400, None),
        ({"kind": "english_auction", "start_price": "1", "extend_by": -5}, 400, None),
    ]
    for fields, status, code in cases:
        reply = await api.post(LOTS, {**base, **fields}, token=m["alice"])
        assert_problem(reply, status, code)
    no_close = await api.post(LOTS, {**base, "kind": "sealed_auction", "closes_at": None}, token=m["alice"])
    assert_problem(no_close, 400)
    assert "closes_at" in no_close.text
    assert await balance(api, m["gem"], "alice") == "10"
    assert await Lot.all().count() == 0


async def test_bad_dutch_bid__proxy_refused_and_nothing_held(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "dutch_auction", start_price="100", reserve="50", drop="10", drop_every=HOUR, closes_at=_later(24))
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/bids", {"max_amount": "100"}, token=m["bob"]), 422, "wrong-kind")
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["alice"]), 403, "own-lot")
    poor = await api.user("erin")
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=poor), 409, "insufficient")
    assert (await api.get(f"{LOTS}/{listed['id']}", expect=200)).body["state"] == "open"
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "100", "dave": "100"}
