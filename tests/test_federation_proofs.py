"""Proofs on activities: our Create/Update carry the object with its owner's FEP-8b32 proof, and
the inbox checks the proof of an embedded object when it has one, refusing a bad one whole."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.keys import ed25519_from_multibase, load_private_key, public_key_pem
from federation.outbox import publish_due_events
from federation.proofs import sign_object
from federation.signed_objects import ObjectRefused, sign_as, verify_remote_object
from federation.verify_client import check_trace, read_key_file
from models.actors import Actor
from models.federation import InboxActivity, RemoteObject

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .test_federation_delivery import COIN, followed_alice
from .test_federation_inbox import ALICE
from .test_integrity import REMOTE_KEY, KeyedRemote


@pytest.fixture
async def keyed_remote() -> Any:
    server = KeyedRemote()
    await server.start()
    yield server
    await server.stop()


async def test_outbox__create_and_update_embed_the_object_with_a_proof_by_its_owner(
    fed_api: Api, remote: Remote
) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token)).body["id"]
    await fed_api.patch(f"/api/v1/types/{type_id}", {"description": "shiny"}, token=token, expect=200)
    site = site_of(fed_api)
    await publish_due_events(site)
    await deliver_due(site)
    posts = [p["json"] for p in remote.posts()]
    assert [(a["type"], a["object"]["type"]) for a in posts] == [("Create", "TokenType"), ("Update", "TokenType")]
    for activity in posts:
        obj = activity["object"]
        assert obj["proof"]["verificationMethod"] == f"{ALICE}#ed25519-key"
        assert (await verify_remote_object(site, obj)).signer == ALICE
    assert "shiny" in str(posts[1]["object"])  # the proof checked above covers the changed text


def signed_token(remote: Remote, owner: str, name: str = "Gold") -> dict[str, Any]:
    document = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{remote.base}/tokens/1",
                "type": "TokenType", "attributedTo": owner, "name": name, "symbol": "GLD"}
    private = load_private_key(REMOTE_KEY.private_pem)
    return sign_object(document, private, f"{owner}#ed25519-key")  # type: ignore[arg-type]


def create(actor_uri: str, obj: dict[str, Any], n: int = 1) -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor_uri}/creates/{n}",
            "type": "Create", "actor": actor_uri, "object": obj}


async def test_inbox__an_object_with_a_valid_proof_is_stored_with_it(fed_api: Api, keyed_remote: KeyedRemote) -> None:
    await fed_api.user("alice")
    carol = keyed_remote.actor("carol")
    obj = signed_token(keyed_remote, carol.uri)
    assert (await signed_post(fed_api, "/inbox", create(carol.uri, obj), carol)).status == 202
    assert await process_due(site_of(fed_api)) == 1
    copy = await RemoteObject.get(uri=obj["id"])
    assert copy.document["name"] == "Gold" and copy.document["proof"] == obj["proof"]


async def test_inbox__a_changed_or_forged_proof_is_refused_and_nothing_is_stored(
    fed_api: Api, keyed_remote: KeyedRemote
) -> None:
    await fed_api.user("alice")
    carol = keyed_remote.actor("carol")
    tampered = {**signed_token(keyed_remote, carol.uri), "name": "Lead"}  # changed after signing
    reply = await signed_post(fed_api, "/inbox", create(carol.uri, tampered, 1), carol)
    assert_problem(reply, 403, "bad-proof")
    signed = signed_token(keyed_remote, carol.uri)
    unknown_key = {**signed, "proof": {**signed["proof"], "verificationMethod": f"{carol.uri}#other-key"}}
    reply = await signed_post(fed_api, "/inbox", create(carol.uri, unknown_key, 2), carol)
    assert_problem(reply, 403, "bad-proof")
    update = {**create(carol.uri, tampered, 3), "type": "Update"}
    assert_problem(await signed_post(fed_api, "/inbox", update, carol), 403, "bad-proof")
    assert await InboxActivity.all().count() == 0
    assert await RemoteObject.all().count() == 0


# ---------------------------------------------------------------- ledger entries

AP = {"Accept": "application/activity+json"}
BOB = "http://127.0.0.1:8080/users/bob"


async def a_chain(api: Api, alice: str, tokens: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Alice's Coin: she mints 10, gives 6 to bob, bob gives 4 to carol, carol gives 1 to dave
    (three hops, each give by the holder, not by the type's owner); the type and the entry ids
    (and in `tokens`, each user's API token)."""
    tokens = tokens if tokens is not None else {}
    tokens.update({"alice": alice, **{name: await api.user(name) for name in ("bob", "carol", "dave")}})
    type_id = (await api.post("/api/v1/types", COIN, token=alice, expect=201)).body["id"]
    ids = [(await api.post("/api/v1/ledger/create", {"type": type_id, "amount": "10"}, token=alice, expect=201)).body["id"]]
    for giver, amount, to in (("alice", "6", "bob"), ("bob", "4", "carol"), ("carol", "1", "dave")):
        give = {"type": type_id, "amount": amount, "to": to}
        ids.append((await api.post("/api/v1/ledger/give", give, token=tokens[giver], expect=201)).body["id"])
    return type_id, ids


