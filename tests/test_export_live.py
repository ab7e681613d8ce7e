"""Two real servers: A exports a set, B imports it by URL as copies and follows the owners,
`tallystick verify` finds B's copy accurate at A, A's change reaches B's copy through
federation (the old copy is then outdated), a deletion withdraws it, and B refuses tampered
exports without storing anything."""

from __future__ import annotations

import copy
import subprocess
from typing import Any

import orjson
import pytest

from federation.keys import generate_ed25519, load_private_key
from federation.proofs import sign_object

from .livesrv import BIN, LiveServer
from .test_federation_live import Instance, eventually, pair, servers, trio  # noqa: F401

pytestmark = pytest.mark.slow
ATTRIBUTES = [{"name": "label", "type": "string"}, {"name": "weight", "type": "decimal"}]


def verify_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`tallystick verify` as a user would run it (the environment only allows loopback fetches)."""
    command = [str(BIN / "tallystick"), "verify", *args]
    return subprocess.run(command, check=False, env=server.env, capture_output=True, text=True, timeout=120)


async def export_set(a: Instance, user: str, attributes: list[dict[str, Any]] = ATTRIBUTES) -> dict[str, Any]:
    """Make a type, two tokens and a set on A, export it, and wait for the job; the job's result."""
    status, kind = await a.call("POST", "/api/v1/types", user, json={
        "name": "Ingot", "symbol": "ING", "fungible": False, "smallest_unit": 0, "attributes": attributes})
    assert status == 201, kind
    token_ids = []
    for label in ("Bar 1", "Bar 2"):
        status, token = await a.call("POST", "/api/v1/tokens", user, json={
            "type": kind["id"], "attributes": {"label": label, "weight": "12.5"}})
        assert status == 201, token
        token_ids.append(token["id"])
    status, shelf = await a.call("POST", "/api/v1/sets", user, json={"name": "Vault"})
    assert status == 201, shelf
    status, added = await a.call("POST", f"/api/v1/sets/{shelf['id']}/tokens", user, json={"tokens": token_ids})
    assert status == 200, added
    status, job = await a.call("POST", f"/api/v1/sets/{shelf['id']}/export", user)
    assert status == 202, job

    async def finished() -> dict[str, Any] | None:
        _, seen = await a.call("GET", f"/api/v1/jobs/{job['id']}", user)
        return seen if seen["state"] in ("succeeded", "failed") else None

    done = await eventually(finished, "the export job")
    assert done["state"] == "succeeded", done
    return {**done["result"], "tokens": token_ids}


async def copies_of(b: Instance, user: str) -> dict[str, dict[str, Any]]:
    status, listed = await b.call("GET", "/api/v1/copies", user)
    assert status == 200, listed
    return {item["origin_token_id"]: item for item in listed["items"]}


