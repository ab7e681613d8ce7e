"""Discovery (issue 21, item 4): reading an account's followers on a real instance (our own
server's paged followers collection, 300 followers) and on a fake Mastodon-like server, with
hidden collections, the SSRF guard, paging limits and the polite pace per host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from federation.discovery import Pacer
from models.actors import Actor, User
from models.federation import Follow, FollowState
from models.ids import new_id
from models.networks import NetworkEntry
from server.app import create_app

from .conftest import Api, assert_problem
from .dbutil import test_settings as settings_in
from .fedhelpers import Remote, fed_api, remote  # noqa: F401  (fixtures)
from .livesrv import free_port
from .networkhelpers import NETWORKS, discovered, new_network, network_of, star_with_followers


@pytest.fixture
async def instance_api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """A real instance whose public URL is the port it listens on, so what it serves (actors,
    followers collections) can be fetched back by URL; private addresses allowed, no workers."""
    port = free_port()
    settings = settings_in(
        tmp_path, database_url, embedded_workers=False, base_url=f"http://127.0.0.1:{port}",
        federation={"allow_private_addresses": True, "discovery_host_interval_seconds": 0},
    )
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1", port=port))
    await client.start_server()
    yield Api(client, settings)
    await client.close()


async def _followed_by(username: str, remote: Remote, count: int) -> None:
    """`count` remote accounts follow our user (accepted follows, inserted directly)."""
    target = await Actor.get(username=username, domain="")
    host = f"127.0.0.1:{remote.port}"
    actors = [
        Actor(id=new_id(), username=f"f{index}", domain=host, display_name=f"F{index}", kind="Person",
              uri=remote.actor(f"f{index}").uri)
        for index in range(count)
    ]
    await Actor.bulk_create(actors)
    await Follow.bulk_create([
        Follow(id=new_id(), follower_id=actor.id, target_id=target.id, state=FollowState.ACCEPTED.value, object_uri="",
               activity_uri=f"{actor.uri}#follow")
        for actor in actors
    ])


async def test_discovery__300_followers_of_a_real_instance_make_300_entries(instance_api: Api, remote: Remote) -> None:
    api = instance_api
    alice, bob = await api.user("alice"), await api.user("bob")
    await _followed_by("alice", remote, 300)
    for index in range(0, 300, 3):  # a third of them say how many follow them
        remote.extra[f"f{index}"] = {"followers": f"{remote.actor(f'f{index}').uri}/followers"}
        remote.collections[f"f{index}/followers"] = [remote.actor("x").uri] * (index % 7)
    network = await new_network(api, bob)
    found = await discovered(api, bob, network["id"], "alice@" + api.settings.domain)
    assert found["state"] == "done", found
    assert (found["found"], found["seen"], found["skipped"]) == (300, 300, 0)
    assert found["pages"] == 15  # our followers collection serves 20 a page
    assert found["actor_url"] == f"{api.settings.base_url}/users/alice"
    entries = await NetworkEntry.filter(network_id=network["id"]).values_list("actor_url", flat=True)
    assert sorted(entries) == sorted(remote.actor(f"f{index}").uri for index in range(300))
    read = (await api.get(f"{NETWORKS}/{network['id']}", token=bob, expect=200)).body
    assert read["entry_count"] == 300 and read["discoveries"][0]["found"] == 300
    page = (await api.get(f"{NETWORKS}/{network['id']}/entries", token=bob, params={"page_size": "50"}, expect=200)).body
    token = page["items"][0]["token"]
    assert token["owner"]["username"] == "bob"
    attributes = token["attributes"]
    assert attributes["actor_url"] == page["items"][0]["actor_url"]
    assert attributes["handle"].endswith(f"@127.0.0.1:{remote.port}") and attributes["instance"] == f"127.0.0.1:{remote.port}"
    assert attributes["discovered_by"].startswith("bob, from the followers of alice@")
    counted = await NetworkEntry.filter(network_id=network["id"], actor_url=remote.actor("f3").uri).prefetch_related("token")
    assert counted[0].token.attributes["followers_count"] == 3
    # a subnetwork by filter: those with at least 5 followers (f12, f33 ... : index % 7 >= 5 among multiples of 3)
    expected = {remote.actor(f"f{i}").uri for i in range(0, 300, 3) if i % 7 >= 5}
    sub = await api.post(f"{NETWORKS}/{network['id']}/subnetworks", {
        "name": "Well followed", "filters": [{"attribute": "followers_count", "op": "range", "min": 5}],
    }, token=bob, expect=201)
    assert sub.body["parent"] == network["id"] and sub.body["entry_count"] == len(expected)
    members = await NetworkEntry.filter(network_id=sub.body["id"]).values_list("actor_url", flat=True)
    assert set(members) == expected
    # reading again adds nobody twice
    again = await discovered(api, bob, network["id"], f"{api.settings.base_url}/users/alice")
    assert (again["found"], again["seen"]) == (0, 300)
    assert await NetworkEntry.filter(network_id=network["id"]).count() == 300
    assert await User.filter(username="alice").count() == 1 and alice


async def test_discovery__hidden_collections_end_with_a_note_not_an_error(fed_api: Api, remote: Remote) -> None:
    bob = await fed_api.user("bob")
    network = await new_network(fed_api, bob)
    start = star_with_followers(remote, ["ann", "ben"])
    remote.collection_status = 403
    forbidden = await discovered(fed_api, bob, network["id"], start)
    assert forbidden["state"] == "done" and forbidden["found"] == 0
    assert "does not show the followers" in forbidden["note"] and "403" in forbidden["note"]
    remote.collection_status, remote.count_only = 200, True
    counted = await discovered(fed_api, bob, network["id"], start)
    assert counted["state"] == "done" and counted["found"] == 0
    assert "shows how many followers" in counted["note"] and "(2)" in counted["note"]
    remote.collection_status, remote.count_only = 401, False
    both = await discovered(fed_api, bob, network["id"], start, collections=["followers", "following"])
    assert both["state"] == "done" and both["note"].count("does not show") == 2


async def test_discovery__follows_pages_and_stops_at_the_page_limit(
    aiohttp_client: Any, tmp_path: Path, database_url: str, remote: Remote,
) -> None:
    settings = settings_in(tmp_path, database_url, embedded_workers=False, federation={
        "allow_private_addresses": True, "discovery_host_interval_seconds": 0, "discovery_max_pages": 2,
    })
    api = Api(await aiohttp_client(create_app(settings)), settings)
    bob = await api.user("bob")
    remote.collection_page_size = 3
    network = await new_network(api, bob)
    found = await discovered(api, bob, network["id"], star_with_followers(remote, [f"p{i}" for i in range(10)]))
    assert (found["state"], found["pages"], found["found"]) == ("done", 2, 6)
    assert "limit of 2 pages" in found["note"]


async def test_discovery__a_handle_by_webfinger_and_profiles_that_fail_are_skipped(fed_api: Api, remote: Remote) -> None:
    bob = await fed_api.user("bob")
    star_with_followers(remote, ["ann", "gone1", "ben"])
    remote.gone.add("gone1")
    network = await new_network(fed_api, bob)
    found = await discovered(fed_api, bob, network["id"], f"@{remote.actor('star').handle}")
    assert (found["state"], found["found"], found["seen"], found["skipped"]) == ("done", 2, 3, 1)
    assert found["actor_url"] == remote.actor("star").uri


async def test_discovery__a_private_address_is_refused_when_not_allowed(api: Api) -> None:
    bob = await api.user("bob")
    network = await new_network(api, bob)
    for start in ("@someone@127.0.0.1:9", "http://10.0.0.8/users/x", "someone@localhost"):
        reply = await api.post(f"{NETWORKS}/{network['id']}/discover", {"start": start}, token=bob)
        assert_problem(reply, 422, "address-refused")
        assert "not a public address" in reply.body["detail"]


async def test_discovery__bad_input_and_other_peoples_networks(fed_api: Api) -> None:
    bob, eve = await fed_api.user("bob"), await fed_api.user("eve")
    network = await new_network(fed_api, bob)
    path = f"{NETWORKS}/{network['id']}/discover"
    assert_problem(await fed_api.post(path, {"start": "nobody"}, token=bob), 400, "invalid-handle")
    assert_problem(await fed_api.post(path, {"start": "a@b", "collections": ["likes"]}, token=bob), 400, "validation-failed")
    assert_problem(await fed_api.post(path, {"start": "a@b.example", "plugin": "myspace"}, token=bob), 400, "unknown-plugin")
    assert_problem(await fed_api.post(path, {"start": "a@b.example"}, token=eve), 404, "network-not-found")
    assert_problem(await fed_api.post(path, {"start": "a@b.example"}), 401)
    started = await fed_api.post(path, {"start": "a@b.example"}, token=bob, expect=201)
    assert_problem(await fed_api.get(f"/api/v1/discoveries/{started.body['id']}", token=eve), 404, "discovery-not-found")


async def test_discovery__an_unknown_account_fails_with_why(fed_api: Api, remote: Remote) -> None:
    bob = await fed_api.user("bob")
    network = await new_network(fed_api, bob)
    remote.gone.add("star")
    found = await discovered(fed_api, bob, network["id"], remote.actor("star").uri)
    assert found["state"] == "failed" and "gone" in found["last_error"]


async def test_pacer__waits_between_requests_to_one_host_only() -> None:
    moments, slept = iter([0.0, 0.0, 0.1, 0.1, 2.0, 2.0]), []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))

    pacer = Pacer(clock=lambda: next(moments), sleep=sleep)
    await pacer.wait("a.example", 0.5)  # first request: no wait (clock read once: 0.0)
    await pacer.wait("a.example", 0.5)  # 0.0 -> waits 0.5, then records 0.1
    await pacer.wait("b.example", 0.5)  # another host: no wait
    await pacer.wait("a.example", 0.5)  # 2.0 is past 0.1 + 0.5: no wait
    assert slept == [0.5]


async def test_discovery__entries_can_be_listed_on_the_market(fed_api: Api, remote: Remote) -> None:
    bob = await fed_api.user("bob")
    network_id = await network_of(fed_api, remote, bob, ["ann"])
    entry = (await fed_api.get(f"{NETWORKS}/{network_id}/entries", token=bob, expect=200)).body["items"][0]
    coin = (await fed_api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0}, token=bob, expect=201)).body
    lot = await fed_api.post("/api/v1/market/lots", {
        "kind": "fixed_price", "title": "An introduction to ann", "type": entry["token"]["type"],
        "tokens": [entry["token"]["id"]],
        "price_type": coin["id"], "price": "5",
    }, token=bob)
    assert lot.status == 201, lot
    assert (await fed_api.get(f"/api/v1/tokens/{entry['token']['id']}", expect=200)).body["owner"]["username"].startswith("escrow.")
