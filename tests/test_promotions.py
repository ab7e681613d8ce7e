"""Store promotions (issue 20, item 4): a store's campaign holds its budget in escrow, promoters
join and get signed snippets, beacons count once each (forged, replayed, expired, over-limit
ones count nothing), payouts pay exactly what was counted, and the budget never goes negative."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from models.engine import run_due
from models.events import Event
from models.ledger import LedgerEntry
from models.machines import PROMO_CAMPAIGNS, PROMO_PAYOUTS
from models.operations.promotions_beacons import beacon, read_beacon
from models.promotions import PromoCampaign, PromoHit, PromoPayout, PromoRate

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .test_ledger import balance, minted

ORGS = "/api/v1/organizations"
STORES = "/api/v1/stores"
CAMPAIGNS = "/api/v1/campaigns"


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def shop(api: Api) -> dict[str, Any]:
    """acme (alice owns it, mia manages its store) holds 1000 coin and sells mugs; pat and pia
    promote, sam is a salesman, zed a stranger."""
    m: dict[str, Any] = {name: await api.user(name) for name in ("alice", "mia", "sam", "pat", "pia", "zed")}
    await api.post(ORGS, {"name": "acme"}, token=m["alice"], expect=201)
    m["coin"] = await minted(api, m["zed"], "5000.00", smallest_unit=2)
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "1000", "to": "acme"}, token=m["zed"],
                   expect=201)
    await api.post(STORES, {"organization": "acme", "slug": "acme-shop", "title": "Acme shop"}, token=m["alice"],
                   expect=201)
    await api.post(f"{STORES}/acme-shop/staff", {"username": "mia", "role": "manager"}, token=m["alice"], expect=200)
    await api.post(f"{STORES}/acme-shop/staff", {"username": "sam", "role": "salesman"}, token=m["alice"], expect=200)
    m["mug"] = (await api.post(f"{STORES}/acme-shop/items", {
        "title": "Mug", "symbol": "MUG", "price": "5", "price_type": m["coin"], "stock": "10",
    }, token=m["alice"], expect=201)).body
    return m


def terms(m: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "title": "Mugs for all", "items": [m["mug"]["id"]], "price_type": m["coin"], "impression_price": "0.01",
        "click_price": "0.25", "budget": "100", "ends_at": _later(days=7), "payout_seconds": 3600,
        "tags": ["kitchen", "gifts"], "regions": ["EU"], "text": "The best mugs", "link": "https://shop.example/mugs",
        **extra,
    }


async def running(api: Api, m: dict[str, Any], **extra: Any) -> dict[str, Any]:
    campaign = (await api.post(f"{STORES}/acme-shop/campaigns", terms(m, **extra), token=m["mia"], expect=201)).body
    return (await api.post(f"{CAMPAIGNS}/{campaign['id']}/start", {}, token=m["mia"], expect=200)).body


async def joined(api: Api, m: dict[str, Any], campaign: dict[str, Any], who: str) -> dict[str, Any]:
    return (await api.post(f"{CAMPAIGNS}/{campaign['id']}/join", {}, token=m[who], expect=200)).body


async def fresh(api: Api, m: dict[str, Any], campaign: dict[str, Any], who: str, count: int) -> list[str]:
    """`count` fresh signed beacons of the promoter (one per view)."""
    body = (await api.get(f"{CAMPAIGNS}/{campaign['id']}/snippets", params={"count": str(count)}, token=m[who],
                          expect=200)).body
    return [snippet["impression_url"].rsplit("/", 1)[1] for snippet in body["snippets"]]


async def view(api: Api, signed: str) -> int:
    response = await api.client.get(f"/promo/i/{signed}")
    assert response.content_type == "image/gif"
    await response.read()
    return response.status


async def ended_soon(api: Api, m: dict[str, Any], campaign: dict[str, Any]) -> dict[str, Any]:
    """The campaign once its due end ran (here, or in the app's own runner, woken by the beacon)."""
    for _ in range(100):
        await run_due(site_of(api), PROMO_CAMPAIGNS)
        seen: dict[str, Any] = (await api.get(f"{CAMPAIGNS}/{campaign['id']}", token=m["mia"], expect=200)).body
        if seen["state"] == "ended":
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"the campaign did not end: {seen}")


