"""A fake remote ActivityPub server on 127.0.0.1 for federation tests, and signing helpers.

`Remote` serves WebFinger and actor documents for the actors it holds (each with its own RSA
key), records every request it gets (a tests/loopback.py server), and answers inbox POSTs with a
status the test chooses.
`signed_post` sends an activity to our app's inbox the way a remote server would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from federation.httpsig_cavage import sign_cavage
from federation.httpsig_rfc9421 import sign_rfc9421
from federation.keys import generate_rsa
from models.actors import Actor
from models.context import Site
from models.federation import ActorKey
from server.app import create_app
from server.appkeys import SITE

from .conftest import Api, Reply
from .dbutil import test_settings
from .loopback import Loopback

__all__ = ["FakeActor", "Remote", "fed_api", "remote", "signed_post", "site_of"]

# One RSA key for every fake actor keeps the tests fast; OTHER_KEY is for forgeries.
SHARED_KEY = generate_rsa()
OTHER_KEY = generate_rsa()


@dataclass
class FakeActor:
    remote: Remote
    name: str

    @property
    def uri(self) -> str:
        return f"{self.remote.base}/users/{self.name}"

    @property
    def key_id(self) -> str:
        if self.remote.key_style == "gotosocial":
            return f"{self.uri}/main-key"  # a URL of its own, which serves a stub of the actor
        return f"{self.uri}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.remote.inbox_base or self.remote.base}/users/{self.name}/inbox"

    @property
    def handle(self) -> str:
        return f"{self.name}@127.0.0.1:{self.remote.port}"

    def document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": "Person",
            "preferredUsername": self.name,
            "name": self.name.title(),
            "inbox": self.inbox,
            "outbox": f"{self.uri}/outbox",
            "endpoints": {"sharedInbox": f"{self.remote.inbox_base or self.remote.base}/inbox"},
            "publicKey": {"id": self.key_id, "owner": self.uri, "publicKeyPem": self.remote.public_pem(self.name)},
        } | self.remote.extra.get(self.name, {})

    def key_document(self) -> dict[str, Any]:
        """What GoToSocial serves at a key id: the actor's id and key, no inbox."""
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": "Person",
            "preferredUsername": self.name,
            "publicKey": {"id": self.key_id, "owner": self.uri, "publicKeyPem": self.remote.public_pem(self.name)},
        }