async def entry_at(api: Api, entry_id: str) -> dict[str, Any]:
    reply = await api.get(f"/ledger/{entry_id}", headers=AP, expect=200)
    return dict(orjson.loads(reply.text))


async def test_ledger_entry__is_served_with_a_proof_by_its_types_owner(fed_api: Api) -> None:
    alice = await fed_api.user("alice")
    _, [_, _, bobs_give, _] = await a_chain(fed_api, alice)
    site = site_of(fed_api)
    entry = await entry_at(fed_api, bobs_give)
    assert (entry["attributedTo"], entry["tokenOwner"], entry["amount"]) == (BOB, ALICE, "4.00")
    assert entry["proof"]["verificationMethod"] == f"{ALICE}#ed25519-key"  # alice's key, though bob gave
    assert (await verify_remote_object(site, entry)).signer == ALICE
    with pytest.raises(ObjectRefused, match="changed or signed by another key"):
        await verify_remote_object(site, {**entry, "amount": "40.00"})


async def test_ledger_entry__the_proof_covers_its_flags_as_they_are_now(fed_api: Api) -> None:
    alice = await fed_api.user("alice")
    _, [created, *_] = await a_chain(fed_api, alice)
    before = await entry_at(fed_api, created)
    flags = f"/api/v1/ledger/operations/{created}/flags"
    assert (await fed_api.post(flags, {"flag": "disputed"}, token=alice)).status == 200
    after = await entry_at(fed_api, created)
    assert after["flags"] == ["disputed"]
    assert (await verify_remote_object(site_of(fed_api), after)).signer == ALICE
    with pytest.raises(ObjectRefused):  # the old proof does not cover the flag
        await verify_remote_object(site_of(fed_api), {**after, "proof": before["proof"]})


async def test_ledger_entry__signed_by_another_user_of_the_same_server_is_refused(fed_api: Api) -> None:
    alice = await fed_api.user("alice")
    _, [_, _, bobs_give, _] = await a_chain(fed_api, alice)
    site = site_of(fed_api)
    entry = await entry_at(fed_api, bobs_give)
    bob = await Actor.get(username="bob", domain="")
    by_bob = await sign_as(site, bob, entry)  # bob wrote the give, but the type is alice's
    with pytest.raises(ObjectRefused, match=f"owned by {ALICE} but was signed by {BOB}"):
        await verify_remote_object(site, by_bob)
    claimed = await sign_as(site, bob, {**entry, "tokenOwner": "http://elsewhere.example/users/bob"})
    with pytest.raises(ObjectRefused, match="does not live on the entry's server"):
        await verify_remote_object(site, claimed)


async def test_outbox__the_create_of_a_give_carries_the_type_owners_proof(fed_api: Api, remote: Remote) -> None:
    alice = await followed_alice(fed_api, remote, "erin")
    bob = await fed_api.user("bob")
    type_id = (await fed_api.post("/api/v1/types", COIN, token=alice, expect=201)).body["id"]
    assert (await fed_api.post("/api/v1/ledger/create", {"type": type_id, "amount": "10"}, token=alice)).status == 201
    give = {"type": type_id, "amount": "3", "to": "bob"}
    assert (await fed_api.post("/api/v1/ledger/give", give, token=alice)).status == 201
    assert (await fed_api.post("/api/v1/ledger/give", {**give, "to": "alice", "amount": "1"}, token=bob)).status == 201
    site = site_of(fed_api)
    await publish_due_events(site)
    await deliver_due(site)
    entries = [p["json"]["object"] for p in remote.posts() if p["json"]["object"].get("type") == "LedgerEntry"]
    assert [(e["entryKind"], e["amount"]) for e in entries] == [("create", "10.00"), ("give", "3.00")]
    for entry in entries:  # bob's give goes to bob's followers (none); alice's to erin
        assert entry["proof"]["verificationMethod"] == f"{ALICE}#ed25519-key"
        assert (await verify_remote_object(site, entry)).signer == ALICE
    with pytest.raises(ObjectRefused):
        await verify_remote_object(site, {**entries[1], "amount": "30.00"})


