"""Two real servers in a real browser, as a phone shows them (390 px, JavaScript off): alice on A
exports a set and downloads the file from her job page, bob on B imports it and verifies a copy
at A; units alice gives bob@B show in his wallet on B as "from A", and their holding page opens.

One pair of servers for both flows (issue 23's acceptance); skipped like tests/test_browser.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, federated_servers
from .test_browser import CHROMIUM, CHROMIUM_ARGS, _sign_in, accessible, api, fits_the_phone, shot, sync_playwright
from .test_browser import pytestmark as browser_marks

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = browser_marks
ATTRIBUTES = [{"name": "label", "type": "string"}, {"name": "weight", "type": "decimal"}]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def pair(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[list[LiveServer]]:
    with federated_servers(template_database, tmp_path, ("a", "b")) as made:
        yield made


def until(check: Callable[[], Any], what: str, limit: float = 45) -> Any:
    """Poll until `check` returns something truthy (jobs and federation finish in the background)."""
    deadline = time.monotonic() + limit
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def looked_at(phone: Page, name: str) -> None:
    """Every page of the flows: labelled, no sideways scrolling at 390 px, and a screenshot."""
    accessible(phone)
    assert fits_the_phone(phone), phone.url
    shot(phone, name)


def made(server: LiveServer, path: str, body: dict[str, Any], token: str, *, expect: int = 201) -> Any:
    """A setup call through the API, its status asserted."""
    status, reply = api(server, "POST", path, body, token=token)
    assert status == expect, (path, reply)
    return reply


def test_browser_federation__export_import_verify_and_a_remote_holding_on_a_phone(
    pair: list[LiveServer], tmp_path: Path
) -> None:
    a, b = pair
    alice, bob = a.create_user("alice"), b.create_user("bob")
    a.start()
    b.start()
    a_domain = a.base_url.removeprefix("http://")
    ingot = made(a, "/api/v1/types", {"name": "Ingot", "symbol": "ING", "fungible": False, "smallest_unit": 0,
                                      "attributes": ATTRIBUTES}, alice)
    bars = [made(a, "/api/v1/tokens", {"type": ingot["id"], "attributes": {"label": bar, "weight": "12.5"}}, alice)
            for bar in ("Bar 1", "Bar 2")]
    vault = made(a, "/api/v1/sets", {"name": "Vault"}, alice)
    made(a, f"/api/v1/sets/{vault['id']}/tokens", {"tokens": [bar["id"] for bar in bars]}, alice, expect=200)
    coin = made(a, "/api/v1/types", {"name": "Gold", "symbol": "GLD", "fungible": True, "smallest_unit": 0}, alice)
    made(a, "/api/v1/ledger/create", {"type": coin["id"], "amount": "10"}, alice)
    made(a, "/api/v1/ledger/give", {"type": coin["id"], "amount": "4", "to": f"bob@{b.base_url.removeprefix('http://')}"},
         alice)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            on_a = browser.new_context(java_script_enabled=False, base_url=a.base_url, viewport=PHONE,
                                       accept_downloads=True)
            phone = on_a.new_page()
            _sign_in(phone, "alice")
            phone.goto(f"/app/sets/{vault['id']}")
            assert phone.locator("ul.set-tokens li").count() == 2
            looked_at(phone, "40-federation-set-phone")
            phone.click("button:has-text('Export this set')")
            job_url = phone.url

            def download_link() -> bool:
                phone.goto(job_url)
                return bool(phone.locator("a:has-text('Download the export file')").count())

            until(download_link, "the export's download link")
            looked_at(phone, "41-federation-export-job-phone")
            with phone.expect_download() as started:
                phone.click("a:has-text('Download the export file')")
            export_file = tmp_path / "vault-export.json"
            started.value.save_as(export_file)
            assert b'"Vault"' in export_file.read_bytes()
            on_a.close()

            on_b = browser.new_context(java_script_enabled=False, base_url=b.base_url, viewport=PHONE)
            phone = on_b.new_page()
            _sign_in(phone, "bob")
            phone.goto("/app/imports")
            looked_at(phone, "42-federation-imports-phone")
            phone.set_input_files("#f-file", str(export_file))
            phone.click("form[action='/app/imports'] button[type=submit]")
            assert phone.locator(".flash").inner_text() == "Imported 2 token copy(ies)."
            assert phone.locator("h1").inner_text() == "Import of Vault"
            copies = phone.locator("ul.copies > li")
            assert copies.count() == 2 and "Bar 1" in copies.first.inner_text() + copies.last.inner_text()
            looked_at(phone, "43-federation-import-phone")
            original = phone.locator("ul.copies a").first.get_attribute("href")
            assert original and original.startswith(f"{a.base_url}/tokens/"), original

            phone.goto("/app/verify")
            phone.fill("#f-url", original)
            phone.click("form[action='/app/verify'] button[type=submit]")
            verdict = phone.locator("section[aria-label='Verdict']").inner_text()
            assert "1 of 1 token(s) accurate at their origin" in verdict, verdict
            assert "ACCURATE" in verdict and "matches the origin's version 1" in verdict, verdict
            looked_at(phone, "44-federation-verify-phone")

            def credited() -> Any:
                status, held = api(b, "GET", "/api/v1/federation/holdings", token=bob)
                assert status == 200, held
                return held["items"]

            until(credited, "B to credit bob with alice's units")
            phone.goto("/")
            row = phone.locator("table.balances tr.remote")
            assert row.count() == 1, phone.content()[:3000]
            assert f"from {a_domain}" in row.inner_text() and row.locator(".balance").inner_text().startswith("4")
            looked_at(phone, "45-federation-wallet-phone")
            row.locator("a").first.click()
            assert phone.locator("h1").inner_text() == f"GLD from {a_domain}"
            looked_at(phone, "46-federation-holding-phone")
            phone.goto("/app/copies")
            assert phone.locator("td.status").all_inner_texts() == ["held", "held"]
            looked_at(phone, "47-federation-copies-phone")
            on_b.close()
        finally:
            browser.close()
