"""Accessibility of every page, checked by axe-core in Chromium (issue 23, item 5), and every page
at phone width without sideways scrolling (390 px).

One live server with a bit of everything (a type, units, a unique token, a set, a lot, a pool, a
contract offer, a watcher); a signed-in admin and a visitor walk the pages. axe's "serious" and
"critical" findings fail the test, named by page, rule and element; lesser ones are printed.
Skipped like tests/test_browser.py when Chromium or playwright is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, live_server
from .test_browser import CHROMIUM, CHROMIUM_ARGS, api, axe_findings, sync_playwright
from .test_browser import pytestmark as browser_marks

pytestmark = browser_marks

try:
    from axe_playwright_python.sync_playwright import Axe
except ImportError:  # pragma: no cover - the test extra installs it
    Axe = None

@pytest.fixture
def live(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(template_database, tmp_path, start=True) as server:
        yield server


def _ok(reply: tuple[int, Any], status: int = 201) -> Any:
    assert reply[0] == status, str(reply[1])
    return reply[1]


def _seed(live: LiveServer) -> dict[str, str]:
    """Something on every page: alice (admin) owns a coin, a unique badge, a set, a lot, a pool,
    a contract offer, a watcher, boards (a thread, a chat room, a review); bob holds coins."""
    alice = live.create_user("alice", "admin")
    live.create_user("bob")
    coin = _ok(api(live, "POST", "/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2},
                   token=alice))["id"]
    _ok(api(live, "POST", "/api/v1/ledger/create", {"type": coin, "amount": "500.00"}, token=alice))
    entry = _ok(api(live, "POST", "/api/v1/ledger/give", {"type": coin, "amount": "25.00", "to": "bob"}, token=alice))["id"]
    badge = _ok(api(live, "POST", "/api/v1/types", {"name": "Badge", "symbol": "BDG", "fungible": False, "smallest_unit": 0,
                                                    "attributes": [{"name": "title", "type": "string"}]}, token=alice))["id"]
    token = _ok(api(live, "POST", "/api/v1/tokens", {"type": badge, "attributes": {"title": "First"}}, token=alice))["id"]
    shelf = _ok(api(live, "POST", "/api/v1/sets", {"name": "Shelf", "description": "Things"}, token=alice))["id"]
    lot = _ok(api(live, "POST", "/api/v1/market/lots", {"kind": "fixed_price", "type": coin, "amount": "5.00",
                                                         "price_type": coin, "price": "6.00", "title": "Five coins"},
                  token=alice))["id"]
    pool = _ok(api(live, "POST", "/api/v1/pools", {"type": coin, "name": "Harvest", "capacity": "100.00"}, token=alice))["id"]
    base = _ok(api(live, "POST", "/api/v1/types", {"name": "Base", "symbol": "BASE", "fungible": True, "smallest_unit": 0}, token=alice))["id"]
    offer = _ok(api(live, "POST", "/api/v1/contracts/offers", {"type": base, "title": "Studio", "payment_type": coin,
                                                               "fee": "1.00"}, token=alice))["id"]
    _ok(api(live, "POST", "/api/v1/watchers", {"name": "low", "kind": "balance", "every_seconds": 300,
                                               "query": {"type": coin, "actor": "alice", "below": "10"}}, token=alice))
    job = _ok(api(live, "POST", f"/api/v1/sets/{shelf}/export", {}, token=alice), 202)["id"]
    _ok(api(live, "POST", "/api/v1/organizations", {"name": "acme"}, token=alice))
    _ok(api(live, "POST", "/api/v1/stores", {"organization": "acme", "slug": "acme-shop", "title": "Acme shop",
                                             "categories": ["kitchen"]}, token=alice))
    mug = _ok(api(live, "POST", "/api/v1/stores/acme-shop/items", {"title": "Mug", "symbol": "MUG", "price": "5.00",
                                                                  "price_type": coin, "stock": "3", "category": "kitchen"},
                  token=alice))["id"]
    talk = _ok(api(live, "POST", "/api/v1/boards", {"name": "Coin talk", "kind": "discussion", "votes_allowed": True},
                   token=alice))["id"]
    post = _ok(api(live, "POST", f"/api/v1/boards/{talk}/entries", {"body": "Which **coins**?"}, token=alice))["id"]
    _ok(api(live, "POST", f"/api/v1/entries/{post}/replies", {"body": "Old ones"}, token=alice))
    room = _ok(api(live, "POST", "/api/v1/boards", {"name": "Lobby", "kind": "chat"}, token=alice))["id"]
    _ok(api(live, "POST", f"/api/v1/boards/{room}/entries", {"body": "hello"}, token=alice))
    reviews = _ok(api(live, "POST", "/api/v1/boards", {"name": "Reviews", "kind": "review"}, token=alice))["id"]
    _ok(api(live, "POST", f"/api/v1/boards/{reviews}/entries", {"subject_kind": "type", "subject_id": coin, "rating": 4,
                                                                 "body": "Good"}, token=alice))
    return {"talk": talk, "post": post, "room": room, "mug": mug, "job": job, "coin": coin, "entry": entry, "badge": badge, "token": token, "set": shelf, "lot": lot, "pool": pool,
            "offer": offer}


def _paths(ids: dict[str, str]) -> list[str]:
    return [
        "/", "/app/types/new", f"/app/types/{ids['coin']}", f"/app/types/{ids['coin']}/edit", f"/app/types/{ids['badge']}",
        f"/app/tokens/{ids['token']}", f"/app/entries/{ids['entry']}", "/app/ledger", "/app/sets",
        f"/app/sets/{ids['set']}", "/app/market", "/app/market/mine", "/app/market/bids", f"/app/market/lots/{ids['lot']}",
        "/app/market/elsewhere", "/trends", f"/trends/{ids['coin']}", "/app/pools", f"/app/pools/{ids['pool']}",
        f"/app/pools/{ids['pool']}/reservations", "/app/pools/reservations", "/app/contracts", f"/app/offers/{ids['offer']}",
        "/app/watchers", "/app/moderation", "/app/moderation/assignments", "/app/moderation/audit", "/app/follows",
        "/app/inbox", "/app/copies", "/app/verify", "/app/remote-gives", "/app/remote-trace", "/app/jobs", "/app/apps",
        "/app/delegations", "/app/account/identities", "/app/admin/users", "/app/admin/blocks", "/app/admin/jobs", "/app/admin/deliveries",
        "/app/organizations", "/app/proposals-elsewhere", "/app/groups", "/app/webhooks", "/app/agents", "/app/imports",
        "/app/remote-contracts", "/app/orders", "/app/stores", "/app/stores/acme-shop", "/app/stores/acme-shop/manage",
        f"/app/stores/acme-shop/items/{ids['mug']}", f"/app/stores/acme-shop/manage/items/{ids['mug']}",
        "/app/stores/acme-shop/orders", "/app/organizations/acme", f"/app/jobs/{ids['job']}", "/users/alice", f"/types/{ids['coin']}",
        "/app/boards", f"/app/boards/{ids['talk']}", f"/app/boards/{ids['room']}", f"/app/posts/{ids['post']}",
        f"/app/posts/{ids['post']}/edit", f"/app/boards/{ids['talk']}/manage", f"/app/reviews/type/{ids['coin']}",
    ]


@pytest.mark.skipif(Axe is None, reason="needs axe-playwright-python (pip install -e '.[test]')")
def test_browser_axe__every_page_has_no_serious_accessibility_issue_and_fits_a_phone(live: LiveServer) -> None:
    ids = _seed(live)
    blocking: list[str] = []
    minor: list[str] = []
    too_wide: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # axe runs as a script in the page, so JavaScript is on here; the pages carry none of their own.
            visitor = browser.new_context(base_url=live.base_url).new_page()
            for path in ("/signin", "/signup", "/trends", "/users/alice", f"/app/market/lots/{ids['lot']}"):
                visitor.goto(path)
                found, rest = axe_findings(visitor, f"visitor {path}")
                blocking += found
                minor += rest
            context = browser.new_context(base_url=live.base_url)
            alice = context.new_page()
            alice.goto("/signin")
            alice.fill("#f-username", "alice")
            alice.fill("#f-password", "correct horse")
            with alice.expect_navigation():
                alice.click("form[action='/signin'] button[type=submit]")
            for path in _paths(ids):
                response = alice.goto(path)
                assert response is not None and response.status == 200, (path, response and response.status)
                found, rest = axe_findings(alice, path)
                blocking += found
                minor += rest
            alice.set_viewport_size({"width": 390, "height": 844})
            # The nav is four links and a "More" menu that opens without JavaScript (a <details>).
            alice.goto("/")
            header = alice.locator("header.site").bounding_box()
            assert header is not None and header["height"] < 110, header  # two short lines at most
            assert not alice.locator("a[href='/app/pools']").first.is_visible()
            alice.click("details.menu > summary")
            alice.click("details.menu a[href='/app/pools']")
            assert alice.locator("h1").inner_text() == "My pools", alice.url
            for path in _paths(ids):
                alice.goto(path)
                if not alice.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"):
                    too_wide.append(f"{path}: {alice.evaluate('document.documentElement.scrollWidth')} px")
            context.close()
        finally:
            browser.close()
    if minor:
        print("axe, moderate and minor:\n" + "\n".join(minor))
    assert not blocking, "axe found serious or critical issues:\n" + "\n".join(blocking)
    assert not too_wide, "wider than a 390 px phone:\n" + "\n".join(too_wide)
