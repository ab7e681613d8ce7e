"""Proofs on served objects (FEP-8b32 by the owner) and checking signed objects against their
signer's actor document: the key must be in its assertionMethod and the signer must own the
object (FEP-fe34), whether the signer is one of ours or lives on another server."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import web

from federation.keys import ed25519_from_multibase, ed25519_to_multibase, generate_ed25519, load_private_key
from federation.proofs import sign_object, verify_object
from federation.signed_objects import ActorDocuments, ObjectRefused, sign_as, verify_remote_object
from models.actors import Actor

from .conftest import Api
from .fedhelpers import Remote, fed_api, site_of  # noqa: F401
from .sethelpers import add, make_set, make_token, make_type

AP = "application/activity+json"
REMOTE_KEY = generate_ed25519()
REMOTE_PUBLIC = load_private_key(REMOTE_KEY.private_pem).public_key()  # type: ignore[union-attr]


async def served(api: Api, path: str) -> dict[str, Any]:
    reply = await api.get(path, headers={"Accept": AP})
    assert reply.status == 200, reply
    return orjson.loads(reply.text)


async def alices_objects(api: Api) -> tuple[str, dict[str, dict[str, Any]]]:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    token_id = await make_token(api, alice, type_id, label="Ruby", colour="red", secret="hidden")
    shelf = await make_set(api, alice)
    assert (await add(api, alice, shelf["id"], token_id)).status == 200
    paths = {"token": f"/tokens/{token_id}", "type": f"/types/{type_id}", "set": f"/sets/{shelf['id']}"}
    return alice, {kind: await served(api, path) for kind, path in paths.items()}


async def test_served_objects__carry_a_proof_by_their_owner_that_checks_with_the_actor_key(fed_api: Api) -> None:
    _, objects = await alices_objects(fed_api)
    actor = await served(fed_api, "/users/alice")
    method = actor["assertionMethod"][0]
    key = ed25519_from_multibase(method["publicKeyMultibase"])
    for kind, document in objects.items():
        proof = document["proof"]
        assert proof["verificationMethod"] == f"{actor['id']}#ed25519-key" == method["id"], kind
        assert proof["cryptosuite"] == "eddsa-jcs-2022" and proof["proofPurpose"] == "assertionMethod"
        verify_object(document, key)
        checked = await verify_remote_object(site_of(fed_api), document)
        assert checked.signer == actor["id"]


async def test_verify_remote_object__refuses_a_changed_object(fed_api: Api) -> None:
    _, objects = await alices_objects(fed_api)
    tampered = {**objects["token"], "attributes": {**objects["token"]["attributes"], "colour": "blue"}}
    with pytest.raises(ObjectRefused, match="does not match"):
        await verify_remote_object(site_of(fed_api), tampered)
    unsigned = {key: value for key, value in objects["set"].items() if key != "proof"}
    with pytest.raises(ObjectRefused, match="no proof"):
        await verify_remote_object(site_of(fed_api), unsigned)


async def test_verify_remote_object__refuses_a_proof_by_someone_who_does_not_own_the_object(fed_api: Api) -> None:
    _, objects = await alices_objects(fed_api)
    await fed_api.user("mallory")
    mallory = await Actor.get(username="mallory", domain="")
    resigned = await sign_as(site_of(fed_api), mallory, objects["token"])  # a valid proof, by the wrong actor
    with pytest.raises(ObjectRefused, match="belongs to .*alice but was signed by .*mallory"):
        await verify_remote_object(site_of(fed_api), resigned)


async def test_verify_remote_object__refuses_a_key_the_actor_does_not_list(fed_api: Api) -> None:
    _, objects = await alices_objects(fed_api)
    owner = objects["token"]["attributedTo"]
    stranger = load_private_key(generate_ed25519().private_pem)
    forged = sign_object(objects["token"], stranger, f"{owner}#other-key")  # type: ignore[arg-type]
    with pytest.raises(ObjectRefused, match="does not list the key"):
        await verify_remote_object(site_of(fed_api), forged)
    impostor = sign_object(objects["token"], stranger, f"{owner}#ed25519-key")  # type: ignore[arg-type]
    with pytest.raises(ObjectRefused, match="does not match"):
        await verify_remote_object(site_of(fed_api), impostor)


class KeyedRemote(Remote):
    """The fake remote server, whose actors also publish an Ed25519 Multikey."""

    async def _actor(self, request: web.Request) -> web.Response:
        await self._record(request)
        document = self.actor(request.match_info["name"]).document()
        document["assertionMethod"] = [{
            "id": f"{document['id']}#ed25519-key", "type": "Multikey", "controller": document["id"],
            "publicKeyMultibase": ed25519_to_multibase(REMOTE_PUBLIC),
        }]
        return web.Response(body=orjson.dumps(document), content_type=AP)


@pytest.fixture
async def keyed_remote() -> Any:
    server = KeyedRemote()
    await server.start()
    yield server
    await server.stop()


async def test_verify_remote_object__fetches_a_remote_signer_once_and_checks_origin(
    fed_api: Api, keyed_remote: KeyedRemote
) -> None:
    site = site_of(fed_api)
    carol = keyed_remote.actor("carol")
    private = load_private_key(REMOTE_KEY.private_pem)
    document = {"id": f"{keyed_remote.base}/tokens/t1", "type": "Token", "attributedTo": carol.uri, "version": 1}
    signed = sign_object(document, private, f"{carol.uri}#ed25519-key")  # type: ignore[arg-type]
    actors = ActorDocuments(site)
    assert (await verify_remote_object(site, signed, actors=actors)).signer == carol.uri
    assert (await verify_remote_object(site, signed, actors=actors)).signer == carol.uri
    assert [r["path"] for r in keyed_remote.fetches()] == ["/users/carol"]  # one fetch per signer
    method = f"{carol.uri}#ed25519-key"
    foreign = sign_object({**document, "id": f"{site.base_url}/tokens/t1"}, private, method)  # type: ignore[arg-type]
    with pytest.raises(ObjectRefused, match="lives on .* but was signed by"):
        await verify_remote_object(site, foreign, actors=actors)
    missing = f"{keyed_remote.base}/missing/dave"
    gone = sign_object(
        {**document, "attributedTo": missing}, private, f"{missing}#ed25519-key"  # type: ignore[arg-type]
    )
    with pytest.raises(ObjectRefused, match="cannot fetch the signer"):
        await verify_remote_object(site, gone, actors=actors)
