"""The remote actor cache: remote actors fetched, checked, stored and looked up by id or key id.

Remote actors are cached in the `remote_actors` table (with an `actors` row, so they can own
things and appear in the ledger) and refetched after ``actor_cache_seconds``, or at once when
a signature does not verify with the cached key (key rotation). An actor that told us it was
deleted (`gone_at`) is never fetched again: asking would only start a refetch storm. A
per-process memo spares the table on every inbox POST, and concurrent lookups of one signer
share one fetch (single flight). `signing_actor` checks an incoming request's signature with
the key so found.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.actors import Actor
from models.context import Site
from models.errors import Unauthorized
from models.federation import RemoteActor
from models.markdown import sanitize_html

from .as2 import as_id, as_list, domain_of, type_of
from .fetch import FetchError, fetch_json, mark_available, refuse_blocked
from .httpsig import verify_request
from .httpsig_core import IncomingRequest
from .keys import KeyFormatError, PublicKey, load_public_key
from .memo import LoopMemo, PerLoop

__all__ = [
    "ActorFacts",
    "KeyResolver",
    "mark_gone",
    "parse_actor",
    "refresh_actor",
    "remote_actor",
    "signing_actor",
    "verifying_key",
]

log = logging.getLogger("tallystick.federation")

MAX_URI = 2048  # the longest id we store (the columns' size)
MAX_SUMMARY = 5000  # characters of a remote actor's summary we keep

_ACTORS = LoopMemo(ttl=60)  # remote actors by uri (the table stays the cache of record)


@lru_cache(maxsize=4096)
def verifying_key(public_pem: str) -> PublicKey:
    """A public key read from PEM once per process (remote keys rarely change)."""
    return load_public_key(public_pem)


@dataclass(frozen=True)
class ActorFacts:
    """What we keep of a remote actor document."""

    uri: str
    inbox: str
    shared_inbox: str | None
    key_id: str
    public_key_pem: str
    preferred_username: str
    name: str
    kind: str
    summary: str  # sanitised HTML


def _public_key(document: Mapping[str, Any], uri: str) -> tuple[str, str]:
    for key in as_list(document.get("publicKey")):
        if isinstance(key, Mapping) and isinstance(key.get("publicKeyPem"), str):
            owner = as_id(key.get("owner")) or uri
            if owner == uri:
                return str(key.get("id") or f"{uri}#main-key"), str(key["publicKeyPem"])
    return "", ""


def parse_actor(document: Mapping[str, Any], fetched_from: str) -> ActorFacts:
    """Read an actor document; its id must live on the host it was fetched from.

    Its inbox may be elsewhere (a server whose inboxes are served by another host): what proves
    who the actor is, is its id's origin and the key it publishes, not where its mail goes;
    Mastodon accepts such actors too. Deliveries to that inbox pass the same SSRF guard.
    """
    uri = as_id(document)
    inbox = as_id(document.get("inbox"))
    if not uri or not inbox:
        raise FetchError("invalid", f"{fetched_from} is not an actor (no id or inbox)")
    endpoints = document.get("endpoints")
    shared = as_id(endpoints.get("sharedInbox")) if isinstance(endpoints, Mapping) else None
    if max(len(uri), len(inbox), len(shared or "")) > MAX_URI:
        raise FetchError("invalid", f"the actor document at {fetched_from} has over-long URLs")
    if domain_of(uri) != domain_of(fetched_from):
        raise FetchError("invalid", f"the actor {uri} is not on {domain_of(fetched_from)}, where its document was fetched")
    if not inbox.startswith(("https://", "http://")) or (shared and not shared.startswith(("https://", "http://"))):
        raise FetchError("invalid", f"the actor {uri} names an inbox that is not an http(s) URL")
    key_id, pem = _public_key(document, uri)
    if len(key_id.encode()) > MAX_URI:  # in bytes: it is indexed, and PostgreSQL bounds an index entry
        raise FetchError("invalid", f"the actor document at {fetched_from} has an over-long key id")
    username = document.get("preferredUsername")
    if not isinstance(username, str) or not username:
        username = uri.rstrip("/").rsplit("/", 1)[-1] or domain_of(uri)
    name = document.get("name") if isinstance(document.get("name"), str) else username
    kind = type_of(document) or "Person"
    summary = document.get("summary")
    summary = sanitize_html(summary[:MAX_SUMMARY]) if isinstance(summary, str) else ""
    return ActorFacts(uri, inbox, shared, key_id, pem, username[:64], str(name)[:200], str(kind)[:16], summary)


async def _store_actor(facts: ActorFacts) -> RemoteActor:
    """Create or refresh the actor and its cache row (concurrent first fetches agree on one)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "inbox": facts.inbox, "shared_inbox": facts.shared_inbox, "key_id": facts.key_id,
        "public_key_pem": facts.public_key_pem, "preferred_username": facts.preferred_username,
        "summary": facts.summary, "domain": domain_of(facts.uri), "fetched_at": now,
    }
    for _ in range(2):
        existing = await RemoteActor.get_or_none(uri=facts.uri)
        if existing is not None:
            await RemoteActor.filter(id=existing.id).update(**values)
            await Actor.filter(id=existing.actor_id).update(
                display_name=facts.name, kind=facts.kind
            )
            return await RemoteActor.get(id=existing.id)
        try:
            async with in_transaction():
                actor = await Actor.get_or_none(uri=facts.uri)
                if actor is None:
                    actor = await Actor.create(
                        username=facts.preferred_username.lower(), domain=domain_of(facts.uri),
                        display_name=facts.name, kind=facts.kind, uri=facts.uri,
                    )
                return await RemoteActor.create(actor=actor, uri=facts.uri, **values)
        except IntegrityError:
            continue
    raise FetchError("invalid", f"cannot record the actor {facts.uri}")