async def test_campaign__draft_start_holds_the_budget_and_shows_figures_to_staff(api: Api) -> None:
    m = await shop(api)
    draft = (await api.post(f"{STORES}/acme-shop/campaigns", terms(m), token=m["mia"], expect=201)).body
    assert draft["state"] == "draft" and draft["budget"] == "100.00" and draft["spent"] == "0.00"
    assert draft["tags"] == ["kitchen", "gifts"] and draft["impression_price"] == "0.01"
    await api.get(f"{CAMPAIGNS}/{draft['id']}", token=m["pat"], expect=404)  # a draft is the store's own
    started = (await api.post(f"{CAMPAIGNS}/{draft['id']}/start", {}, token=m["mia"], expect=200)).body
    assert started["state"] == "running"
    assert await balance(api, m["coin"], "acme") == "900.00"
    seen = (await api.get(f"{CAMPAIGNS}/{draft['id']}", token=m["pat"], expect=200)).body
    assert seen.get("spent") is None and seen["remaining"] == "100.00" and not seen["joined"]
    listed = (await api.get(CAMPAIGNS, token=m["pat"], expect=200)).body["items"]
    assert [row["id"] for row in listed] == [draft["id"]]
    names = [e.name for e in await Event.filter(object_id=draft["id"]).order_by("id")]
    assert names == ["promotion.campaign.created", "promotion.campaign.started"]


async def test_beacons__count_once_and_payouts_pay_exactly_what_was_counted(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m)
    await joined(api, m, campaign, "pat")
    [first, second] = await fresh(api, m, campaign, "pat", 2)
    assert await view(api, first) == 200 and await view(api, first) == 200  # the replay is a picture too
    assert await view(api, second) == 200
    click = await api.client.get(f"/promo/c/{first}", allow_redirects=False)
    assert click.status == 302 and click.headers["Location"] == "https://shop.example/mugs"
    again = await api.client.get(f"/promo/c/{first}", allow_redirects=False)
    assert again.status == 302  # still goes there; counts nothing
    assert await PromoHit.filter(campaign_id=campaign["id"]).count() == 3  # 2 views, 1 click
    mine = (await api.get(f"{CAMPAIGNS}/{campaign['id']}/snippets", token=m["pat"], expect=200)).body
    assert (mine["impressions"], mine["clicks"], mine["unpaid"], mine["earned"]) == (2, 1, "0.27", "0.00")
    site = site_of(api)
    assert await run_due(site, PROMO_PAYOUTS, now=datetime.now(UTC) + timedelta(hours=1, minutes=1)) == 1
    assert await balance(api, m["coin"], "pat") == "0.27"
    mine = (await api.get(f"{CAMPAIGNS}/{campaign['id']}/snippets", token=m["pat"], expect=200)).body
    assert (mine["unpaid"], mine["earned"]) == ("0.00", "0.27")
    staff = (await api.get(f"{CAMPAIGNS}/{campaign['id']}", token=m["sam"], expect=200)).body
    assert (staff["spent"], staff["paid"], staff["impressions"], staff["clicks"]) == ("0.27", "0.27", 2, 1)


