"""The marketplace (issue 17, first slice): lots of each kind end to end, escrow on the ledger,
the close on the engine (also after a restart), and bad input that holds or moves nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from federation.outbox import publish_due_events
from models.actors import Actor
from models.context import Context
from models.engine import run_due
from models.federation import Follow, FollowState
from models.ledger import LedgerEntry
from models.machines import MARKET_CLOSES
from models.market import Lot, LotClose
from models.operations.market import close_lot

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .sethelpers import add, make_set, make_token, make_type
from .test_ledger import assert_invariant, balance, minted, new_type

LOTS = "/api/v1/market/lots"


def _later(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


async def users(api: Api) -> dict[str, Any]:
    tokens = {name: await api.user(name) for name in ("alice", "bob", "carol", "dave")}
    gem = await minted(api, tokens["alice"], "10", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, tokens["alice"], "300", smallest_unit=0)
    for name in ("bob", "carol", "dave"):
        await api.post("/api/v1/ledger/give", {"type": coin, "amount": "100", "to": name}, token=tokens["alice"], expect=201)
    return {**tokens, "gem": gem, "coin": coin}


async def lot(api: Api, m: dict[str, Any], kind: str, **fields: Any) -> dict[str, Any]:
    body = {"kind": kind, "type": m["gem"], "amount": "4", "price_type": m["coin"], **fields}
    reply = await api.post(LOTS, body, token=m["alice"])
    assert reply.status == 201, reply
    return reply.body


async def balances(api: Api, m: dict[str, Any], type_key: str) -> dict[str, str]:
    return {name: await balance(api, m[type_key], name) for name in ("alice", "bob", "carol", "dave")}


async def escrow_holds(lot_id: str) -> int:
    row = await Lot.get(id=lot_id)
    return sum(entry.remaining for entry in await LedgerEntry.filter(recipient_id=row.escrow_id))


async def invariants(api: Api, m: dict[str, Any]) -> None:
    for type_key in ("gem", "coin"):
        for name in ("alice", "bob", "carol", "dave"):
            await assert_invariant(api, m[type_key], name)


async def test_fixed_price__buying_pays_the_seller_and_hands_over_at_once(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "fixed_price", price="30", title="Four gems")
    assert listed["state"] == "open" and listed["item"]["amount"] == "4" and listed["price"] == "30", listed
    assert await balance(api, m["gem"], "alice") == "6"  # 4 held in the lot's escrow
    assert await escrow_holds(listed["id"]) == 4

    bought = await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["bob"])
    assert bought.status == 201 and bought.body["state"] == "won" and bought.body["amount"] == "30", bought

    assert await balances(api, m, "gem") == {"alice": "6", "bob": "4", "carol": "0", "dave": "0"}
    assert await balances(api, m, "coin") == {"alice": "30", "bob": "70", "carol": "100", "dave": "100"}
    assert await escrow_holds(listed["id"]) == 0
    after = await api.get(f"{LOTS}/{listed['id']}")
    assert after.body["state"] == "sold" and after.body["winner"] == "bob@" + site_of(api).domain, after
    again = await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["carol"])
    assert_problem(again, 409, "lot-not-open")
    assert await balance(api, m["coin"], "carol") == "100"
    await invariants(api, m)


async def test_offers__seller_accepts_one_and_the_others_are_given_back(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "offers")
    offers = {}
    for name, amount in (("bob", "20"), ("carol", "35"), ("dave", "25")):
        reply = await api.post(f"{LOTS}/{listed['id']}/offers", {"amount": amount}, token=m[name])
        assert reply.status == 201 and reply.body["state"] == "held", reply
        offers[name] = reply.body["id"]
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "80", "carol": "65", "dave": "75"}

    not_seller = await api.post(f"{LOTS}/{listed['id']}/award", {"offer": offers["carol"]}, token=m["bob"])
    assert_problem(not_seller, 403, "not-seller")
    awarded = await api.post(f"{LOTS}/{listed['id']}/award", {"offer": offers["carol"]}, token=m["alice"])
    assert awarded.status == 200 and awarded.body["state"] == "sold" and awarded.body["sold_price"] == "35", awarded
    states = {bid["bidder"].partition("@")[0]: bid["state"] for bid in awarded.body["bids"]}
    assert states == {"bob": "released", "carol": "won", "dave": "released"}

    assert await balances(api, m, "coin") == {"alice": "35", "bob": "100", "carol": "65", "dave": "100"}
    assert await balances(api, m, "gem") == {"alice": "6", "bob": "0", "carol": "4", "dave": "0"}
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_english_auction__outbid_released_at_once_and_close_awards_the_best(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", min_increment="5", closes_at=_later())
    path = f"{LOTS}/{listed['id']}/bids"
    assert (await api.post(path, {"amount": "10"}, token=m["bob"])).status == 201
    assert await balance(api, m["coin"], "bob") == "90"
    low = await api.post(path, {"amount": "14"}, token=m["carol"])
    assert_problem(low, 422, "bid-too-low")
    assert "15" in low.body["detail"]
    assert (await api.post(path, {"amount": "15"}, token=m["carol"])).status == 201
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "85", "dave": "100"}
    assert (await api.post(path, {"amount": "40"}, token=m["dave"])).status == 201
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "100", "dave": "60"}
    locked = await api.post(f"{LOTS}/{listed['id']}/withdraw", {}, token=m["alice"])
    assert_problem(locked, 409, "lot-locked")

    assert await run_due(site_of(api), MARKET_CLOSES) == 0  # not due before closes_at
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    closed = await api.get(f"{LOTS}/{listed['id']}")
    assert closed.body["state"] == "sold" and closed.body["sold_price"] == "40", closed
    assert await balances(api, m, "coin") == {"alice": "40", "bob": "100", "carol": "100", "dave": "60"}
    assert await balances(api, m, "gem") == {"alice": "6", "bob": "0", "carol": "0", "dave": "4"}
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_english_auction__reserve_not_met_closes_unsold_and_gives_everything_back(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", reserve="50", closes_at=_later())
    assert (await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "20"}, token=m["bob"])).status == 201
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    closed = await api.get(f"{LOTS}/{listed['id']}")
    assert closed.body["state"] == "unsold" and closed.body["winner"] is None, closed
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "100", "dave": "100"}
    assert await balance(api, m["gem"], "alice") == "10"
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)
    # the seller lists it again, on the same terms with a new close: the gems are held again
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/relist", {"closes_at": _later(3)}, token=m["bob"]), 403, "not-seller")
    again = await api.post(f"{LOTS}/{listed['id']}/relist", {"closes_at": _later(3)}, token=m["alice"], expect=201)
    assert again.body["id"] != listed["id"] and again.body["state"] == "open"
    assert (again.body["kind"], again.body["start_price"], again.body["reserve"], again.body["item"]["amount"]) == (
        "english_auction", "10", "50", "4")
    assert await balance(api, m["gem"], "alice") == "6"
    assert_problem(await api.post(f"{LOTS}/{again.body['id']}/relist", {}, token=m["alice"]), 409, "lot-not-ended")
    await invariants(api, m)


async def test_english_auction__buy_now_wins_at_once_and_the_close_then_does_nothing(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", buy_now="60", closes_at=_later())
    assert (await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "20"}, token=m["bob"])).status == 201
    won = await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "60"}, token=m["carol"])
    assert won.status == 201 and won.body["state"] == "won", won
    assert await balances(api, m, "coin") == {"alice": "60", "bob": "100", "carol": "40", "dave": "100"}
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    close = await LotClose.get(lot_id=listed["id"])
    assert (close.state, close.outcome) == ("done", "ended")
    assert await balances(api, m, "coin") == {"alice": "60", "bob": "100", "carol": "40", "dave": "100"}


async def test_close__after_a_restart_awards_once_even_when_run_twice(api: Api) -> None:
    """The server was down at closes_at: the close row is due when it comes back; running the
    runner again (or a second runner) cannot award a second time."""
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", closes_at=_later())
    assert (await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "25"}, token=m["bob"])).status == 201
    later = datetime.now(UTC) + timedelta(days=1)
    assert await run_due(site_of(api), MARKET_CLOSES, now=later) == 1
    assert await run_due(site_of(api), MARKET_CLOSES, now=later + timedelta(hours=1)) == 0
    assert await close_lot(Context(site=site_of(api), system=True), listed["id"]) == "ended"  # a direct second close
    assert await balances(api, m, "coin") == {"alice": "25", "bob": "75", "carol": "100", "dave": "100"}
    assert await balances(api, m, "gem") == {"alice": "6", "bob": "4", "carol": "0", "dave": "0"}
    assert await LedgerEntry.filter(description=f"sold in lot {listed['id']}").count() == 1
    await invariants(api, m)


async def test_withdraw__before_any_bid_gives_the_units_back(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "fixed_price", price="30")
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/withdraw", {}, token=m["bob"]), 403, "not-seller")
    withdrawn = await api.post(f"{LOTS}/{listed['id']}/withdraw", {}, token=m["alice"])
    assert withdrawn.status == 200 and withdrawn.body["state"] == "withdrawn", withdrawn
    assert await balance(api, m["gem"], "alice") == "10"
    assert await escrow_holds(listed["id"]) == 0
    entries = await LedgerEntry.filter(description=f"released: lot {listed['id']} withdrawn").count()
    assert entries == 1


async def test_unique_tokens__listed_token_cannot_be_given_and_goes_to_the_buyer(api: Api) -> None:
    m = await users(api)
    card = await new_type(api, m["alice"], name="Card", symbol="CRD", fungible=False, smallest_unit=0)
    token = await api.post("/api/v1/tokens", {"type": card["id"]}, token=m["alice"])
    assert token.status == 201, token
    listed = await lot(api, m, "fixed_price", type=card["id"], amount=None, tokens=[token.body["id"]], price="12")
    assert listed["item"]["tokens"] == [token.body["id"]]
    give = await api.post("/api/v1/ledger/give", {"type": card["id"], "amount": "1", "to": "carol", "token": token.body["id"]}, token=m["alice"])
    assert_problem(give, 409, "token-not-held")
    twice = await api.post(LOTS, {"kind": "fixed_price", "type": card["id"], "tokens": [token.body["id"]], "price_type": m["coin"], "price": "5"}, token=m["alice"])
    assert_problem(twice, 409, "token-not-held")
    assert (await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "12"}, token=m["bob"])).status == 201
    owned = await api.get(f"/api/v1/tokens/{token.body['id']}")
    assert owned.status == 200 and owned.body["owner"]["username"] == "bob", owned
    assert await balance(api, card["id"], "bob") == "1"
    assert await balance(api, m["coin"], "alice") == "12"


async def test_set__its_tokens_sold_as_one_lot_to_the_best_offer(api: Api) -> None:
    m = await users(api)
    card = await make_type(api, m["alice"], attributes=[])
    cards = [await make_token(api, m["alice"], card) for _ in range(3)]
    shelf = await make_set(api, m["alice"])
    await add(api, m["alice"], shelf["id"], *cards, expect=200)
    not_mine = await api.post(LOTS, {"kind": "offers", "set": shelf["id"], "price_type": m["coin"]}, token=m["bob"])
    assert_problem(not_mine, 403, "not-owner")
    listed = await api.post(LOTS, {"kind": "offers", "set": shelf["id"], "price_type": m["coin"]}, token=m["alice"])
    assert listed.status == 201, listed
    assert listed.body["item"] == {"type": card, "symbol": "GEM", "amount": "3", "tokens": cards, "set": shelf["id"]}
    offer = await api.post(f"{LOTS}/{listed.body['id']}/offers", {"amount": "45"}, token=m["carol"], expect=201)
    await api.post(f"{LOTS}/{listed.body['id']}/award", {"offer": offer.body["id"]}, token=m["alice"], expect=200)
    for token_id in cards:
        owned = await api.get(f"/api/v1/tokens/{token_id}", expect=200)
        assert owned.body["owner"]["username"] == "carol", owned
    assert await balance(api, card, "carol") == "3" and await balance(api, card, "alice") == "0"
    assert await balance(api, m["coin"], "alice") == "45"
    assert await escrow_holds(listed.body["id"]) == 0
    await assert_invariant(api, card, "carol")


async def test_escrow_entries__publish_without_errors(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """The escrow is a local actor with no user or keys: the outbox turns its entries (a unique
    token's hand-over too) into activities for no one, and logs no failure."""
    m = await users(api)
    card = await make_type(api, m["alice"], attributes=[])
    token_id = await make_token(api, m["alice"], card)
    listed = await lot(api, m, "fixed_price", type=card, amount=None, tokens=[token_id], price="5")
    await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["bob"], expect=201)
    with caplog.at_level(logging.WARNING, logger="tallystick.outbox"):
        await publish_due_events(site_of(api), now=datetime.now(UTC) + timedelta(minutes=5))
    assert [record.getMessage() for record in caplog.records if record.name == "tallystick.outbox"] == []


