"""Networks (issue 21, item 3): a network is a token set of network-entry tokens owned by who
found them; subnetworks by a filter record their parent; other people see none of it."""

from __future__ import annotations

from models.networks import Network
from models.sets import TokenSet
from models.tokens import TokenType

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, remote  # noqa: F401  (fixtures)
from .networkhelpers import NETWORKS, network_of, new_network


async def test_network__is_a_set_of_entry_tokens_owned_by_their_finder(fed_api: Api, remote: Remote) -> None:
    bob = await fed_api.user("bob")
    network_id = await network_of(fed_api, remote, bob, ["ann", "ben", "cat"])
    network = (await fed_api.get(f"{NETWORKS}/{network_id}", token=bob, expect=200)).body
    assert (network["name"], network["entry_count"], network["parent"]) == ("Friends", 3, None)
    token_set = (await fed_api.get(f"/api/v1/sets/{network['set']}", expect=200)).body
    assert token_set["token_count"] == 3 and token_set["owner"]["username"] == "bob"
    entry_type = await TokenType.get(id=network["entry_type"])
    assert (entry_type.name, entry_type.fungible) == ("network-entry", False)
    entries = (await fed_api.get(f"{NETWORKS}/{network_id}/entries", token=bob, expect=200)).body["items"]
    assert sorted(entry["handle"] for entry in entries) == sorted(f"{n}@127.0.0.1:{remote.port}" for n in ("ann", "ben", "cat"))
    assert {entry["token"]["owner"]["username"] for entry in entries} == {"bob"}
    assert {entry["token"]["type"] for entry in entries} == {entry_type.id}
    # a second network of bob's reuses his one entry type
    second = await new_network(fed_api, bob, "Colleagues")
    assert second["entry_type"] == entry_type.id
    listed = (await fed_api.get(NETWORKS, token=bob, expect=200)).body["items"]
    assert [item["name"] for item in listed] == ["Colleagues", "Friends"]


async def test_subnetwork__by_a_filter_records_its_parent(fed_api: Api, remote: Remote) -> None:
    bob = await fed_api.user("bob")
    network_id = await network_of(fed_api, remote, bob, ["ann", "anna", "ben"])
    made = await fed_api.post(f"{NETWORKS}/{network_id}/subnetworks", {
        "name": "The A team", "filters": [{"attribute": "handle", "op": "regex", "pattern": "^ann"}],
    }, token=bob, expect=201)
    sub = made.body
    assert made.headers["Location"] == f"{NETWORKS}/{sub['id']}"
    assert (sub["parent"], sub["entry_count"]) == (network_id, 2)
    assert sub["filters"] == [{"attribute": "handle", "op": "regex", "pattern": "^ann"}]
    parent = (await fed_api.get(f"{NETWORKS}/{network_id}", token=bob, expect=200)).body
    assert parent["subnetworks"] == [sub["id"]]
    assert (await TokenSet.get(id=sub["set"])).parent_id == parent["set"]  # the subnetwork's set points to its parent's
    entries = (await fed_api.get(f"{NETWORKS}/{sub['id']}/entries", token=bob, expect=200)).body["items"]
    assert sorted(entry["handle"].split("@")[0] for entry in entries) == ["ann", "anna"]
    none = await fed_api.post(f"{NETWORKS}/{network_id}/subnetworks", {
        "name": "Nobody", "filters": [{"attribute": "handle", "op": "eq", "value": "zed"}],
    }, token=bob, expect=201)
    assert none.body["entry_count"] == 0 and (await Network.get(id=none.body["id"])).parent_id == network_id


async def test_network__bad_input_and_other_peoples_networks(fed_api: Api, remote: Remote) -> None:
    bob, eve = await fed_api.user("bob"), await fed_api.user("eve")
    network_id = await network_of(fed_api, remote, bob, ["ann"])
    assert_problem(await fed_api.post(NETWORKS, {"name": ""}, token=bob), 400, "validation-failed")
    assert_problem(await fed_api.post(NETWORKS, {"name": "Friends"}, token=bob), 409, "set-name-taken")
    assert_problem(await fed_api.post(NETWORKS, {"name": "X"}), 401)
    for path in (f"{NETWORKS}/{network_id}", f"{NETWORKS}/{network_id}/entries", f"{NETWORKS}/nosuch"):
        assert_problem(await fed_api.get(path, token=eve), 404, "network-not-found")
    sub = f"{NETWORKS}/{network_id}/subnetworks"
    good = [{"attribute": "handle", "op": "eq", "value": "x"}]
    assert_problem(await fed_api.post(sub, {"name": "S", "filters": good}, token=eve), 404, "network-not-found")
    assert_problem(await fed_api.post(sub, {"name": "S", "filters": []}, token=bob), 400, "validation-failed")
    assert_problem(await fed_api.post(sub, {"name": "S", "filters": [{"attribute": "handle", "op": "range"}]}, token=bob), 400)
    assert_problem(await fed_api.post(sub, {"name": "S", "filters": [{"attribute": "handle", "op": "regex", "pattern": "("}]}, token=bob), 400, "invalid-regex")
    assert (await fed_api.get(NETWORKS, token=eve, expect=200)).body["items"] == []
