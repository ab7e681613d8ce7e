"""Contracts across servers (issue 18, item 5), the licensor's side and the licensee's bad input.

Our server is A, alice's: dave lives on a fake remote server and sends the signed requests
his server would (federation/remote_contracts.py): accept an offer, derive and mint under the
contract, pay it. Forged, foreign and malformed requests are refused with nothing counted.
The whole path between two real servers is tests/test_contracts_remote_live.py.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from federation.signed_objects import verify_remote_object
from models.contracts import Contract
from models.tokens import RemoteTypeParent

from .conftest import Api, Reply, assert_problem
from .fedhelpers import OTHER_KEY, FakeActor, Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .loopback import Loopback
from .test_contracts import at, run_at
from .test_ledger import minted, new_type

OFFERS, CONTRACTS = "/api/v1/contracts/offers", "/api/v1/contracts"
AP = {"Accept": "application/activity+json"}


class Licensor:
    """alice's type Base on our server under an offer to anyone, paid in her coin; dave (on the
    fake remote) holds 20 coin."""

    def __init__(self, api: Api, remote: Remote, alice: str, base: str, coin: str, offer: str) -> None:
        self.api, self.remote, self.alice, self.base, self.coin, self.offer = api, remote, alice, base, coin, offer
        self.dave = remote.actor("dave")
        self.count = 0

    @property
    def url(self) -> str:
        return self.api.settings.base_url

    def request(self, kind: str, obj: Any, actor: FakeActor | None = None) -> dict[str, Any]:
        actor = actor or self.dave
        self.count += 1
        return {"id": f"{actor.uri}/contract-requests/{self.count}", "type": kind, "actor": actor.uri, "object": obj}

    def use(self, contract: str, use: str, units: str | None = None, actor: FakeActor | None = None, **extra: Any) -> dict[str, Any]:
        actor = actor or self.dave
        obj = {"type": "ContractUse", "useKind": use, "contract": contract,
               "derivedType": f"{self.remote.base}/types/child", **extra}
        if units is not None:
            obj["units"] = units
        return self.request("Create", obj, actor)

    async def send(self, request: dict[str, Any], actor: FakeActor | None = None, **kwargs: Any) -> Reply:
        return await signed_post(self.api, "/contracts", request, actor or self.dave, **kwargs)

    async def accepted(self) -> str:
        """dave accepts the offer; the contract's URL."""
        made = await self.send(self.request("Accept", f"{self.url}/contract-offers/{self.offer}"))
        assert made.status == 201, made.text
        return str(orjson.loads(made.text)["contract"]["id"])

    async def contract(self, url: str) -> dict[str, Any]:
        """The contract as alice sees it through the API."""
        return (await self.api.get(f"{CONTRACTS}/{url.rsplit('/', 1)[1]}", token=self.alice, expect=200)).body


async def _licensor(api: Api, remote: Remote, **terms: Any) -> Licensor:
    alice = await api.user("alice")
    coin = await minted(api, alice, "1000", smallest_unit=0)
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": "20", "to": remote.actor("dave").handle},
                   token=alice, expect=201)
    base = (await new_type(api, alice, name="Base", symbol="BASE"))["id"]
    body = {"type": base, "payment_type": coin, "fee": "5", "rate_per_unit": "1", "max_units_per_period": 50, **terms}
    offer = (await api.post(OFFERS, body, token=alice, expect=201)).body["id"]
    return Licensor(api, remote, alice, base, coin, offer)


async def test_remote_licensee__accepts_derives_mints_and_pays_and_alice_sees_it(fed_api: Api, remote: Remote) -> None:
    a = await _licensor(fed_api, remote)
    accept = a.request("Accept", f"{a.url}/contract-offers/{a.offer}")
    made = await a.send(accept)
    assert made.status == 201, made.text
    contract = orjson.loads(made.text)["contract"]
    assert (contract["type"], contract["licensee"], contract["contractState"]) == ("Contract", a.dave.uri, "active")
    assert contract["tokenType"] == f"{a.url}/types/{a.base}" and made.headers["Location"] == contract["id"]
    again = await a.send(accept)  # dave's server lost the answer and asks again: the same contract
    assert (again.status, orjson.loads(again.text)["contract"]["id"]) == (200, contract["id"])
    assert await Contract.all().count() == 1

    seen = await a.contract(contract["id"])
    assert (seen["licensee"], seen["state"], seen["owed"]) == (a.dave.handle, "active", "0")

    derived = await a.send(a.use(contract["id"], "derive"))
    assert (derived.status, orjson.loads(derived.text)["contract"]["derivedTypes"]) == (200, 1)
    minted_ = await a.send(a.use(contract["id"], "mint", "3"))
    assert minted_.status == 200, minted_.text
    seen = await a.contract(contract["id"])
    assert (seen["derived_types"], seen["units_this_period"], seen["owed"]) == (1, "3", "3")
    assert "contract.owed" in [event["name"] for event in (await a.contract(contract["id"]))["events"]]

    paid = await a.send(a.request("Create", {"type": "ContractPayment", "contract": contract["id"]}))
    assert paid.status == 201, paid.text
    entry = orjson.loads(paid.text)["entry"]
    assert (entry["entryKind"], entry["amount"], entry["attributedTo"]) == ("give", "3", a.dave.uri)
    assert entry["target"] == f"{a.url}/users/alice"
    seen = await a.contract(contract["id"])
    assert (seen["owed"], seen["paid"]) == ("0", "3")
    held = await fed_api.get("/api/v1/ledger/balance", params={"type": a.coin, "owner": a.dave.handle}, expect=200)
    assert held.body["balance"] == "17"


