"""`tallystick verify` against a real server: a token URL, a held copy's hash, a token file,
and what a user sees (verdict line, exit code) when the copy is outdated, withdrawn, forged
or not a token at all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from federation.keys import ed25519_from_multibase, public_key_pem

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, live_server
from .test_export_live import verify_cli
from .test_federation_live import Instance

pytestmark = pytest.mark.slow


@pytest.fixture
def server(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(template_database, tmp_path, TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES="true") as live:
        yield live


@pytest.fixture
async def origin(server: LiveServer) -> AsyncIterator[Instance]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        instance = Instance(server, session)
        instance.user("alice")
        server.start()
        yield instance


async def a_token(origin: Instance) -> dict[str, Any]:
    status, kind = await origin.call("POST", "/api/v1/types", "alice", json={
        "name": "Stamp", "symbol": "STP", "fungible": False, "smallest_unit": 0,
        "attributes": [{"name": "label", "type": "string"}]})
    assert status == 201, kind
    body = {"type": kind["id"], "attributes": {"label": "Blue"}}
    status, token = await origin.call("POST", "/api/v1/tokens", "alice", json=body)
    assert status == 201, token
    return dict(token)


async def test_cli_verify__a_token_url_is_accurate_and_an_old_copy_outdated(origin: Instance) -> None:
    token = await a_token(origin)
    url = f"{origin.server.base_url}/tokens/{token['id']}"
    done = verify_cli(origin.server, url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"ACCURATE  {url} (origin version 1): matches the origin's version 1",
        "1 of 1 token(s) accurate at their origin",
    ]
    red = {"attributes": {"label": "Red"}}
    status, changed = await origin.call("PATCH", f"/api/v1/tokens/{token['id']}", "alice", json=red)
    assert status == 200
    old = verify_cli(origin.server, url, "--content-hash", token["content_hash"])
    assert old.returncode == 1 and old.stdout.startswith(f"OUTDATED  {url} (origin version 2)"), old.stdout
    forged = verify_cli(origin.server, url, "--content-hash", "sha256:" + "0" * 64)
    assert forged.returncode == 1 and forged.stdout.startswith("UNKNOWN"), forged.stdout
    assert verify_cli(origin.server, url, "--content-hash", changed["content_hash"]).returncode == 0


async def test_cli_verify__a_token_file_is_checked_by_its_proof_and_at_the_origin(
    origin: Instance, tmp_path: Path
) -> None:
    token = await a_token(origin)
    url = f"{origin.server.base_url}/tokens/{token['id']}"
    async with origin.session.get(url, headers={"Accept": "application/activity+json"}) as reply:
        document = orjson.loads(await reply.read())
    saved = tmp_path / "token.json"
    saved.write_bytes(orjson.dumps(document))
    assert verify_cli(origin.server, str(saved)).returncode == 0
    saved.write_bytes(orjson.dumps({**document, "attributes": {"label": "Gold"}}))
    forged = verify_cli(origin.server, str(saved))
    assert forged.returncode == 1, forged.stdout
    assert forged.stdout.startswith(f"REFUSED   {url}: its proof does not hold"), forged.stdout
    status, _ = await origin.call("DELETE", f"/api/v1/tokens/{token['id']}", "alice")
    assert status == 204
    saved.write_bytes(orjson.dumps(document))
    gone = verify_cli(origin.server, str(saved))
    assert gone.returncode == 1 and gone.stdout.startswith("WITHDRAWN"), gone.stdout


async def test_cli_verify__what_is_not_a_token_gives_a_clear_refusal(origin: Instance, tmp_path: Path) -> None:
    missing = verify_cli(origin.server, f"{origin.server.base_url}/tokens/nosuchtoken")
    assert missing.returncode == 1 and "cannot fetch it" in missing.stdout and "404" in missing.stdout
    actor = verify_cli(origin.server, f"{origin.server.base_url}/users/alice")
    assert actor.returncode == 1 and "is not a token" in actor.stdout
    unreadable = verify_cli(origin.server, str(tmp_path / "absent.json"))
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr
    (tmp_path / "list.json").write_text("[1, 2]")
    assert verify_cli(origin.server, str(tmp_path / "list.json")).returncode == 2


async def test_cli_verify__a_ledger_trace_checks_offline_with_the_owners_key(origin: Instance, tmp_path: Path) -> None:
    """alice mints, gives to bob, bob to carol, carol to dave; the trace of dave's units, saved
    with alice's key, checks with the server stopped, and a changed ancestor is named."""
    for name in ("bob", "carol", "dave"):
        origin.user(name)
    status, kind = await origin.call("POST", "/api/v1/types", "alice", json={
        "name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2})
    assert status == 201, kind
    await origin.call("POST", "/api/v1/ledger/create", "alice", json={"type": kind["id"], "amount": "10"}, expect=201)
    gives = []
    for giver, amount, to in (("alice", "6", "bob"), ("bob", "4", "carol"), ("carol", "1", "dave")):
        status, give = await origin.call(
            "POST", "/api/v1/ledger/give", giver, json={"type": kind["id"], "amount": amount, "to": to})
        assert status == 201, give
        gives.append(give["id"])
    accept = {"Accept": "application/activity+json"}
    status, trace = await origin.call("GET", f"/ledger/{gives[-1]}/trace", headers=accept)
    assert status == 200 and len(trace["orderedItems"]) == 4, trace
    status, alice = await origin.call("GET", "/users/alice", headers=accept)
    assert status == 200, alice
    pem = public_key_pem(ed25519_from_multibase(alice["assertionMethod"][0]["publicKeyMultibase"]))
    (tmp_path / "alice.json").write_bytes(orjson.dumps(alice))
    (tmp_path / "alice.pem").write_text(pem)
    saved = tmp_path / "trace.json"
    saved.write_bytes(orjson.dumps(trace))
    origin.server.stop()  # offline from here: nothing to ask

    traced = f"{origin.server.base_url}/ledger/{gives[-1]}"
    for key in ("alice.json", "alice.pem"):
        done = verify_cli(origin.server, str(saved), "--key", str(tmp_path / key))
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[-1] == f"4 of 4 ledger entries valid: the trace of {traced} checks"
    bobs_give = f"{origin.server.base_url}/ledger/{gives[1]}"
    items = [{**item, "amount": "5.00"} if item["id"] == bobs_give else item for item in trace["orderedItems"]]
    saved.write_bytes(orjson.dumps({**trace, "orderedItems": items}))
    forged = verify_cli(origin.server, str(saved), "--key", str(tmp_path / "alice.pem"))
    assert forged.returncode == 1, forged.stdout + forged.stderr
    assert f"REFUSED   {bobs_give}: its proof does not hold" in forged.stdout, forged.stdout
    assert forged.stdout.splitlines()[-1] == f"3 of 4 ledger entries valid: the trace of {traced} does NOT check"
    wrong = verify_cli(origin.server, str(saved), "--key", str(tmp_path / "trace.json"))
    assert wrong.returncode == 2 and "cannot use the key file" in wrong.stderr
