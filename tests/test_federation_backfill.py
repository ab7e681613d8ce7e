"""Backfill on follow (issue 16, item 3): the origin's paged /users/{name}/objects, and the
follower's machine that copies it page by page, verifying proofs, refusing other servers'
objects, retrying a server that is down from the page it reached; and the copies a user sees
are those of what they follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from aiohttp import web

from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.keys import load_private_key
from federation.proofs import sign_object
from federation.signed_objects import verify_remote_object
from models.engine import run_due
from models.federation import Backfill, RemoteObject
from models.machines import BACKFILLS
from server.app import create_app

from .conftest import Api
from .dbutil import test_settings as app_settings
from .fedhelpers import Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .pagehelpers import Browser
from .test_integrity import REMOTE_KEY, KeyedRemote

AP = {"Accept": "application/activity+json"}
COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0}


@pytest.fixture
async def keyed_remote() -> Any:
    server = KeyedRemote()
    await server.start()
    yield server
    await server.stop()


def signed(server: Remote, owner: str, path: str, name: str, kind: str = "Token", **more: Any) -> dict[str, Any]:
    """An object of the fake server, with its owner's FEP-8b32 proof."""
    document = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{server.base}/{path}", "type": kind,
                "attributedTo": owner, "name": name, **more}
    return sign_object(document, load_private_key(REMOTE_KEY.private_pem), f"{owner}#ed25519-key")  # type: ignore[arg-type]


def serve_pages(remote: Remote, name: str, pages: list[list[dict[str, Any]]]) -> None:
    """carol's objects collection on the fake server: /objects/<name>, pages /objects/<name>-<n>."""
    remote.extra[name] = {"objects": f"{remote.base}/objects/{name}"}
    remote.objects[name] = {"id": f"{remote.base}/objects/{name}", "type": "OrderedCollection",
                            "first": f"{remote.base}/objects/{name}-1"}
    for n, items in enumerate(pages, 1):
        page: dict[str, Any] = {"id": f"{remote.base}/objects/{name}-{n}", "type": "OrderedCollectionPage",
                                "orderedItems": items}
        if n < len(pages):
            page["next"] = f"{remote.base}/objects/{name}-{n + 1}"
        remote.objects[f"{name}-{n}"] = page


async def follow_accepted(api: Api, remote: Remote, token: str, name: str = "carol") -> str:
    """alice follows the fake server's actor through the API, which answers Accept; the follow id."""
    actor = remote.actor(name)
    made = await api.post("/api/v1/follows", {"target": actor.uri}, token=token, expect=201)
    await deliver_due(site_of(api))
    sent = next(p["json"] for p in remote.posts() if p["json"]["type"] == "Follow")
    accept = {"id": f"{actor.uri}/accept/{made.body['id']}", "type": "Accept", "actor": actor.uri, "object": sent}
    await signed_post(api, "/users/alice/inbox", accept, actor, expect=202)
    assert await process_due(site_of(api)) == 1
    listed = await api.get("/api/v1/follows", token=token, expect=200)
    assert [f["state"] for f in listed.body["items"]] == ["accepted"]
    return str(made.body["id"])


async def copied_names(api: Api, token: str) -> list[str]:
    listed = await api.get("/api/v1/federation/objects?page_size=50", token=token, expect=200)
    return sorted(item["document"]["name"] for item in listed.body["items"])


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# ---------------------------------------------------------------- the origin's collection


async def test_objects__lists_an_actors_public_objects_signed_oldest_first_in_pages(fed_api: Api) -> None:
    token = await fed_api.user("carol")
    await fed_api.user("dave")
    site = site_of(fed_api)
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token, expect=201)).body["id"]
    await fed_api.post("/api/v1/ledger/create", {"type": type_id, "amount": "10"}, token=token, expect=201)
    await fed_api.post("/api/v1/ledger/give", {"type": type_id, "amount": "3", "to": "dave"}, token=token, expect=201)
    await fed_api.post("/api/v1/sets", {"name": "Shelf"}, token=token, expect=201)
    collection = orjson.loads((await fed_api.get("/users/carol/objects", headers=AP)).text)
    actor = orjson.loads((await fed_api.get("/users/carol", headers=AP)).text)
    assert actor["objects"] == collection["id"] == f"{site.base_url}/users/carol/objects"
    items: list[dict[str, Any]] = []
    url = collection["first"]
    while url:
        page = orjson.loads((await fed_api.get(url.removeprefix(site.base_url), headers=AP)).text)
        assert len(page["orderedItems"]) <= 50
        items += page["orderedItems"]
        url = page.get("next")
    assert [(item["type"], item.get("entryKind")) for item in items] == [
        ("TokenType", None), ("LedgerEntry", "create"), ("LedgerEntry", "give"), ("TokenSet", None)
    ]
    ids = [item["id"].rsplit("/", 1)[1] for item in items]
    assert ids == sorted(ids)  # oldest first
    for item in items:
        if "proof" in item:
            assert (await verify_remote_object(site, item)).signer == f"{site.base_url}/users/carol"
    assert "proof" in items[0] and "proof" in items[3]