async def remote_actor(site: Site, uri: str, *, refresh: bool = False, shared: bool = False) -> RemoteActor:
    """The remote actor at `uri` (its id, or the URL of its key), from the cache when fresh, else
    fetched (FetchError when not); `shared`: callers outside any transaction share one fetch
    (see _single_flight)."""
    return await _remote_actor(site, uri, refresh, shared, hops=1)


async def _cached_actor(uri: str) -> RemoteActor | None:
    """The stored actor whose id is `uri`, or whose key id is (GoToSocial's key ids are URLs of
    their own, /users/x/main-key); a key only counts on its actor's host."""
    found = await RemoteActor.get_or_none(uri=uri)
    if found is None:
        found = await RemoteActor.filter(key_id=uri, domain=domain_of(uri)).order_by("-fetched_at").first()
    return found


async def _remote_actor(site: Site, uri: str, refresh: bool, shared: bool, hops: int) -> RemoteActor:
    if len(uri) > MAX_URI:
        raise FetchError("invalid", f"actor ids longer than {MAX_URI} characters are not accepted")
    await refuse_blocked(uri)
    fresh_since = datetime.now(UTC) - timedelta(seconds=site.federation.actor_cache_seconds)
    cached: RemoteActor | None = None if refresh else _ACTORS.get(uri)
    if cached is not None and cached.fetched_at > fresh_since:
        return cached  # memoised in this process: read back from the table when the memo expires
    cached = await _cached_actor(uri)
    if cached is not None and cached.gone_at is not None:
        raise FetchError("gone", f"{cached.uri} was deleted")
    if cached is not None and not refresh and cached.fetched_at > fresh_since:
        _ACTORS.put(uri, cached)
        return cached
    if shared:
        return await _single_flight((uri, refresh), lambda: _fetch_actor(site, uri, refresh, hops))
    return await _fetch_actor(site, uri, refresh, hops)


def _actor_behind(document: Mapping[str, Any], fetched_from: str) -> str | None:
    """The actor a document that is not itself the actor at `fetched_from` stands for.

    A key document names its `owner` (Mastodon's /actor#main-key); a copy of the actor served at
    its key's URL names it as its `publicKey.owner` (GoToSocial's /users/x/main-key); any other
    document is its own `id` (a second URL of the actor). Mastodon follows all three.
    """
    if "owner" in document and "inbox" not in document:
        return as_id(document.get("owner"))
    for key in as_list(document.get("publicKey")):
        if isinstance(key, Mapping) and as_id(key) == fetched_from and as_id(key.get("owner")):
            return as_id(key.get("owner"))
    return as_id(document)


