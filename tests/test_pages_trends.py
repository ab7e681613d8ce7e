"""The trends pages: public (no sign-in), no JavaScript, a chart drawn as SVG beside its table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from models.market import Lot
from server.pages.trends import trend_chart

from .conftest import Api
from .pagehelpers import Browser
from .test_ledger import minted


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def _sold(api: Api) -> tuple[str, str, list[str]]:
    """alice sells GEM for CN three times; two sales now, one 90 minutes ago. Returns gem, coin, lot ids."""
    alice, bob = await api.user("alice"), await api.user("bob")
    gem = await minted(api, alice, "10", name="Gem <b>", symbol="GEM", smallest_unit=0)
    coin = await minted(api, alice, "500", symbol="CN", smallest_unit=0)
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "200", "to": "bob"}, token=alice, expect=201)
    lots = []
    for amount, price in (("2", "20"), ("1", "12"), ("3", "27")):
        body = {"kind": "fixed_price", "type": gem, "amount": amount, "price_type": coin, "price": price}
        listed = await api.post("/api/v1/market/lots", body, token=alice, expect=201)
        await api.post(f"/api/v1/market/lots/{listed.body['id']}/bids", {}, token=bob, expect=201)
        lots.append(listed.body["id"])
    assert await Lot.filter(id=lots[0]).update(ended_at=datetime.now(UTC) - timedelta(minutes=90)) == 1
    return gem, coin, lots


async def test_pages_trends__list_works_without_sign_in_and_switches_period_by_links(browser: Browser, api: Api) -> None:
    gem, _, _ = await _sold(api)
    day = await browser.get("/trends", expect=200)
    assert "Gem <b> (GEM)" in day and "<b>" not in day.text  # the name is escaped
    assert re.search(rf'<tr id="trend-{gem}">.*?<td[^>]*class="num">3</td>\s*<td[^>]*class="num">6</td>', day.text, re.S), day.text
    assert "59 CN in 3 sales; per GEM: last 9, low 9, high 12" in day
    assert 'href="/trends?period=hour"' in day.text and 'aria-current="page"><strong>Last 24 hours' in day.text
    hour = await browser.get("/trends?period=hour", expect=200)
    assert "39 CN in 2 sales" in hour and 'aria-current="page"><strong>Last hour' in hour.text
    assert "<script" not in day.text and 'href="/trends"' in day.text  # the main nav links here too


async def test_pages_trends__type_page_has_the_chart_its_table_and_recent_sales(browser: Browser, api: Api) -> None:
    gem, coin, lots = await _sold(api)
    opened = await browser.get(f"/trends/{gem}", expect=200)
    [svg] = re.findall(r"<svg\b.*?</svg>", opened.text, re.S)
    assert 'role="img"' in svg and 'viewBox="0 0 390 260"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count('<rect class="bar"') == 2  # two hours with sales
    assert svg.count('<circle class="point"') == 2
    assert "<b>" not in svg and "Gem &lt;b&gt;" not in svg  # the chart names the symbol only
    table = opened.text.split('<table class="buckets">')[1].split("</table>")[0]
    assert table.count("<tr>") == 3, table  # the header and two hours with sales
    assert "2 GEM" in table and "20 CN" in table and "4 GEM" in table and "39 CN" in table
    recent = opened.text.split('<table class="sales">')[1]
    assert [lot for lot in re.findall(r'<tr id="sale-([0-9a-z]+)">', recent)] == [lots[2], lots[1], lots[0]]
    assert "alice@" in recent and "bob@" in recent and f'href="/app/market/lots/{lots[2]}"' in recent
    assert "<script" not in opened.text and "style=" not in opened.text
    week = await browser.get(f"/trends/{gem}?period=week&price_type={coin}", expect=200)
    [week_svg] = re.findall(r"<svg\b.*?</svg>", week.text, re.S)
    assert week_svg.count('<rect class="bar"') == 1 and 'aria-current="page"><strong>Last 7 days' in week.text


async def test_pages_trends__an_empty_period_and_bad_addresses(browser: Browser, api: Api) -> None:
    gem, _, _ = await _sold(api)
    await Lot.filter(item_type_id=gem).update(ended_at=datetime.now(UTC) - timedelta(days=3))
    quiet = await browser.get(f"/trends/{gem}?period=hour", expect=200)
    assert "No sales in the last hour" in quiet and '<rect class="bar"' not in quiet.text
    assert "No sales in the last hour." in (await browser.get("/trends?period=hour", expect=200))
    missing = await browser.get("/trends/01aaaaaaaaaaaaaaaaaaaaaaaa", expect=404)
    assert "no token type" in missing.text
    bad = await browser.get(f"/trends/{gem}?period=month", expect=400)
    assert "period" in bad.text
    await browser.get("/trends?period=year", expect=400)


async def test_pages_trends__signed_in_the_market_nav_links_to_trends(browser: Browser, api: Api) -> None:
    await browser.sign_up("carol")
    market = await browser.get("/app/market", expect=200)
    assert '<a href="/trends">Trends</a>' in market.text
    assert (await browser.get("/trends", expect=200)).text.count('href="/trends"') >= 2  # main nav and market nav


def test_trend_chart__one_point_per_bucket_with_a_price() -> None:
    bucket = {"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T11:00:00Z", "sales": 0, "units": "0", "volume": "0",
              "min_price": None, "max_price": None, "last_price": None}
    sold = {**bucket, "start": "2026-01-01T11:00:00Z", "end": "2026-01-01T12:00:00Z", "sales": 2, "units": "3",
            "volume": "30", "min_price": "9", "max_price": "12", "last_price": "10"}
    trend = {"type": "t1", "symbol": "GEM", "period": "day",
             "chart": {"price_type": "c1", "symbol": "CN", "bucket_seconds": 3600, "buckets": [bucket, sold]}}
    svg = trend_chart(trend)
    assert svg.count('<circle class="point"') == 1 and svg.count('<rect class="bar"') == 1
    assert "11:00 to 12:00 UTC: 2 sales, 3 GEM for 30 CN; per GEM: last 10, low 9, high 12 CN" in svg