async def test_remote_licensee__over_the_unit_limit_or_suspended_is_refused_with_the_local_codes(
    fed_api: Api, remote: Remote
) -> None:
    a = await _licensor(fed_api, remote)
    contract = await a.accepted()
    assert_problem(await a.send(a.use(contract, "mint", "51")), 422, "contract-unit-limit")
    await Contract.filter(id=contract.rsplit("/", 1)[1]).update(state="suspended")  # what a missed payment leads to
    problem = assert_problem(await a.send(a.use(contract, "mint", "1")), 403, "contract-suspended")
    assert "pay them" in problem["detail"]
    assert_problem(await a.send(a.use(contract, "derive")), 403, "contract-suspended")
    assert (await a.contract(contract))["units_this_period"] == "0"


async def test_remote_licensee__a_closed_type_no_longer_takes_derivations(fed_api: Api, remote: Remote) -> None:
    a = await _licensor(fed_api, remote)
    contract = await a.accepted()
    await fed_api.patch(f"/api/v1/types/{a.base}", {"licensing": "closed"}, token=a.alice, expect=200)
    assert_problem(await a.send(a.use(contract, "derive")), 403, "licensing-closed")
    assert (await a.contract(contract))["derived_types"] == 0


async def test_remote_licensee__forged_foreign_and_malformed_requests_are_refused(fed_api: Api, remote: Remote) -> None:
    a = await _licensor(fed_api, remote)
    contract = await a.accepted()
    mallory = remote.actor("mallory")
    # signed with a key that is not dave's
    assert_problem(await a.send(a.use(contract, "mint", "1"), private_pem=OTHER_KEY.private_pem), 401, "bad-signature")
    # mallory's own key, in dave's name
    assert_problem(await a.send(a.use(contract, "mint", "1"), mallory), 403, "origin-mismatch")
    # mallory, honestly, on dave's contract: not hers to see
    assert_problem(await a.send(a.use(contract, "mint", "1", mallory), mallory), 404, "contract-not-found")
    assert_problem(await a.send(a.request("Create", {"type": "ContractPayment", "contract": contract}, mallory), mallory),
                   404, "contract-not-found")
    # a request id on another server
    assert_problem(await a.send({**a.use(contract, "mint", "1"), "id": "http://127.0.0.1:9/requests/1"}), 403, "origin-mismatch")
    # a derived type that does not live on the licensee's server
    assert_problem(await a.send(a.use(contract, "derive", derivedType="http://127.0.0.1:9/types/x")), 403, "origin-mismatch")
    # malformed
    assert_problem(await a.send(a.request("Create", {"type": "Note", "content": "hi"})), 400, "malformed-request")
    assert_problem(await a.send(a.request("Follow", contract)), 400, "malformed-request")
    assert_problem(await a.send(a.use(contract, "borrow")), 400, "malformed-request")
    for units in (None, "-1", "0", "lots", "1" * 41, "NaN"):
        assert_problem(await a.send(a.use(contract, "mint", units)), 400, "malformed-request")
    assert_problem(await a.send(a.use(contract, "derive", derivedType="ftp://x")), 400, "malformed-request")
    assert_problem(await a.send(a.use(f"{a.url}/contracts/nope", "mint", "1")), 404, "contract-not-found")
    assert_problem(await a.send(a.use("http://127.0.0.1:9/contracts/x", "mint", "1")), 404, "contract-not-found")
    assert_problem(await a.send(a.request("Accept", f"{a.url}/contract-offers/nope")), 404, "offer-not-found")
    assert_problem(await a.send(a.request("Accept", f"{a.url}/types/{a.base}")), 404, "offer-not-found")
    # nothing was counted
    seen = await a.contract(contract)
    assert (seen["derived_types"], seen["units_this_period"], seen["owed"], seen["paid"]) == (0, "0", "0", "0")


