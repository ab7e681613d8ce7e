"""WebFinger (RFC 7033) client: `user@host` to its WebFinger document and ActivityPub id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from models.context import Site

from .as2 import as_list
from .fetch import FetchError, fetch_json, plain_http_allowed

__all__ = ["WEBFINGER_REDIRECTS", "webfinger_document", "webfinger_lookup"]

WEBFINGER_REDIRECTS = 2


async def webfinger_document(site: Site, handle: str) -> dict[str, Any]:
    """The WebFinger (RFC 7033) document of `user@host`, fetched from that host."""
    username, _, host = handle.lstrip("@").partition("@")
    if not username or not host:
        raise FetchError("invalid", f"{handle!r} is not user@host")
    scheme = "http" if plain_http_allowed(site) else "https"
    url = f"{scheme}://{host}/.well-known/webfinger?resource={quote(f'acct:{username}@{host}')}"
    # A handle's domain may send the lookup on to the server's own (Mastodon's WEB_DOMAIN, a
    # personal domain's alias); two hops are enough for those, each checked like the first.
    return await fetch_json(site, url, signed=False, accept="application/jrd+json, application/json",
                            redirects=WEBFINGER_REDIRECTS)


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
