"""Remote fetches: signed GETs of actors and objects, WebFinger, and the remote actor cache.

Every GET is signed by the instance actor (draft-cavage-12, ``(request-target) host date``),
so servers in authorized-fetch mode answer it. Each fetch is bounded: the SSRF guard checks
the URL and every address the connector uses (federation/ssrf.py), the whole exchange must
finish within ``fetch_timeout_seconds`` and the body may not exceed ``fetch_max_bytes``.
Failures are typed (`FetchError.kind`), never bare aiohttp exceptions.

Remote actors are cached in the `remote_actors` table (with an `actors` row, so they can own
things and appear in the ledger) and refetched after ``actor_cache_seconds``, or at once when
a signature does not verify with the cached key (key rotation). An actor that told us it was
deleted (`gone_at`) is never fetched again: asking would only start a refetch storm.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
import yarl
from tortoise.exceptions import ConfigurationError, IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.actors import Actor
from models.base import column
from models.context import Site
from models.errors import Unauthorized
from models.federation import ActorBlock, DomainHealth, RemoteActor
from models.markdown import sanitize_html
from models.urls import UrlRefused, check_url

from . import documents
from .actors import actor_keys, instance_actor
from .keys import KeyFormatError, PrivateKey, PublicKey, load_private_key, load_public_key
from .sigcore import IncomingRequest
from .signatures import sign_cavage, verify_request
from .ssrf import GuardedResolver, resolve_public

__all__ = [
    "ACCEPT",
    "DOMAIN_STATES",
    "FetchError",
    "KeyResolver",
    "LoopMemo",
    "PerLoop",
    "as_id",
    "as_list",
    "blocked_actors",
    "closed_domains",
    "domain_of",
    "fetch_json",
    "mark_available",
    "mark_gone",
    "refresh_actor",
    "remote_actor",
    "remote_object_owner",
    "signing_actor",
    "signing_key",
    "type_of",
    "webfinger_document",
    "webfinger_lookup",
]

log = logging.getLogger("tallystick.federation")

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
USER_AGENT = "tallystick (+https://tallystick.dev/)"
MAX_URI = 2048  # the longest id we store (the columns' size)
MAX_SUMMARY = 5000  # characters of a remote actor's summary we keep


@lru_cache(maxsize=256)
def signing_key(private_pem: str) -> PrivateKey:
    """A private key read from PEM once: loading an RSA key checks it, about 30 ms each time."""
    return load_private_key(private_pem)


@lru_cache(maxsize=4096)
def verifying_key(public_pem: str) -> PublicKey:
    """A public key read from PEM once per process (remote keys rarely change)."""
    return load_public_key(public_pem)


class FetchError(Exception):
    """A remote fetch failed; `kind` is refused, unreachable, gone, not-found, too-large, invalid,
    or not-object (the document is not the kind of object asked for)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def as_id(value: Any) -> str | None:
    """The id of a link that may be a string or an object with an id (ActivityStreams 2.0 section 2)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def as_list(value: Any) -> list[Any]:
    """A property that may be a single value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# Types whose meaning we know. AS2 (section 4.1 of the core spec, "@type" may be an array) lets a
# document give several, e.g. ["Person", "http://schema.org/Person"]: the first of these wins.
KNOWN_TYPES = frozenset({
    "Accept", "Add", "Announce", "Block", "Create", "Delete", "Flag", "Follow", "Like", "Move", "Reject",
    "Remove", "Undo", "Update", "Tombstone", "Token", "TokenType", "TokenSet", "LedgerEntry", "Multikey",
    *documents.ACTOR_TYPES,
})


def type_of(document: Any) -> str | None:
    """The one type of an object or activity: its `type` string, or from a list the first type we
    know (else the first given); None when it has none. The only place that reads `type` shapes."""
    value = document.get("type") if isinstance(document, Mapping) else None
    if isinstance(value, str):
        return value
    names = [name for name in value if isinstance(name, str)] if isinstance(value, list) else []
    return next((name for name in names if name in KNOWN_TYPES), names[0] if names else None)


