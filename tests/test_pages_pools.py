"""The pool pages: make a pool from a form, its page with the capacity bar (SVG, no JavaScript),
assign a batch, reserve, claim and cancel from forms, my reservations; every field labelled."""

from __future__ import annotations

import re

import pytest

from models.pools import Reservation

from .conftest import Api
from .pagehelpers import Browser
from .test_ledger import balance, new_type
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def test_pages_pools__make_a_pool_assign_a_batch_and_see_the_capacity_bar(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    await api.user("bob")
    form = await browser.get("/app/pools", expect=200)
    assert "You have no pools yet" in form
    assert_labelled(form.text)
    alice = await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)
    coin = (await new_type(api, alice.body["token"], smallest_unit=0))["id"]
    bad = await browser.post("/app/pools", {"type": coin, "name": "Harvest", "capacity": "-3"}, csrf=form.csrf(), expect=400)
    assert bad.field_error("capacity"), bad.text[:2000]
    made = await browser.post("/app/pools", {"type": coin, "name": "Harvest", "capacity": "50", "no_resale": "on"},
                              csrf=form.csrf(), expect=200)
    assert "Pool made" in made and "not sold or given to anyone else" in made
    assert_labelled(made.text)
    pool_url = "/app/pools/" + made.url.split("/app/pools/")[1].split("?")[0]
    svg = re.search(r"<svg.*?</svg>", made.text, re.S)
    assert svg and 'role="img"' in svg.group(0) and 'viewBox="0 0 390 64"' in svg.group(0) and "<script" not in made.text
    assert "free 50" in svg.group(0)
    batch = await browser.post(f"{pool_url}/batches", {"to": "bob", "quantity": "20"}, csrf=made.csrf(), expect=200)
    assert "Batch assigned" in batch and "generated 20" in batch and "free 30" in batch
    assert await balance(api, coin, "bob") == "20"
    full = await browser.post(f"{pool_url}/batches", {"to": "bob", "quantity": "31"}, csrf=made.csrf(), expect=409)
    assert "less than 31" in full


async def test_pages_pools__reserve_then_the_owner_claims_and_my_reservations(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    coin = (await new_type(api, alice, smallest_unit=0))["id"]
    pool = (await api.post("/api/v1/pools", {"type": coin, "name": "Harvest", "capacity": "10"}, token=alice, expect=201)).body
    await browser.sign_up("bob")
    opened = await browser.get(f"/app/pools/{pool['id']}", expect=200)
    assert "Reserve" in opened and "Assign a batch" not in opened  # bob is no owner
    assert_labelled(opened.text)
    reserved = await browser.post(f"/app/pools/{pool['id']}/reserve", {"quantity": "4", "hours": "2"}, csrf=opened.csrf(), expect=200)
    assert "Reserved" in reserved and "reserved 4" in reserved
    too_short = await browser.post(f"/app/pools/{pool['id']}/reserve", {"quantity": "1", "hours": "0.001"}, csrf=opened.csrf(), expect=400)
    assert too_short.field_error("hours"), too_short.text[:2000]
    mine = await browser.get("/app/pools/reservations", expect=200)
    assert "Harvest" in mine and "active" in mine
    row = await Reservation.get(pool_id=pool["id"])
    claimed = await api.post(f"/api/v1/pools/{pool['id']}/reservations/{row.id}/claim", {}, token=alice)
    assert claimed.status == 201, claimed
    assert await balance(api, coin, "bob") == "4"
    after = await browser.get("/app/pools/reservations", expect=200)
    assert "claimed" in after and "Cancel</button>" not in after


async def test_pages_pools__cancel_from_my_reservations_and_the_owner_claims_from_the_page(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    alice = (await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)).body["token"]
    bob = await api.user("bob")
    coin = (await new_type(api, alice, smallest_unit=0))["id"]
    pool = (await api.post("/api/v1/pools", {"type": coin, "name": "Harvest", "capacity": "10"}, token=alice, expect=201)).body
    first = (await api.post(f"/api/v1/pools/{pool['id']}/reservations", {"quantity": "3"}, token=bob, expect=201)).body
    await api.post(f"/api/v1/pools/{pool['id']}/reservations", {"quantity": "2"}, token=alice, expect=201)
    page = await browser.get(f"/app/pools/{pool['id']}", expect=200)
    assert "Make it now" in page and "bob@" in page
    claimed = await browser.post(f"/app/pools/{pool['id']}/reservations/{first['id']}/claim", {}, csrf=page.csrf(), expect=200)
    assert "Generated for the reserver" in claimed and "generated 3" in claimed
    mine = await browser.get("/app/pools/reservations", expect=200)
    own = await Reservation.get(pool_id=pool["id"], state="active")
    cancelled = await browser.post(f"/app/pools/{pool['id']}/reservations/{own.id}/cancel", {"back": "reservations"},
                                   csrf=mine.csrf(), expect=200)
    assert "Reservation cancelled" in cancelled and "cancelled" in cancelled
    again = await browser.post(f"/app/pools/{pool['id']}/reservations/{own.id}/cancel", {"back": "reservations"},
                               csrf=mine.csrf(), expect=409)
    assert "is cancelled" in again


async def test_pages_pools__all_reservations_of_a_pool_page_by_page(browser: Browser, api: Api) -> None:
    """The pool's page shows the newest 50; its reservations page lists every one, older pages
    linked; the owner sees everyone's, a reserver only their own."""
    await browser.sign_up("alice")
    alice = (await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)).body["token"]
    coin = (await new_type(api, alice, smallest_unit=0))["id"]
    pool = (await api.post("/api/v1/pools", {"type": coin, "name": "Harvest", "capacity": "100"}, token=alice, expect=201)).body
    bob, carol = await api.user("bob"), await api.user("carol")
    for _ in range(52):
        await api.post(f"/api/v1/pools/{pool['id']}/reservations", {"quantity": "1"}, token=bob, expect=201)
    await api.post(f"/api/v1/pools/{pool['id']}/reservations", {"quantity": "3"}, token=carol, expect=201)
    path = f"/app/pools/{pool['id']}/reservations"
    first = await browser.get(path, expect=200)
    assert "Reservations from Harvest" in first and "<script" not in first.text
    assert first.text.count('<tr id="reservation-') == 50 and "carol" in first
    older = re.search(r'<a href="([^"]+)" rel="next">Older reservations</a>', first.text)
    assert older, first.text[-1500:]
    second = await browser.get(older.group(1).replace("&amp;", "&"), expect=200)
    assert second.text.count('<tr id="reservation-') == 3 and "Older reservations" not in second
    assert_labelled(first.text)
    pool_page = await browser.get(f"/app/pools/{pool['id']}", expect=200)
    assert f'href="{path}"' in pool_page

    carol_browser = Browser(api.client)
    await carol_browser.sign_in("carol")
    own = await carol_browser.get(path, expect=200)
    assert own.text.count('<tr id="reservation-') == 1 and "bob" not in own.text.split("<tbody>")[1]
    await carol_browser.get("/app/pools/nosuch/reservations", expect=404)