async def test_objects__lists_open_lots_and_what_their_escrows_gave(fed_api: Api) -> None:
    token = await fed_api.user("carol")
    site = site_of(fed_api)
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token, expect=201)).body["id"]
    await fed_api.post("/api/v1/ledger/create", {"type": type_id, "amount": "10"}, token=token, expect=201)
    lots = [
        (await fed_api.post("/api/v1/market/lots", {"kind": "offers", "type": type_id, "amount": amount, "price_type": type_id,
                                                     "title": title}, token=token, expect=201)).body["id"]
        for amount, title in (("2", "Gone"), ("3", "For sale"))
    ]
    await fed_api.post(f"/api/v1/market/lots/{lots[0]}/withdraw", {}, token=token, expect=200)
    [items] = await read_all(fed_api, "/users/carol/objects")
    proposals = [item for item in items if item["type"] == "Proposal"]
    assert [(item["name"], item["lotState"]) for item in proposals] == [("For sale", "open")]  # the withdrawn one is not for sale
    assert (await verify_remote_object(site, proposals[0])).signer == f"{site.base_url}/users/carol"
    # the withdrawn lot's escrow gave the 2 back: the entry is listed, its author the lot
    [released] = [item for item in items if item["type"] == "LedgerEntry" and item["attributedTo"].endswith(lots[0])]
    assert (released["amount"], released["target"]) == ("2", f"{site.base_url}/users/carol")