# ---------------------------------------------------------------- bad input: clear 4xx, nothing held or moved


async def test_bad_bids__refused_with_stable_codes_and_nothing_moves(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", closes_at=_later())
    path = f"{LOTS}/{listed['id']}/bids"
    before = await balances(api, m, "coin")
    assert_problem(await api.post(path, {"amount": "20"}, token=m["alice"]), 403, "own-lot")
    assert_problem(await api.post(path, {"amount": "9"}, token=m["bob"]), 422, "bid-too-low")
    assert_problem(await api.post(path, {"amount": "500"}, token=m["bob"]), 409, "insufficient")
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/offers", {"amount": "20"}, token=m["bob"]), 422, "wrong-kind")
    assert_problem(await api.post(f"{LOTS}/nope/bids", {"amount": "20"}, token=m["bob"]), 404, "lot-not-found")
    assert await balances(api, m, "coin") == before
    assert (await api.get(f"{LOTS}/{listed['id']}")).body["bid_count"] == 0


async def test_bid_after_close__refused_even_before_the_close_ran(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", closes_at=_later(1))
    await Lot.filter(id=listed["id"]).update(closes_at=datetime.now(UTC) - timedelta(seconds=1))
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/bids", {"amount": "20"}, token=m["bob"]), 409, "lot-closed")
    assert await balance(api, m["coin"], "bob") == "100"


async def test_frozen_bidder__refused_and_nothing_held(api: Api) -> None:
    m = await users(api)
    admin = await api.user("root", roles=["admin"])
    listed = await lot(api, m, "fixed_price", price="30")
    await api.post("/api/v1/admin/users/bob/freeze", {}, token=admin, expect=200)
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["bob"]), 403, "account-frozen")
    assert await balance(api, m["coin"], "bob") == "100"
    assert (await api.get(f"{LOTS}/{listed['id']}")).body["state"] == "open"