async def test_beacons__forged_expired_and_strangers_count_nothing(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m)
    promotion = await joined(api, m, campaign, "pat")
    [good] = await fresh(api, m, campaign, "pat", 1)
    cid, pid, nonce, expiry, mac = read_beacon(good) or ("", "", "", 0, "")
    tampered = [
        f"{cid}.{pid}.{nonce}x.{expiry}.{mac}",  # another nonce, same MAC
        f"{cid}.{pid}.{nonce}.{expiry + 60}.{mac}",  # a later expiry
        f"{cid}.{pid}.{nonce}.{expiry}.{'A' * 22}",  # a made-up MAC
        "not-a-beacon", "a.b.c.d.e", f"{cid}.{pid}.{nonce}.{expiry}",
    ]
    for signed in tampered:
        assert await view(api, signed) == 200
        assert (await api.client.get(f"/promo/c/{signed}", allow_redirects=False)).status == 404
    row = await PromoCampaign.get(id=campaign["id"])
    expired = beacon(row, promotion["promoter"], expires=datetime.now(UTC) - timedelta(seconds=1))
    assert await view(api, expired) == 200
    await api.post(f"{CAMPAIGNS}/{campaign['id']}/leave", {}, token=m["pat"], expect=200)
    assert await view(api, good) == 200  # pat left: counts nothing
    assert await PromoHit.filter(campaign_id=campaign["id"]).count() == 0


async def test_beacons__rate_limits_per_promoter_and_address_hold_in_the_database(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m, per_address_per_minute=3, per_promoter_per_minute=1000)
    await joined(api, m, campaign, "pat")
    for signed in await fresh(api, m, campaign, "pat", 5):
        await view(api, signed)
    assert await PromoHit.filter(campaign_id=campaign["id"]).count() == 3  # one address: 3 a minute
    assert await PromoRate.filter(key__startswith="a:").count() == 1  # the address is hashed, one row a minute
    other = await running(api, m, per_address_per_minute=1000, per_promoter_per_minute=2)
    await joined(api, m, other, "pia")
    for signed in await fresh(api, m, other, "pia", 4):
        await view(api, signed)
    assert await PromoHit.filter(campaign_id=other["id"]).count() == 2


