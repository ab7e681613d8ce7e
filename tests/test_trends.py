"""Trends (issue 17 item 5): public statistics of real sales made through the market API.

Sales are made as users make them (fixed-price purchases, an english auction closed by the
engine); a sale's `ended_at` is then moved back in time where a test needs sales in the past,
since a trend is "the last hour/day/week" up to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from models.engine import run_due
from models.machines import MARKET_CLOSES
from models.market import Lot
from models.operations.trends import PaymentStats, Sale, bucket_stats, payment_stats, unit_price

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .test_ledger import minted, new_type

LOTS = "/api/v1/market/lots"
TRENDS = "/api/v1/trends"


def _later(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


async def _backdate(lot_id: str, ago: timedelta) -> None:
    assert await Lot.filter(id=lot_id, state="sold").update(ended_at=datetime.now(UTC) - ago) == 1


async def _market(api: Api) -> dict[str, Any]:
    """alice sells GEM (whole units) for CN (2 decimals) and EUR; bob and carol buy."""
    m = {name: await api.user(name) for name in ("alice", "bob", "carol")}
    m["gem"] = await minted(api, m["alice"], "20", name="Gem", symbol="GEM", smallest_unit=0)
    m["cn"] = await minted(api, m["alice"], "1000.00", name="Coin", symbol="CN")
    m["eur"] = await minted(api, m["alice"], "1000.00", name="Euro", symbol="EUR")
    for name in ("bob", "carol"):
        for paid in ("cn", "eur"):
            await api.post("/api/v1/ledger/give", {"type": m[paid], "amount": "100.00", "to": name}, token=m["alice"], expect=201)
    return m


async def _buy(api: Api, m: dict[str, Any], buyer: str, amount: str, price: str, paid: str = "cn", **lot: Any) -> str:
    body = {"kind": "fixed_price", "type": m["gem"], "amount": amount, "price_type": m[paid], "price": price, **lot}
    listed = await api.post(LOTS, body, token=m["alice"], expect=201)
    bought = await api.post(f"{LOTS}/{listed.body['id']}/bids", {}, token=m[buyer], expect=201)
    assert bought.body["state"] == "won", bought
    return str(listed.body["id"])


async def _sales(api: Api, m: dict[str, Any]) -> dict[str, str]:
    """Four GEM sales and what is not a sale (withdrawn, unsold, open):
    a) 3 GEM for 30.00 CN to bob, 3.5 days ago (unit price 10.00)
    b) 2 GEM for 25.00 CN to carol, 90 minutes ago (12.50)
    c) 4 GEM by auction for 36.00 CN to carol, now (9.00)
    d) 1 GEM for 5.00 EUR to bob, now (5.00 EUR)"""
    lots = {"a": await _buy(api, m, "bob", "3", "30.00"), "b": await _buy(api, m, "carol", "2", "25.00")}
    auction = await api.post(
        LOTS, {"kind": "english_auction", "type": m["gem"], "amount": "4", "price_type": m["cn"], "start_price": "10.00",
               "closes_at": _later()}, token=m["alice"], expect=201,
    )
    await api.post(f"{LOTS}/{auction.body['id']}/bids", {"amount": "20.00"}, token=m["bob"], expect=201)
    await api.post(f"{LOTS}/{auction.body['id']}/bids", {"amount": "36.00"}, token=m["carol"], expect=201)
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    lots["c"] = auction.body["id"]
    lots["d"] = await _buy(api, m, "bob", "1", "5.00", paid="eur")
    # not sales: a withdrawn lot, an auction left unsold (reserve not met), an open lot
    withdrawn = await api.post(LOTS, {"kind": "fixed_price", "type": m["gem"], "amount": "1", "price_type": m["cn"], "price": "1.00"},
                               token=m["alice"], expect=201)
    await api.post(f"{LOTS}/{withdrawn.body['id']}/withdraw", {}, token=m["alice"], expect=200)
    unsold = await api.post(
        LOTS, {"kind": "english_auction", "type": m["gem"], "amount": "1", "price_type": m["cn"], "start_price": "1.00",
               "reserve": "50.00", "closes_at": _later()}, token=m["alice"], expect=201,
    )
    await api.post(f"{LOTS}/{unsold.body['id']}/bids", {"amount": "2.00"}, token=m["bob"], expect=201)
    assert await run_due(site_of(api), MARKET_CLOSES, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    await api.post(LOTS, {"kind": "fixed_price", "type": m["gem"], "amount": "1", "price_type": m["cn"], "price": "1.00"},
                   token=m["alice"], expect=201)
    await _backdate(lots["a"], timedelta(days=3, hours=12))
    await _backdate(lots["b"], timedelta(minutes=90))
    return lots


def _payment(trend: dict[str, Any], symbol: str) -> dict[str, Any]:
    [payment] = [item for item in trend["payments"] if item["symbol"] == symbol]
    return payment


async def test_trends__per_period_counts_units_volumes_and_unit_prices(api: Api) -> None:
    m = await _market(api)
    await _sales(api, m)
    expected = {  # period: (sales, units, CN sales, CN volume, CN last/min/max per GEM)
        "hour": (2, "5", 1, "36.00", ("9.00", "9.00", "9.00")),
        "day": (3, "7", 2, "61.00", ("9.00", "9.00", "12.50")),
        "week": (4, "10", 3, "91.00", ("9.00", "9.00", "12.50")),
    }
    for period, (sales, units, cn_sales, volume, prices) in expected.items():
        reply = await api.get(f"{TRENDS}/{m['gem']}", params={"period": period})  # anonymous
        assert reply.status == 200, reply
        trend = reply.body
        assert (trend["sales"], trend["units"], trend["period"]) == (sales, units, period), (period, trend)
        cn = _payment(trend, "CN")
        assert (cn["sales"], cn["volume"]) == (cn_sales, volume), (period, cn)
        assert (cn["last_price"], cn["min_price"], cn["max_price"]) == prices, (period, cn)
        eur = _payment(trend, "EUR")
        assert (eur["sales"], eur["units"], eur["volume"], eur["last_price"]) == (1, "1", "5.00", "5.00"), (period, eur)
        assert [item["symbol"] for item in trend["payments"]][0] == "CN" or period == "hour"  # the most used first
        listed = await api.get(TRENDS, params={"period": period})
        assert listed.status == 200 and [item["type"] for item in listed.body["items"]] == [m["gem"]], listed
        assert listed.body["items"][0]["sales"] == sales and listed.body["items"][0]["payments"] == trend["payments"]


async def test_trends__chart_buckets_add_up_and_follow_the_payment_type(api: Api) -> None:
    m = await _market(api)
    lots = await _sales(api, m)
    day = (await api.get(f"{TRENDS}/{m['gem']}", params={"period": "day"})).body
    chart = day["chart"]
    assert chart["symbol"] == "CN" and chart["bucket_seconds"] == 3600 and len(chart["buckets"]) == 24, chart
    busy = {index: bucket for index, bucket in enumerate(chart["buckets"]) if bucket["sales"]}
    assert sorted(busy) == [22, 23], busy  # 90 minutes ago, and now
    assert (busy[22]["units"], busy[22]["volume"], busy[22]["last_price"]) == ("2", "25.00", "12.50")
    assert (busy[23]["units"], busy[23]["volume"], busy[23]["min_price"], busy[23]["max_price"]) == ("4", "36.00", "9.00", "9.00")
    assert chart["buckets"][0]["start"] == day["since"] and chart["buckets"][-1]["end"] == day["until"]
    assert sum(bucket["sales"] for bucket in chart["buckets"]) == _payment(day, "CN")["sales"]

    euro = (await api.get(f"{TRENDS}/{m['gem']}", params={"period": "day", "price_type": m["eur"]})).body["chart"]
    assert euro["symbol"] == "EUR" and [b["volume"] for b in euro["buckets"] if b["sales"]] == ["5.00"], euro

    week = (await api.get(f"{TRENDS}/{m['gem']}", params={"period": "week"})).body["chart"]
    assert week["bucket_seconds"] == 86400 and [b["sales"] for b in week["buckets"]] == [0, 0, 0, 1, 0, 0, 2], week
    hour = (await api.get(f"{TRENDS}/{m['gem']}", params={"period": "hour"})).body
    assert hour["chart"]["bucket_seconds"] == 300 and len(hour["chart"]["buckets"]) == 12
    # CN and EUR have one sale each in the hour: the chart takes the first by type id, stated in the answer
    assert hour["chart"]["price_type"] == hour["payments"][0]["price_type"]

    recent = day["recent"]
    assert [sale["lot"] for sale in recent] == [lots["d"], lots["c"], lots["b"]], recent  # newest first
    domain = site_of(api).domain
    assert recent[1] == {
        "lot": lots["c"], "at": recent[1]["at"], "seller": f"alice@{domain}", "buyer": f"carol@{domain}", "units": "4",
        "price": "36.00", "unit_price": "9.00", "price_type": m["cn"], "symbol": "CN",
    }
    few = await api.get(f"{TRENDS}/{m['gem']}", params={"recent": "1"})
    assert few.status == 200 and [sale["lot"] for sale in few.body["recent"]] == [lots["d"]]


async def test_trends__list_sorts_by_sales_pages_and_counts_unique_tokens_as_units(api: Api) -> None:
    m = await _market(api)
    card = await new_type(api, m["alice"], name="Card", symbol="CRD", fungible=False, smallest_unit=0)
    tokens = [(await api.post("/api/v1/tokens", {"type": card["id"]}, token=m["alice"], expect=201)).body["id"] for _ in range(2)]
    sold = await api.post(LOTS, {"kind": "fixed_price", "type": card["id"], "tokens": tokens, "price_type": m["cn"], "price": "7.00"},
                          token=m["alice"], expect=201)
    await api.post(f"{LOTS}/{sold.body['id']}/bids", {}, token=m["bob"], expect=201)
    await _buy(api, m, "carol", "1", "2.00")
    await _buy(api, m, "bob", "1", "3.00")
    first = await api.get(TRENDS, params={"period": "hour", "page_size": "1"})
    assert first.status == 200 and [item["symbol"] for item in first.body["items"]] == ["GEM"], first
    assert first.body["next"] and first.body["previous"] is None and first.body["sort"] == "-sales"
    second = await api.get(first.body["next"])
    assert second.status == 200 and [item["symbol"] for item in second.body["items"]] == ["CRD"], second
    cards = second.body["items"][0]
    assert (cards["sales"], cards["units"], cards["payments"][0]["last_price"]) == (1, "2", "3.50"), cards  # 7.00 for 2 cards
    assert second.body["next"] is None


async def test_trends__an_empty_period_and_a_type_never_sold(api: Api) -> None:
    m = await _market(api)
    empty = await api.get(TRENDS)
    assert empty.status == 200 and empty.body["items"] == [] and empty.body["next"] is None, empty
    lot = await _buy(api, m, "bob", "1", "4.00")
    await _backdate(lot, timedelta(hours=2))
    hour = await api.get(TRENDS, params={"period": "hour"})
    assert hour.status == 200 and hour.body["items"] == [], hour
    quiet = await api.get(f"{TRENDS}/{m['gem']}", params={"period": "hour"})
    assert quiet.status == 200, quiet
    assert (quiet.body["sales"], quiet.body["units"], quiet.body["payments"], quiet.body["recent"]) == (0, "0", [], [])
    assert quiet.body["last_sale_at"] is None and quiet.body["chart"]["price_type"] is None
    assert [bucket["sales"] for bucket in quiet.body["chart"]["buckets"]] == [0] * 12
    never = await api.get(f"{TRENDS}/{m['cn']}", params={"period": "week"})
    assert never.status == 200 and never.body["sales"] == 0, never


async def test_trends__bad_input_is_a_clear_problem(api: Api) -> None:
    m = await _market(api)
    assert_problem(await api.get(f"{TRENDS}/01aaaaaaaaaaaaaaaaaaaaaaaa"), 404, "type-not-found")
    assert_problem(await api.get(f"{TRENDS}/{m['gem']}", params={"price_type": "01aaaaaaaaaaaaaaaaaaaaaaaa"}), 404, "type-not-found")
    for path in (TRENDS, f"{TRENDS}/{m['gem']}"):
        bad = assert_problem(await api.get(path, params={"period": "month"}), 400, "validation-failed")
        assert "period" in bad["detail"], bad
    assert_problem(await api.get(f"{TRENDS}/{m['gem']}", params={"recent": "51"}), 400, "validation-failed")
    assert_problem(await api.get(f"{TRENDS}/{m['gem']}", params={"recent": "0"}), 400, "validation-failed")
    assert_problem(await api.get(TRENDS, params={"page_size": "0"}), 400, "validation-failed")
    deleted = await new_type(api, m["alice"], name="Gone", symbol="GON")
    await api.delete(f"/api/v1/types/{deleted['id']}", token=m["alice"], expect=204)
    assert_problem(await api.get(f"{TRENDS}/{deleted['id']}"), 404, "type-not-found")


async def test_trends__signed_in_callers_see_the_same_as_anonymous_ones(api: Api) -> None:
    m = await _market(api)
    await _buy(api, m, "bob", "2", "9.00")
    anonymous = await api.get(f"{TRENDS}/{m['gem']}")
    signed_in = await api.get(f"{TRENDS}/{m['gem']}", token=m["carol"])
    assert anonymous.status == signed_in.status == 200
    for key in ("sales", "units", "payments", "recent"):
        assert anonymous.body[key] == signed_in.body[key], key
    assert anonymous.body["payments"][0]["last_price"] == "4.50"


def test_unit_price__rounds_half_up_to_the_payment_types_smallest_unit() -> None:
    assert unit_price(3000, 3, 0) == 1000  # 30.00 for 3 -> 10.00
    assert unit_price(1000, 3, 0) == 333  # 10.00 for 3 -> 3.33
    assert unit_price(500, 3, 0) == 167  # 5.00 for 3 -> 1.666.. -> 1.67
    assert unit_price(5, 2, 0) == 3  # 5 for 2 -> 2.5 -> 3
    assert unit_price(1000, 250, 2) == 400  # 10.00 for 2.50 units -> 4.00
    assert unit_price(2**63 - 1, 1, 18) == (2**63 - 1) * 10**18  # no overflow in Python integers


def _sale(lot: str, minutes_ago: float, price: int, units: int, price_type: str = "cn") -> Sale:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    return Sale(lot=lot, at=now - timedelta(minutes=minutes_ago), price=price, units=units, price_type=price_type,
                seller="s", buyer="b", item_type="gem")


def test_payment_stats__per_payment_type_most_used_first_last_is_the_latest() -> None:
    sales = [_sale("1", 50, 100, 1), _sale("2", 40, 300, 2), _sale("3", 30, 90, 1, "eur"), _sale("4", 10, 120, 1)]
    cn, eur = payment_stats(sales, 0)
    assert (cn.price_type, cn.sales, cn.units, cn.volume, cn.low, cn.high, cn.last) == ("cn", 3, 4, 520, 100, 150, 120)
    assert (eur.price_type, eur.sales, eur.last) == ("eur", 1, 90)


def test_bucket_stats__the_window_ends_in_the_last_bucket_inclusive() -> None:
    since = datetime(2026, 1, 1, 11, tzinfo=UTC)
    sales = [_sale("start", 60, 10, 1), _sale("mid", 32, 20, 1), _sale("end", 0, 30, 1), _sale("before", 61, 40, 1)]
    buckets = bucket_stats(sales, since, timedelta(minutes=5), 12, 0)
    assert [bucket.sales for bucket in buckets] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert isinstance(buckets[0], PaymentStats) and buckets[5].last == 20 and buckets[11].last == 30


async def test_trends__a_lot_sold_to_listed_users_only_is_not_counted(api: Api) -> None:
    m = await _market(api)
    await _buy(api, m, "bob", "2", "20.00", visibility="listed", audience=["bob"])
    await _buy(api, m, "carol", "1", "7.00")
    day = await api.get(f"{TRENDS}/{m['gem']}", expect=200)
    assert (day.body["sales"], day.body["units"]) == (1, "1")
    assert [sale["price"] for sale in day.body["recent"]] == ["7.00"]
    listed = await api.get(TRENDS, expect=200)
    assert [(item["symbol"], item["sales"]) for item in listed.body["items"]] == [("GEM", 1)]