async def test_held_funds__are_not_spendable_elsewhere(api: Api) -> None:
    """bob's 100 coins: 80 held by a bid on one lot; a bid of 30 on another, a give of 30 and a
    burn of 30 are refused, and nothing more moves."""
    m = await users(api)
    first = await lot(api, m, "english_auction", start_price="10", closes_at=_later())
    second = await lot(api, m, "english_auction", amount="2", start_price="10", closes_at=_later())
    assert (await api.post(f"{LOTS}/{first['id']}/bids", {"amount": "80"}, token=m["bob"])).status == 201
    assert_problem(await api.post(f"{LOTS}/{second['id']}/bids", {"amount": "30"}, token=m["bob"]), 409, "insufficient")
    give = await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "30", "to": "carol"}, token=m["bob"])
    assert_problem(give, 409, "insufficient")
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "20", "carol": "100", "dave": "100"}
    assert (await api.get(f"{LOTS}/{second['id']}")).body["bid_count"] == 0


async def test_listing__units_not_held_or_already_listed_are_refused(api: Api) -> None:
    m = await users(api)
    assert_problem(await api.post(LOTS, {"kind": "offers", "type": m["gem"], "amount": "4", "price_type": m["coin"]}, token=m["bob"]), 409, "insufficient")
    await lot(api, m, "offers", amount="8")
    again = await api.post(LOTS, {"kind": "offers", "type": m["gem"], "amount": "4", "price_type": m["coin"]}, token=m["alice"])
    assert_problem(again, 409, "insufficient")
    assert await balance(api, m["gem"], "alice") == "2"
    assert await Lot.all().count() == 1
    missing = await api.post(LOTS, {"kind": "english_auction", "type": m["gem"], "amount": "1", "price_type": m["coin"]}, token=m["alice"])
    assert_problem(missing, 400)
    past = await api.post(LOTS, {"kind": "english_auction", "type": m["gem"], "amount": "1", "price_type": m["coin"], "start_price": "1", "closes_at": "2020-01-01T00:00:00Z"}, token=m["alice"])
    assert_problem(past, 422, "invalid-closing-time")
    assert await balance(api, m["gem"], "alice") == "2"