async def test_acceptance__1000_valid_and_1000_forged_or_replayed_beacons(api: Api) -> None:
    """Exactly the valid ones count and are paid; the budget is exact."""
    m = await shop(api)
    campaign = await running(api, m, budget="50", per_address_per_minute=100_000, per_promoter_per_minute=100_000)
    await joined(api, m, campaign, "pat")
    await joined(api, m, campaign, "pia")
    valid: list[str] = []
    for who in ("pat", "pia"):
        for _ in range(5):
            valid += await fresh(api, m, campaign, who, 100)
    assert len(valid) == len(set(valid)) == 1000
    forged = [f"{s[:-22]}{'B' * 22}" for s in valid[:500]] + valid[500:]  # 500 forged, 500 replays
    for start in range(0, 1000, 100):
        await asyncio.gather(*(view(api, signed) for signed in valid[start:start + 100]))
    for start in range(0, 1000, 100):
        await asyncio.gather(*(view(api, signed) for signed in forged[start:start + 100]))
    assert await PromoHit.filter(campaign_id=campaign["id"]).count() == 1000
    staff = (await api.get(f"{CAMPAIGNS}/{campaign['id']}", token=m["mia"], expect=200)).body
    assert (staff["impressions"], staff["spent"], staff["remaining"]) == (1000, "10.00", "40.00")
    assert await run_due(site_of(api), PROMO_PAYOUTS, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert await balance(api, m["coin"], "pat") == "5.00" and await balance(api, m["coin"], "pia") == "5.00"
    ended = (await api.post(f"{CAMPAIGNS}/{campaign['id']}/end", {}, token=m["mia"], expect=200)).body
    assert (ended["state"], ended["paid"], ended["refunded"]) == ("ended", "10.00", "40.00")
    assert await balance(api, m["coin"], "acme") == "990.00"
    escrow = (await PromoCampaign.get(id=campaign["id"])).escrow_id
    assert not await LedgerEntry.filter(recipient_id=escrow, remaining__gt=0).exists()  # the escrow is empty


async def test_budget__exhaustion_under_concurrency_never_goes_negative_and_ends_it(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m, budget="0.50", impression_price="0.01", click_price="0",
                             per_address_per_minute=100_000, per_promoter_per_minute=100_000)
    await joined(api, m, campaign, "pat")
    signed = await fresh(api, m, campaign, "pat", 80)
    await asyncio.gather(*(view(api, one) for one in signed))
    row = await PromoCampaign.get(id=campaign["id"])
    assert row.spent == row.budget == 50 and await PromoHit.filter(campaign_id=row.id).count() == 50
    assert row.state == "ended" or row.next_at is None  # the end is due now (the app's runner may have run it)
    ended = await ended_soon(api, m, campaign)
    assert (ended["state"], ended["ended_reason"], ended["paid"], ended["refunded"]) == (
        "ended", "the budget is spent", "0.50", "0.00")
    assert await balance(api, m["coin"], "pat") == "0.50"
    event = await Event.filter(object_id=row.id, name="promotion.campaign.ended").first()
    assert event is not None and event.payload["reason"] == "the budget is spent"


async def test_campaign__ends_at_its_end_time_and_gives_the_rest_back(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m, ends_at=_later(hours=3))
    await joined(api, m, campaign, "pat")
    [one] = await fresh(api, m, campaign, "pat", 1)
    await view(api, one)
    site = site_of(api)
    assert await run_due(site, PROMO_CAMPAIGNS, now=datetime.now(UTC) + timedelta(hours=2)) == 0  # not yet
    assert await run_due(site, PROMO_CAMPAIGNS, now=datetime.now(UTC) + timedelta(hours=3, minutes=1)) == 1
    ended = (await api.get(f"{CAMPAIGNS}/{campaign['id']}", token=m["mia"], expect=200)).body
    assert (ended["state"], ended["ended_reason"], ended["paid"], ended["refunded"]) == (
        "ended", "the end time came", "0.01", "99.99")
    assert await balance(api, m["coin"], "acme") == "999.99"
    assert await view(api, (await fresh(api, m, campaign, "pat", 1))[0]) == 200
    assert await PromoHit.filter(campaign_id=campaign["id"]).count() == 1  # ended: counts nothing


async def test_campaign__pause_resume_and_moves_by_the_wrong_people(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m)
    cid = campaign["id"]
    await joined(api, m, campaign, "pat")
    for who in ("sam", "pat", "zed"):  # a salesman, a promoter, a stranger
        for verb in ("start", "pause", "resume", "end"):
            assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/{verb}", {}, token=m[who]), 403, "store-role-required")
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/pause", {}), 401)
    await api.post(f"{CAMPAIGNS}/{cid}/pause", {}, token=m["mia"], expect=200)
    await view(api, (await fresh(api, m, campaign, "pat", 1))[0])
    assert await PromoHit.filter(campaign_id=cid).count() == 0  # paused
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/pause", {}, token=m["mia"]), 409, "campaign-state")
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/start", {}, token=m["mia"]), 409, "campaign-state")
    await api.post(f"{CAMPAIGNS}/{cid}/resume", {}, token=m["alice"], expect=200)  # the organization's owner
    await view(api, (await fresh(api, m, campaign, "pat", 1))[0])
    assert await PromoHit.filter(campaign_id=cid).count() == 1
    await api.post(f"{CAMPAIGNS}/{cid}/end", {}, token=m["mia"], expect=200)
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/resume", {}, token=m["mia"]), 409, "campaign-state")
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/join", {}, token=m["pia"]), 409, "campaign-state")
    assert_problem(await api.post(f"{CAMPAIGNS}/NOPE/start", {}, token=m["mia"]), 404, "campaign-not-found")
    names = [e.name for e in await Event.filter(object_id=cid).order_by("id")]
    assert names == [f"promotion.campaign.{n}" for n in ("created", "started", "joined", "paused", "resumed", "ended")]


async def test_campaign__bad_input_is_refused_with_the_field(api: Api) -> None:
    m = await shop(api)
    url = f"{STORES}/acme-shop/campaigns"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"impression_price": "0", "click_price": "0"}, 400, "no-price"),
        ({"ends_at": _later(days=-1)}, 400, "invalid-schedule"),
        ({"ends_at": _later(days=400)}, 400, "invalid-schedule"),
        ({"link": "javascript:alert(1)"}, 400, "invalid-link"),
        ({"items": ["NOPE"]}, 404, "item-not-found"),
        ({"price_type": "NOPE"}, 404, "type-not-found"),
        ({"budget": "0.001"}, 400, None),
        ({"budget": "0.10"}, 422, "budget-too-small"),
        ({"tags": ["x" * 41]}, 400, "invalid-tag"),
        ({"per_address_per_minute": 0}, 400, "validation-failed"),
        ({"surprise": 1}, 400, "validation-failed"),
    ]
    for change, status, code in cases:
        assert_problem(await api.post(url, terms(m, **change), token=m["mia"]), status, code)
    assert_problem(await api.post(url, terms(m), token=m["sam"]), 403, "store-role-required")
    assert_problem(await api.post(f"{STORES}/nope/campaigns", terms(m), token=m["mia"]), 404, "store-not-found")
    assert_problem(await api.post(url, terms(m)), 401)
    poor = (await api.post(url, terms(m, budget="2000"), token=m["mia"], expect=201)).body
    assert_problem(await api.post(f"{CAMPAIGNS}/{poor['id']}/start", {}, token=m["mia"]), 409, "insufficient")


