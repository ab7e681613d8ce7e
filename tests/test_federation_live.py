"""Real `tallystick serve` processes on 127.0.0.1 federating with each other: WebFinger and
follow across instances, signed Create/Update delivered and kept as copies, Undo stops
delivery, forged and foreign-origin activities refused, a receiver that was down catches up,
profile changes and account deletions reach followers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from federation.httpsig_cavage import sign_cavage
from federation.keys import generate_rsa

from .dbutil import TemplateDatabase
from .fedhelpers import SHARED_KEY, Remote, remote  # noqa: F401
from .livesrv import LiveServer, federated_servers

pytestmark = pytest.mark.slow
COIN = {"name": "Gold", "symbol": "GLD", "fungible": True, "smallest_unit": 0}


class Instance:
    """One live server plus an HTTP client for its API."""

    def __init__(self, server: LiveServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.tokens: dict[str, str] = {}

    @property
    def domain(self) -> str:
        return self.server.base_url.removeprefix("http://")

    def user(self, name: str) -> str:
        self.tokens[name] = self.server.create_user(name)
        return name

    async def call(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {})
        if user:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        async with self.session.request(method, self.server.base_url + path, headers=headers, **kwargs) as reply:
            body = await reply.read()
            try:
                return reply.status, orjson.loads(body) if body else None
            except orjson.JSONDecodeError:
                return reply.status, body.decode()


async def eventually(check: Callable[[], Awaitable[Any]], what: str, limit: float = 45) -> Any:
    """Poll until `check` returns something truthy (federation is asynchronous by design)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def servers(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[list[LiveServer]]:
    with federated_servers(template_database, tmp_path, ("a", "b", "c")) as made:
        yield made


@pytest.fixture
async def trio(servers: list[LiveServer]) -> AsyncIterator[tuple[Instance, Instance, Instance]]:
    """Three servers (not started: each test sets them up first)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Instance(servers[0], session), Instance(servers[1], session), Instance(servers[2], session)


@pytest.fixture
def pair(trio: tuple[Instance, Instance, Instance]) -> tuple[Instance, Instance]:
    return trio[0], trio[1]


async def follow_accepted(a: Instance, b: Instance) -> str:
    """bob@B follows alice@A through B's API; the follow id once A has accepted."""
    status, made = await b.call("POST", "/api/v1/follows", "bob", json={"target": f"alice@{a.domain}"})
    assert status == 201, made

    async def accepted() -> bool:
        _, listed = await b.call("GET", "/api/v1/follows", "bob")
        return [f["state"] for f in listed["items"]] == ["accepted"]

    await eventually(accepted, "A to accept bob's follow")
    return str(made["id"])


async def copies(instance: Instance, user: str) -> dict[str, dict[str, Any]]:
    _, listed = await instance.call("GET", "/api/v1/federation/objects", user)
    return {item["document"]["name"]: item for item in listed["items"]}


async def test_live__follow_create_update_and_undo_across_two_servers(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    follow_id = await follow_accepted(a, b)
    _, followers = await a.call("GET", "/api/v1/followers", "alice")
    assert [f["follower"] for f in followers["items"]] == [f"bob@{b.domain}"]

    status, created = await a.call("POST", "/api/v1/types", "alice", json=COIN)
    assert status == 201
    copy = await eventually(lambda: _named(b, "Gold"), "the Create to reach B")
    assert copy["owner"] == f"alice@{a.domain}"
    assert copy["uri"] == f"{a.server.base_url}/types/{created['id']}"

    await a.call("PATCH", f"/api/v1/types/{created['id']}", "alice", json={"description": "shiny"})

    async def updated() -> bool:
        return "shiny" in ((await copies(b, "bob")).get("Gold") or {}).get("document", {}).get("summary", "")

    await eventually(updated, "the Update to reach B")

    assert (await b.call("DELETE", f"/api/v1/follows/{follow_id}", "bob"))[0] == 204

    async def unfollowed() -> bool:
        return (await a.call("GET", "/api/v1/followers", "alice"))[1]["items"] == []

    await eventually(unfollowed, "the Undo to reach A")
    await a.call("POST", "/api/v1/types", "alice", json={**COIN, "name": "Silver", "symbol": "SLV"})

    async def published() -> bool:
        _, page = await a.call("GET", "/users/alice/outbox?page=1", headers={"Accept": "application/activity+json"})
        return any(item["object"].get("name") == "Silver" for item in page["orderedItems"])

    await eventually(published, "A to publish Silver")  # its deliveries were queued in the same transaction
    assert "Silver" not in await copies(b, "bob")


async def _named(instance: Instance, name: str) -> dict[str, Any] | None:
    return (await copies(instance, "bob")).get(name)


async def test_live__forged_and_foreign_origin_activities_are_refused(
    pair: tuple[Instance, Instance], remote: Remote
) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    alice = f"{a.server.base_url}/users/alice"
    inbox = f"{b.server.base_url}/inbox"
    forged = {"id": f"{alice}#forged", "type": "Create", "actor": alice,
              "object": {"id": f"{a.server.base_url}/types/forged", "type": "TokenType", "name": "Forged",
                         "attributedTo": alice}}
    body = orjson.dumps(forged)
    headers = sign_cavage("POST", inbox, key_id=f"{alice}#main-key", private_key=generate_rsa().private_pem, body=body)
    status, problem = await b.call("POST", "/inbox", data=body, headers={**headers, "Content-Type": "application/activity+json"})
    assert (status, problem["code"]) == (401, "bad-signature")

    mallory = remote.actor("mallory")
    spoof = {**forged, "id": f"{mallory.uri}#spoof", "actor": mallory.uri,
             "object": {**forged["object"], "attributedTo": mallory.uri}}
    body = orjson.dumps(spoof)
    headers = sign_cavage("POST", inbox, key_id=mallory.key_id, private_key=SHARED_KEY.private_pem, body=body)
    status, problem = await b.call("POST", "/inbox", data=body, headers={**headers, "Content-Type": "application/activity+json"})
    assert (status, problem["code"]) == (403, "origin-mismatch")
    assert await copies(b, "bob") == {}


async def test_live__a_receiver_that_was_down_gets_the_activity_when_it_is_back(
    pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    a.user("alice")
    a.tokens["admin"] = a.server.create_user("admin", "admin")
    b.user("bob")
    a.server.start()
    b.server.start()
    await follow_accepted(a, b)
    b.server.stop()
    await a.call("POST", "/api/v1/types", "alice", json=COIN)

    async def failed_once() -> bool:
        _, listed = await a.call("GET", "/api/v1/admin/federation/deliveries", "admin", params={"state": "pending"})
        return any(row["attempts"] >= 1 and row["last_error"] for row in listed["items"])

    await eventually(failed_once, "A's first delivery try to fail")
    b.server.start()  # same port and database: A's retry (after about 16 s) finds it
    copy = await eventually(lambda: _named(b, "Gold"), "the retried Create to reach B", limit=90)
    assert copy["owner"] == f"alice@{a.domain}"


async def test_live__alice_on_a_gives_to_carol_on_c_and_c_credits_her(trio: tuple[Instance, Instance, Instance]) -> None:
    a, _, c = trio
    a.user("alice")
    c.user("carol")
    a.server.start()
    c.server.start()
    _, coin = await a.call("POST", "/api/v1/types", "alice", json=COIN)
    await a.call("POST", "/api/v1/ledger/create", "alice", json={"type": coin["id"], "amount": "10"})
    status, found = await a.call("POST", "/api/v1/federation/lookup", "alice", json={"target": f"carol@{c.domain}"})
    assert (status, found["uri"]) == (200, f"{c.server.base_url}/users/carol")
    status, given = await a.call("POST", "/api/v1/ledger/give", "alice",
                                 json={"type": coin["id"], "amount": "4", "to": f"carol@{c.domain}"})
    assert status == 201, given
    _, left = await a.call("GET", "/api/v1/ledger/balance", "alice", params={"type": coin["id"]})
    assert left["balance"] == "6"

    async def credited() -> Any:
        _, held = await c.call("GET", "/api/v1/federation/holdings", "carol")
        return held["items"]

    [item] = await eventually(credited, "C to credit carol")
    assert (item["symbol"], item["amount"]) == ("GLD", "4")
    assert item["type"] == f"{a.server.base_url}/types/{coin['id']}"
    assert [entry["from"] for entry in item["entries"]] == [f"alice@{a.domain}"]


async def test_live__an_activity_accepted_before_a_crash_is_processed_after_restart(
    pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    b.tokens["admin"] = b.server.create_user("admin", "admin")
    a.server.env["TALLYSTICK_EMBEDDED_WORKERS"] = "false"  # A stores inbox activities but runs no workers
    a.server.start()
    b.server.start()
    status, _ = await b.call("POST", "/api/v1/follows", "bob", json={"target": f"alice@{a.domain}"})
    assert status == 201

    async def accepted_by_a() -> bool:
        _, listed = await b.call("GET", "/api/v1/admin/federation/deliveries", "admin", params={"state": "delivered"})
        return len(listed["items"]) == 1

    await eventually(accepted_by_a, "A to answer 202 to bob's Follow")
    assert a.server.process is not None
    os.killpg(a.server.process.pid, signal.SIGKILL)  # dies with the Follow stored, unprocessed
    a.server.process.wait()
    a.server.env["TALLYSTICK_EMBEDDED_WORKERS"] = "true"
    a.server.start()

    async def accepted() -> bool:
        _, listed = await b.call("GET", "/api/v1/follows", "bob")
        return [f["state"] for f in listed["items"]] == ["accepted"]

    await eventually(accepted, "A to process the stored Follow after its restart")


async def test_live__a_blocked_domain_is_refused(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.user("alice")
    a.tokens["admin"] = a.server.create_user("admin", "admin")
    b.user("bob")
    b.tokens["admin"] = b.server.create_user("admin", "admin")
    a.server.start()
    b.server.start()
    status, _ = await a.call("PUT", f"/api/v1/admin/federation/blocks/{b.domain}", "admin")
    assert status == 200
    status, problem = await b.call("POST", "/api/v1/follows", "bob", json={"target": f"alice@{a.domain}"})
    assert status == 201, problem  # B may look alice up; A refuses what B sends

    async def refused() -> bool:
        _, listed = await b.call("GET", "/api/v1/admin/federation/deliveries", "admin", params={"state": "failed"})
        return [row["last_status"] for row in listed["items"]] == [403]

    await eventually(refused, "A to refuse B's Follow")
    _, followers = await a.call("GET", "/api/v1/followers", "alice")
    assert followers["items"] == []


async def test_live__a_token_followed_alone_notifies_its_subscriber(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    _, ring_type = await a.call("POST", "/api/v1/types", "alice",
                                json={"name": "Ring", "symbol": "RNG", "fungible": False, "smallest_unit": 0})
    status, ring = await a.call("POST", "/api/v1/tokens", "alice", json={"type": ring_type["id"]})
    assert status == 201, ring
    ring_url = f"{a.server.base_url}/tokens/{ring['id']}"
    status, made = await b.call("POST", "/api/v1/follows", "bob", json={"target": ring_url})
    assert (status, made["object"]) == (201, ring_url), made

    async def accepted() -> bool:
        _, listed = await b.call("GET", "/api/v1/follows", "bob")
        return [f["state"] for f in listed["items"]] == ["accepted"]

    await eventually(accepted, "A to accept the subscription to the token")
    _, followers = await a.call("GET", "/api/v1/followers", "alice")
    assert followers["items"] == []  # bob subscribed to the token, not to alice
    status, _ = await a.call("PATCH", f"/api/v1/tokens/{ring['id']}", "alice", json={"shareable": True})
    assert status == 200

    async def copied() -> Any:
        _, listed = await b.call("GET", "/api/v1/federation/objects", "bob")
        return [item for item in listed["items"] if item["uri"] == ring_url]

    [copy] = await eventually(copied, "the token's Update to reach its subscriber")
    assert copy["type"] == "Token" and copy["owner"] == f"alice@{a.domain}"


async def test_live__a_renamed_then_deleted_account_reaches_its_follower(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.user("alice")
    a.tokens["admin"] = a.server.create_user("admin", "admin")
    b.user("bob")
    a.server.start()
    b.server.start()
    await follow_accepted(a, b)
    status, _ = await a.call("PATCH", "/api/v1/users/me", "alice", json={"display_name": "Alice of A"})
    assert status == 200

    async def renamed() -> bool:  # B's cached actor, refreshed by the Update (it is fresh: no refetch)
        _, found = await b.call("POST", "/api/v1/federation/lookup", "bob", json={"target": f"alice@{a.domain}"})
        return bool(found.get("name") == "Alice of A")

    await eventually(renamed, "alice's new name to reach B")
    assert (await a.call("DELETE", "/api/v1/admin/users/alice", "admin"))[0] == 200

    async def dropped() -> bool:
        return (await b.call("GET", "/api/v1/follows", "bob"))[1]["items"] == []

    await eventually(dropped, "alice's Delete to end bob's follow on B")
