"""The market pages: sell from a form, browse, bid and buy on a lot page, accept an offer,
withdraw, my bids; all without JavaScript, every field labelled."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from server.pages.market import time_left

from .conftest import Api
from .pagehelpers import Browser
from .test_ledger import balance, minted
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def _setup(api: Api) -> tuple[str, str, str]:
    """alice (API token) owns GEM (10) and CN; bob (signed up in the browser) gets 100 CN."""
    alice = await api.user("alice")
    gem = await minted(api, alice, "10", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, alice, "100", smallest_unit=0)
    return alice, gem, coin


async def test_pages_market__sell_then_someone_buys_from_the_lot_page(browser: Browser, api: Api) -> None:
    alice, gem, coin = await _setup(api)
    await browser.sign_up("bob")
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "50", "to": "bob"}, token=alice, expect=201)
    lot = await api.post(
        "/api/v1/market/lots",
        {"kind": "fixed_price", "type": gem, "amount": "3", "price_type": coin, "price": "20", "title": "Three gems"},
        token=alice, expect=201,
    )
    browse = await browser.get("/app/market", expect=200)
    assert "Three gems" in browse and "no closing time" in browse
    opened = await browser.get(f"/app/market/lots/{lot.body['id']}", expect=200)
    assert "Buy for 20 CN" in opened
    assert_labelled(opened.text)
    bought = await browser.post(f"/app/market/lots/{lot.body['id']}/bid", {}, csrf=opened.csrf(), expect=200)
    assert "Bought by" in bought and "bob@" in bought, bought.text[:3000]
    assert await balance(api, gem, "bob") == "3" and await balance(api, coin, "alice") == "70"  # 100 - 50 given + 20
    mine = await browser.get("/app/market/bids", expect=200)
    assert "won" in mine and "20 CN" in mine


async def test_pages_market__list_a_lot_from_the_form_and_withdraw_it(browser: Browser, api: Api) -> None:
    await browser.sign_up("carol")
    token = await api.user("dave")  # another user, for the price type
    coin = await minted(api, token, "1", smallest_unit=0)
    sell = await browser.get("/app/market/mine", expect=200)
    assert_labelled(sell.text)
    # carol owns nothing yet: the listing is refused beside the form, and nothing is held
    refused = await browser.post("/app/market/mine", {"kind": "offers", "type": coin, "amount": "1", "price_type": coin}, csrf=sell.csrf())
    assert refused.status == 409 and "insufficient" in refused.text.lower(), refused.text[:2000]
    gem_reply = await api.post("/api/v1/types", {"name": "Gem", "symbol": "GEM", "fungible": True, "smallest_unit": 0}, token=token, expect=201)
    await api.post("/api/v1/ledger/create", {"type": gem_reply.body["id"], "amount": "5"}, token=token, expect=201)
    await api.post("/api/v1/ledger/give", {"type": gem_reply.body["id"], "amount": "5", "to": "carol"}, token=token, expect=201)
    closes = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    listed = await browser.post(
        "/app/market/mine",
        {"kind": "english_auction", "type": gem_reply.body["id"], "amount": "5", "price_type": coin, "start_price": "1",
         "closes_at": closes, "title": "Five gems", "visibility": "listed", "audience": "dave"},
        csrf=sell.csrf(), expect=200,
    )
    assert "Five gems" in listed and "1 day" in listed and "Withdraw this lot" in listed, listed.text[:3000]
    assert "Seen by" in listed and "the people the seller named" in listed
    seen = await api.get("/api/v1/market/lots", token=token, expect=200)  # dave, named, sees it
    assert [item["title"] for item in seen.body["items"]] == ["Five gems"]
    assert await balance(api, gem_reply.body["id"], "carol") == "0"
    lot_id = re.search(r"/app/market/lots/([0-9a-z]{26})", listed.url)
    assert lot_id, listed.url
    withdrawn = await browser.post(f"/app/market/lots/{lot_id.group(1)}/withdraw", {}, csrf=listed.csrf(), expect=200)
    assert "withdrawn" in withdrawn
    assert await balance(api, gem_reply.body["id"], "carol") == "5"


async def test_pages_market__seller_accepts_an_offer(browser: Browser, api: Api) -> None:
    await browser.sign_up("erin")
    bidder = await api.user("frank")
    coin_owner = await api.user("gina")
    coin = await minted(api, coin_owner, "100", smallest_unit=0)
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "40", "to": "frank"}, token=coin_owner, expect=201)
    gem = await minted(api, coin_owner, "2", name="Gem", symbol="GEM", smallest_unit=0)
    await api.post("/api/v1/ledger/give", {"type": gem, "amount": "2", "to": "erin"}, token=coin_owner, expect=201)
    sell = await browser.get("/app/market/mine", expect=200)
    listed = await browser.post("/app/market/mine", {"kind": "offers", "type": gem, "amount": "2", "price_type": coin}, csrf=sell.csrf(), expect=200)
    lot_id = listed.url.rsplit("/", 1)[1]
    offer = await api.post(f"/api/v1/market/lots/{lot_id}/offers", {"amount": "15"}, token=bidder, expect=201)
    page = await browser.get(f"/app/market/lots/{lot_id}", expect=200)
    assert "Accept" in page
    sold = await browser.post(f"/app/market/lots/{lot_id}/award", {"offer": offer.body["id"]}, csrf=page.csrf(), expect=200)
    assert "Bought by" in sold and "frank@" in sold
    assert await balance(api, coin, "erin") == "15" and await balance(api, gem, "frank") == "2"


async def test_pages_market__bid_too_low_is_shown_beside_the_field(browser: Browser, api: Api) -> None:
    alice, gem, coin = await _setup(api)
    await browser.sign_up("bob")
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "50", "to": "bob"}, token=alice, expect=201)
    closes = (datetime.now(UTC) + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    lot = await api.post(
        "/api/v1/market/lots",
        {"kind": "english_auction", "type": gem, "amount": "1", "price_type": coin, "start_price": "10", "closes_at": closes},
        token=alice, expect=201,
    )
    opened = await browser.get(f"/app/market/lots/{lot.body['id']}", expect=200)
    assert "2 hours" in opened and "at least 10" in opened
    low = await browser.post(f"/app/market/lots/{lot.body['id']}/bid", {"amount": "5"}, csrf=opened.csrf())
    assert low.status == 422 and low.field_error("amount") == "at least 10", low.text[:3000]
    assert await balance(api, coin, "bob") == "50"


def test_time_left__in_words() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert time_left("2026-01-03T03:30:00Z", "open", now) == "2 days 3 hours left"
    assert time_left("2026-01-01T00:05:00Z", "open", now) == "5 minutes left"
    assert time_left("2026-01-01T00:00:20Z", "open", now) == "less than a minute left"
    assert time_left("2025-12-31T00:00:00Z", "open", now) == "closing now"
    assert time_left(None, "open", now) == "no closing time"
    assert time_left("2026-01-03T00:00:00Z", "sold", now) == "sold"


async def test_pages_market__dutch_listed_from_the_form_shows_its_schedule_and_sells_from_the_page(
    browser: Browser, api: Api
) -> None:
    alice, gem, coin = await _setup(api)
    await browser.sign_up("bob")
    await api.post("/api/v1/ledger/give", {"type": gem, "amount": "2", "to": "bob"}, token=alice, expect=201)
    sell = await browser.get("/app/market/mine", expect=200)
    assert_labelled(sell.text)
    closes = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    listed = await browser.post(
        "/app/market/mine",
        {"kind": "dutch_auction", "type": gem, "amount": "2", "price_type": coin, "start_price": "40", "reserve": "20",
         "drop": "5", "drop_every": "60", "closes_at": closes, "title": "Falling gems"},
        csrf=sell.csrf(), expect=200,
    )
    assert "Falling gems" in listed and "Price now" in listed and "40 CN" in listed, listed.text[:3000]
    assert "falls by 5 every 1 hour, down to 20 CN" in listed and "in 59 minutes" in listed
    lot_id = listed.url.rsplit("/", 1)[1]
    bought = await api.post(f"/api/v1/market/lots/{lot_id}/bids", {}, token=alice)
    assert bought.status == 201 and bought.body["amount"] == "40", bought
    assert "Bought by" in await browser.get(f"/app/market/lots/{lot_id}", expect=200)


async def test_pages_market__buy_a_dutch_lot_at_the_price_shown(browser: Browser, api: Api) -> None:
    alice, gem, coin = await _setup(api)
    await browser.sign_up("bob")
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "50", "to": "bob"}, token=alice, expect=201)
    closes = (datetime.now(UTC) + timedelta(hours=5)).isoformat().replace("+00:00", "Z")
    lot = await api.post(
        "/api/v1/market/lots",
        {"kind": "dutch_auction", "type": gem, "amount": "1", "price_type": coin, "start_price": "30", "reserve": "10",
         "drop": "5", "drop_every": 600, "closes_at": closes},
        token=alice, expect=201,
    )
    opened = await browser.get(f"/app/market/lots/{lot.body['id']}", expect=200)
    assert "Buy for 30 CN" in opened and "Next drop" in opened
    assert_labelled(opened.text)
    bought = await browser.post(f"/app/market/lots/{lot.body['id']}/bid", {"amount": "30"}, csrf=opened.csrf(), expect=200)
    assert "Bought by" in bought and "bob@" in bought
    assert await balance(api, coin, "bob") == "20" and await balance(api, gem, "bob") == "1"


async def test_pages_market__sealed_bids_are_hidden_but_your_own_is_shown(browser: Browser, api: Api) -> None:
    alice, gem, coin = await _setup(api)
    carol = await api.user("carol")
    await browser.sign_up("bob")
    for name in ("bob", "carol"):
        await api.post("/api/v1/ledger/give", {"type": coin, "amount": "50", "to": name}, token=alice, expect=201)
    closes = (datetime.now(UTC) + timedelta(hours=5)).isoformat().replace("+00:00", "Z")
    lot = await api.post(
        "/api/v1/market/lots",
        {"kind": "sealed_auction", "type": gem, "amount": "1", "price_type": coin, "start_price": "5", "closes_at": closes},
        token=alice, expect=201,
    )
    path = f"/app/market/lots/{lot.body['id']}"
    await api.post(f"/api/v1/market/lots/{lot.body['id']}/bids", {"amount": "44"}, token=carol, expect=201)
    opened = await browser.get(path, expect=200)
    assert "Bids are sealed until" in opened and "Place sealed bid" in opened and "44 CN" not in opened
    assert_labelled(opened.text)
    placed = await browser.post(f"{path}/bid", {"amount": "37"}, csrf=opened.csrf(), expect=200)
    assert "You bid 37 CN" in placed and "Place sealed bid" not in placed and "44 CN" not in placed, placed.text[:3000]
    assert await balance(api, coin, "bob") == "13"
    await browser.sign_in("alice")  # the seller sees neither amount
    seller = await browser.get(path, expect=200)
    assert "Bids are sealed until" in seller and "37 CN" not in seller and "44 CN" not in seller
    assert 'id="bid-' not in seller.text


async def test_pages_market__withdraw_an_offer_from_my_bids(browser: Browser, api: Api) -> None:
    alice, gem, coin = await _setup(api)
    await browser.sign_up("bob")
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "50", "to": "bob"}, token=alice, expect=201)
    lot = await api.post(
        "/api/v1/market/lots", {"kind": "offers", "type": gem, "amount": "1", "price_type": coin}, token=alice, expect=201,
    )
    opened = await browser.get(f"/app/market/lots/{lot.body['id']}", expect=200)
    offered = await browser.post(f"/app/market/lots/{lot.body['id']}/offer", {"amount": "12"}, csrf=opened.csrf(), expect=200)
    assert "Withdraw my offer" in offered
    assert await balance(api, coin, "bob") == "38"
    mine = await browser.get("/app/market/bids", expect=200)
    offer_id = re.search(r'id="bid-([0-9a-z]{26})"', mine.text)
    assert offer_id and "Withdraw" in mine, mine.text[:3000]
    back = await browser.post(
        f"/app/market/lots/{lot.body['id']}/offers/{offer_id.group(1)}/withdraw", {"back": "bids"}, csrf=mine.csrf(), expect=200,
    )
    assert back.url.endswith("/app/market/bids") and "withdrawn" in back, back.text[:3000]
    assert await balance(api, coin, "bob") == "50"
    again = await browser.post(
        f"/app/market/lots/{lot.body['id']}/offers/{offer_id.group(1)}/withdraw", {"back": "bids"}, csrf=back.csrf(),
    )
    assert again.status == 409 and "nothing is held" in again.text, again.text[:3000]


async def test_pages_market__seller_changes_a_lot_until_the_first_bid(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    alice = (await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)).body["token"]
    gem = await minted(api, alice, "10", name="Gem", symbol="GEM", smallest_unit=0)
    coin = await minted(api, alice, "100", smallest_unit=0)
    lot = (await api.post("/api/v1/market/lots", {"kind": "fixed_price", "type": gem, "amount": "3", "price_type": coin,
                                                  "price": "20", "title": "Three gems"}, token=alice, expect=201)).body
    path = f"/app/market/lots/{lot['id']}"
    opened = await browser.get(path, expect=200)
    assert 'id="edit-lot-form"' in opened and 'value="Three gems"' in opened
    assert_labelled(opened.text)
    bad = await browser.post(f"{path}/edit", {"kind": "fixed_price", "title": "Three gems", "description": "",
                                              "price": "-1"}, csrf=opened.csrf(), expect=400)
    assert bad.field_error("price"), bad.text[:2000]
    assert (await api.get(f"/api/v1/market/lots/{lot['id']}", expect=200)).body["price"] == "20"
    changed = await browser.post(f"{path}/edit", {"kind": "fixed_price", "title": "Three fine gems",
                                                  "description": "Cut **by hand**.", "price": "25"}, csrf=opened.csrf(), expect=200)
    assert "Lot changed." in changed and "Three fine gems" in changed and "Buy for 25 CN" not in changed  # the seller does not buy
    stored = (await api.get(f"/api/v1/market/lots/{lot['id']}", expect=200)).body
    assert (stored["title"], stored["description"], stored["price"]) == ("Three fine gems", "Cut **by hand**.", "25")

    # someone else sees no form and may not change it
    bob = Browser(api.client)
    await bob.sign_up("bob")
    theirs = await bob.get(path, expect=200)
    assert 'id="edit-lot-form"' not in theirs
    refused = await bob.post(f"{path}/edit", {"kind": "fixed_price", "title": "Mine now"}, csrf=theirs.csrf())
    assert refused.status in (403, 404) and (await api.get(f"/api/v1/market/lots/{lot['id']}", expect=200)).body["title"] == "Three fine gems"
