"""The proposal pages: propose a give from the wallet with three boxes or any chain as JSON
steps (refusals beside the box, the input kept, a 4xx status); the proposal with its deadline
in words, each step in plain words, and the outcome once decided; 404 to non-members; CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from models.organizations import Proposal
from server.pages.proposals import deadline_words

from .conftest import Api
from .pagehelpers import Browser, Page
from .test_ledger import balance
from .test_organizations import at_deadline, give_step, organization, propose, vote
from .test_pages_session import assert_labelled

ACME = "/app/organizations/acme"
NEW = f"{ACME}/proposals/new"


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


def textarea(page: Page, field_id: str) -> str | None:
    match = re.search(rf'<textarea id="{re.escape(field_id)}"[^>]*>([^<]*)</textarea>', page.text)
    return match.group(1) if match else None


async def test_pages_proposals__a_give_from_the_wallet_with_three_boxes(browser: Browser, api: Api) -> None:
    m = await organization(api)
    await browser.sign_in("bob")
    profile = await browser.get(ACME, expect=200)
    assert f'href="{NEW}"' in profile.text
    form = await browser.get(NEW, expect=200)
    assert "<script" not in form.text and f'<option value="{m["coin"]}"' in form.text and "(500 in the wallet)" in form
    assert_labelled(form.text)
    made = await browser.post(f"{ACME}/proposals", {"title": "Pay zed", "description": "For the logo.", "type": m["coin"],
                                                    "amount": "100", "to": "zed", "steps": ""}, csrf=form.csrf(), expect=200)
    assert "Proposal opened" in made and "<h1>Pay zed</h1>" in made.text, made.text[:2000]
    proposal = await Proposal.get(title="Pay zed")
    assert proposal.steps == [{"id": "give", "operation": "ledger.give",
                               "input": {"type": m["coin"], "amount": "100", "to": "zed"}}]
    symbol = (await api.get(f"/api/v1/types/{m['coin']}", expect=200)).body["symbol"]
    assert f"Give 100 {symbol} from the wallet to zed" in made
    assert re.search(r"Closes in 59 minutes, at \d+ [A-Z][a-z]+ 20\d\d, \d\d:\d\d UTC", made.text) and 'id="vote-form"' in made.text


async def test_pages_proposals__the_simple_form_refused_shows_why_and_keeps_the_input(browser: Browser, api: Api) -> None:
    m = await organization(api)
    await browser.sign_in("bob")
    form = await browser.get(NEW, expect=200)
    untitled = await browser.post(f"{ACME}/proposals", {"title": "", "type": m["coin"], "amount": "5", "to": "zed"},
                                  csrf=form.csrf(), expect=400)
    assert untitled.field_error("title") and re.search(r'<input id="f-amount"[^>]*value="5"', untitled.text)
    bad = await browser.post(f"{ACME}/proposals", {"title": "Pay", "type": m["coin"], "amount": "", "to": "zed"},
                             csrf=form.csrf(), expect=400)
    assert bad.field_error("amount") and re.search(r'<input id="f-title"[^>]*value="Pay"', bad.text), bad.text[:3000]
    assert re.search(r'<input id="f-to"[^>]*value="zed"', bad.text)
    assert re.search(rf'<option value="{m["coin"]}" selected>', bad.text)
    assert_labelled(bad.text)
    assert await Proposal.all().count() == 0


async def test_pages_proposals__advanced_steps_as_json(browser: Browser, api: Api) -> None:
    await organization(api)
    await browser.sign_in("bob")
    form = await browser.get(NEW, expect=200)
    broken = '[{"id": "a", "operation": '
    bad = await browser.post(f"{ACME}/proposals", {"title": "Mint", "steps": broken}, csrf=form.csrf(), expect=400)
    assert "not valid JSON" in (bad.field_error("steps") or "") and textarea(bad, "f-steps") == broken.strip().replace('"', "&#34;")
    assert "<details open>" in bad.text  # the advanced box stays open with its input
    nested = orjson.dumps([{"id": "join", "operation": "organizations.members.add",
                            "input": {"name": "acme", "username": "zed"}}]).decode()
    refused = await browser.post(f"{ACME}/proposals", {"title": "Join", "steps": nested}, csrf=form.csrf(), expect=422)
    assert "an organization cannot run organizations.members.add" in (refused.field_error("steps") or ""), refused.text[:3000]
    typo = orjson.dumps([{"id": "m", "operation": "ledger.create", "input": {"amount": "5"}}]).decode()
    invalid = await browser.post(f"{ACME}/proposals", {"title": "Typo", "steps": typo}, csrf=form.csrf(), expect=400)
    assert "Enter a type." in (invalid.field_error("steps") or ""), invalid.text[:3000]  # the step's input lacks one
    assert await Proposal.all().count() == 0
    chain = orjson.dumps([
        {"id": "kind", "operation": "types.create",
         "input": {"name": "Acme points", "symbol": "APT", "fungible": True, "smallest_unit": 0}},
        {"id": "mint", "operation": "ledger.create", "input": {"type": {"$ref": "kind#/id"}, "amount": "70"}},
    ]).decode()
    made = await browser.post(f"{ACME}/proposals", {"title": "Points", "steps": chain, "amount": "ignored"},
                              csrf=form.csrf(), expect=200)
    assert "Create the token type Acme points (APT)" in made and "Mint 70 of the type made in step 'kind'" in made
    assert len((await Proposal.get(title="Points")).steps) == 2


async def test_pages_proposals__outcome_and_steps_once_decided(browser: Browser, api: Api) -> None:
    m = await organization(api)
    paid = await propose(api, m, [give_step(m, "100")])
    for name in ("alice", "carol"):
        await vote(api, m, paid, name, "yes")
    failing = await propose(api, m, [give_step(m, "100", step="ok"), give_step(m, "9999", step="too-much")])
    for name in ("alice", "carol"):
        await vote(api, m, failing, name, "yes")
    quiet = await propose(api, m, [give_step(m, "1")])
    await vote(api, m, quiet, "erin", "yes")
    ran = 0
    for proposal in (paid, failing, quiet):
        ran += await at_deadline(api, proposal)
    assert ran == 3 and await balance(api, m["coin"], "zed") == "600"
    await browser.sign_in("bob")
    done = await browser.get(f"{ACME}/proposals/{paid['id']}", expect=200)
    assert "Passed: its steps ran as the organization." in done and "— done" in done and 'id="vote-form"' not in done.text
    assert re.search(r'<time datetime="[^"]+">Closed (.* ago, )?at \d+ \w+ 20\d\d', done.text)
    failed = await browser.get(f"{ACME}/proposals/{failing['id']}", expect=200)
    assert "Passed, but step 'too-much' failed:" in failed and "Nothing was changed." in failed
    assert re.search(r'id="step-too-much">.*— failed', failed.text)
    rejected = await browser.get(f"{ACME}/proposals/{quiet['id']}", expect=200)
    assert "Not passed: too few shares voted (it needed 50% of 100 shares)." in rejected


def test_pages_proposals__deadline_words() -> None:
    now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    at = (now + timedelta(days=2, hours=3)).isoformat()
    assert deadline_words({"deadline": at, "state": "open"}, now) == "closes in 2 days, at 4 December 2026, 18:00 UTC"
    assert deadline_words({"deadline": at, "state": "executed"}, now) == "closed at 4 December 2026, 18:00 UTC"
    assert deadline_words({"deadline": (now + timedelta(seconds=30)).isoformat(), "state": "open"}, now).startswith(
        "closes in less than a minute")
    past = (now - timedelta(hours=1, minutes=5)).isoformat()
    assert deadline_words({"deadline": past, "state": "open"}, now).startswith("voting ended 1 hour ago")
    assert deadline_words({"deadline": past, "state": "rejected"}, now) == "closed 1 hour ago, at 2 December 2026, 13:55 UTC"


async def test_pages_proposals__non_members_get_404_and_csrf_is_checked(browser: Browser, api: Api) -> None:
    m = await organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    await browser.sign_in("zed")
    home = await browser.get("/", expect=200)
    await browser.get(NEW, expect=404)
    await browser.get(f"{ACME}/proposals/{proposal['id']}", expect=404)
    data: dict[str, Any] = {"title": "Mine now", "type": m["coin"], "amount": "500", "to": "zed"}
    refused = await browser.post(f"{ACME}/proposals", data, csrf=home.csrf(), expect=404)
    assert "you are not a member of 'acme'" in refused
    await browser.post(f"{ACME}/proposals/{proposal['id']}/vote", {"choice": "yes"}, csrf=home.csrf(), expect=404)
    await browser.sign_in("bob")
    await browser.get(NEW, expect=200)  # a member may propose
    for token in (None, "forged"):
        await browser.post(f"{ACME}/proposals", {**data, "title": "No token"}, csrf=token, expect=403)
        await browser.post(f"{ACME}/proposals/{proposal['id']}/vote", {"choice": "no"}, csrf=token, expect=403)
    assert await Proposal.filter(title__in=["Mine now", "No token"]).count() == 0
    assert (await api.get(f"/api/v1/organizations/acme/proposals/{proposal['id']}", token=m["bob"], expect=200)).body[
        "tally"]["no"] == "0"
