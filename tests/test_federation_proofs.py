"""Proofs on activities: our Create/Update carry the object with its owner's FEP-8b32 proof, and
the inbox checks the proof of an embedded object when it has one, refusing a bad one whole."""

from __future__ import annotations

from typing import Any

import pytest

from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.keys import load_private_key
from federation.outbox import publish_due_events
from federation.proofs import sign_object
from federation.signed_objects import verify_remote_object
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
    await fed_api.patch(f"/api/v1/types/{type_id}", {"description": "shiny"}, token=token)
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
