"""Pages for units held on other servers: the wallet lists them with their origin, a page per
holding gives onward and burns (the origin's refusal shown in its words), the gives onward
are listed with their state, and the trace of a remote entry is fetched and checked."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

from federation.inbox import process_due
from federation.keys import load_private_key
from federation.proofs import sign_object

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, signed_post, site_of  # noqa: F401
from .pagehelpers import Browser
from .test_federation_give import remote_give
from .test_federation_inbox import ALICE
from .test_integrity import REMOTE_KEY, KeyedRemote
from .test_pages_federation import assert_accessible


@pytest.fixture
async def remote() -> Any:
    """The fake origin, whose actors also publish an Ed25519 key (to sign ledger entries)."""
    server = KeyedRemote()
    await server.start()
    yield server
    await server.stop()


async def alice_holds(fed_api: Api, remote: Remote, amount: str = "3.5") -> Browser:
    """alice signs up here; bob@remote gives her `amount` GLD and the origin confirms it."""
    browser = Browser(fed_api.client)
    await browser.sign_up("alice")
    activity = remote_give(remote, amount)
    assert (await signed_post(fed_api, "/users/alice/inbox", activity, remote.actor("bob"))).status == 202
    await process_due(site_of(fed_api))
    return browser


def type_url(remote: Remote) -> str:
    return f"{remote.base}/objects/types/1"


def holding_path(remote: Remote) -> str:
    return "/app/holdings?" + urlencode({"type": type_url(remote)})


async def test_pages_holdings__the_wallet_lists_a_remote_holding_with_its_origin(fed_api: Api, remote: Remote) -> None:
    browser = await alice_holds(fed_api, remote)
    wallet = await browser.get("/", expect=200)
    assert "You hold no tokens yet" not in wallet
    row = re.search(r'<tr data-type="' + re.escape(type_url(remote)) + r'" class="remote">(.*?)</tr>', wallet.text, re.S)
    assert row, wallet.text[:3000]
    assert f"from 127.0.0.1:{remote.port}" in row.group(1) and ">3.5<" in row.group(1).replace(" ", "")
    assert "/app/holdings?type=" in row.group(1)
    holding = await browser.get(holding_path(remote))
    assert_accessible(holding)
    assert "You hold <strong class=\"balance\">3.5</strong> GLD" in holding.text
    assert 'id="give-form"' in holding.text and 'id="burn-form"' in holding.text
    assert f"from {remote.actor('bob').handle}" in holding  # the output that gave the units
    assert "/app/remote-trace?entry=" in holding.text


async def test_pages_holdings__a_give_the_origin_refuses_shows_its_reason_and_nothing_moves(
    fed_api: Api, remote: Remote
) -> None:
    browser = await alice_holds(fed_api, remote)
    bob = remote.actor("bob")
    refused = await browser.submit(
        holding_path(remote), "/app/holdings/give",
        {"type": type_url(remote), "form": "give", "amount": "2", "to": bob.handle},
    )
    assert refused.status == 404, refused.text[:2000]  # the fake origin has no /ledger: it answers 404
    assert re.search(r'class="form-error" role="alert">127\.0\.0\.1:\d+ refused: ', refused.text), refused.text[:3000]
    assert 'class="balance">3.5<' in refused.text  # nothing moved
    assert "refused: this server takes no ledger requests" in refused  # the origin's answer, in its words
    gives = await browser.get("/app/remote-gives")
    assert_accessible(gives)
    assert "give of 2 GLD" in gives and f"to {bob.handle}" in gives
    assert re.search(r'class="state">refused by the origin</span>: <span class="reason">[^<]+</span>', gives.text)
    wallet = await browser.get("/", expect=200)
    assert re.search(r'class="num balance">3\.5<', wallet.text)
    held = await fed_api.get("/api/v1/ledger/remote-gives", token=None, params={"state": "refused"})
    assert held.status == 401  # the list is the caller's own


async def test_pages_holdings__a_give_while_the_origin_is_away_says_when_it_is_tried_again(
    fed_api: Api, remote: Remote
) -> None:
    browser = await alice_holds(fed_api, remote)
    holding = await browser.get(holding_path(remote), expect=200)
    output = re.search(r'name="from_operation" value="([^"]+)"', holding.text)
    assert output and output.group(1) == f"{remote.base}/objects/entries/1"  # give all that remains of it
    await remote.stop()  # the origin is away
    waiting = await browser.post(
        "/app/holdings/give",
        {"type": type_url(remote), "form": "give-1", "from_operation": output.group(1), "to": remote.actor("bob").handle},
        csrf=holding.csrf(),
    )
    assert waiting.status == 200 and waiting.url.endswith("/app/remote-gives"), waiting.text[:2000]
    flash = re.search(r'class="flash" role="status">([^<]*)<', waiting.text)
    assert flash, waiting.text[:2000]
    assert re.fullmatch(rf"Give of 3\.5 GLD: waiting for 127\.0\.0\.1:{remote.port}: we will try again at \d\d:\d\d UTC\.",
                        flash.group(1)), flash.group(1)
    assert re.search(r'class="state">waiting for 127\.0\.0\.1:\d+: we will try again at \d\d:\d\d UTC<', waiting.text)
    wallet = await browser.get("/", expect=200)
    assert "(3.5 pending)" in wallet


def signed_entry(remote: Remote, n: int, **fields: Any) -> dict[str, Any]:
    bob = remote.actor("bob")
    document = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{remote.base}/objects/entries/{n}",
                "type": "LedgerEntry", "attributedTo": bob.uri, "tokenType": type_url(remote),
                "tokenOwner": bob.uri, "published": f"2026-01-0{n + 1}T00:00:00Z", **fields}
    private = load_private_key(REMOTE_KEY.private_pem)
    return sign_object(document, private, f"{bob.uri}#ed25519-key")  # type: ignore[arg-type]


def serve_trace(remote: Remote, *, tamper: bool = False) -> None:
    """bob created 10 GLD and gave 3.5 of them to alice: the trace of the give, signed by bob."""
    create = signed_entry(remote, 0, entryKind="create", amount="10", target=remote.actor("bob").uri, sources=[])
    give = signed_entry(remote, 1, entryKind="give", amount="3.5", target=ALICE,
                        sources=[{"id": create["id"], "amount": "3.5"}])
    if tamper:
        give = {**give, "amount": "35"}  # changed after signing
    remote.objects["entries/1/trace"] = {
        "type": "OrderedCollection", "id": f"{give['id']}/trace", "traceOf": give["id"], "truncated": False,
        "totalItems": 2, "orderedItems": [give, create],
    }


async def test_pages_holdings__the_trace_of_a_remote_entry_is_fetched_and_checked(fed_api: Api, remote: Remote) -> None:
    browser = await alice_holds(fed_api, remote)
    serve_trace(remote)
    entry = f"{remote.base}/objects/entries/1"
    traced = await browser.get("/app/remote-trace?" + urlencode({"entry": entry}))
    assert_accessible(traced)
    bob = remote.actor("bob")
    assert f"Signed: <span class=\"verdict-words\">every step signed by {bob.handle}</span>" in traced.text
    steps = re.findall(r'<span class="kind kind-(\w+)">', traced.text)
    assert steps == ["create", "give"]  # the create first, the entry asked about last
    assert "you hold units from this entry" in traced
    assert f"by {bob.handle} → alice@{fed_api.settings.domain}" in traced  # actors it knows, by their handles
    token = await fed_api.user("erin")
    api = await fed_api.get("/api/v1/ledger/remote-trace", token=token, params={"entry": entry})
    assert api.status == 200, api
    assert (api.body["verdict"], api.body["verified"], api.body["held"]) == ("signed", True, False)
    assert [step["kind"] for step in api.body["steps"]] == ["create", "give"]
    assert any(r["path"] == "/objects/entries/1/trace" for r in remote.fetches())


async def test_pages_holdings__a_tampered_remote_trace_says_what_does_not_hold(fed_api: Api, remote: Remote) -> None:
    browser = await alice_holds(fed_api, remote)
    serve_trace(remote, tamper=True)
    entry = f"{remote.base}/objects/entries/1"
    traced = await browser.get("/app/remote-trace?" + urlencode({"entry": entry}))
    assert traced.status == 200, traced.text[:2000]
    assert "<h2>Not verified</h2>" in traced.text and "Signed:" not in traced.text
    assert re.search(r'class="reason urls" role="alert">' + re.escape(entry) + r": its proof does not hold: ", traced.text), (
        traced.text[:4000])


async def test_remote_trace__refuses_local_non_http_and_blocked_urls_and_reports_an_origin_that_is_away(
    fed_api: Api, remote: Remote
) -> None:
    token = await fed_api.user("alice")
    for entry, code in (("ftp://example.org/ledger/1", "invalid-entry"), (f"{ALICE}/x", "local-entry"),
                        (f"{remote.base}/objects/entries/9?x=1", "invalid-entry")):
        reply = await fed_api.get("/api/v1/ledger/remote-trace", token=token, params={"entry": entry})
        assert_problem(reply, 400, code)
    missing = await fed_api.get("/api/v1/ledger/remote-trace", token=token,
                                params={"entry": f"{remote.base}/objects/entries/9"})
    assert_problem(missing, 422, "trace-unavailable")
    assert "could not fetch the trace from 127.0.0.1:" in missing.body["detail"]
    assert (await fed_api.get("/api/v1/ledger/remote-trace", params={"entry": f"{remote.base}/x"})).status == 401
    admin = await fed_api.user("root", roles=["admin"])
    await fed_api.put(f"/api/v1/admin/federation/blocks/127.0.0.1:{remote.port}", token=admin, expect=200)
    serve_trace(remote)
    asked = len(remote.fetches())
    blocked = await fed_api.get("/api/v1/ledger/remote-trace", token=token,
                                params={"entry": f"{remote.base}/objects/entries/1"})
    assert_problem(blocked, 403, "fetch-refused")
    assert len(remote.fetches()) == asked  # nothing fetched from a blocked domain
