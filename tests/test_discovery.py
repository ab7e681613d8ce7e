"""Discovery: WebFinger, NodeInfo, host-meta, actor documents, keys and content negotiation."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation.actors import actor_keys
from federation.httpsig import verify_request
from federation.httpsig_cavage import sign_cavage
from federation.httpsig_core import IncomingRequest
from federation.keys import ed25519_from_multibase, load_public_key, public_key_pem
from models.actors import Actor
from models.events import Event
from models.federation import ActorKey
from server.activitypub import negotiate

from .conftest import Api, assert_problem

BASE = "http://127.0.0.1:8080"
DOMAIN = "127.0.0.1:8080"
AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


async def webfinger(api: Api, resource: str | None) -> object:
    return await api.get("/.well-known/webfinger", params={"resource": resource} if resource is not None else None)


async def test_webfinger__finds_a_user_by_acct_and_by_actor_url(api: Api) -> None:
    await api.user("alice")
    for resource in (f"acct:alice@{DOMAIN}", f"alice@{DOMAIN}", f"acct:ALICE@{DOMAIN}", f"{BASE}/users/alice"):
        reply = await webfinger(api, resource)
        assert reply.status == 200, (resource, reply)
        assert reply.headers["Content-Type"].startswith("application/jrd+json")
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        jrd = orjson.loads(reply.text)
        assert jrd["subject"] == f"acct:alice@{DOMAIN}"
        [self_link] = [link for link in jrd["links"] if link["rel"] == "self"]
        assert self_link == {"rel": "self", "type": AP, "href": f"{BASE}/users/alice"}


async def test_webfinger__unknown_users_and_other_domains_are_404(api: Api) -> None:
    await api.user("alice")
    assert_problem(await webfinger(api, f"acct:nobody@{DOMAIN}"), 404, "actor-not-found")
    assert_problem(await webfinger(api, "acct:alice@elsewhere.example"), 404, "actor-not-found")
    assert_problem(await webfinger(api, f"{BASE}/users/nobody"), 404, "actor-not-found")
    assert_problem(await webfinger(api, "https://elsewhere.example/users/alice"), 404, "actor-not-found")


@pytest.mark.parametrize("resource", ["acct:alice", "acct:@" + DOMAIN, "alice", "acct:al ice@x", "mailto:a@b@c", "x" * 3000])
async def test_webfinger__malformed_resources_are_400(api: Api, resource: str) -> None:
    await api.user("alice")
    reply = await webfinger(api, resource)
    assert_problem(reply, 400)


async def test_webfinger__missing_resource_is_400(api: Api) -> None:
    assert_problem(await webfinger(api, None), 400, "validation-failed")


async def test_webfinger__frozen_users_resolve_deleted_users_are_gone(api: Api) -> None:
    """Deleted accounts answer 410 Gone (Mastodon treats 410 as "account deleted")."""
    admin = await api.user("root", roles=["admin"])
    await api.user("frozen")
    await api.user("gone")
    assert (await api.post("/api/v1/admin/users/frozen/freeze", token=admin)).status == 200
    assert (await api.delete("/api/v1/admin/users/gone", token=admin)).status == 200
    assert (await webfinger(api, f"acct:frozen@{DOMAIN}")).status == 200
    assert (await api.get("/users/frozen", headers={"Accept": AP})).status == 200
    assert_problem(await webfinger(api, f"acct:gone@{DOMAIN}"), 410, "actor-gone")
    tombstone = await api.get("/users/gone", headers={"Accept": AP})  # servers drop the account on a Tombstone
    assert tombstone.status == 410 and orjson.loads(tombstone.text)["type"] == "Tombstone"


async def test_webfinger__instance_actor(api: Api) -> None:
    reply = await webfinger(api, f"{BASE}/actor")
    assert reply.status == 200, reply
    jrd = orjson.loads(reply.text)
    assert jrd["links"][0]["href"] == f"{BASE}/actor"
    again = await webfinger(api, jrd["subject"])
    assert orjson.loads(again.text)["links"][0]["href"] == f"{BASE}/actor"


def check_actor(document: dict, actor_id: str) -> None:
    assert document["id"] == actor_id
    assert "https://www.w3.org/ns/activitystreams" in document["@context"]
    assert "https://w3id.org/security/v1" in document["@context"]
    assert "https://w3id.org/security/multikey/v1" in document["@context"]
    assert f"{BASE}/ns" in document["@context"]
    for name in ("inbox", "outbox", "followers", "following"):
        assert document[name] == f"{actor_id}/{name}"
    assert document["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    key = document["publicKey"]
    assert key["id"] == f"{actor_id}#main-key" and key["owner"] == actor_id
    rsa_key = load_public_key(key["publicKeyPem"])
    assert isinstance(rsa_key, rsa.RSAPublicKey) and rsa_key.key_size == 2048
    [method] = document["assertionMethod"]
    assert method["id"] == f"{actor_id}#ed25519-key"
    assert method["type"] == "Multikey" and method["controller"] == actor_id
    assert isinstance(ed25519_from_multibase(method["publicKeyMultibase"]), ed25519.Ed25519PublicKey)


async def test_actor__document_shape_and_keys_match_the_stored_ones(api: Api) -> None:
    await api.user("alice")
    reply = await api.get("/users/alice", headers={"Accept": AP})
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"].startswith(AP)
    document = orjson.loads(reply.text)
    check_actor(document, f"{BASE}/users/alice")
    assert document["type"] == "Person" and document["preferredUsername"] == "alice"
    stored = await ActorKey.get(actor__username="alice")
    multikey = ed25519_from_multibase(document["assertionMethod"][0]["publicKeyMultibase"])
    assert public_key_pem(multikey) == stored.ed25519_public_pem
    assert document["publicKey"]["publicKeyPem"] == stored.rsa_public_pem


async def test_actor__the_same_keys_on_every_fetch(api: Api) -> None:
    await api.user("alice")
    first = orjson.loads((await api.get("/users/alice", headers={"Accept": AP})).text)
    second = orjson.loads((await api.get("/users/alice", headers={"Accept": LD})).text)
    assert first["publicKey"] == second["publicKey"]
    assert first["assertionMethod"] == second["assertionMethod"]
    assert await ActorKey.all().count() == 1


async def test_actor_keys__concurrent_first_calls_create_one_pair(api: Api) -> None:
    await api.user("alice")
    actor = await Actor.get(username="alice")
    keys = await asyncio.gather(*(actor_keys(actor) for _ in range(4)))
    assert len({key.id for key in keys}) == 1
    assert len({key.rsa_public_pem for key in keys}) == 1
    assert await ActorKey.filter(actor_id=actor.id).count() == 1
    [event] = await Event.filter(name="actor.keys_created")
    assert event.object_id == actor.id and event.payload["rsa_public_pem"] == keys[0].rsa_public_pem
    assert "PRIVATE" not in str(event.payload)


async def test_actor__instance_actor_is_a_service(api: Api) -> None:
    reply = await api.get("/actor", headers={"Accept": AP})
    assert reply.status == 200, reply
    document = orjson.loads(reply.text)
    check_actor(document, f"{BASE}/actor")
    assert document["type"] == "Service"
    assert (await api.get("/actor", headers={"Accept": AP})).text == reply.text
    assert await Event.filter(name="actor.created").count() == 1  # created once, on first use
    assert await Event.filter(name="actor.keys_created").count() == 1


async def test_actor__unknown_user_is_404(api: Api) -> None:
    assert_problem(await api.get("/users/nobody", headers={"Accept": AP}), 404, "actor-not-found")
    assert_problem(await api.get("/users/" + "x" * 200, headers={"Accept": AP}), 400, "validation-failed")
    assert await ActorKey.all().count() == 0


async def test_actor__content_negotiation(api: Api) -> None:
    await api.user("alice")
    cases = {
        AP: AP,
        LD: "application/ld+json",
        "application/json": AP,
        "*/*": AP,
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": "text/html",
        "text/html;q=0.5, application/activity+json": AP,
        "application/activity+json;q=0.2, text/html": "text/html",
    }
    for accept, expected in cases.items():
        reply = await api.get("/users/alice", headers={"Accept": accept})
        assert reply.status == 200, (accept, reply)
        assert reply.headers["Content-Type"].startswith(expected), (accept, reply.headers["Content-Type"])
        assert "Accept" in reply.headers["Vary"]
    assert_problem(await api.get("/users/alice", headers={"Accept": "image/png"}), 406, "not-acceptable")


def test_negotiate__missing_accept_means_activitypub() -> None:
    assert negotiate(None) == "activity"
    assert negotiate("") == "activity"
    assert negotiate("text/*") == "html"
    assert negotiate("application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"; q=bad, text/html") == "html"


async def test_actor__html_profile_escapes_the_display_name(api: Api) -> None:
    await api.user("alice")
    await Actor.filter(username="alice").update(display_name="<script>alert(1)</script> Alice")
    reply = await api.get("/users/alice", headers={"Accept": "text/html"})
    assert reply.status == 200
    assert "<script>" not in reply.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Alice" in reply.text
    assert f"@alice@{DOMAIN}" in reply.text


async def test_actor__collections_are_empty_and_paged(api: Api) -> None:
    await api.user("alice")
    outbox = orjson.loads((await api.get("/users/alice/outbox", headers={"Accept": AP})).text)
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 0
    assert outbox["first"] == f"{BASE}/users/alice/outbox?page=1"
    page = orjson.loads((await api.get("/users/alice/outbox?page=1")).text)
    assert page["type"] == "OrderedCollectionPage" and page["orderedItems"] == []
    assert page["partOf"] == f"{BASE}/users/alice/outbox"
    followers = orjson.loads((await api.get("/users/alice/followers")).text)
    assert followers["totalItems"] == 0 and "first" in followers
    inbox = orjson.loads((await api.get("/actor/inbox")).text)
    assert inbox["orderedItems"] == []
    assert_problem(await api.get("/users/alice/outbox?page=0"), 400, "validation-failed")
    assert_problem(await api.get("/users/nobody/followers"), 404, "actor-not-found")
    assert (await api.get("/users/alice/likes")).status == 404


async def test_actor__signed_get_is_accepted(api: Api) -> None:
    """Signed GETs (authorized fetch) are accepted; we do not require them yet."""
    await api.user("alice")
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = sign_cavage("GET", f"{BASE}/users/alice", key_id="https://remote.example/users/bob#main-key",
                          private_key=signer)
    headers.pop("Host")
    reply = await api.get("/users/alice", headers={**headers, "Accept": AP})
    assert reply.status == 200, reply
    assert orjson.loads(reply.text)["id"] == f"{BASE}/users/alice"


async def test_nodeinfo__links_and_counts_follow_registrations(api: Api) -> None:
    links = orjson.loads((await api.get("/.well-known/nodeinfo")).text)
    assert links["links"] == [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": f"{BASE}/nodeinfo/2.1"}]
    before = await api.get("/nodeinfo/2.1")
    assert before.status == 200
    assert 'profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"' in before.headers["Content-Type"]
    info = orjson.loads(before.text)
    assert info["software"]["name"] == "tallystick" and info["software"]["version"]
    assert info["protocols"] == ["activitypub"] and info["openRegistrations"] is True
    assert info["usage"] == {"users": {"total": 0, "activeMonth": 0, "activeHalfyear": 0}, "localPosts": 0}
    events = await Event.all().count()
    reply = await api.post("/api/v1/auth/register", {"username": "carol", "password": "correct horse", "email": "c@example.org"})
    assert reply.status == 201, reply
    carol = reply.body["token"]
    type_reply = await api.post("/api/v1/types", {"name": "Card", "symbol": "CRD", "fungible": False, "smallest_unit": 0},
                                token=carol)
    assert (await api.post("/api/v1/tokens", {"type": type_reply.body["id"]}, token=carol)).status == 201
    after = orjson.loads((await api.get("/nodeinfo/2.1")).text)
    assert after["usage"]["users"] == {"total": 1, "activeMonth": 1, "activeHalfyear": 1}
    assert after["usage"]["localPosts"] == 1
    await api.get("/actor")  # the instance actor is not a user
    assert orjson.loads((await api.get("/nodeinfo/2.1")).text)["usage"]["users"]["total"] == 1
    assert await Event.all().count() > events  # the registrations emitted; nodeinfo reads only


async def test_host_meta__names_the_webfinger_template(api: Api) -> None:
    reply = await api.get("/.well-known/host-meta")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/xrd+xml")
    root = ET.fromstring(reply.text)
    ns = "{http://docs.oasis-open.org/ns/xri/xrd-1.0}"
    assert root.tag == f"{ns}XRD"
    [link] = root.findall(f"{ns}Link")
    assert link.get("rel") == "lrdd"
    assert link.get("template") == f"{BASE}/.well-known/webfinger?resource={{uri}}"


async def test_actor__published_key_verifies_signatures_made_with_the_stored_key(api: Api) -> None:
    """What a remote server does: read publicKey from the actor document, check our signature."""
    await api.user("alice")
    document = orjson.loads((await api.get("/users/alice", headers={"Accept": AP})).text)
    stored = await ActorKey.get(actor__username="alice")
    url = "https://remote.example/users/bob?page=1"
    headers = sign_cavage("GET", url, key_id=document["publicKey"]["id"], private_key=stored.rsa_private_pem)

    async def fetch_key(key_id: str, refresh: bool) -> str | None:
        assert key_id == f"{BASE}/users/alice#main-key"
        path = key_id.split("#")[0].removeprefix(BASE)
        actor = orjson.loads((await api.get(path, headers={"Accept": AP})).text)
        return actor["publicKey"]["publicKeyPem"] if actor["publicKey"]["id"] == key_id else None

    result = await verify_request(IncomingRequest.build("GET", "/users/bob?page=1", headers), fetch_key)
    assert result.ok, result