def domain_of(url: str) -> str:
    """The authority (host and port) of a URL, lower case: what origin rules compare."""
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


async def _read_limited(reply: aiohttp.ClientResponse, limit: int) -> bytes:
    if reply.content_length is not None and reply.content_length > limit:
        raise FetchError("too-large", f"the document is {reply.content_length} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in reply.content.iter_chunked(65_536):
        size += len(chunk)
        if size > limit:
            raise FetchError("too-large", f"the document is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


T = TypeVar("T")


class PerLoop(Generic[T]):
    """One value per running event loop, made by `factory` on first use there.

    State that holds futures or memoised rows must not cross loops: each test runs its own, and
    a process runs one. The last loop's value is kept at hand (a weak-dictionary lookup was 8%
    of an inbox POST).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], T] | None = None

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:  # the usual case
            return last[1]
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._factory()
        self._last = (weakref.ref(loop), value)
        return value


class LoopMemo:
    """A small per-event-loop, time-limited memo of database answers read on every inbox POST.

    Each process (and each test, with its own loop) keeps its own; entries expire after `ttl`
    seconds, so a change made by another process is seen within that time.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._maps: PerLoop[dict[str, tuple[float, Any]]] = PerLoop(dict)

    def _map(self) -> dict[str, tuple[float, Any]]:
        return self._maps.get()

    def get(self, key: str) -> Any:
        entry = self._map().get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: Any) -> None:
        memo = self._map()
        if len(memo) > 10_000:
            memo.clear()
        memo[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._map().clear()
        else:
            self._map().pop(key, None)


DOMAIN_STATES = LoopMemo(ttl=5)  # "all": closed domains {domain: "blocked" | "unavailable"}; "actors": blocked ids
_ACTORS = LoopMemo(ttl=60)  # remote actors by uri (the table stays the cache of record)


async def closed_domains() -> dict[str, str]:
    """Blocked and unavailable domains (re-read at most every few seconds)."""
    found: dict[str, str] | None = DOMAIN_STATES.get("all")
    if found is None:
        rows = await DomainHealth.filter(Q(blocked=True) | Q(unavailable=True)).values_list("domain", "blocked")
        found = {domain: "blocked" if blocked else "unavailable" for domain, blocked in rows}
        DOMAIN_STATES.put("all", found)
    return found


async def blocked_actors() -> frozenset[str]:
    """Ids of the remote actors an admin blocked (re-read at most every few seconds)."""
    found: frozenset[str] | None = DOMAIN_STATES.get("actors")
    if found is None:
        found = frozenset(await column(ActorBlock.all().values_list("uri", flat=True), str))
        DOMAIN_STATES.put("actors", found)
    return found


async def _refuse_blocked(url: str) -> None:
    try:
        closed = await closed_domains()
    except ConfigurationError:  # no database in this process (the `verify` client): nothing is blocked
        return
    if closed.get(domain_of(url)) == "blocked":
        raise FetchError("refused", f"{domain_of(url)} is blocked here")
    if url in await blocked_actors():
        raise FetchError("refused", f"{url} is blocked here")


async def mark_available(domain: str) -> None:
    """A domain answered or spoke to us: deliveries to it resume."""
    if (await closed_domains()).get(domain) == "unavailable":
        await DomainHealth.filter(domain=domain, unavailable=True).update(unavailable=False, failure_days=[])
        DOMAIN_STATES.forget()


async def fetch_json(site: Site, url: str, *, signed: bool = True, accept: str = ACCEPT) -> dict[str, Any]:
    """GET a JSON object, signed by the instance actor, within the size and time limits."""
    allow = site.federation.allow_private_addresses
    await _refuse_blocked(url)
    try:
        target = check_url(url, allow_private=allow)
        await resolve_public(target.host, target.port, allow_private=allow)
    except UrlRefused as error:
        raise FetchError("refused", error.detail) from None
    headers = {"Accept": accept, "User-Agent": USER_AGENT}
    if signed:
        instance = await instance_actor()
        keys = await actor_keys(instance)
        key_id = f"{documents.instance_actor_url(site.base_url)}#main-key"
        # signed as aiohttp will send it: yarl normalises percent-escapes (%3A -> :) in the query
        headers.update(sign_cavage("GET", str(yarl.URL(url)), key_id=key_id, private_key=signing_key(keys.rsa_private_pem)))
    limits = site.federation
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=allow), force_close=True)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=limits.fetch_timeout_seconds)
        ) as session, session.get(url, headers=headers, allow_redirects=False) as reply:
            if reply.status == 410:
                raise FetchError("gone", f"{url} is gone (410)")
            if reply.status == 404:
                raise FetchError("not-found", f"{url} was not found (404)")
            if reply.status != 200:
                raise FetchError("unreachable", f"{url} answered {reply.status}")
            body = await _read_limited(reply, limits.fetch_max_bytes)
    except TimeoutError:
        raise FetchError("unreachable", f"{url} did not answer within {limits.fetch_timeout_seconds} seconds") from None
    except (aiohttp.ClientError, OSError) as error:
        raise FetchError("unreachable", f"cannot reach {url}: {error}"[:300]) from None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FetchError("invalid", f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise FetchError("invalid", f"{url} did not answer a JSON object")
    return document


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
    await _refuse_blocked(uri)
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
    """A `FetchKey` for federation.signatures.verify_request that remembers whose key it gave.

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


async def remote_object_owner(site: Site, uri: str, types: Collection[str]) -> str:
    """The actor a remote object of one of `types` is attributed to, on the object's own server
    (the object fetched); FetchError, kind not-object, when the document is no such object."""
    document = await fetch_json(site, uri)
    owner = as_id(document.get("attributedTo"))
    if as_id(document) != uri or type_of(document) not in types or not owner or domain_of(owner) != domain_of(uri):
        raise FetchError("not-object", f"{uri} is not a {' or '.join(sorted(types))} of its server's actor")
    return owner


async def signing_actor(site: Site, request: IncomingRequest, *, accept_gone: bool = False) -> RemoteActor:
    """The remote actor whose key signed this request (draft-cavage or RFC 9421; its key fetched
    and cached by KeyResolver, `accept_gone` as there); 401 bad-signature when it does not check."""
    keys = KeyResolver(site, accept_gone=accept_gone)
    result = await verify_request(request, keys)
    if not result.ok or keys.actor is None:
        raise Unauthorized(f"the HTTP signature was refused: {result.failure}: {result.detail}", code="bad-signature")
    return keys.actor


async def webfinger_document(site: Site, handle: str) -> dict[str, Any]:
    """The WebFinger (RFC 7033) document of `user@host`, fetched from that host."""
    username, _, host = handle.lstrip("@").partition("@")
    if not username or not host:
        raise FetchError("invalid", f"{handle!r} is not user@host")
    scheme = "http" if site.federation.allow_private_addresses and site.base_url.startswith("http://") else "https"
    url = f"{scheme}://{host}/.well-known/webfinger?resource={quote(f'acct:{username}@{host}')}"
    return await fetch_json(site, url, signed=False, accept="application/jrd+json, application/json")


async def webfinger_lookup(site: Site, handle: str) -> str:
    """The ActivityPub id of `user@host`, via the host's WebFinger."""
    document = await webfinger_document(site, handle)
    for link in as_list(document.get("links")):
        if (
            isinstance(link, Mapping) and link.get("rel") == "self"
            and isinstance(link.get("href"), str)
            and str(link.get("type", "")).startswith(("application/activity+json", "application/ld+json"))
        ):
            return str(link["href"])
    raise FetchError("not-found", f"{handle} has no ActivityPub actor")
