"""The page of proposals of organizations elsewhere: what reached you, its result once decided,
and refusals beside the list (the live vote across servers is in
tests/test_organizations_remote_live.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.actors import Actor
from models.federation import RemoteActor, RemoteObject
from models.organizations import RemoteBallot

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled

OPEN = "https://a.example/proposals/01j0000000000000000000000a"
DECIDED = "https://a.example/proposals/01j0000000000000000000000b"


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


def _question(url: str, title: str, **extra: object) -> dict[str, object]:
    return {"id": url, "type": "Question", "name": title, "content": f"<p>{title}</p><p>Why &amp; how</p>",
            "attributedTo": "https://a.example/users/acme", "endTime": "2030-01-01T00:00:00Z", "proposalState": "open",
            "oneOf": [{"type": "Note", "name": c, "replies": {"type": "Collection", "totalItems": n}}
                      for c, n in (("yes", 40), ("no", 20), ("abstain", 0))],
            "votersCount": 2, **extra}


async def _reached(username: str) -> None:
    """acme@a.example's two proposals reached `username`: one open, one decided (it failed)."""
    acme = await Actor.create(username="acme", domain="a.example", uri="https://a.example/users/acme", kind="Organization")
    await RemoteActor.create(actor=acme, uri=acme.uri, inbox="https://a.example/users/acme/inbox",
                             preferred_username="acme", domain="a.example", fetched_at=datetime.now(UTC))
    me = await Actor.get(username=username, domain="")
    for url, document in (
        (OPEN, _question(OPEN, "Pay dave")),
        (DECIDED, _question(DECIDED, "Buy a stall", closed="2026-01-01T00:00:00Z", proposalState="failed",
                            outcome="passed", outcomeError={"code": "insufficient", "detail": "not enough COIN"})),
    ):
        copy = await RemoteObject.create(uri=url, type="Question", owner=acme, document=document)
        await RemoteBallot.create(copy=copy, actor=me)


async def test_pages_org_elsewhere__lists_what_reached_you_and_refuses_a_closed_vote_beside_it(
    browser: Browser, api: Api,
) -> None:
    await browser.sign_up("bob")
    empty = await browser.get("/app/proposals-elsewhere", expect=200)
    assert "No proposal of an organization on another server has reached you yet" in empty
    await _reached("bob")
    listed = await browser.get("/app/proposals-elsewhere", expect=200)
    assert_labelled(listed.text)
    assert "Pay dave" in listed and "acme@a.example" in listed and '<p class="summary">Why &amp; how</p>' in listed.text
    assert listed.text.count('name="choice" value="yes"') == 1  # a form for the open one only
    assert "not enough COIN" in listed and "Yes 40 · No 20 · Abstain 0 shares, 2 voted" in listed
    closed = await browser.post("/app/proposals-elsewhere", {"proposal": DECIDED, "choice": "yes"}, csrf=listed.csrf(),
                                expect=409)
    assert "voting on this proposal has ended" in closed
    unknown = await browser.post("/app/proposals-elsewhere", {"proposal": OPEN[:-1] + "c", "choice": "no"},
                                 csrf=listed.csrf(), expect=404)
    assert "no proposal at this URL reached you" in unknown
    bad = await browser.post("/app/proposals-elsewhere", {"proposal": OPEN, "choice": "maybe"}, csrf=listed.csrf(),
                             expect=400)
    assert "Pay dave" in bad
