"""End-to-end in a real browser: Debian's headless Chromium driven by Playwright against `tallystick serve`.

Skipped (with the reason) when /usr/bin/chromium or the playwright package is missing;
`.ci/run` installs chromium. Screenshots of the main pages go to $TALLYSTICK_SCREENSHOTS, or to
`screenshots/` under pytest's temporary directory (tests/screenshots.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import urllib.parse
import urllib.request
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from . import screenshots
from .dbutil import TemplateDatabase
from .livesrv import LiveServer, live_server
from .test_pages_session import assert_labelled

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.skipif(sync_playwright is None, reason="needs the playwright package (pip install -e '.[test]')"),
]


@pytest.fixture
def live(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(template_database, tmp_path, start=True) as server:
        yield server


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def shot(page: Page, name: str) -> None:
    screenshots.save(page, name)


def accessible(page: Page) -> None:
    """A title, and a label for every visible form control (read from the served HTML, so JS may be off)."""
    assert page.title().strip(), page.url
    assert_labelled(page.content())


def field_error(page: Page, form: str, field: str) -> str:
    return page.locator(f"#{form} .error[data-field='{field}']").inner_text()


def balance_cell(page: Page, type_id: str) -> str:
    return page.locator(f"tr[data-type='{type_id}'] .balance").inner_text()


def api(
    live: LiveServer,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    form: bool = False,
) -> tuple[int, Any]:
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(live.base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_browser__people_create_mint_give_and_apps_get_consent(live: LiveServer, chromium: Browser) -> None:
    live.create_user("bob")
    base = live.base_url

    # Ann works with JavaScript off: the core forms must not need it.
    ann_context = chromium.new_context(java_script_enabled=False, base_url=base)
    ann = ann_context.new_page()
    ann.goto("/signup")
    accessible(ann)
    shot(ann, "01-signup")
    ann.fill("#f-username", "ann")
    ann.fill("#f-email", "ann@example.org")
    ann.fill("#f-password", "correct horse")
    ann.click("button[type=submit]:has-text('Sign up')")
    assert ann.locator("h1").inner_text() == "Your wallet"

    # A token type with two attributes, through the schema editor.
    ann.goto("/app/types/new")
    ann.fill("#f-name", "Coffee cups")
    ann.fill("#f-symbol", "CUP")
    ann.fill("#attr-0-name", "roast")
    ann.select_option("#attr-0-type", "enum")
    ann.fill("#attr-0-enum", "light, dark")
    ann.fill("#attr-1-name", "strength")
    ann.select_option("#attr-1-type", "integer")
    ann.fill("#attr-1-min", "1")
    ann.fill("#attr-1-max", "5")
    shot(ann, "02-type-editor")
    ann.click("#save-type")
    type_id = re.search(r"/app/types/(\w+)$", ann.url).group(1)
    assert ann.locator("table >> text=roast").count() == 1 and ann.locator("table >> text=strength").count() == 1

    # Mint 100, give 10 to bob; the trace is drawn create -> give.
    ann.fill("#mint-amount", "100")
    ann.click("#mint-form button[type=submit]")
    assert "Minted 100." in ann.locator(".flash").inner_text()
    ann.goto(f"/app/types/{type_id}")
    ann.fill("#give-amount", "10")
    ann.fill("#give-to", "bob")
    ann.click("#give-form button[type=submit]")
    steps = ann.locator("ol.trace li .kind").all_inner_texts()
    assert [step.lower() for step in steps] == ["create", "give"]
    shot(ann, "03-trace")
    ann.goto("/")
    assert balance_cell(ann, type_id) == "90"
    shot(ann, "04-wallet")

    # Bad input: the message sits beside the field and nothing changes.
    ann.goto(f"/app/types/{type_id}")
    ann.fill("#give-amount", "-3")
    ann.fill("#give-to", "bob")
    ann.click("#give-form button[type=submit]")
    assert field_error(ann, "give-form", "amount")
    assert ann.locator("#give-amount").get_attribute("aria-invalid") == "true"
    shot(ann, "05-form-error")
    ann.goto("/")
    assert balance_cell(ann, type_id) == "90"

    # Bob signs in and sees his 10.
    bob_context = chromium.new_context(base_url=base)
    bob = bob_context.new_page()
    bob.goto("/signin")
    accessible(bob)
    bob.fill("#f-username", "bob")
    bob.fill("#f-password", "correct horse")
    bob.click("button[type=submit]:has-text('Sign in')")
    assert balance_cell(bob, type_id) == "10"

    # A form posted without its CSRF token is refused with a friendly page, and changes nothing.
    bob.goto(f"/app/types/{type_id}")
    bob.evaluate("document.querySelector('#give-form input[name=csrf_token]').remove()")
    bob.fill("#give-amount", "5")
    bob.fill("#give-to", "ann")
    with bob.expect_navigation():
        bob.click("#give-form button[type=submit]")
    assert bob.title().startswith("Not allowed") and "security token" in bob.inner_text("main")
    shot(bob, "06-csrf-refused")
    bob.goto("/")
    assert balance_cell(bob, type_id) == "10"

    # An app gets a token through the consent page (authorization code + PKCE) and calls the API.
    callback = f"{base}/app-callback"
    status, app = api(
        live, "POST", "/api/v1/apps", {"client_name": "Pocket", "redirect_uris": callback, "scopes": "read write"}
    )
    assert status == 200
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode(
        {
            "client_id": app["client_id"],
            "redirect_uri": callback,
            "response_type": "code",
            "scope": "read write",
            "state": "st8",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    bob.goto(f"/oauth/authorize?{query}")
    assert bob.locator("h1").inner_text() == "Authorize Pocket?"
    accessible(bob)
    shot(bob, "07-consent")
    bob.click("#approve")
    bob.wait_for_url(f"{callback}*")
    # The redirect lands on this same test server (a 404 page there): only its query matters.
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(bob.url).query)
    assert values["state"] == ["st8"]
    status, token = api(
        live,
        "POST",
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": values["code"][0],
            "redirect_uri": callback,
            "client_id": app["client_id"],
            "code_verifier": verifier,
        },
        form=True,
    )
    assert status == 200, token
    status, me = api(live, "GET", "/api/v1/me", token=token["access_token"])
    assert status == 200 and me["username"] == "bob"
    status, balance = api(live, "GET", f"/api/v1/ledger/balance?type={type_id}", token=token["access_token"])
    assert balance["balance"] == "10"

    # The remaining main pages, for the record.
    bob.goto("/app/sets")
    bob.fill("#f-name", "Shelf")
    bob.fill("#f-description", "Things on my *shelf*")
    bob.click("form[action='/app/sets'] button[type=submit]")
    assert bob.locator("h1").inner_text() == "Shelf" and bob.locator(".description em").inner_text() == "shelf"
    bob.frame_locator("iframe.format").locator("h1").wait_for()  # the set, rendered by its HTML format
    screenshots.save(bob.locator("iframe.format"), "09-set-format", full_page=False)  # full-page shots skip frames
    shot(bob, "09-set")
    pages = ((f"/app/types/{type_id}", "08-type"), ("/app/apps", "09-apps"), ("/app/jobs", "10-jobs"),
             ("/app/follows", "13-follows"), ("/app/copies", "14-copies"), ("/app/verify", "15-verify"),
             ("/app/remote-gives", "17-remote-gives"), ("/app/remote-trace", "18-remote-trace"))
    for path, name in pages:
        bob.goto(path)
        accessible(bob)
        shot(bob, name)
    # Submit the verification form as a browser does: the file input left empty is still sent,
    # as an empty part (it was a 500). A token URL on this private address is refused, not fetched.
    bob.goto("/app/verify")
    bob.fill("#f-url", f"{base}/tokens/01aaaaaaaaaaaaaaaaaaaaaaaa")
    with bob.expect_navigation():
        bob.click("form[action='/app/verify'] button[type=submit]")
    assert bob.locator("h1").inner_text() == "Verify a token at its origin", bob.content()[:1000]
    assert bob.locator("section[aria-label=Verdict] h2").inner_text() == "0 of 1 token(s) accurate at their origin"
    assert bob.locator(".verdicts li strong").inner_text() == "REFUSED"
    shot(bob, "16-verify-result")
    # On a phone-sized screen the layout reflows instead of scrolling sideways.
    bob.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/", "11-wallet-phone"), (f"/app/types/{type_id}", "12-type-phone"),
                       ("/app/remote-gives", "19-remote-gives-phone")):
        bob.goto(path)
        assert bob.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        shot(bob, name)
    ann_context.close()
    bob_context.close()


# ---------------------------------------------------------------- issue 19's pages on a phone

PHONE = {"width": 390, "height": 844}
AXE_IMPACTS = ("serious", "critical")  # issue 23: axe finds no serious or critical violation


def fits_the_phone(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _organization_with_a_proposal(live: LiveServer) -> dict[str, str]:
    """alice owns acme (bob a member; 60 and 40 shares; 500 CN in its wallet), bob proposed a give;
    alice watches CN lots and moderates bob's type."""
    alice, bob = live.create_user("alice", "admin"), live.create_user("bob")
    made: dict[str, str] = {"alice": alice, "bob": bob}
    status, body = api(live, "POST", "/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0},
                       token=bob)
    assert status == 201, body
    made["coin"] = body["id"]
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("/api/v1/organizations", {"name": "acme", "display_name": "Acme Cooperative of Anvil Makers", "voting_seconds": 7200},
         alice),
        ("/api/v1/organizations/acme/members", {"username": "bob"}, alice),
        ("/api/v1/organizations/acme/shares", {"to": "alice", "amount": "60", "symbol": "ACME"}, alice),
        ("/api/v1/organizations/acme/shares", {"to": "bob", "amount": "40"}, alice),
        ("/api/v1/ledger/create", {"type": made["coin"], "amount": "1000"}, bob),
        ("/api/v1/ledger/give", {"type": made["coin"], "amount": "500", "to": "acme"}, bob),
        ("/api/v1/watchers", {"name": "CN lots closing", "kind": "lots", "query": {"type": made["coin"], "within_minutes": 60}},
         alice),
        ("/api/v1/moderation/assignments", {"moderator": "alice", "type": made["coin"], "can_edit": True}, bob),
    ]
    for path, data, token in steps:
        status, body = api(live, "POST", path, data, token=token)
        assert status in (200, 201), (path, body)
    status, proposal = api(live, "POST", "/api/v1/organizations/acme/proposals", {
        "title": "Pay alice for the new anvil moulds", "description": "She made them.",
        "steps": [{"id": "pay", "operation": "ledger.give", "input": {"type": made["coin"], "amount": "120", "to": "alice"}}],
    }, token=bob)
    assert status == 201, proposal
    made["proposal"] = proposal["id"]
    return made


