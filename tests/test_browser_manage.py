"""The set, token, job, import and account pages in a real browser, as a phone shows them:
390 px wide, JavaScript off. An enum value is picked from a select, tokens are ticked into a
set, an export's job page links the file, and no page scrolls sideways.

Skipped like tests/test_browser.py when Chromium or playwright is missing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, live_server
from .test_browser import CHROMIUM, CHROMIUM_ARGS, accessible, api, shot, sync_playwright
from .test_browser import pytestmark as browser_marks

pytestmark = browser_marks
ATTRIBUTES = [{"name": "label", "type": "string"}, {"name": "colour", "type": "enum", "enum": ["red", "blue"]}]


@pytest.fixture
def live(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(template_database, tmp_path, start=True) as server:
        yield server


def test_browser_manage__a_phone_edits_tokens_fills_a_set_and_exports_it(live: LiveServer) -> None:
    alice = live.create_user("alice")
    status, gem = api(live, "POST", "/api/v1/types", {"name": "Gem", "symbol": "GEM", "fungible": False,
                                                        "smallest_unit": 0, "attributes": ATTRIBUTES}, token=alice)
    assert status == 201, gem
    tokens = []
    for label in ("Ruby", "A gem with a rather long name that should wrap on a phone screen"):
        status, made = api(live, "POST", "/api/v1/tokens", {"type": gem["id"], "attributes": {"label": label}},
                           token=alice)
        assert status == 201, made
        tokens.append(made["id"])
    status, shelf = api(live, "POST", "/api/v1/sets", {"name": "Shelf"}, token=alice)
    assert status == 201, shelf
    steps = [{"id": "box", "operation": "sets.create", "input": {"name": "Box"}},
             {"id": "coin", "operation": "types.create",
              "input": {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2}}]
    status, chain = api(live, "POST", "/api/v1/jobs", {"steps": steps}, token=alice)
    assert status == 202, chain

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(java_script_enabled=False, base_url=live.base_url,
                                          viewport={"width": 390, "height": 844})
            phone = context.new_page()
            phone.goto("/signin")
            phone.fill("#f-username", "alice")
            phone.fill("#f-password", "correct horse")
            phone.click("button[type=submit]:has-text('Sign in')")

            phone.goto(f"/app/tokens/{tokens[0]}/edit")
            accessible(phone)
            phone.select_option("#f-a-colour", "blue")
            phone.click("button[type=submit]:has-text('Save')")
            assert phone.locator(".flash").inner_text() == "Token saved."
            assert "blue" in phone.locator("dl.attributes").inner_text()

            phone.goto(f"/app/sets/{shelf['id']}")
            for token_id in tokens:
                phone.check(f"#pick-{token_id}")
            phone.click("form[action$='/tokens'] button[type=submit]")
            assert phone.locator(".flash").inner_text() == "Added 2 token(s)."
            assert phone.locator("ul.set-tokens li").count() == 2
            shot(phone, "30-set-phone")
            phone.click("button:has-text('Export this set')")
            job_url = phone.url
            deadline = time.monotonic() + 30
            while not phone.locator("a:has-text('Download the export file')").count():
                assert time.monotonic() < deadline, phone.content()[:2000]
                time.sleep(0.3)
                phone.goto(job_url)
            assert phone.locator("h1").inner_text() == "Export of a set"
            shot(phone, "31-export-job-phone")

            phone.goto(f"/app/jobs/{chain['id']}")
            assert re.fullmatch(r"Step \d of 2", phone.locator("#steps-h").inner_text())
            assert phone.locator("svg.chart").count() == 1
            shot(phone, "32-chain-job-phone")

            paths = [
                f"/app/sets/{shelf['id']}", f"/app/sets/{shelf['id']}/edit", f"/app/sets/{shelf['id']}/delete",
                f"/app/sets/{shelf['id']}/search?searched=1&f0-attribute=colour&f0-op=eq&f0-value=blue",
                f"/app/tokens/{tokens[1]}/edit", f"/app/tokens/{tokens[1]}/delete", f"/app/types/{gem['id']}/delete",
                "/app/jobs", job_url.removeprefix(live.base_url), f"/app/jobs/{chain['id']}", "/app/imports",
                "/app/account/delete",
            ]
            for path in paths:
                phone.goto(path)
                accessible(phone)
                assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
            phone.goto(f"/app/sets/{shelf['id']}/search?searched=1&f0-attribute=colour&f0-op=eq&f0-value=blue")
            assert phone.locator("main h2").first.inner_text() == "1 token(s) found"
            shot(phone, "33-set-search-phone")
            context.close()
        finally:
            browser.close()
