"""The main flow with the keyboard alone (issue 23, item 5): sign in, mint and give using only
Tab, typing and Enter, every focused control visibly outlined; then the same wallet at 390 px,
its table as stacked cards. Screenshots of each step go where tests/screenshots.py says.

Skipped like tests/test_browser.py when Chromium or playwright is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, live_server
from .test_browser import CHROMIUM, CHROMIUM_ARGS, api, shot, sync_playwright
from .test_browser import pytestmark as browser_marks

pytestmark = browser_marks
MOST_TABS = 80  # more presses than any page here has stops before its form

# The focused element, whether it shows it (an outline: ours is 3px) and whether it is the one sought.
_FOCUS = """(selector) => {
  const el = document.activeElement, style = getComputedStyle(el);
  return {name: `${el.tagName.toLowerCase()}#${el.id} ${el.getAttribute('href') || ''}`, reached: el.matches(selector),
          visible: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0};
}"""


@pytest.fixture
def live(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(template_database, tmp_path, start=True) as server:
        yield server


def tab_to(page: Any, matches: str) -> None:
    """Press Tab until the element `matches` (a CSS selector) has the focus; every stop on the
    way must show its focus."""
    hidden: list[str] = []
    for _ in range(MOST_TABS):
        page.keyboard.press("Tab")
        focus = page.evaluate(_FOCUS, matches)
        if not focus["visible"]:
            hidden.append(focus["name"])
        if focus["reached"]:
            assert not hidden, f"focus not visible on {page.url}: {hidden}"
            return
    raise AssertionError(f"{matches} not reached with {MOST_TABS} presses of Tab on {page.url}")


def test_browser_keyboard__sign_in_mint_and_give_without_a_mouse(live: LiveServer) -> None:
    ann = live.create_user("ann")
    live.create_user("bob")
    status, coin = api(live, "POST", "/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0},
                       token=ann)
    assert status == 201, coin
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(base_url=live.base_url, viewport={"width": 1280, "height": 900}).new_page()
            page.goto("/signin")
            tab_to(page, "#f-username")
            page.keyboard.type("ann")
            tab_to(page, "#f-password")
            page.keyboard.type("correct horse")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert page.locator("h1").inner_text() == "Your wallet"
            shot(page, "40-keyboard-signed-in")

            tab_to(page, f"a[href='/app/types/{coin['id']}']")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            shot(page, "41-keyboard-type")
            tab_to(page, "#mint-amount")
            page.keyboard.type("100")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert "Minted 100." in page.locator(".flash").inner_text()
            shot(page, "42-keyboard-minted")

            page.goto(f"/app/types/{coin['id']}")
            tab_to(page, "#give-amount")
            page.keyboard.type("30")
            tab_to(page, "#give-to")
            page.keyboard.type("bob")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert "Gave 30." in page.locator(".flash").inner_text()
            shot(page, "43-keyboard-given")

            page.set_viewport_size({"width": 390, "height": 844})
            page.goto("/")
            cell = page.locator(f"tr[data-type='{coin['id']}'] td.balance")
            assert cell.inner_text().strip() == "70"
            shown = cell.evaluate("td => [getComputedStyle(td).display, getComputedStyle(td, '::before').content]")
            assert shown == ["block", '"Balance: "'], shown  # a card's line, led by its column's name
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert page.locator("figure.balance-chart svg[role=img]").count() == 1
            shot(page, "44-keyboard-wallet-phone")
        finally:
            browser.close()