async def test_documents__offers_to_anyone_and_contracts_are_served_signed(fed_api: Api, remote: Remote) -> None:
    a = await _licensor(fed_api, remote)
    offer = await fed_api.get(f"/contract-offers/{a.offer}", headers=AP, expect=200)
    document = orjson.loads(offer.text)
    assert (document["type"], document["offerState"], document["contractEndpoint"]) == ("ContractOffer", "open", f"{a.url}/contracts")
    assert document["terms"]["fee"] == "5" and document["terms"]["payment_type"] == f"{a.url}/types/{a.coin}"
    assert (await verify_remote_object(site_of(fed_api), document)).signer == f"{a.url}/users/alice"

    await fed_api.user("bob")
    listed = await fed_api.post(OFFERS, {"type": a.base, "takers": "listed", "listed": ["bob"]}, token=a.alice, expect=201)
    assert_problem(await fed_api.get(f"/contract-offers/{listed.body['id']}", headers=AP), 404, "offer-not-found")

    contract = await a.accepted()
    served = orjson.loads((await fed_api.get(contract.removeprefix(a.url), headers=AP, expect=200)).text)
    assert (served["licensee"], served["contractState"], served["attributedTo"]) == (a.dave.uri, "active", f"{a.url}/users/alice")
    assert "owed" not in served and "fee" not in str(served)  # money stays between the parties
    assert (await verify_remote_object(site_of(fed_api), served)).signer == f"{a.url}/users/alice"
    page = await fed_api.get(contract.removeprefix(a.url), headers={"Accept": "text/html"}, expect=200)
    assert "active" in page.text


async def test_licensee_operations__bad_input_is_refused(fed_api: Api, remote: Remote) -> None:
    dave = await fed_api.user("dave")
    base = fed_api.settings.base_url
    for body in ({}, {"offer": "not a url"}, {"offer": "ftp://example.org/x"}, {"offer": "https://x.example/" + "a" * 2100},
                 {"offer": "https://x.example/o", "extra": 1}):
        assert_problem(await fed_api.post("/api/v1/remote-contracts", body, token=dave), 400, "validation-failed")
    assert_problem(await fed_api.post("/api/v1/remote-contracts", {"offer": f"{base}/contract-offers/x"}, token=dave),
                   422, "local-offer")
    assert_problem(await fed_api.post("/api/v1/remote-contracts", {"offer": "http://127.0.0.1:9/contract-offers/x"},
                                      token=dave), 503, "origin-unreachable")
    assert_problem(await fed_api.post("/api/v1/remote-contracts", {"offer": "https://x.example/o"}), 401)
    for body in ({}, {"contract": "nope"}):
        assert_problem(await fed_api.post("/api/v1/remote-contracts/pay", body, token=dave), 400, "validation-failed")
    assert_problem(await fed_api.post("/api/v1/remote-contracts/pay", {"contract": "https://x.example/contracts/1"},
                                      token=dave), 404, "contract-not-found")
    listed = await fed_api.get("/api/v1/remote-contracts", token=dave, expect=200)
    assert listed.body["items"] == []
    assert_problem(await fed_api.get("/api/v1/remote-contracts", params={"page_size": "0"}, token=dave), 400)
    # a type naming another server's type as a parent without a contract held there
    made = await fed_api.post("/api/v1/types", {"name": "Kid", "symbol": "KID", "fungible": True, "smallest_unit": 0,
                                                 "parents": [f"{remote.base}/types/base"]}, token=dave)
    assert_problem(made, 403, "contract-required")
    # a parent of another server is named when a type is created, not added later
    kid = (await fed_api.post("/api/v1/types", {"name": "Kid", "symbol": "KID", "fungible": True, "smallest_unit": 0},
                              token=dave, expect=201)).body["id"]
    added = await fed_api.patch(f"/api/v1/types/{kid}", {"parents": [f"{remote.base}/types/base"]}, token=dave)
    assert_problem(added, 422, "remote-type")


