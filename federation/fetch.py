"""Guarded remote GETs: `fetch_json`, signed by the instance actor and bounded in size and time.

Every GET is signed by the instance actor (draft-cavage-12, ``(request-target) host date``),
so servers in authorized-fetch mode answer it. Each fetch is bounded: the SSRF guard checks
the URL and every address the connector uses (federation/ssrf.py), the whole exchange must
finish within ``fetch_timeout_seconds`` and the body may not exceed ``fetch_max_bytes``.
Failures are typed (`FetchError.kind`), never bare aiohttp exceptions. Blocked domains and
actors (read through a short per-process memo) are refused before any connection.

Redirects are not followed, except where a caller asks for a few (WebFinger: a handle's domain
may send the lookup on to the server's own, as Mastodon's WEB_DOMAIN setups do); each hop is
checked like the first (blocks, SSRF guard) and must be https unless plain http is allowed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import aiohttp
import orjson
import yarl
from tortoise.exceptions import ConfigurationError
from tortoise.expressions import Q

from models.actors import Actor, local_actor_url
from models.base import column
from models.context import Site
from models.engine import backoff
from models.federation import ActorBlock, DomainHealth
from models.urls import UrlRefused, check_url

from . import documents
from .actors import actor_keys, instance_actor
from .as2 import as_id, domain_of, type_of
from .httpsig_cavage import sign_cavage
from .keys import PrivateKey, load_private_key
from .memo import LoopMemo
from .ssrf import GuardedResolver, resolve_public

__all__ = [
    "ACCEPT",
    "Answer",
    "DOMAIN_STATES",
    "USER_AGENT",
    "FetchError",
    "blocked_actors",
    "closed_domains",
    "fetch_json",
    "mark_available",
    "plain_http_allowed",
    "post_form",
    "post_json",
    "refuse_blocked",
    "remote_object_owner",
    "signing_key",
]

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
USER_AGENT = "tallystick (+https://tallystick.dev/)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def plain_http_allowed(site: Site) -> bool:
    """Whether remote servers may be asked over plain http: only where tests and closed networks
    allow private addresses and this server itself runs on http."""
    return site.federation.allow_private_addresses and site.base_url.startswith("http://")


@lru_cache(maxsize=256)
def signing_key(private_pem: str) -> PrivateKey:
    """A private key read from PEM once: loading an RSA key checks it, about 30 ms each time."""
    return load_private_key(private_pem)


class FetchError(Exception):
    """A remote fetch failed; `kind` is refused, unreachable, gone, not-found, too-large, invalid,
    or not-object (the document is not the kind of object asked for)."""

    def __init__(self, kind: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status  # the HTTP status the server answered, when it answered


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


DOMAIN_STATES = LoopMemo(ttl=5)  # "all": closed domains {domain: "blocked" | "unavailable"}; "actors": blocked ids


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


async def refuse_blocked(url: str) -> None:
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


async def _checked(site: Site, url: str) -> None:
    """Blocked domains and actors, then the SSRF guard (FetchError "refused")."""
    allow = site.federation.allow_private_addresses
    await refuse_blocked(url)
    try:
        target = check_url(url, allow_private=allow)
        await resolve_public(target.host, target.port, allow_private=allow)
    except UrlRefused as error:
        raise FetchError("refused", error.detail) from None


def _session(site: Site) -> aiohttp.ClientSession:
    """A session whose connector checks every address it connects to, bounded in time."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=site.federation.allow_private_addresses), force_close=True
    )
    timeout = aiohttp.ClientTimeout(total=site.federation.fetch_timeout_seconds)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def _signature(site: Site, method: str, url: str, signer: Actor | None, body: bytes | None = None) -> dict[str, str]:
    """The draft-cavage headers of a request signed by `signer` (default: the instance actor)."""
    actor = signer or await instance_actor()
    keys = await actor_keys(actor)
    owner = documents.instance_actor_url(site.base_url) if signer is None else local_actor_url(site.base_url, actor)
    # signed as aiohttp will send it: yarl normalises percent-escapes (%3A -> :) in the query
    return sign_cavage(
        method, str(yarl.URL(url)), key_id=f"{owner}#main-key", private_key=signing_key(keys.rsa_private_pem), body=body
    )