def _issue_19_pages(made: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("/app/organizations", "21-organizations"), ("/app/organizations/acme", "22-organization"),
        ("/app/organizations/acme/members/bob/remove", "23-organization-remove"),
        ("/app/organizations/acme/proposals/new", "24-proposal-new"),
        (f"/app/organizations/acme/proposals/{made['proposal']}", "25-proposal"),
        ("/app/watchers", "26-watchers"), ("/app/moderation", "27-moderation"),
        ("/app/moderation/audit", "28-moderation-audit"), ("/app/moderation/assignments", "29-moderation-assignments"),
    ]


def _sign_in(page: Page, username: str) -> None:
    page.goto("/signin")
    page.fill("#f-username", username)
    page.fill("#f-password", "correct horse")
    page.click("button[type=submit]:has-text('Sign in')")


def test_browser__organization_pages_work_on_a_phone_without_javascript(live: LiveServer, chromium: Browser) -> None:
    made = _organization_with_a_proposal(live)
    context = chromium.new_context(java_script_enabled=False, base_url=live.base_url, viewport=PHONE)
    alice = context.new_page()
    _sign_in(alice, "alice")
    for path, name in _issue_19_pages(made):
        alice.goto(path)
        assert alice.locator("h1").count() == 1, path
        accessible(alice)
        assert fits_the_phone(alice), (path, alice.evaluate("document.documentElement.scrollWidth"))
        shot(alice, f"{name}-phone")

    # The owner issues shares from the form; the picture gets a bar per member.
    alice.goto("/app/organizations/acme")
    assert alice.locator("svg.rows rect.share-row").count() == 2
    alice.fill("#shares-to", "bob")
    alice.fill("#shares-amount", "-1")
    alice.click("#shares-form button[type=submit]")
    assert field_error(alice, "shares-form", "amount") and alice.locator("#shares-amount").input_value() == "-1"
    alice.fill("#shares-amount", "20")
    alice.click("#shares-form button[type=submit]")
    assert "Issued 20 shares to bob" in alice.locator(".flash").inner_text()
    assert alice.locator("#member-bob td.num").inner_text().startswith("60")

    # A proposal from the simple form, then a vote; the deadline is said in words.
    alice.goto("/app/organizations/acme/proposals/new")
    alice.fill("#f-title", "Buy coal")
    alice.fill("#f-amount", "30")
    alice.fill("#f-to", "bob")
    alice.click("#proposal-form button[type=submit]")
    assert alice.locator("h1").inner_text() == "Buy coal"
    assert alice.locator("ol.steps .words").inner_text() == "Give 30 CN from the wallet to bob"
    assert alice.locator("dd.deadline").inner_text().startswith("Closes in 1 hour, at ")
    alice.click("#vote-form button[value=yes]")
    assert "Your vote is counted" in alice.locator(".flash").inner_text()
    assert alice.locator("svg.bar rect.segment.yes").count() == 1
    assert fits_the_phone(alice)
    shot(alice, "30-proposal-voted-phone")
    context.close()


