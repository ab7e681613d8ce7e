"""Helpers for the network, discovery and distribution tests: a fake fediverse account with
followers (tests/fedhelpers.py Remote), a network filled by a discovery the test runs itself."""

from __future__ import annotations

from typing import Any

from models.engine import run_due
from models.machines import NETWORK_DISCOVERIES

from .conftest import Api
from .fedhelpers import Remote, site_of

NETWORKS = "/api/v1/networks"


def star_with_followers(remote: Remote, names: list[str], star: str = "star") -> str:
    """`star` on the fake server, followed by the accounts `names` (each with a profile); its URL."""
    uri = remote.actor(star).uri
    remote.extra[star] = {"followers": f"{uri}/followers", "following": f"{uri}/following"}
    remote.collections[f"{star}/followers"] = [remote.actor(name).uri for name in names]
    return uri


async def new_network(api: Api, token: str, name: str = "Friends") -> dict[str, Any]:
    reply = await api.post(NETWORKS, {"name": name}, token=token, expect=201)
    assert reply.headers["Location"] == f"{NETWORKS}/{reply.body['id']}"
    return reply.body


async def run_discoveries(api: Api) -> None:
    """Run the discoveries that are due until none is (no embedded workers in fed_api)."""
    for _ in range(20):
        if await run_due(site_of(api), NETWORK_DISCOVERIES) == 0:
            return
    raise AssertionError("discoveries kept running")


async def discovered(api: Api, token: str, network_id: str, start: str, **body: Any) -> dict[str, Any]:
    """Start a discovery, run it to its end, and return it as its owner reads it."""
    made = await api.post(f"{NETWORKS}/{network_id}/discover", {"start": start, **body}, token=token, expect=201)
    assert made.headers["Location"] == f"/api/v1/discoveries/{made.body['id']}"
    await run_discoveries(api)
    return (await api.get(f"/api/v1/discoveries/{made.body['id']}", token=token, expect=200)).body


async def network_of(api: Api, remote: Remote, token: str, names: list[str], name: str = "Friends") -> str:
    """A network of the given accounts of the fake server, discovered from their star's followers."""
    network = await new_network(api, token, name)
    found = await discovered(api, token, network["id"], star_with_followers(remote, names))
    assert found["state"] == "done" and found["found"] == len(names), found
    return str(network["id"])