async def test_listing__priced_in_a_unique_type_is_refused(api: Api) -> None:
    m = await users(api)
    card = await make_type(api, m["alice"], attributes=[])
    reply = await api.post(LOTS, {"kind": "offers", "type": m["gem"], "amount": "1", "price_type": card}, token=m["alice"])
    assert_problem(reply, 422, "unique-type")
    assert await balance(api, m["gem"], "alice") == "10"
    assert await Lot.all().count() == 0


async def test_update__allowed_before_the_first_bid_locked_after(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "offers", title="Gems")
    changed = await api.patch(f"{LOTS}/{listed['id']}", {"title": "Fine gems"}, token=m["alice"])
    assert changed.status == 200 and changed.body["title"] == "Fine gems", changed
    assert (await api.post(f"{LOTS}/{listed['id']}/offers", {"amount": "5"}, token=m["bob"])).status == 201
    assert_problem(await api.patch(f"{LOTS}/{listed['id']}", {"title": "x"}, token=m["alice"]), 409, "lot-locked")


async def test_list__filters_by_kind_seller_and_closing_soon(api: Api) -> None:
    m = await users(api)
    soon = await lot(api, m, "english_auction", amount="1", start_price="1", closes_at=_later(2))
    await lot(api, m, "english_auction", amount="1", start_price="1", closes_at=_later(72))
    await lot(api, m, "offers", amount="1")
    listed = await api.get(LOTS, params={"kind": "english_auction"})
    assert listed.status == 200 and len(listed.body["items"]) == 2, listed
    closing = await api.get(LOTS, params={"closing_soon": "true"})
    assert [item["id"] for item in closing.body["items"]] == [soon["id"]], closing
    assert len((await api.get(LOTS, params={"seller": "alice"})).body["items"]) == 3
    assert len((await api.get(LOTS, params={"seller": "bob"})).body["items"]) == 0
    mine = await api.get("/api/v1/market/bids", token=m["bob"])
    assert mine.status == 200 and mine.body["items"] == [], mine


