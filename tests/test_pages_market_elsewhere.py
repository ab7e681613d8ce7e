"""The page for lots on other servers: the bid form, the followed sellers' open lots, your bids
elsewhere; refusals shown beside the form (the live bid across servers is in
tests/test_federation_market_live.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.actors import Actor
from models.federation import Follow, FollowState, RemoteActor, RemoteObject

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled

LOT = "https://a.example/market/lots/01j0000000000000000000000a"


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def _followed_seller_with_lots(follower: str) -> None:
    """alice@a.example, followed (accepted) by `follower`, published an open lot and a sold one."""
    seller = await Actor.create(username="alice", domain="a.example", uri="https://a.example/users/alice")
    await RemoteActor.create(actor=seller, uri=seller.uri, inbox="https://a.example/users/alice/inbox",
                             preferred_username="alice", domain="a.example", fetched_at=datetime.now(UTC))
    me = await Actor.get(username=follower, domain="")
    await Follow.create(follower=me, target=seller, state=FollowState.ACCEPTED.value,
                        activity_uri="http://127.0.0.1/follows/1")
    for lot_id, state, name in ((LOT, "open", "Four gems"), (LOT[:-1] + "b", "sold", "Old lot")):
        document = {
            "id": lot_id, "type": "Proposal", "name": name, "attributedTo": seller.uri, "lotKind": "english_auction",
            "lotState": state, "endTime": "2030-01-01T00:00:00Z",
            "reciprocal": {"type": "Intent", "resourceConformsTo": "https://a.example/types/01h",
                           "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "10"}},
        }
        await RemoteObject.create(uri=lot_id, type="Proposal", owner=seller, document=document)


async def test_pages_market_elsewhere__lists_followed_open_lots_and_refuses_a_bad_bid_beside_the_form(
    browser: Browser, api: Api,
) -> None:
    await browser.sign_up("bob")
    await _followed_seller_with_lots("bob")
    opened = await browser.get("/app/market/elsewhere", expect=200)
    assert_labelled(opened.text)
    assert "Four gems" in opened and "Old lot" not in opened  # open lots only
    assert "alice@a.example" in opened and ">10<" in opened
    assert "You have not bid on another server" in opened
    prefilled = await browser.get(f"/app/market/elsewhere?lot={LOT}", expect=200)
    assert f'value="{LOT}"' in prefilled
    # a lot of this server is bid on here; the refusal is beside the form and nothing is recorded
    local = f"{api.settings.base_url}/market/lots/01j0000000000000000000000c"
    refused = await browser.post("/app/market/elsewhere", {"lot": local, "amount": "3"}, csrf=opened.csrf(), expect=422)
    assert "on this server" in refused, refused.text[:2000]
    missing = await browser.post("/app/market/elsewhere", {"lot": "not a url"}, csrf=opened.csrf(), expect=400)
    assert "https://" in missing
    after = await browser.get("/app/market/elsewhere", expect=200)
    assert "You have not bid on another server" in after
