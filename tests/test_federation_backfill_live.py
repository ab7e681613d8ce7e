"""Two real servers: a follower added after 50 objects exist gets all 50, with valid proofs
(issue 16, acceptance: "A follower added after 50 objects exist gets all 50 with valid proofs")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from federation.signed_objects import ActorDocuments, verify_remote_object
from models.context import Site
from models.settings import FederationSettings
from server.database import close_database, open_database
from server.settings import Settings

from .test_federation_live import Instance, eventually, pair, servers, trio  # noqa: F401

pytestmark = pytest.mark.slow
AP = {"Accept": "application/activity+json"}


async def make_fifty(a: Instance) -> None:
    """carol's objects on A: types, unique tokens (each with its ledger create), a set holding
    some of them, ledger creates and gives to dave on A."""
    metals = []
    for name in ("Gold", "Silver", "Copper", "Iron"):
        _, made = await a.call("POST", "/api/v1/types", "carol", expect=201,
                               json={"name": name, "symbol": name[:3].upper(), "fungible": True, "smallest_unit": 0})
        metals.append(made["id"])
    _, badge = await a.call("POST", "/api/v1/types", "carol", expect=201,
                            json={"name": "Badge", "symbol": "BDG", "fungible": False, "smallest_unit": 0})
    tokens = []
    for _ in range(6):
        _, token = await a.call("POST", "/api/v1/tokens", "carol", json={"type": badge["id"]}, expect=201)
        tokens.append(token["id"])
    _, shelf = await a.call("POST", "/api/v1/sets", "carol", json={"name": "Shelf"}, expect=201)
    await a.call("POST", f"/api/v1/sets/{shelf['id']}/tokens", "carol", json={"tokens": tokens[:3]}, expect=200)
    for metal in metals:
        await a.call("POST", "/api/v1/ledger/create", "carol", json={"type": metal, "amount": "100"}, expect=201)
    for n in range(28):  # 5 types, 6 tokens with their 6 creates, 1 set, 4 creates and 28 gives: 50
        await a.call("POST", "/api/v1/ledger/give", "carol", expect=201,
                     json={"type": metals[n % 4], "amount": str(n % 5 + 1), "to": "dave"})


async def collection_of(a: Instance, name: str) -> list[dict[str, Any]]:
    """Every item of A's /users/<name>/objects, page after page."""
    _, collection = await a.call("GET", f"/users/{name}/objects", headers=AP, expect=200)
    items, url = [], collection["first"]
    while url:
        _, page = await a.call("GET", url.removeprefix(a.server.base_url), headers=AP, expect=200)
        items += page["orderedItems"]
        url = page.get("next")
    return items


async def test_live__a_follower_added_after_50_objects_gets_all_50_with_valid_proofs(
    pair: tuple[Instance, Instance], tmp_path: Path, settings: Settings
) -> None:
    a, b = pair
    a.user("carol")
    a.user("dave")
    b.user("bob")
    b.user("erin")
    a.server.env["TALLYSTICK_FEDERATION__BACKFILL_PAGE_SIZE"] = "20"  # three pages
    a.server.start()
    b.server.start()
    await make_fifty(a)
    origin = await collection_of(a, "carol")
    assert len(origin) == 50, [(item["type"], item.get("entryKind")) for item in origin]
    assert {item["type"] for item in origin} == {"TokenType", "Token", "TokenSet", "LedgerEntry"}

    status, made = await b.call("POST", "/api/v1/follows", "bob", json={"target": f"carol@{a.domain}"})
    assert status == 201, made

    async def all_copied() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = []
        for page in (1, 2):
            _, listed = await b.call("GET", "/api/v1/federation/objects", "bob", expect=200,
                                     params={"page_size": 50, "page": page})
            items += listed["items"]
        return items if len(items) >= 50 else None

    held = await eventually(all_copied, "B to copy carol's 50 objects")
    assert sorted(item["uri"] for item in held) == sorted(item["id"] for item in origin)
    assert {item["owner"] for item in held} == {f"carol@{a.domain}"}
    signed = [item["document"] for item in held if item["type"] in ("Token", "TokenType", "TokenSet")]
    assert len(signed) == 4 + 1 + 6 + 1 and all("proof" in document for document in signed)
    # checked as a third party would, with a database of its own: the signer's key fetched from A
    site = Site(base_url="http://verifier.invalid", domain="verifier.invalid", data_dir=tmp_path,
                federation=FederationSettings(allow_private_addresses=True))
    actors = ActorDocuments(site, signed=False)
    orm = await open_database(settings)
    try:
        for item in held:
            if "proof" in item["document"]:  # ledger entries carry one once they are signed too
                checked = await verify_remote_object(site, item["document"], actors=actors)
                assert checked.signer == f"{a.server.base_url}/users/carol"
    finally:
        await close_database(orm)
    _, others = await b.call("GET", "/api/v1/federation/objects", "erin", expect=200)
    assert others["items"] == []  # erin follows nobody