# ---------------------------------------------------------------- proxy bids (eBay's rule)


async def test_proxy_bid__rises_by_the_increment_up_to_its_max_and_the_rest_comes_back(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", min_increment="5", closes_at=_later())
    path = f"{LOTS}/{listed['id']}/bids"
    proxy = await api.post(path, {"max_amount": "50"}, token=m["bob"])
    assert proxy.status == 201 and proxy.body["amount"] == "10" and proxy.body["max_amount"] == "50", proxy
    assert await balance(api, m["coin"], "bob") == "50"  # the ceiling is held
    beaten = await api.post(path, {"amount": "20"}, token=m["carol"])
    assert beaten.status == 201 and beaten.body["state"] == "released", beaten  # bob's proxy answers at once
    shown = await api.get(f"{LOTS}/{listed['id']}")
    assert shown.body["best_bid"] == "25", shown
    assert all(bid["max_amount"] is None for bid in shown.body["bids"])  # a ceiling is the bidder's secret
    assert await balance(api, m["coin"], "carol") == "100"
    assert_problem(await api.post(path, {"max_amount": "90"}, token=m["bob"]), 409, "already-leading")
    leads = await api.post(path, {"max_amount": "60"}, token=m["carol"])
    assert leads.status == 201 and leads.body["state"] == "held" and leads.body["amount"] == "55", leads
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "40", "dave": "100"}

    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert await balances(api, m, "coin") == {"alice": "55", "bob": "100", "carol": "45", "dave": "100"}
    assert await balance(api, m["gem"], "carol") == "4"
    assert await escrow_holds(listed["id"]) == 0
    await invariants(api, m)


async def test_proxy_bid__a_tie_goes_to_the_earlier_and_a_reserve_is_bid_when_reached(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "english_auction", start_price="10", reserve="30", closes_at=_later())
    path = f"{LOTS}/{listed['id']}/bids"
    first = await api.post(path, {"max_amount": "50"}, token=m["bob"])
    assert first.status == 201 and first.body["amount"] == "30", first  # the ceiling reaches the reserve
    assert (await api.get(f"{LOTS}/{listed['id']}")).body["reserve_met"] is True
    tie = await api.post(path, {"max_amount": "50"}, token=m["dave"])
    assert tie.status == 201 and tie.body["state"] == "released", tie
    shown = await api.get(f"{LOTS}/{listed['id']}")
    assert shown.body["best_bid"] == "50" and shown.body["bids"][-1]["bidder"].startswith("bob@"), shown
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "50", "carol": "100", "dave": "100"}
    bad = await api.post(path, {"amount": "60", "max_amount": "55"}, token=m["carol"])
    assert_problem(bad, 422, "invalid-max-amount")
    assert await balance(api, m["coin"], "carol") == "100"