async def test_live__export_import_verify_and_follow_changes_across_two_servers(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    made = await export_set(a, "alice")
    first, second = made["tokens"]

    status, imported = await b.call("POST", "/api/v1/imports", "bob", json={"url": made["url"]})
    assert status == 201, imported
    assert imported["origin"] == a.domain and imported["token_count"] == 2
    assert imported["following"] == [f"{a.server.base_url}/users/alice"] and imported["not_following"] == []
    held = await copies_of(b, "bob")
    assert set(held) == {first, second}
    assert held[first]["version"] == 1 and held[first]["attributes"]["label"] == "Bar 1"
    assert held[first]["hash_checked_on_import"] and not held[first]["withdrawn"]
    status, record = await b.call("GET", f"/api/v1/imports/{imported['id']}", "bob")
    assert status == 200 and len(record["copies"]) == 2
    status, again = await b.call("POST", "/api/v1/imports", "bob", json={"url": made["url"]})
    assert status == 201 and again["id"] == imported["id"] and len(await copies_of(b, "bob")) == 2

    token_url = held[first]["token"]
    checked = verify_cli(b.server, token_url, "--content-hash", held[first]["content_hash"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"ACCURATE  {token_url}")

    async def following() -> bool:
        _, listed = await b.call("GET", "/api/v1/follows", "bob")
        return [f["state"] for f in listed["items"]] == ["accepted"]

    await eventually(following, "A to accept bob's follow of alice")
    status, changed = await a.call("PATCH", f"/api/v1/tokens/{first}", "alice", json={"attributes": {"weight": "13"}})
    assert status == 200 and changed["version"] == 2, changed

    async def updated() -> dict[str, Any] | None:
        copy_now = (await copies_of(b, "bob"))[first]
        return copy_now if copy_now["version"] == 2 else None

    fresh = await eventually(updated, "A's Update to reach B's copy")
    assert fresh["attributes"]["weight"] == "13" and fresh["content_hash"] == changed["content_hash"]
    old = verify_cli(b.server, token_url, "--content-hash", held[first]["content_hash"])
    assert old.returncode == 1 and old.stdout.startswith("OUTDATED"), old.stdout + old.stderr
    now = verify_cli(b.server, token_url, "--content-hash", fresh["content_hash"])
    assert now.returncode == 0, now.stdout + now.stderr

    status, _ = await a.call("DELETE", f"/api/v1/tokens/{second}", "alice")
    assert status == 204

    async def withdrawn() -> bool:
        return bool((await copies_of(b, "bob"))[second]["withdrawn"])

    await eventually(withdrawn, "A's Delete to withdraw B's copy")


async def test_live__tampered_exports_are_refused_and_nothing_is_stored(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    made = await export_set(a, "alice")
    async with a.session.get(made["url"]) as reply:
        document = orjson.loads(await reply.read())

    one_byte = orjson.loads(orjson.dumps(document).replace(b'"label":"Bar 2"', b'"label":"Bar 3"', 1))
    truncated = {**document, "tokens": document["tokens"][:1]}
    stranger = load_private_key(generate_ed25519().private_pem)
    foreign = sign_object(document, stranger, document["proof"]["verificationMethod"])  # type: ignore[arg-type]
    swapped = copy.deepcopy(document)
    swapped["tokens"][0]["object"]["proof"] = document["tokens"][1]["object"]["proof"]
    edited = copy.deepcopy(document)
    edited["tokens"][0]["object"]["contentHash"] = "sha256:" + "0" * 64
    cases = {"one byte": one_byte, "truncated": truncated, "foreign": foreign, "swapped": swapped, "hash": edited}
    for name, tampered in cases.items():
        status, problem = await b.call("POST", "/api/v1/imports", "bob", json={"document": tampered})
        assert status == 422 and problem["code"] == "import-refused", (name, problem)
    body = orjson.dumps({"document": document})
    status, problem = await b.call("POST", "/api/v1/imports", "bob", data=body[: len(body) // 2],
                                   headers={"Content-Type": "application/json"})
    assert status == 400 and problem["code"] == "malformed-json", problem
    assert await copies_of(b, "bob") == {}
    _, imports = await b.call("GET", "/api/v1/imports", "bob")
    _, objects = await b.call("GET", "/api/v1/federation/objects", "bob")
    _, follows = await b.call("GET", "/api/v1/follows", "bob")
    assert imports["items"] == [] and objects["items"] == [] and follows["items"] == []

    path = a.server.log_path.parent / "export.json"
    path.write_bytes(orjson.dumps(document))
    intact = verify_cli(b.server, str(path))
    assert intact.returncode == 0 and "2 of 2 token(s) accurate" in intact.stdout, intact.stdout + intact.stderr
    path.write_bytes(orjson.dumps(one_byte))
    broken = verify_cli(b.server, str(path))
    assert broken.returncode == 1 and broken.stdout.startswith("REFUSED"), broken.stdout


async def test_live__tokens_with_private_values_are_confirmed_by_the_origin_on_import(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    made = await export_set(a, "alice", [*ATTRIBUTES, {"name": "vault", "type": "string", "private": True}])
    status, imported = await b.call("POST", "/api/v1/imports", "bob", json={"url": made["url"]})
    assert status == 201, imported
    held = await copies_of(b, "bob")
    assert len(held) == 2 and not any(copy["hash_checked_on_import"] for copy in held.values())
    assert all("vault" not in copy["attributes"] for copy in held.values())
    first = held[made["tokens"][0]]
    assert verify_cli(b.server, first["token"], "--content-hash", first["content_hash"]).returncode == 0

    moved = {"attributes": {"vault": "C"}}
    status, _ = await a.call("PATCH", f"/api/v1/tokens/{made['tokens'][0]}", "alice", json=moved)
    assert status == 200
    b.user("carol")  # an older export: the origin confirms it issued that content, the copy is then outdated
    status, late = await b.call("POST", "/api/v1/imports", "carol", json={"url": made["url"]})
    assert status == 201, late
    old = verify_cli(b.server, first["token"], "--content-hash", first["content_hash"])
    assert old.returncode == 1 and old.stdout.startswith("OUTDATED"), old.stdout
    status, _ = await a.call("DELETE", f"/api/v1/tokens/{made['tokens'][0]}", "alice")
    assert status == 204
    b.user("dave")  # a withdrawn token: the origin no longer vouches for it, so nothing is imported
    status, refused = await b.call("POST", "/api/v1/imports", "dave", json={"url": made["url"]})
    assert status == 422 and refused["code"] == "import-refused" and "withdrawn" in refused["detail"], refused


async def test_live__a_copy_that_missed_an_update_is_found_out_and_refreshed(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    made = await export_set(a, "alice")
    status, imported = await b.call("POST", "/api/v1/imports", "bob", json={"url": made["url"]})
    assert status == 201, imported
    _, follows = await b.call("GET", "/api/v1/follows", "bob")
    status, _ = await b.call("DELETE", f"/api/v1/follows/{follows['items'][0]['id']}", "bob")
    assert status == 204

    async def unfollowed() -> bool:
        _, followers = await a.call("GET", "/api/v1/followers", "alice")
        return followers["items"] == []

    await eventually(unfollowed, "A to receive bob's Undo")
    first = made["tokens"][0]
    relabel = {"attributes": {"label": "New"}}
    status, changed = await a.call("PATCH", f"/api/v1/tokens/{first}", "alice", json=relabel)
    assert status == 200
    stale = (await copies_of(b, "bob"))[first]
    assert stale["version"] == 1  # nobody told B

    status, checked = await b.call("POST", f"/api/v1/copies/{stale['id']}/verify", "bob")
    assert status == 200, checked
    assert checked["verdict"] == "outdated" and checked["origin_version"] == 2 and checked["refreshed"], checked
    assert checked["copy"]["version"] == 2 and checked["copy"]["attributes"]["label"] == "New"
    assert checked["copy"]["content_hash"] == changed["content_hash"]
    status, again = await b.call("POST", f"/api/v1/copies/{stale['id']}/verify", "bob")
    assert again["verdict"] == "accurate" and not again["refreshed"], again
    status, _ = await a.call("DELETE", f"/api/v1/tokens/{first}", "alice")
    assert status == 204
    status, withdrawn = await b.call("POST", f"/api/v1/copies/{stale['id']}/verify", "bob")
    assert withdrawn["verdict"] == "withdrawn" and withdrawn["copy"]["withdrawn"], withdrawn
    b.user("carol")
    status, other = await b.call("POST", f"/api/v1/copies/{stale['id']}/verify", "carol")
    assert status == 404 and other["code"] == "copy-not-found", other
