"""Private values in the content hash are salted commitments (issue 14, item 6): the public
hash reveals nothing, the owner hands out disclosures, and holders check them."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
from typing import Any

import orjson
from tortoise import connections

from models.attributes import content_hash
from models.events import Event
from models.tokens import Token

from .conftest import Api, assert_problem
from .pagehelpers import Browser

TOKENS = "/api/v1/tokens"
VERIFY = "/api/v1/verify"
PIN = "4821"
ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "label", "type": "string"},
    {"name": "pin", "type": "string", "private": True, "min": 4, "max": 4},
]


async def card_type(api: Api, owner: str, attributes: list[dict[str, Any]] = ATTRIBUTES) -> str:
    reply = await api.post(
        "/api/v1/types",
        {"name": "Card", "symbol": "CRD", "fungible": False, "smallest_unit": 0, "attributes": attributes},
        token=owner,
    )
    assert reply.status == 201, reply
    return str(reply.body["id"])


async def card(api: Api, owner: str, type_id: str, pin: str = PIN) -> dict[str, Any]:
    reply = await api.post(TOKENS, {"type": type_id, "attributes": {"label": "door", "pin": pin}}, token=owner)
    assert reply.status == 201, reply
    return reply.body


async def public_document(api: Api, token_id: str) -> dict[str, Any]:
    reply = await api.get(f"/tokens/{token_id}", headers={"Accept": "application/activity+json"})
    assert reply.status == 200, reply
    document: dict[str, Any] = json.loads(reply.text)
    return document


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_content_hash__hashing_every_pin_against_the_public_hash_finds_nothing(api: Api) -> None:
    alice = await api.user("alice")
    token = await card(api, alice, await card_type(api, alice))
    seen = await api.get(f"{TOKENS}/{token['id']}")  # what anyone reads: no pin, but the hash
    assert seen.status == 200 and "pin" not in seen.body["attributes"], seen
    owner_id = (await Token.get(id=token["id"])).owner_id
    base = {"id": token["id"], "type": token["type"], "owner": owner_id, "version": seen.body["version"]}
    commitments = seen.body.get("commitments", {})
    found = []
    for guess in (f"{number:04d}" for number in range(10_000)):
        attributes = {**seen.body["attributes"], "pin": guess}
        for document in ({**base, "attributes": attributes},
                         {**base, "attributes": attributes, "commitments": commitments}):
            if content_hash(document) == seen.body["content_hash"]:
                found.append(guess)
        # nor does the commitment open without the salt
        for salt in ("", token["id"]):
            digest = hashlib.sha256(orjson.dumps([salt, "pin", guess])).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() in commitments.values():
                found.append(guess)
    assert found == []
    document = await public_document(api, token["id"])
    assert PIN not in json.dumps(document) and document["contentHash"] == seen.body["content_hash"]
    assert set(document["commitments"]) == {"pin"}


async def test_commitments__two_tokens_with_the_same_pin_commit_differently(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await card_type(api, alice)
    first, second = await card(api, alice, type_id), await card(api, alice, type_id)
    assert first["attributes"]["pin"] == second["attributes"]["pin"] == PIN
    assert first["commitments"]["pin"] != second["commitments"]["pin"]


async def test_disclosures__only_the_owner_gets_them(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    token = await card(api, alice, await card_type(api, alice))
    path = f"{TOKENS}/{token['id']}/disclosures"
    assert_problem(await api.get(path, token=bob), 404, "token-not-found")
    assert_problem(await api.get(path), 401)
    assert_problem(await api.get(path, params={"attribute": "label"}, token=alice), 404, "attribute-not-private")
    reply = await api.get(path, params={"attribute": "pin"}, token=alice)
    assert reply.status == 200, reply
    [item] = reply.body["disclosures"]
    assert item["attribute"] == "pin" and item["value"] == PIN and len(_b64url_decode(item["salt"])) >= 16
    assert item["commitment"] == token["commitments"]["pin"]


async def test_verify_disclosure__the_holder_checks_it_offline_and_at_the_origin(api: Api) -> None:
    alice = await api.user("alice")
    token = await card(api, alice, await card_type(api, alice))
    reply = await api.get(f"{TOKENS}/{token['id']}/disclosures", params={"attribute": "pin"}, token=alice)
    assert reply.status == 200, reply
    shared = reply.body["disclosures"][0]["disclosure"]
    # offline: the disclosure opens the commitment the signed public document carries
    document = await public_document(api, token["id"])
    opened = base64.urlsafe_b64encode(hashlib.sha256(_b64url_decode(shared)).digest()).rstrip(b"=").decode()
    assert opened == document["commitments"]["pin"] and json.loads(_b64url_decode(shared))[1:] == ["pin", PIN]
    # at the origin, anonymously
    answer = await api.post(VERIFY, {"token": token["id"], "disclosure": shared})
    assert answer.status == 200, answer
    assert answer.body["result"] is True and answer.body["attribute"] == "pin"
    assert PIN not in answer.text and answer.body["checksum"] == token["content_hash"]
    salt = json.loads(_b64url_decode(shared))[0]
    forged = base64.urlsafe_b64encode(orjson.dumps([salt, "pin", "0000"])).rstrip(b"=").decode()
    assert (await api.post(VERIFY, {"token": token["id"], "disclosure": forged})).body["result"] is False
    assert_problem(await api.post(VERIFY, {"token": token["id"], "disclosure": "bm90LWFuLWFycmF5"}), 400)
    deep = base64.urlsafe_b64encode(b'["s", "pin", ' + b"[" * 300 + b"]" * 300 + b"]").rstrip(b"=").decode()
    assert_problem(await api.post(VERIFY, {"token": token["id"], "disclosure": deep}), 400)
    # a new value gets a new salt: the old disclosure no longer opens anything
    changed = await api.patch(f"{TOKENS}/{token['id']}", {"attributes": {"pin": "1234"}}, token=alice)
    assert changed.status == 200, changed
    assert (await api.post(VERIFY, {"token": token["id"], "disclosure": shared})).body["result"] is False
    again = await api.get(f"{TOKENS}/{token['id']}/disclosures", params={"attribute": "pin"}, token=alice)
    assert again.status == 200 and again.body["disclosures"][0]["salt"] != salt, again


async def test_migration_0003__existing_tokens_get_salts_a_new_version_and_an_update(api: Api) -> None:
    alice = await api.user("alice")
    secret = await card(api, alice, await card_type(api, alice))
    reply = await api.post(TOKENS, {"type": await card_type(api, alice, [ATTRIBUTES[0]]), "attributes": {"label": "x"}},
                           token=alice)
    assert reply.status == 201, reply
    plain = reply.body
    connection = connections.get("default")
    await connection.execute_query('UPDATE "tokens" SET "salts" = \'{}\'')  # as before the migration
    migration = importlib.import_module("models.migrations.0003_token_salts")

    class Editor:
        client = connection

    await migration.add_salts(None, Editor())
    moved = await api.get(f"{TOKENS}/{secret['id']}", token=alice)
    assert moved.status == 200 and moved.body["version"] == secret["version"] + 1, moved
    assert moved.body["attributes"]["pin"] == PIN and set(moved.body["commitments"]) == {"pin"}
    event = await Event.filter(name="token.updated", object_id=secret["id"]).first()
    assert event is not None and event.payload["version"] == secret["version"] + 1
    kept = await api.get(f"{TOKENS}/{plain['id']}")
    assert kept.status == 200 and kept.body["version"] == plain["version"], kept
    assert kept.body["content_hash"] == plain["content_hash"]  # no private values: the same hash
    reply = await api.get(f"{TOKENS}/{secret['id']}/disclosures", token=alice)
    assert reply.status == 200, reply
    shared = reply.body["disclosures"][0]["disclosure"]
    assert (await api.post(VERIFY, {"token": secret["id"], "disclosure": shared})).body["result"] is True
    old = await api.post(VERIFY, {"token": secret["id"], "content_hash": secret["content_hash"]})
    assert old.status == 200 and old.body["verdict"] == "outdated", old


async def test_token_page__the_owner_sees_disclosures_to_share_others_do_not(api: Api) -> None:
    alice = await api.user("alice")
    token = await card(api, alice, await card_type(api, alice))
    reply = await api.get(f"{TOKENS}/{token['id']}/disclosures", token=alice)
    assert reply.status == 200, reply
    shared = reply.body["disclosures"][0]["disclosure"]
    anonymous = await Browser(api.client).get(f"/app/tokens/{token['id']}")
    assert anonymous.status == 200 and shared not in anonymous.text and "Prove a private value" not in anonymous.text
    owner = Browser(api.client)
    signed_in = await owner.sign_in("alice")
    assert signed_in.status == 200, signed_in.text[:300]
    page = await owner.get(f"/app/tokens/{token['id']}")
    assert page.status == 200 and "Prove a private value" in page.text and shared in page.text
