"""The trends pages in a real browser, as a phone shows them: 390 px wide, JavaScript off.

Skipped like tests/test_browser.py when Chromium or playwright is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, live_server
from .test_browser import CHROMIUM, CHROMIUM_ARGS, accessible, api, shot, sync_playwright
from .test_browser import pytestmark as browser_marks

pytestmark = browser_marks


@pytest.fixture
def live(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(template_database, tmp_path, start=True) as server:
        yield server


def _sell(live: LiveServer) -> str:
    """alice sells GEM for CN to bob twice; the GEM type's id."""
    alice, bob = live.create_user("alice"), live.create_user("bob")
    ids = {}
    for name, symbol in (("Gem", "GEM"), ("Coin", "CN")):
        status, made = api(live, "POST", "/api/v1/types", {"name": name, "symbol": symbol, "fungible": True, "smallest_unit": 0},
                           token=alice)
        assert status == 201, made
        ids[symbol] = made["id"]
        assert api(live, "POST", "/api/v1/ledger/create", {"type": made["id"], "amount": "100"}, token=alice)[0] == 201
    assert api(live, "POST", "/api/v1/ledger/give", {"type": ids["CN"], "amount": "50", "to": "bob"}, token=alice)[0] == 201
    for amount, price in (("2", "18"), ("3", "30")):
        body = {"kind": "fixed_price", "type": ids["GEM"], "amount": amount, "price_type": ids["CN"], "price": price}
        status, lot = api(live, "POST", "/api/v1/market/lots", body, token=alice)
        assert status == 201, lot
        status, bought = api(live, "POST", f"/api/v1/market/lots/{lot['id']}/bids", {}, token=bob)
        assert status == 201 and bought["state"] == "won", bought
    return ids["GEM"]


def test_browser_trends__a_phone_without_javascript_sees_the_chart_and_no_sideways_scroll(live: LiveServer) -> None:
    gem = _sell(live)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(java_script_enabled=False, base_url=live.base_url, viewport={"width": 390, "height": 844})
            phone = context.new_page()
            phone.goto("/trends")
            accessible(phone)
            phone.click(f"#trend-{gem} a")
            assert phone.locator("h1").inner_text() == "Gem (GEM)"
            chart = phone.locator("svg.chart")
            box = chart.bounding_box()
            assert box is not None and 300 < box["width"] <= 390 and box["height"] > 150, box  # scaled to the column
            assert chart.locator("circle.point").count() == 1 and chart.locator("rect.bar").count() == 1  # one hour, both sales
            cells = phone.locator("table.buckets tbody td").all_inner_texts()
            assert cells[1:4] == ["2", "5 GEM", "48 CN"], cells
            for path in ("/trends", f"/trends/{gem}", f"/trends/{gem}?period=week"):
                phone.goto(path)
                assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
            shot(phone, "20-trends-type-phone")
            context.close()
        finally:
            browser.close()