async def test_derived_type__page_and_document_name_the_parent_and_contract_elsewhere(fed_api: Api, remote: Remote) -> None:
    dave = await fed_api.user("dave")
    kid = (await fed_api.post("/api/v1/types", {"name": "Kid", "symbol": "KID", "fungible": True, "smallest_unit": 0},
                              token=dave, expect=201)).body["id"]
    parent, contract = f"{remote.base}/types/base", f"{remote.base}/contracts/c1"
    await RemoteTypeParent.create(child_id=kid, parent_uri=parent, contract_uri=contract)  # as a derivation there leaves it
    page = await fed_api.get(f"/app/types/{kid}", expect=200)
    assert f'<a href="{parent}">' in page.text and f'<a href="{contract}">' in page.text and "another server" in page.text
    document = orjson.loads((await fed_api.get(f"/types/{kid}", headers=AP, expect=200)).text)
    assert document["parentTypes"] == [parent]
    assert document["parentContracts"] == [{"parent": parent, "contract": contract}]


async def test_remote_licensee__the_periodic_payment_is_taken_from_the_units_held_here(fed_api: Api, remote: Remote) -> None:
    a = await _licensor(fed_api, remote)
    contract = await a.accepted()
    assert (await a.send(a.use(contract, "mint", "3"))).status == 200
    seen = await a.contract(contract)
    assert await run_at(fed_api, at(seen["started_at"], 30)) >= 1  # one period (30 days by default) later
    seen = await a.contract(contract)
    [payment] = [step for step in seen["steps"] if step["kind"] == "payment" and step["state"] == "done"]
    assert (payment["outcome"], payment["amount"], seen["paid"], seen["state"]) == ("paid", "8", "8", "active")
    held = await fed_api.get("/api/v1/ledger/balance", params={"type": a.coin, "owner": a.dave.handle}, expect=200)
    assert held.body["balance"] == "12"
    entry = await fed_api.get(f"/ledger/{payment['entry']}", headers=AP, expect=200)
    assert orjson.loads(entry.text)["attributedTo"] == a.dave.uri  # published to dave's server, which debits him


async def test_licensee_side__records_what_the_licensor_answers_and_refuses_a_strange_answer(fed_api: Api) -> None:
    """Our server is B: a stand-in for A answers dave's requests as its script says."""
    dave = await fed_api.user("dave")
    dave_url = f"{fed_api.settings.base_url}/users/dave"
    peer = Loopback()

    def script() -> list[tuple[int, dict[str, Any]]]:
        document = {"id": contract, "type": "Contract", "attributedTo": f"{peer.base}/users/carol", "licensee": dave_url,
                    "tokenType": base, "offer": offer, "contractState": "active", "derivedTypes": 0}
        return [
            (409, {"code": "offer-not-open", "detail": "this offer was withdrawn"}),
            (201, {"contract": {**document, "licensee": f"{peer.base}/users/mallory"}, "entry": None}),
            (201, {"contract": document, "entry": None}),
            (200, {"contract": {**document, "derivedTypes": 1}, "entry": None}),
        ]

    answers: list[tuple[int, dict[str, Any]]] = []

    async def answer(request: web.Request) -> web.Response:
        status, body = answers.pop(0)  # the script, in order
        return web.json_response(body, status=status)

    peer.route("POST", "/contracts", answer)
    async with peer:
        offer, contract, base = f"{peer.base}/contract-offers/o1", f"{peer.base}/contracts/c1", f"{peer.base}/types/t1"
        answers.extend(script())
        assert_problem(await fed_api.post("/api/v1/remote-contracts", {"offer": offer}, token=dave), 409, "offer-not-open")
        assert_problem(await fed_api.post("/api/v1/remote-contracts", {"offer": offer}, token=dave), 502, "origin-bad-answer")
        held = await fed_api.post("/api/v1/remote-contracts", {"offer": offer}, token=dave, expect=201)
        assert (held.body["contract"], held.body["type"], held.body["state"]) == (contract, base, "active")
        kid = await fed_api.post("/api/v1/types", {"name": "Kid", "symbol": "KID", "fungible": True, "smallest_unit": 0,
                                                   "parents": [base]}, token=dave, expect=201)
        assert kid.body["parent_links"] == [{"parent": base, "basis": "contract", "contract": contract}]
        sent = [orjson.loads(request["body"]) for request in peer.requests]
        assert [item["type"] for item in sent] == ["Accept", "Accept", "Accept", "Create"]
        assert sent[-1]["actor"] == dave_url and sent[-1]["object"]["useKind"] == "derive"
        assert sent[-1]["object"]["derivedType"] == f"{fed_api.settings.base_url}/types/{kid.body['id']}"
        assert all("Signature" in request["headers"] for request in peer.requests)
        listed = await fed_api.get("/api/v1/remote-contracts", token=dave, expect=200)
        assert [(item["contract"], item["derived_types"]) for item in listed.body["items"]] == [(contract, 1)]