async def test_promoters__join_leave_snippets_and_who_sees_what(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m)
    cid = campaign["id"]
    promotion = await joined(api, m, campaign, "pat")
    [snippet] = promotion["snippets"]
    assert snippet["html"].startswith('<a href="') and "/promo/i/" in snippet["html"] and "The best mugs" in snippet["html"]
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/join", {}, token=m["pat"]), 409, "already-promoting")
    assert_problem(await api.get(f"{CAMPAIGNS}/{cid}/snippets", token=m["pia"]), 404, "not-promoting")
    assert_problem(await api.get(f"{CAMPAIGNS}/{cid}/snippets", params={"count": "101"}, token=m["pat"]), 400)
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/leave", {}, token=m["pia"]), 404, "not-promoting")
    assert_problem(await api.get(f"{CAMPAIGNS}/{cid}/stats", token=m["pat"]), 403, "store-role-required")
    assert_problem(await api.get(CAMPAIGNS, params={"store": "acme-shop"}, token=m["pat"]), 403, "store-role-required")
    board = (await api.get(CAMPAIGNS, params={"store": "acme-shop"}, token=m["sam"], expect=200)).body["items"]
    assert [row["id"] for row in board] == [cid]
    mine = (await api.get("/api/v1/promotions", token=m["pat"], expect=200)).body["items"]
    assert [row["campaign"]["id"] for row in mine] == [cid] and mine[0]["snippets"] == []
    await api.post(f"{CAMPAIGNS}/{cid}/leave", {}, token=m["pat"], expect=200)
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/leave", {}, token=m["pat"]), 409, "not-promoting")
    again = (await api.post(f"{CAMPAIGNS}/{cid}/join", {}, token=m["pat"], expect=200)).body
    assert again["active"] and again["promoter"] == promotion["promoter"]
    stats = (await api.get(f"{CAMPAIGNS}/{cid}/stats", token=m["mia"], expect=200)).body
    assert len(stats["buckets"]) == 24 and sum(b["impressions"] for b in stats["buckets"]) == 0
    assert_problem(await api.get(f"{CAMPAIGNS}/{cid}/stats", params={"bucket": "week"}, token=m["mia"]), 400)
    draft = (await api.post(f"{STORES}/acme-shop/campaigns", terms(m), token=m["mia"], expect=201)).body
    assert_problem(await api.post(f"{CAMPAIGNS}/{draft['id']}/join", {}, token=m["pia"]), 404, "campaign-not-found")
    assert_problem(await api.post(f"{CAMPAIGNS}/{draft['id']}/join", {}, token=m["sam"]), 409, "campaign-state")
    assert_problem(await api.get("/api/v1/promotions"), 401)
    assert_problem(await api.post(f"{CAMPAIGNS}/{cid}/join", {"extra": 1}, token=m["pia"]), 400, "validation-failed")