def _parse(body: bytes, url: str) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FetchError("invalid", f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise FetchError("invalid", f"{url} did not answer a JSON object")
    return document


async def fetch_json(
    site: Site, url: str, *, signed: bool = True, accept: str = ACCEPT, bearer: str | None = None, redirects: int = 0
) -> dict[str, Any]:
    """GET a JSON object, signed by the instance actor (or with a bearer token), within the size
    and time limits, following at most `redirects` redirects (none by default)."""
    if redirects < 0 or (redirects and bearer is not None):
        raise ValueError("redirects must be 0 or more, and 0 with a bearer token (it would go to another server)")
    left = redirects
    while True:
        found = await _get_json(site, url, signed=signed, accept=accept, bearer=bearer, follow=left > 0)
        if isinstance(found, dict):
            return found
        left -= 1
        url = _next_hop(site, url, found)


def _next_hop(site: Site, url: str, location: str) -> str:
    """Where a redirect leads (relative to `url`); https only, unless plain http is allowed."""
    try:
        target = yarl.URL(url).join(yarl.URL(location))
    except ValueError:
        raise FetchError("invalid", f"{url} redirects to a malformed address") from None
    if target.scheme != "https" and not (target.scheme == "http" and plain_http_allowed(site)):
        raise FetchError("refused", f"{url} redirects to {str(target)[:200]}: only https redirects are followed")
    return str(target)


async def _get_json(
    site: Site, url: str, *, signed: bool, accept: str, bearer: str | None, follow: bool
) -> dict[str, Any] | str:
    """One GET: the JSON object, or (when `follow`) the Location a redirect gives."""
    await _checked(site, url)
    headers = {"Accept": accept, "User-Agent": USER_AGENT}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if signed:
        headers.update(await _signature(site, "GET", url, None))
    limits = site.federation
    try:
        async with _session(site) as session, session.get(url, headers=headers, allow_redirects=False) as reply:
            if reply.status == 410:
                raise FetchError("gone", f"{url} is gone (410)")
            if reply.status == 404:
                raise FetchError("not-found", f"{url} was not found (404)")
            if reply.status in _REDIRECTS and "Location" in reply.headers:
                if follow:
                    return reply.headers["Location"]
                raise FetchError("unreachable", f"{url} answered {reply.status}, a redirect not followed",
                                 status=reply.status)
            if reply.status != 200:
                raise FetchError("unreachable", f"{url} answered {reply.status}", status=reply.status)
            body = await _read_limited(reply, limits.fetch_max_bytes)
    except TimeoutError:
        raise FetchError("unreachable", f"{url} did not answer within {limits.fetch_timeout_seconds} seconds") from None
    except (aiohttp.ClientError, OSError) as error:
        raise FetchError("unreachable", f"cannot reach {url}: {error}"[:300]) from None
    return _parse(body, url)


@dataclass(frozen=True)
class Answer:
    """What a server answered a signed POST: its status, its JSON object (or None), Retry-After."""

    status: int
    document: dict[str, Any] | None
    retry_after: float | None = None


async def post_json(site: Site, url: str, document: dict[str, Any], *, signer: Actor) -> Answer:
    """POST a JSON object signed by a local actor, within the size and time limits; the answer
    whatever its status (FetchError only when there is none: refused, unreachable, too large)."""
    await _checked(site, url)
    body = orjson.dumps(document)
    headers = {"Accept": ACCEPT, "Content-Type": "application/activity+json", "User-Agent": USER_AGENT}
    headers.update(await _signature(site, "POST", url, signer, body))
    return await _post(site, url, body, headers)


async def post_form(site: Site, url: str, fields: dict[str, str]) -> Answer:
    """POST an unsigned form (OAuth's token and app endpoints), within the size and time limits;
    the answer whatever its status (FetchError only when there is none)."""
    await _checked(site, url)
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    return await _post(site, url, fields, headers)


async def _post(site: Site, url: str, data: bytes | dict[str, str], headers: dict[str, str]) -> Answer:
    """Send a POST already checked by the SSRF guard; its answer within the size and time limits."""
    limits = site.federation
    try:
        async with _session(site) as session, session.post(url, data=data, headers=headers, allow_redirects=False) as reply:
            answer = await _read_limited(reply, limits.fetch_max_bytes)
            status, retry_after = reply.status, backoff.parse_retry_after(reply.headers.get("Retry-After"))
    except TimeoutError:
        raise FetchError("unreachable", f"{url} did not answer within {limits.fetch_timeout_seconds} seconds") from None
    except (aiohttp.ClientError, OSError) as error:
        raise FetchError("unreachable", f"cannot reach {url}: {error}"[:300]) from None
    try:
        parsed = _parse(answer, url) if answer else None
    except FetchError:
        parsed = None
    return Answer(status, parsed, retry_after)


async def remote_object_owner(site: Site, uri: str, types: Collection[str]) -> str:
    """The actor a remote object of one of `types` is attributed to, on the object's own server
    (the object fetched); FetchError, kind not-object, when the document is no such object."""
    document = await fetch_json(site, uri)
    owner = as_id(document.get("attributedTo"))
    if as_id(document) != uri or type_of(document) not in types or not owner or domain_of(owner) != domain_of(uri):
        raise FetchError("not-object", f"{uri} is not a {' or '.join(sorted(types))} of its server's actor")
    return owner