async def _fetch_actor(site: Site, uri: str, refresh: bool, hops: int) -> RemoteActor:
    document = await fetch_json(site, uri)
    if as_id(document) != uri:
        owner = _actor_behind(document, uri)
        if not owner or owner == uri or domain_of(owner) != domain_of(uri):
            raise FetchError("invalid", f"{uri} is neither an actor nor the key of an actor on the same host")
        if hops < 1:
            raise FetchError("invalid", f"{uri} is not the actor it names, nor the key of one")
        # the actor itself is fetched from its own id (whose document must be that actor) and checked
        stored = await _remote_actor(site, owner, refresh, False, hops - 1)
        _ACTORS.put(uri, stored)
        return stored
    facts = parse_actor(document, uri)
    stored = await _store_actor(facts)
    _ACTORS.put(uri, stored)
    await mark_available(stored.domain)
    return stored


_FLIGHTS: PerLoop[dict[tuple[str, bool], asyncio.Future[RemoteActor]]] = PerLoop(dict)


async def _single_flight(key: tuple[str, bool], fetch: Callable[[], Awaitable[RemoteActor]]) -> RemoteActor:
    """One lookup of a signer at a time: requests that need it meanwhile wait for that lookup.

    A burst of activities from a server we have not met (or whose key just rotated) would
    otherwise fetch the same actor once per request. The lookup runs as its own task, so a
    request that gives up (cancelled) does not cancel it for the others. Only for signature
    checks, which run outside any transaction: a caller inside one must not be handed an
    actor stored by another caller's transaction.
    """
    flights = _FLIGHTS.get()
    running = flights.get(key)
    if running is None:
        running = flights[key] = asyncio.ensure_future(fetch())
        running.add_done_callback(lambda done: flights.pop(key, None) if flights.get(key) is done else None)
    return await asyncio.shield(running)


async def refresh_actor(document: Mapping[str, Any], uri: str) -> RemoteActor:
    """Take a document the actor sent about itself (a signed Update) as if we had just fetched it."""
    stored = await _store_actor(parse_actor(document, uri))
    _ACTORS.put(uri, stored)
    return stored


async def mark_gone(actor: RemoteActor) -> None:
    """Remember that the actor was deleted (inside the caller's transaction)."""
    await RemoteActor.filter(id=actor.id).update(gone_at=datetime.now(UTC))
    _ACTORS.forget(actor.uri)


def actor_uri_of_key(key_id: str) -> str:
    """The actor a key id belongs to, by convention: the key id without its fragment."""
    return key_id.split("#", 1)[0]


class KeyResolver:
    """A `FetchKey` for federation.httpsig.verify_request that remembers whose key it gave.

    The inbox needs the owner to apply the origin rules: the activity's actor must be the
    owner of the key that signed it. With `accept_gone` (a Delete of the actor by itself), an
    actor whose document now answers 410 is checked with the key we cached: a deleted account
    can no longer serve its key, and its last word must still reach us.
    """

    def __init__(self, site: Site, *, accept_gone: bool = False) -> None:
        self.site = site
        self.accept_gone = accept_gone
        self.actor: RemoteActor | None = None
        self.error: FetchError | None = None

    async def __call__(self, key_id: str, refresh: bool) -> PublicKey | None:
        try:
            actor = await remote_actor(self.site, actor_uri_of_key(key_id), refresh=refresh, shared=True)
        except FetchError as error:
            cached = await _cached_actor(actor_uri_of_key(key_id)) if self.accept_gone else None
            if cached is None or error.kind != "gone":
                self.error = error
                log.info("the key %s is not usable: %s", key_id, error.detail)
                return None
            actor = cached
        if actor.key_id and actor.key_id != key_id:
            self.error = FetchError("invalid", f"{actor.uri} does not publish the key {key_id}")
            return None
        self.actor = actor
        try:
            return verifying_key(actor.public_key_pem) if actor.public_key_pem else None
        except KeyFormatError:
            self.error = FetchError("invalid", f"{actor.uri} publishes an unreadable key")
            return None


async def signing_actor(site: Site, request: IncomingRequest, *, accept_gone: bool = False) -> RemoteActor:
    """The remote actor whose key signed this request (draft-cavage or RFC 9421; its key fetched
    and cached by KeyResolver, `accept_gone` as there); 401 bad-signature when it does not check."""
    keys = KeyResolver(site, accept_gone=accept_gone)
    result = await verify_request(request, keys)
    if not result.ok or keys.actor is None:
        raise Unauthorized(f"the HTTP signature was refused: {result.failure}: {result.detail}", code="bad-signature")
    return keys.actor