async def test_payouts__a_payout_racing_the_end_pays_each_hit_once(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m, per_address_per_minute=1000)
    await joined(api, m, campaign, "pat")
    await joined(api, m, campaign, "pia")
    for who in ("pat", "pia"):
        for signed in await fresh(api, m, campaign, who, 7):
            await view(api, signed)
    site = site_of(api)
    soon = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    payout, end = await asyncio.gather(
        run_due(site, PROMO_PAYOUTS, now=soon),
        api.post(f"{CAMPAIGNS}/{campaign['id']}/end", {}, token=m["mia"]),
    )
    assert payout == 1 and end.status == 200, end
    assert await balance(api, m["coin"], "pat") == "0.07" and await balance(api, m["coin"], "pia") == "0.07"
    assert await balance(api, m["coin"], "acme") == "999.86"
    assert not await PromoHit.filter(campaign_id=campaign["id"], payout_entry_id=None).exists()
    await run_due(site, PROMO_PAYOUTS, now=soon + timedelta(days=1))  # a payout queued before the end pays nothing
    assert await balance(api, m["coin"], "pat") == "0.07" and await balance(api, m["coin"], "acme") == "999.86"
    assert not await PromoPayout.filter(campaign_id=campaign["id"], state="pending").exists()  # and none follows
    mine = (await api.get("/api/v1/promotions", token=m["pat"], expect=200)).body["items"]
    assert (mine[0]["earned"], mine[0]["unpaid"], mine[0]["impressions"]) == ("0.07", "0.00", 7)


async def test_payouts__paused_campaigns_still_pay_what_was_earned(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m)
    await joined(api, m, campaign, "pat")
    [one] = await fresh(api, m, campaign, "pat", 1)
    assert (await api.client.get(f"/promo/c/{one}", allow_redirects=False)).status == 302
    await api.post(f"{CAMPAIGNS}/{campaign['id']}/pause", {}, token=m["mia"], expect=200)
    site = site_of(api)
    first = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    assert await run_due(site, PROMO_PAYOUTS, now=first) == 1
    assert await balance(api, m["coin"], "pat") == "0.25"
    assert await run_due(site, PROMO_PAYOUTS, now=first + timedelta(hours=1, minutes=1)) == 1  # the next one
    assert await balance(api, m["coin"], "pat") == "0.25"  # nothing new: paid once


async def test_budget__a_click_it_cannot_pay_leaves_it_running_while_views_can_be_paid(api: Api) -> None:
    m = await shop(api)
    campaign = await running(api, m, budget="0.27", per_address_per_minute=1000)
    await joined(api, m, campaign, "pat")
    [first, second, third] = await fresh(api, m, campaign, "pat", 3)
    assert (await api.client.get(f"/promo/c/{first}", allow_redirects=False)).status == 302  # 0.25 of 0.27
    assert (await api.client.get(f"/promo/c/{second}", allow_redirects=False)).status == 302  # cannot pay: 0.02 left
    row = await PromoCampaign.get(id=campaign["id"])
    assert (row.state, row.spent, row.next_at is not None) == ("running", 25, True)
    await view(api, third)
    await view(api, (await fresh(api, m, campaign, "pat", 1))[0])
    await view(api, (await fresh(api, m, campaign, "pat", 1))[0])  # the budget is spent now
    row = await PromoCampaign.get(id=campaign["id"])
    assert row.spent == 27 and await PromoHit.filter(campaign_id=row.id).count() == 3
    ended = await ended_soon(api, m, campaign)
    assert (ended["paid"], ended["refunded"], ended["ended_reason"]) == ("0.27", "0.00", "the budget is spent")
