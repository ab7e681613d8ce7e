"""The contract pages: a type's licensing panel (policy, offers, make and accept an offer), my
contracts, one contract with its payment timeline, pay and cancel, and an admin's terms change;
all without JavaScript, every field labelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.engine import run_due
from models.machines import CONTRACT_STEPS

from .conftest import Api
from .fedhelpers import site_of
from .pagehelpers import Browser
from .test_ledger import balance, minted, new_type
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def test_pages_contracts__owner_offers_and_another_accepts_then_pays_on_time(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    coin = await minted(api, alice, "500", smallest_unit=0)
    base = (await new_type(api, alice, name="Base", symbol="BASE"))["id"]
    await browser.sign_in("alice")
    page = await browser.get(f"/app/types/{base}", expect=200)
    assert "under a contract with its owner" in page and "No offers yet" in page
    assert 'name="listed"' in page and 'name="groups"' in page  # offers to listed users or groups' members
    assert_labelled(page.text)
    offered = await browser.post(
        f"/app/types/{base}/offers", {"title": "Small studio", "payment_type": coin, "fee": "5", "period_days": "10",
                                      "max_types": "2", "cancel_by": "either"}, csrf=page.csrf(), expect=200,
    )
    assert "Offer published" in offered and "Small studio" in offered and "5 CN every 10.0 days" in offered

    await browser.sign_up("bob")
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "20", "to": "bob"}, token=alice, expect=201)
    shown = await browser.get(f"/app/types/{base}", expect=200)
    assert 'id="offer-form"' not in shown  # only the owner makes offers
    [listed] = (await api.get("/api/v1/contracts/offers", params={"type": base}, expect=200)).body["items"]
    assert f'value="{listed["id"]}"' in shown  # an Accept button for bob
    made = await browser.post("/app/contracts", {"offer": listed["id"]}, csrf=shown.csrf(), expect=200)
    assert "Contract made" in made and "active" in made and "Payment timeline" in made, made.text[:2000]
    contract_id = made.url.rstrip("/").rsplit("/", 1)[1]
    assert_labelled(made.text)

    mine = await browser.get("/app/contracts", expect=200)
    assert f'id="contract-{contract_id}"' in mine and "Nobody holds a contract on your types yet" in mine

    assert await run_due(site_of(api), CONTRACT_STEPS, now=datetime.now(UTC) + timedelta(days=10, seconds=5)) == 1
    paid = await browser.get(f"/app/contracts/{contract_id}", expect=200)
    assert "payment of 5 CN — paid" in paid and await balance(api, coin, "bob") == "15"
    picture = paid.text.split('<svg', 1)[1].split("</svg>", 1)[0]  # the timeline beside the list
    assert 'class="chart timeline"' in picture and 'role="img"' in picture and "Payment timeline of the contract on BASE" in picture
    assert picture.count('class="mark paid"') == 1 and picture.count('class="mark due"') == 1  # the next payment waits
    assert "payment of 5 CN — paid" in picture and ">paid</text>" in picture and ">due</text>" in picture
    cancelled = await browser.post(f"/app/contracts/{contract_id}/cancel", {}, csrf=paid.csrf(), expect=200)
    assert "cancelled" in cancelled


async def test_pages_contracts__owner_sets_licensing_and_admin_changes_terms(browser: Browser, api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    await api.user("root", roles=["admin"])
    coin = await minted(api, alice, "100", smallest_unit=0)
    base = (await new_type(api, alice, name="Base", symbol="BASE"))["id"]
    offer = await api.post("/api/v1/contracts/offers", {"type": base, "payment_type": coin, "fee": "3"}, token=alice, expect=201)
    held = await api.post("/api/v1/contracts", {"offer": offer.body["id"]}, token=bob, expect=201)
    await browser.sign_in("root")
    page = await browser.get(f"/app/contracts/{held.body['id']}", expect=200)
    assert 'id="terms-form"' in page
    assert_labelled(page.text)
    refused = await browser.post(f"/app/contracts/{held.body['id']}/terms", {"fee": "1"}, csrf=page.csrf())
    assert refused.status == 400 and "reason" in refused
    changed = await browser.post(f"/app/contracts/{held.body['id']}/terms", {"fee": "1", "reason": "promo"}, csrf=page.csrf(), expect=200)
    assert "Terms changed" in changed and "promo" in changed and "fee: 3 → 1" in changed

    await browser.sign_in("alice")
    page = await browser.get(f"/app/types/{base}", expect=200)
    closed = await browser.post(f"/app/types/{base}/licensing", {"licensing": "closed"}, csrf=page.csrf(), expect=200)
    assert "Only its owner may make types derived from this one" in closed
    other = await browser.get(f"/app/contracts/{held.body['id']}", expect=200)  # the licensor sees the audit trail
    assert "promo" in other
    assert (await browser.get("/app/contracts/nope")).status == 404


async def test_pages_contracts__offer_page_in_words_accept_and_withdraw(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    coin = await minted(api, alice, "100", smallest_unit=0)
    base = (await new_type(api, alice, name="Base", symbol="BASE"))["id"]
    offer = (await api.post("/api/v1/contracts/offers", {"type": base, "title": "Studio", "payment_type": coin, "fee": "3",
                                                         "period_seconds": 86400 * 7, "max_types": 1},
                            token=alice, expect=201)).body
    await browser.sign_up("bob")
    seen = await browser.get(f"/app/offers/{offer['id']}", expect=200)
    assert "Studio" in seen and "3 CN every 7.0 days" in seen and "at most 1 derived types" in seen
    assert 'id="accept-form"' in seen and 'id="withdraw-form"' not in seen and "<script" not in seen.text
    assert_labelled(seen.text)
    # bob may not withdraw alice's offer: told so, and it stays open
    refused = await browser.post(f"/app/offers/{offer['id']}/withdraw", {}, csrf=seen.csrf(), expect=200)
    assert 'id="accept-form"' in refused and "withdrawn:" not in refused
    assert (await api.get(f"/api/v1/contracts/offers/{offer['id']}", expect=200)).body["state"] == "open"

    await browser.sign_in("alice")
    own = await browser.get(f"/app/offers/{offer['id']}", expect=200)
    assert 'id="withdraw-form"' in own and 'id="accept-form"' not in own
    on_type = await browser.get(f"/app/types/{base}", expect=200)
    assert f'href="/app/offers/{offer["id"]}"' in on_type
    gone = await browser.post(f"/app/offers/{offer['id']}/withdraw", {}, csrf=own.csrf(), expect=200)
    assert "Offer withdrawn" in gone
    after = await browser.get(f"/app/offers/{offer['id']}", expect=200)
    assert "withdrawn" in after and 'id="withdraw-form"' not in after and 'id="accept-form"' not in after
    assert (await api.get(f"/api/v1/contracts/offers/{offer['id']}", expect=200)).body["state"] == "withdrawn"
    await browser.get("/app/offers/nosuch", expect=404)
