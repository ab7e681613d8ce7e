"""Remote fetches: signed by the instance actor, bounded in size, guarded against private
addresses, cached with expiry, and WebFinger lookups of user@host."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from federation.actors import actor_keys, instance_actor
from federation.fetch import FetchError, fetch_json
from federation.httpsig import verify_request
from federation.httpsig_core import IncomingRequest
from federation.keys import load_public_key
from federation.remote_actors import remote_actor
from federation.webfinger import webfinger_lookup
from models.federation import RemoteActor

from .conftest import Api
from .fedhelpers import Remote, fed_api, remote, site_of  # noqa: F401


async def test_remote__actor_fetch_is_signed_by_the_instance_actor(fed_api: Api, remote: Remote) -> None:
    bob = remote.actor("bob")
    found = await remote_actor(site_of(fed_api), bob.uri)
    assert (found.inbox, found.shared_inbox, found.preferred_username) == (f"{bob.uri}/inbox", f"{remote.base}/inbox", "bob")
    [fetch] = remote.fetches()
    assert "application/activity+json" in fetch["headers"]["Accept"]
    pem = (await actor_keys(await instance_actor())).rsa_public_pem
    incoming = IncomingRequest.build("GET", fetch["path"], fetch["headers"], b"", "http")

    async def key(key_id: str, refresh: bool) -> Any:
        return load_public_key(pem) if key_id == "http://127.0.0.1:8080/actor#main-key" else None

    assert (await verify_request(incoming, key)).ok


async def test_remote__actors_are_cached_until_they_expire(fed_api: Api, remote: Remote) -> None:
    site = site_of(fed_api)
    bob = remote.actor("bob")
    await remote_actor(site, bob.uri)
    await remote_actor(site, bob.uri)
    assert len(remote.fetches()) == 1
    expired = dataclasses.replace(site, federation=site.federation.model_copy(update={"actor_cache_seconds": 0}))
    await remote_actor(expired, bob.uri)
    assert len(remote.fetches()) == 2


async def test_remote__memo_is_reread_from_the_table_after_its_ttl_however_often_it_is_hit(
    fed_api: Api, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (a worker taking a signed Update) may change the stored actor: this
    process's memo must read the table again once its minute is up, even while every inbox
    POST keeps asking for the actor."""
    import federation.memo as memo_module

    site = site_of(fed_api)
    bob = remote.actor("bob")
    clock = [1000.0]
    monkeypatch.setattr(memo_module.time, "monotonic", lambda: clock[0])
    await remote_actor(site, bob.uri)
    await RemoteActor.filter(uri=bob.uri).update(inbox=f"{bob.uri}/moved-inbox")
    for _ in range(7):  # a hit every 10 s for 70 s: the memo (60 s) must not be extended by hits
        assert (await remote_actor(site, bob.uri)).inbox == f"{bob.uri}/inbox"
        clock[0] += 10
    assert (await remote_actor(site, bob.uri)).inbox == f"{bob.uri}/moved-inbox"
    assert len(remote.fetches()) == 1  # the table, not the remote server, answered


async def test_remote__private_addresses_are_refused_unless_allowed(fed_api: Api, remote: Remote) -> None:
    site = site_of(fed_api)
    strict = dataclasses.replace(site, federation=site.federation.model_copy(update={"allow_private_addresses": False}))
    with pytest.raises(FetchError) as refused:
        await remote_actor(strict, remote.actor("bob").uri)
    assert refused.value.kind == "refused"
    assert remote.fetches() == []


async def test_remote__oversized_documents_are_refused(fed_api: Api, remote: Remote) -> None:
    site = site_of(fed_api)
    small = dataclasses.replace(site, federation=site.federation.model_copy(update={"fetch_max_bytes": 200}))
    with pytest.raises(FetchError) as too_big:
        await fetch_json(small, remote.actor("bob").uri)
    assert too_big.value.kind == "too-large"


async def test_remote__actor_claiming_another_host_is_refused(fed_api: Api, remote: Remote) -> None:
    site = site_of(fed_api)
    other = f"http://localhost:{remote.port}/users/bob"  # serves a document whose id is on 127.0.0.1
    with pytest.raises(FetchError) as invalid:
        await remote_actor(site, other)
    assert invalid.value.kind == "invalid"
    assert await RemoteActor.all().count() == 0


async def test_remote__webfinger_finds_the_actor(fed_api: Api, remote: Remote) -> None:
    uri = await webfinger_lookup(site_of(fed_api), f"bob@127.0.0.1:{remote.port}")
    assert uri == remote.actor("bob").uri
    with pytest.raises(FetchError):
        await webfinger_lookup(site_of(fed_api), "nobody")
