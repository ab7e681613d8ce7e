"""The page for contracts held on other servers: the accept form, the contracts with the state
their servers last gave, paying from the page; refusals shown beside the form (the whole path
across two servers is tests/test_contracts_remote_live.py)."""

from __future__ import annotations

import pytest

from models.actors import Actor
from models.contracts import RemoteContract

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled

CONTRACT = "http://127.0.0.1:9/contracts/01j0000000000000000000000a"


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def test_pages_contracts_elsewhere__accept_form_list_and_refusals(browser: Browser, api: Api) -> None:
    await browser.sign_up("dave")
    opened = await browser.get("/app/remote-contracts", expect=200)
    assert_labelled(opened.text)
    assert "You hold no contract on another server" in opened
    assert 'href="/app/remote-contracts"' in (await browser.get("/app/contracts", expect=200))
    # an offer of this server is accepted on its own page; a malformed address is refused
    local = f"{api.settings.base_url}/contract-offers/01j0000000000000000000000c"
    refused = await browser.post("/app/remote-contracts", {"offer": local}, csrf=opened.csrf(), expect=422)
    assert "accept it with contracts.accept" in refused, refused.text[:2000]
    await browser.post("/app/remote-contracts", {"offer": "not a url"}, csrf=opened.csrf(), expect=400)

    dave = await Actor.get(username="dave", domain="")
    await RemoteContract.create(licensee=dave, uri=CONTRACT, type_uri="http://127.0.0.1:9/types/01h", state="suspended",
                                document={"derivedTypes": 2, "attributedTo": "http://127.0.0.1:9/users/carol"})
    listed = await browser.get("/app/remote-contracts", expect=200)
    assert CONTRACT in listed and "suspended" in listed and ">2<" in listed
    # its server may not be reached from here (a private address): said on the page, nothing changes
    unpaid = await browser.post("/app/remote-contracts/pay", {"contract": CONTRACT}, csrf=listed.csrf(), expect=403)
    assert "may not be reached from here" in unpaid
    assert (await RemoteContract.get(uri=CONTRACT)).state == "suspended"