async def test_ledger_trace__lists_every_ancestor_signed_and_checks_against_the_owners_key(fed_api: Api) -> None:
    alice = await fed_api.user("alice")
    _, ids = await a_chain(fed_api, alice)
    site = site_of(fed_api)
    trace = orjson.loads((await fed_api.get(f"/ledger/{ids[-1]}/trace", headers=AP, expect=200)).text)
    assert trace["traceOf"].endswith(f"/ledger/{ids[-1]}") and trace["truncated"] is False
    items = trace["orderedItems"]
    assert [item["id"].rsplit("/", 1)[1] for item in items] == [ids[-1], *ids[:-1]]  # the entry, then ancestors
    for item in items:  # the very documents /ledger/{id} serves
        served = await entry_at(fed_api, item["id"].rsplit("/", 1)[1])
        assert {**item, "proof": None} == {**served, "proof": None}
    actor = orjson.loads((await fed_api.get("/users/alice", headers=AP, expect=200)).text)
    pem = public_key_pem(ed25519_from_multibase(actor["assertionMethod"][0]["publicKeyMultibase"]))
    for key in (read_key_file(site, orjson.dumps(actor)), read_key_file(site, pem.encode())):
        verdicts = await check_trace(site, trace, key)
        assert [v.verdict for v in verdicts] == ["valid"] * 4, verdicts


async def test_ledger_trace__a_changed_or_missing_ancestor_is_named(fed_api: Api) -> None:
    alice = await fed_api.user("alice")
    _, [created, alices_give, bobs_give, carols_give] = await a_chain(fed_api, alice)
    site = site_of(fed_api)
    trace = orjson.loads((await fed_api.get(f"/ledger/{carols_give}/trace", headers=AP, expect=200)).text)
    actor = orjson.loads((await fed_api.get("/users/alice", headers=AP, expect=200)).text)
    key = read_key_file(site, orjson.dumps(actor))
    url = {entry_id: f"http://127.0.0.1:8080/ledger/{entry_id}" for entry_id in (created, alices_give, bobs_give, carols_give)}

    def changed(entry_id: str, **values: Any) -> dict[str, Any]:
        items = [{**item, **values} if item["id"] == url[entry_id] else item for item in trace["orderedItems"]]
        return {**trace, "orderedItems": items}

    refused = [(v.token, v.detail) for v in await check_trace(site, changed(bobs_give, amount="5.00"), key) if v.verdict != "valid"]
    changed_proof = "its proof does not hold: the proof does not match the object: it was changed or signed by another key"
    assert refused == [(url[bobs_give], changed_proof)]
    without = {**trace, "orderedItems": [item for item in trace["orderedItems"] if item["id"] != url[alices_give]]}
    refused = [(v.token, v.detail) for v in await check_trace(site, without, key) if v.verdict != "valid"]
    assert refused == [(url[bobs_give], f"its source {url[alices_give]} is not in the file")]
    bob = await Actor.get(username="bob", domain="")
    by_bob = await sign_as(site, bob, {**trace["orderedItems"][0]})
    refused = [(v.token, v.detail) for v in await check_trace(site, changed(carols_give, proof=by_bob["proof"]), key)
               if v.verdict != "valid"]
    assert len(refused) == 1 and refused[0][0] == url[carols_give] and "signed by" in refused[0][1]
    short = orjson.loads((await fed_api.get(f"/ledger/{carols_give}/trace?limit=1", headers=AP, expect=200)).text)
    assert short["truncated"] is True and len(short["orderedItems"]) == 2
    [verdict] = await check_trace(site, short, key)
    assert verdict.verdict == "refused" and "truncated" in verdict.detail


async def test_ledger_trace__of_an_unknown_entry_is_a_404(fed_api: Api) -> None:
    assert_problem(await fed_api.get("/ledger/nosuchentry/trace", headers=AP), 404, "operation-not-found")


async def test_ledger_entry__of_a_type_whose_owner_left_is_still_served_and_published_unsigned(
    fed_api: Api, remote: Remote
) -> None:
    """History stays when an account is deleted: bob's units of alice's Coin still move and are
    told about, without a proof (nobody can fetch alice's key any more)."""
    alice = await fed_api.user("alice")
    tokens: dict[str, str] = {}
    type_id, [_, _, bobs_give, _] = await a_chain(fed_api, alice, tokens)
    erin = remote.actor("erin")
    assert (await fed_api.delete("/api/v1/users/me", json={"password": "correct horse"}, token=alice)).status == 200
    entry = await entry_at(fed_api, bobs_give)
    assert entry["tokenOwner"] == ALICE and "proof" not in entry
    trace = await fed_api.get(f"/ledger/{bobs_give}/trace", headers=AP, expect=200)
    assert all("proof" not in item for item in orjson.loads(trace.text)["orderedItems"])
    give = {"type": type_id, "amount": "1", "to": erin.handle}
    site = site_of(fed_api)
    await publish_due_events(site)
    await deliver_due(site)
    remote.requests.clear()
    assert (await fed_api.post("/api/v1/ledger/give", give, token=tokens["bob"])).status == 201
    await publish_due_events(site)
    await deliver_due(site)
    [post] = [p["json"]["object"] for p in remote.posts() if p["json"]["object"].get("type") == "LedgerEntry"]
    assert (post["amount"], post["target"]) == ("1.00", erin.uri) and "proof" not in post