@pytest.fixture
async def small_pages(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app with pages of two objects."""
    settings = app_settings(tmp_path, database_url, embedded_workers=False, federation={"backfill_page_size": 2})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def read_all(api: Api, url: str) -> list[list[dict[str, Any]]]:
    base = site_of(api).base_url
    collection = orjson.loads((await api.get(url.removeprefix(base), headers=AP, expect=200)).text)
    pages, url = [], collection["first"]
    while url:
        page = orjson.loads((await api.get(url.removeprefix(base), headers=AP, expect=200)).text)
        pages.append(page["orderedItems"])
        url = page.get("next")
    return pages


async def test_objects__pages_by_id_so_new_objects_do_not_shift_a_page(small_pages: Api) -> None:
    api = small_pages
    token = await api.user("carol")
    for n in range(3):
        await api.post("/api/v1/types", {**COIN, "name": f"Coin {n}"}, token=token, expect=201)
    base = site_of(api).base_url
    first = orjson.loads((await api.get("/users/carol/objects?page=1", headers=AP, expect=200)).text)
    assert [item["name"] for item in first["orderedItems"]] == ["Coin 0", "Coin 1"]
    await api.post("/api/v1/types", {**COIN, "name": "Coin 3"}, token=token, expect=201)  # made while paging
    second = orjson.loads((await api.get(first["next"].removeprefix(base), headers=AP, expect=200)).text)
    assert [item["name"] for item in second["orderedItems"]] == ["Coin 2", "Coin 3"]
    assert "next" not in second
    assert [len(page) for page in await read_all(api, "/users/carol/objects")] == [2, 2]


async def test_objects__filtered_to_a_followed_type(fed_api: Api) -> None:
    token = await fed_api.user("carol")
    site = site_of(fed_api)
    gold = (await fed_api.post("/api/v1/types", COIN, token=token, expect=201)).body["id"]
    silver = (await fed_api.post("/api/v1/types", {**COIN, "name": "Silver", "symbol": "SV"}, token=token,
                                 expect=201)).body["id"]
    for kind in (gold, silver, gold):
        await fed_api.post("/api/v1/ledger/create", {"type": kind, "amount": "1"}, token=token, expect=201)
    gold_url = f"{site.base_url}/types/{gold}"
    first = orjson.loads((await fed_api.get("/users/carol/objects", params={"object": gold_url}, headers=AP)).text)
    page = orjson.loads((await fed_api.get(first["first"].removeprefix(site.base_url), headers=AP)).text)
    kinds = [(item["type"], item.get("tokenType", item["id"])) for item in page["orderedItems"]]
    assert kinds == [("TokenType", gold_url), ("LedgerEntry", gold_url), ("LedgerEntry", gold_url)]
    other = await fed_api.get("/users/carol/objects", params={"object": f"{site.base_url}/types/nothing"}, headers=AP)
    assert other.status == 404


# ---------------------------------------------------------------- the follower's machine


class FlakyRemote(KeyedRemote):
    """The keyed fake server, whose object paths in `down` answer 503 as a server that is down."""

    down: set[str]
    held: dict[str, asyncio.Event]  # paths that answer only once their event is set

    async def _object(self, request: Any) -> Any:
        path = request.match_info["path"]
        if path in self.held:
            await self.held[path].wait()
        if path in self.down:
            return web.Response(status=503)
        return await super()._object(request)


@pytest.fixture
async def flaky() -> Any:
    server = FlakyRemote()
    server.down, server.held = set(), {}
    await server.start()
    yield server
    await server.stop()


async def test_backfill__an_origin_down_is_retried_and_resumes_from_the_page_reached(
    fed_api: Api, flaky: FlakyRemote
) -> None:
    token = await fed_api.user("alice")
    dave = await fed_api.user("dave")
    site = site_of(fed_api)
    carol = flaky.actor("carol").uri
    serve_pages(flaky, "carol", [
        [signed(flaky, carol, "tokens/1", "one"), signed(flaky, carol, "tokens/2", "two")],
        [signed(flaky, carol, "tokens/3", "three"), signed(flaky, carol, "types/4", "four", "TokenType")],
    ])
    flaky.down = {"carol-2"}
    await follow_accepted(fed_api, flaky, token)
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.copied, row.pages, row.attempts) == ("pending", 2, 1, 1)
    assert row.next_url == f"{flaky.base}/objects/carol-2" and "503" in (row.last_error or "")
    assert await copied_names(fed_api, token) == ["one", "two"]
    browser = Browser(fed_api.client)
    await browser.sign_in("alice")
    page = await browser.get("/app/follows", expect=200)
    assert "copied 2 of carol&#39;s objects; their server did not answer, trying again later" in page.text
    assert await run_due(site, BACKFILLS) == 0  # not due before the backoff
    flaky.down = set()
    fetched = len([r for r in flaky.fetches() if r["path"] == "/objects/carol-1"])
    assert await run_due(site, BACKFILLS, now=later(60)) == 1
    row = await Backfill.get()
    assert (row.state, row.copied, row.refused, row.pages, row.next_url) == ("done", 4, 0, 2, None)
    assert len([r for r in flaky.fetches() if r["path"] == "/objects/carol-1"]) == fetched == 1  # resumed
    assert await copied_names(fed_api, token) == ["four", "one", "three", "two"]
    assert "done: copied 4 of carol&#39;s objects" in (await browser.get("/app/follows", expect=200)).text
    listed = await fed_api.get("/api/v1/federation/backfills", token=token, expect=200)
    assert [(b["target"], b["state"], b["copied"], b["refused"], b["pages"]) for b in listed.body["items"]] == [
        (flaky.actor("carol").handle, "done", 4, 0, 2)
    ]
    assert (await fed_api.get("/api/v1/federation/backfills", token=dave, expect=200)).body["items"] == []
    copy = await RemoteObject.get(uri=f"{flaky.base}/tokens/3")
    assert (await verify_remote_object(site, copy.document)).signer == carol  # stored with its proof
    assert await copied_names(fed_api, dave) == []  # dave follows nobody


async def test_backfill__a_tampered_proof_is_refused_and_the_rest_stored(fed_api: Api, flaky: FlakyRemote) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    carol = flaky.actor("carol").uri
    tampered = {**signed(flaky, carol, "tokens/2", "two"), "name": "forged"}
    serve_pages(flaky, "carol", [[signed(flaky, carol, "tokens/1", "one"), tampered,
                                  signed(flaky, carol, "tokens/3", "three")]])
    await follow_accepted(fed_api, flaky, token)
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.copied, row.refused) == ("done", 2, 1)
    assert f"{flaky.base}/tokens/2" in (row.note or "")
    assert await copied_names(fed_api, token) == ["one", "three"]
    assert not await RemoteObject.filter(uri=f"{flaky.base}/tokens/2").exists()


async def test_backfill__an_object_of_another_server_is_refused(fed_api: Api, flaky: FlakyRemote) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    carol = flaky.actor("carol").uri
    elsewhere = {"id": "http://127.0.0.1:9/tokens/x", "type": "Token", "attributedTo": carol, "name": "elsewhere"}
    ours = {"id": f"{site.base_url}/tokens/y", "type": "Token", "attributedTo": carol, "name": "ours"}
    serve_pages(flaky, "carol", [[elsewhere, signed(flaky, carol, "tokens/1", "one"), ours]])
    await follow_accepted(fed_api, flaky, token)
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.copied, row.refused) == ("done", 1, 2)
    assert await copied_names(fed_api, token) == ["one"]
    assert await RemoteObject.all().count() == 1


async def test_remote_objects__a_user_who_follows_nobody_sees_no_copies(fed_api: Api, flaky: FlakyRemote) -> None:
    token = await fed_api.user("alice")
    carol = flaky.actor("carol")
    created = {"id": f"{carol.uri}/create/1", "type": "Create", "actor": carol.uri,
               "object": signed(flaky, carol.uri, "tokens/1", "one")}
    await signed_post(fed_api, "/inbox", created, carol, expect=202)
    assert await process_due(site_of(fed_api)) == 1
    assert await RemoteObject.all().count() == 1  # the server holds it
    assert await copied_names(fed_api, token) == []


async def test_backfill__a_followed_type_brings_its_tokens_and_only_those_are_listed(
    fed_api: Api, flaky: FlakyRemote
) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    carol = flaky.actor("carol")
    gold = signed(flaky, carol.uri, "objects/gold", "Gold", "TokenType")
    flaky.objects["gold"] = gold
    serve_pages(flaky, "carol", [[gold, signed(flaky, carol.uri, "tokens/1", "nugget", tokenType=gold["id"])]])
    made = await fed_api.post("/api/v1/follows", {"target": gold["id"]}, token=token, expect=201)
    assert made.body["object"] == gold["id"]
    await deliver_due(site)
    sent = next(p["json"] for p in flaky.posts() if p["json"]["type"] == "Follow")
    assert sent["object"] == gold["id"]
    accept = {"id": f"{carol.uri}/accept/1", "type": "Accept", "actor": carol.uri, "object": sent}
    await signed_post(fed_api, "/users/alice/inbox", accept, carol, expect=202)
    other = {"id": f"{carol.uri}/create/9", "type": "Create", "actor": carol.uri,
             "object": signed(flaky, carol.uri, "types/9", "Silver", "TokenType")}
    await signed_post(fed_api, "/inbox", other, carol, expect=202)  # carol's, but not of the followed type
    assert await process_due(site) == 2
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.copied, row.members) == ("done", 2, [f"{flaky.base}/tokens/1"]), (row.refused, row.note)
    collection = next(r["path"] for r in flaky.fetches() if r["path"].startswith("/objects/carol?"))
    assert parse_qs(urlsplit(collection).query) == {"object": [gold["id"]]}  # narrowed to the followed type
    assert await copied_names(fed_api, token) == ["Gold", "nugget"]
    assert await RemoteObject.all().count() == 3


@pytest.fixture
async def capped_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """fed_api, taking at most 2 objects from a page and 3 in all."""
    settings = app_settings(
        tmp_path, database_url, embedded_workers=False,
        federation={"allow_private_addresses": True, "inbox_max_bytes": 4096, "backfill_page_size": 2,
                    "backfill_max_objects": 3},
    )
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def test_backfill__stops_at_the_page_and_total_caps(capped_api: Api, flaky: FlakyRemote) -> None:
    api = capped_api
    token = await api.user("alice")
    carol = flaky.actor("carol").uri
    made = [signed(flaky, carol, f"tokens/{n}", f"t{n}") for n in range(6)]
    serve_pages(flaky, "carol", [made[:3], made[3:5], made[5:]])  # the first page is longer than we take
    await follow_accepted(api, flaky, token)
    assert await run_due(site_of(api), BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.copied, row.pages, row.note) == ("done", 3, 2, "stopped at the limit of 3 objects")
    assert await copied_names(api, token) == ["t0", "t1", "t3"]
    assert not [r for r in flaky.fetches() if r["path"] == "/objects/carol-3"]


async def test_backfill__a_process_stopped_mid_backfill_resumes_from_the_page_reached(
    fed_api: Api, flaky: FlakyRemote
) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    carol = flaky.actor("carol").uri
    serve_pages(flaky, "carol", [[signed(flaky, carol, "tokens/1", "one")], [signed(flaky, carol, "tokens/2", "two")]])
    flaky.held["carol-2"] = asyncio.Event()
    await follow_accepted(fed_api, flaky, token)
    running = asyncio.create_task(run_due(site, BACKFILLS))
    for _ in range(200):  # until page 1 is stored and page 2 asked for
        if (await Backfill.get()).copied == 1:
            break
        await asyncio.sleep(0.05)
    row = await Backfill.get()
    assert (row.state, row.copied, row.next_url) == ("running", 1, f"{flaky.base}/objects/carol-2")
    running.cancel()  # the process stops while it waits for page 2
    with pytest.raises(asyncio.CancelledError):
        await running
    row = await Backfill.get()
    assert (row.state, row.copied, row.next_url) == ("pending", 1, f"{flaky.base}/objects/carol-2")
    flaky.held.pop("carol-2").set()
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.copied, row.pages) == ("done", 2, 2)
    assert len([r for r in flaky.fetches() if r["path"] == "/objects/carol-1"]) == 1  # page 1 was not read again
    assert await copied_names(fed_api, token) == ["one", "two"]