def test_browser__organization_pages_pass_axe(live: LiveServer, chromium: Browser) -> None:
    pytest.importorskip("axe_playwright_python.sync_playwright", reason="needs axe-playwright-python")
    made = _organization_with_a_proposal(live)
    for viewport in ({"width": 1280, "height": 900}, PHONE):
        context = chromium.new_context(base_url=live.base_url, viewport=viewport)
        alice = context.new_page()
        _sign_in(alice, "alice")
        found: dict[str, list[str]] = {}
        for path, _ in _issue_19_pages(made):
            alice.goto(path)
            serious, _ = axe_findings(alice, path)
            if serious:
                found[path] = serious
        context.close()
        assert not found, (viewport, found)
def test_browser__groups_webhooks_and_agents_work_without_js_and_fit_a_phone(
    template_database: TemplateDatabase, tmp_path: Path, chromium: Browser
) -> None:
    """Issue 23 item 1: a group, a webhook (its secret shown on request) and an agent allowed, with
    JavaScript off; each page reflows at 390 px instead of scrolling sideways."""
    receiver = "http://127.0.0.1:9/a-rather-long-path/for-the-receiving-program/that-has-to-wrap-on-a-phone"
    with live_server(template_database, tmp_path, start=True,
                     TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES="true") as server:
        server.create_user("bob")
        server.create_user("robot", "agent")
        context = chromium.new_context(java_script_enabled=False, base_url=server.base_url)
        ann = context.new_page()
        ann.goto("/signup")
        ann.fill("#f-username", "ann")
        ann.fill("#f-email", "ann@example.org")
        ann.fill("#f-password", "correct horse")
        ann.click("button[type=submit]:has-text('Sign up')")
        ann.click("header a.who")
        ann.click("main a[href='/app/groups']")
        assert ann.locator("h1").inner_text() == "My groups"
        ann.fill("#f-name", "Chess club")
        ann.fill("#f-description", "Tuesdays at eight, in the library's back room")
        ann.click("button:has-text('Make the group')")
        ann.fill("#f-username", "bob")
        ann.click("button:has-text('Add')")
        assert "bob is now a member" in ann.locator(".flash").inner_text()
        group_path = urllib.parse.urlsplit(ann.url).path
        accessible(ann)

        ann.goto("/app/webhooks")
        ann.fill("#f-url", receiver)
        ann.check("#f-events-ledger")
        ann.click("button:has-text('Save the webhook')")
        assert "Webhook saved" in ann.locator(".flash").inner_text()
        hook_path = urllib.parse.urlsplit(ann.url).path
        accessible(ann)

        token_type = api(server, "POST", "/api/v1/types", {"name": "Gem", "symbol": "GEM", "fungible": False,
                                                           "smallest_unit": 0,
                                                           "attributes": [{"name": "label", "type": "string"}]},
                         token=_login(server, "ann"))
        assert token_type[0] == 201, token_type
        made = api(server, "POST", "/api/v1/tokens", {"type": token_type[1]["id"], "attributes": {"label": "raw"}},
                   token=_login(server, "ann"))
        assert made[0] == 201, made
        ann.goto("/app/agents")
        ann.fill("#f-agent", "robot")
        ann.select_option("#f-target", f"token:{made[1]['id']}")
        ann.check("#f-needs-approval")
        ann.click("button:has-text('Allow')")
        assert "may now report changes" in ann.locator(".flash").inner_text()
        accessible(ann)

        pages = (("/app/groups", "30-groups-phone"), (group_path, "31-group-phone"), (hook_path, "33-webhook-phone"),
                 ("/app/agents", "34-agents-phone"), (f"{group_path}?confirm=delete", "35-group-delete-phone"))
        checked = chromium.new_context(base_url=server.base_url)  # axe-core runs as JavaScript
        audit = checked.new_page()
        audit.goto("/signin")
        audit.fill("#f-username", "ann")
        audit.fill("#f-password", "correct horse")
        audit.click("button[type=submit]:has-text('Sign in')")
        for path, _ in pages:
            audit.goto(path)
            found, _ = axe_findings(audit, path, context="main")
            assert not found, (path, found)
        checked.close()
        ann.set_viewport_size({"width": 390, "height": 844})
        for path, name in pages:
            ann.goto(path)
            assert ann.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
            shot(ann, name)
        ann.goto("/app/webhooks")
        ann.click("button:has-text('Show my secret')")
        assert len(ann.locator("#secret-value").inner_text()) > 20
        assert ann.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "the secret wraps"
        shot(ann, "32-webhooks-phone")
        context.close()


def _login(server: LiveServer, username: str) -> str:
    status, body = api(server, "POST", "/api/v1/auth/login", {"username": username, "password": "correct horse"})
    assert status == 200, body
    return str(body["token"])


@cache
def _axe() -> Any:
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def axe_findings(page: Page, where: str, *, context: str | None = None) -> tuple[list[str], list[str]]:
    """axe-core's violations on the page (or in its `context` selector): (serious or critical, the
    rest), each as "where: rule (impact) at elements: help" (issue 23 item 5)."""
    results = _axe().run(page, context=context) if context else _axe().run(page)
    blocking, rest = [], []
    for violation in results.response["violations"]:
        targets = ", ".join(str(node["target"][0]) for node in violation["nodes"][:3])
        line = f"{where}: {violation['id']} ({violation['impact']}) at {targets}: {violation['help']}"
        (blocking if violation["impact"] in AXE_IMPACTS else rest).append(line)
    return blocking, rest