async def test_offers_lot_with_a_closing_time__ends_unsold_and_gives_every_offer_back(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "offers", closes_at=_later())
    for name in ("bob", "carol"):
        await api.post(f"{LOTS}/{listed['id']}/offers", {"amount": "10"}, token=m[name], expect=201)
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    closed = await api.get(f"{LOTS}/{listed['id']}", expect=200)
    assert closed.body["state"] == "unsold" and {bid["state"] for bid in closed.body["bids"]} == {"released"}
    assert await balances(api, m, "coin") == {"alice": "0", "bob": "100", "carol": "100", "dave": "100"}
    assert await balance(api, m["gem"], "alice") == "10"
    assert await escrow_holds(listed["id"]) == 0


async def test_bid_before_the_lot_opens__refused(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "fixed_price", price="5", opens_at=_later(1))
    assert_problem(await api.post(f"{LOTS}/{listed['id']}/bids", {}, token=m["bob"]), 409, "lot-not-open-yet")
    assert await balance(api, m["coin"], "bob") == "100"


async def test_award_after_the_closing_time__refused_even_before_the_close_ran(api: Api) -> None:
    m = await users(api)
    listed = await lot(api, m, "offers", closes_at=_later())
    offer = await api.post(f"{LOTS}/{listed['id']}/offers", {"amount": "10"}, token=m["bob"], expect=201)
    await Lot.filter(id=listed["id"]).update(closes_at=datetime.now(UTC) - timedelta(seconds=1))
    late = await api.post(f"{LOTS}/{listed['id']}/award", {"offer": offer.body["id"]}, token=m["alice"])
    assert_problem(late, 409, "lot-closed")
    assert await balance(api, m["coin"], "alice") == "0" and await balance(api, m["gem"], "bob") == "0"


async def test_visibility__followers_and_listed_lots_are_seen_and_bid_on_by_those_only(api: Api) -> None:
    m = await users(api)
    alice = await Actor.get(username="alice", domain="")
    carol = await Actor.get(username="carol", domain="")
    await Follow.create(follower=carol, target=alice, state=FollowState.ACCEPTED.value, activity_uri="http://127.0.0.1/f/1")
    followers = await lot(api, m, "offers", amount="2", visibility="followers", title="For followers")
    listed = await lot(api, m, "offers", amount="2", visibility="listed", audience=["dave"], title="For dave")
    public = await lot(api, m, "offers", amount="2", title="For all")

    async def seen(token: str | None) -> set[str]:
        reply = await api.get(LOTS, token=token, expect=200)
        return {item["title"] for item in reply.body["items"]}

    assert await seen(m["alice"]) == {"For followers", "For dave", "For all"}
    assert await seen(m["carol"]) == {"For followers", "For all"}
    assert await seen(m["dave"]) == {"For dave", "For all"}
    assert await seen(m["bob"]) == await seen(None) == {"For all"}
    # bob sees neither: 404 as for no lot, and his offer is refused with nothing held
    for hidden in (followers, listed):
        assert_problem(await api.get(f"{LOTS}/{hidden['id']}", token=m["bob"]), 404, "lot-not-found")
        assert_problem(await api.get(f"{LOTS}/{hidden['id']}"), 404, "lot-not-found")
        assert_problem(await api.post(f"{LOTS}/{hidden['id']}/offers", {"amount": "5"}, token=m["bob"]), 404, "lot-not-found")
    assert await balance(api, m["coin"], "bob") == "100"
    await api.post(f"{LOTS}/{followers['id']}/offers", {"amount": "5"}, token=m["carol"], expect=201)
    await api.post(f"{LOTS}/{listed['id']}/offers", {"amount": "6"}, token=m["dave"], expect=201)
    assert (await api.get(f"{LOTS}/{listed['id']}", token=m["dave"], expect=200)).body["visibility"] == "listed"
    # not federated: the ActivityPub document of a non-public lot is 404
    ap = {"Accept": "application/activity+json"}
    assert (await api.get(f"/market/lots/{followers['id']}", headers=ap)).status == 404
    assert (await api.get(f"/market/lots/{public['id']}", headers=ap)).status == 200
    # an audience goes with listed only, and names users this server knows
    base = {"kind": "offers", "type": m["gem"], "amount": "1", "price_type": m["coin"]}
    assert_problem(await api.post(LOTS, {**base, "visibility": "listed"}, token=m["alice"]), 400)
    assert_problem(await api.post(LOTS, {**base, "audience": ["dave"]}, token=m["alice"]), 400)
    assert_problem(await api.post(LOTS, {**base, "visibility": "listed", "audience": ["nobody"]}, token=m["alice"]), 404)
    await invariants(api, m)