@dataclass
class Remote:
    """A minimal remote server: actors, WebFinger, inboxes that record what they get."""

    port: int = 0
    inbox_status: int = 202
    inbox_headers: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # actor name -> public PEM override
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # path under /objects/ -> document
    gone: set[str] = field(default_factory=set)  # actor names whose documents answer 410 (deleted accounts)
    key_style: str = "mastodon"  # or "gotosocial": key ids <actor>/main-key, served as a stub of the actor
    inbox_base: str | None = None  # the actors' inboxes on another server than their ids
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # actor name -> fields to change in its document
    objects_down: bool = False  # /objects/... answer 503, as a server that is down
    # POST /ledger (a give onward asked of this origin): the status it answers, with a problem
    ledger_status: int = 404
    # followers/following collections: "name/followers" -> actor URLs, served as a paged
    # OrderedCollection (Mastodon's shape); `collection_status` 401/403 hides them, and
    # `count_only` serves the total without items (a server hiding who they are)
    collections: dict[str, list[str]] = field(default_factory=dict)
    collection_status: int = 200
    count_only: bool = False
    collection_page_size: int = 40
    _server: Loopback | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def actor(self, name: str) -> FakeActor:
        return FakeActor(self, name)

    def public_pem(self, name: str) -> str:
        return self.keys.get(name, SHARED_KEY.public_pem)

    def posts(self, path_end: str = "inbox") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST" and r["path"].endswith(path_end)]

    def fetches(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "GET"]

    async def _actor(self, request: web.Request) -> web.Response:
        if request.match_info["name"] in self.gone:
            return web.Response(status=410)
        document = self.actor(request.match_info["name"]).document()
        return web.Response(body=orjson.dumps(document), content_type="application/activity+json")

    async def _key(self, request: web.Request) -> web.Response:
        if self.key_style != "gotosocial":
            return web.Response(status=404)
        document = self.actor(request.match_info["name"]).key_document()
        return web.Response(body=orjson.dumps(document), content_type="application/activity+json")

    async def _webfinger(self, request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        name = resource.removeprefix("acct:").split("@", 1)[0]
        jrd = {"subject": resource, "links": [
            {"rel": "self", "type": "application/activity+json", "href": self.actor(name).uri}]}
        return web.Response(body=orjson.dumps(jrd), content_type="application/jrd+json")

    async def _object(self, request: web.Request) -> web.Response:
        if self.objects_down:
            return web.Response(status=503)
        document = self.objects.get(request.match_info["path"])
        if document is None:
            return web.Response(status=404)
        return web.Response(body=orjson.dumps(document), content_type="application/activity+json")

    async def _ledger(self, request: web.Request) -> web.Response:
        problem = {"status": self.ledger_status, "code": "no-ledger-requests", "detail": "this server takes no ledger requests"}
        return web.Response(status=self.ledger_status, body=orjson.dumps(problem), content_type="application/problem+json")

    async def _collection(self, request: web.Request) -> web.Response:
        if self.collection_status != 200:
            return web.Response(status=self.collection_status)
        name, which = request.match_info["name"], request.match_info["collection"]
        items, url = self.collections.get(f"{name}/{which}", []), f"{self.actor(name).uri}/{which}"
        page = request.query.get("page")
        if page is None:
            document: dict[str, Any] = {"id": url, "type": "OrderedCollection", "totalItems": len(items)}
            if not self.count_only:
                document["first"] = f"{url}?page=1"
        else:
            number, size = int(page), self.collection_page_size
            document = {"id": f"{url}?page={number}", "type": "OrderedCollectionPage", "partOf": url,
                        "orderedItems": items[(number - 1) * size : number * size]}
            if number * size < len(items):
                document["next"] = f"{url}?page={number + 1}"
        document["@context"] = "https://www.w3.org/ns/activitystreams"
        return web.Response(body=orjson.dumps(document), content_type="application/activity+json")

    async def _inbox(self, request: web.Request) -> web.Response:
        return web.Response(status=self.inbox_status, headers=self.inbox_headers)

    async def start(self) -> None:
        server = self._server = Loopback()
        server.port, server.requests = self.port, self.requests
        server.route("GET", "/.well-known/webfinger", self._webfinger)
        server.route("GET", "/users/{name}", self._actor)
        server.route("GET", "/users/{name}/main-key", self._key)
        server.route("GET", "/users/{name}/{collection:followers|following}", self._collection)
        server.route("POST", "/users/{name}/inbox", self._inbox)
        server.route("POST", "/inbox", self._inbox)
        server.route("POST", "/ledger", self._ledger)
        server.route("GET", "/objects/{path:.*}", self._object)
        await server.start()
        self.port = server.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None


@pytest.fixture
async def remote() -> AsyncIterator[Remote]:
    server = Remote()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fed_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app with private addresses allowed and no embedded workers: tests run the sweeps."""
    settings = test_settings(
        tmp_path, database_url, embedded_workers=False,
        federation={"allow_private_addresses": True, "inbox_max_bytes": 4096},
    )
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


def site_of(api: Api) -> Site:
    return api.client.app[SITE]


async def signed_post(
    api: Api,
    path: str,
    activity: dict[str, Any] | bytes,
    actor: FakeActor,
    *,
    private_pem: str | None = None,
    key_id: str | None = None,
    scheme: str = "cavage",
    tamper: bytes | None = None,
    expect: int | None = None,
) -> Reply:
    """POST an activity to our inbox at `path`, signed as `actor` (or with another key/id)."""
    body = activity if isinstance(activity, bytes) else orjson.dumps(activity)
    url = f"http://{api.client.host}:{api.client.port}{path}"
    pem = private_pem or SHARED_KEY.private_pem
    signer = sign_rfc9421 if scheme == "rfc9421" else sign_cavage
    headers = signer("POST", url, key_id=key_id or actor.key_id, private_key=pem, body=body)
    headers["Content-Type"] = "application/activity+json"
    return await api.call("POST", path, data=tamper if tamper is not None else body, headers=headers, expect=expect)


async def local_key_pem(username: str) -> str:
    """The public RSA key our server signs with for a local user."""
    actor = await Actor.get(username=username, domain="")
    return (await ActorKey.get(actor_id=actor.id)).rsa_public_pem
