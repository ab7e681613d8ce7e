"""Network discovery (issue 21, item 4): the fediverse plugin and the machine's handler.

`FediversePlugin` reads an ActivityPub actor's `followers` / `following` collections (paged
OrderedCollections, as Mastodon and Tallystick serve them) and each listed account's actor
document, with `fetch_json`: signed by the instance actor, size- and time-bounded, and through
the SSRF guard (a private address is refused unless the settings allow it). Requests to one
host are paced (`discovery_host_interval_seconds`). A server that hides a list (401/403, no
collection, or a count with no items) is not an error: the discovery ends with a note.

`run` is the handler of the machine networks.discoveries (models/machines.py): it resolves the
start, then reads page after page, adding the accounts as entries (models/operations/networks.py
`add_entries`) and saving the page reached and the counts with each page, so a retry resumes
there. More plugins: entry points in the group "tallystick.discovery" (`load_discovery_plugins`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from tortoise.transactions import in_transaction

from models.actors import Actor
from models.base import column
from models.context import Site
from models.discovery import DISCOVERY_PLUGINS, Hidden, Listing, Profile, Refused, Unavailable, register_discovery
from models.engine import GiveUp, Go, Lease, Outcome, Retry
from models.machines import NETWORK_DISCOVERIES
from models.networks import Discovery, DiscoveryState, NetworkEntry
from models.operations.networks import add_entries

from .as2 import as_id, as_list, domain_of, type_of
from .fetch import FetchError, fetch_json
from .remote_actors import parse_actor
from .webfinger import webfinger_lookup

__all__ = ["GROUP", "FediversePlugin", "Pacer", "load_discovery_plugins", "run"]

log = logging.getLogger("tallystick.discovery")

GROUP = "tallystick.discovery"
_HIDDEN_STATUSES = (401, 403)


class Pacer:
    """At least `interval` seconds between two requests to one host (this process)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._last: dict[str, float] = {}

    async def wait(self, host: str, interval: float) -> None:
        if interval > 0 and host in self._last:
            left = self._last[host] + interval - self._clock()
            if left > 0:
                await self._sleep(left)
        self._last[host] = self._clock()
        if len(self._last) > 10_000:  # forget the oldest hosts; a long-lived process meets many
            for old in sorted(self._last, key=self._last.__getitem__)[:5_000]:
                del self._last[old]


class FediversePlugin:
    """Discovery on the fediverse: ActivityPub actors and their followers/following collections."""

    def __init__(self, pacer: Pacer | None = None) -> None:
        self.pacer = pacer or Pacer()

    async def _get(self, site: Site, url: str, *, hidden_means: str = "") -> dict[str, Any]:
        await self.pacer.wait(domain_of(url), site.federation.discovery_host_interval_seconds)
        try:
            return await fetch_json(site, url)
        except FetchError as error:
            if hidden_means and error.status in _HIDDEN_STATUSES:
                raise Hidden(f"{domain_of(url)} does not show {hidden_means} (it answered {error.status})") from None
            if error.kind == "unreachable":
                raise Unavailable(error.detail) from None
            raise Refused(error.detail) from None

    async def resolve(self, site: Site, start: str) -> str:
        if start.startswith(("https://", "http://")):
            return start
        await self.pacer.wait(start.rpartition("@")[2], site.federation.discovery_host_interval_seconds)
        try:
            return await webfinger_lookup(site, start)
        except FetchError as error:
            if error.kind == "unreachable":
                raise Unavailable(error.detail) from None
            raise Refused(f"cannot find {start}: {error.detail}") from None

    async def first_page(self, site: Site, account_url: str, collection: str) -> str | None:
        actor = await self._get(site, account_url)
        url = as_id(actor.get(collection))
        if not url:
            raise Hidden(f"{account_url} publishes no {collection} list")
        if domain_of(url) != domain_of(account_url):
            raise Refused(f"its {collection} list {url} is not on {domain_of(account_url)}")
        document = await self._get(site, url, hidden_means=f"the {collection} of {account_url}")
        total = document.get("totalItems")
        if as_list(document.get("orderedItems") or document.get("items")) or type_of(document) in ("OrderedCollectionPage", "CollectionPage"):
            return url  # the items are in the collection itself
        first = document.get("first")
        first_url = as_id(first)
        if not first_url:
            if isinstance(total, int) and total > 0:
                raise Hidden(f"{domain_of(url)} shows how many {collection} {account_url} has ({total}), not who they are")
            return None
        if isinstance(total, int) and total > 0:
            page = first if isinstance(first, Mapping) and "orderedItems" in first else await self._get(
                site, first_url, hidden_means=f"the {collection} of {account_url}")
            if not as_list(page.get("orderedItems") or page.get("items")):
                raise Hidden(f"{domain_of(url)} shows how many {collection} {account_url} has ({total}), not who they are")
        return first_url

    async def read_page(self, site: Site, url: str) -> Listing:
        page = await self._get(site, url, hidden_means="this list")
        accounts = [as_id(item) for item in as_list(page.get("orderedItems") or page.get("items"))]
        following = as_id(page.get("next"))
        return Listing([a for a in accounts if a and a.startswith(("https://", "http://"))], following if following != url else None)

    async def profile(self, site: Site, account_url: str) -> Profile:
        document = await self._get(site, account_url)
        try:
            facts = parse_actor(document, account_url)
        except FetchError as error:
            raise Refused(error.detail) from None
        instance = domain_of(facts.uri)
        tags = tuple(
            str(tag.get("name", "")).lstrip("#")[:50] for tag in as_list(document.get("tag"))
            if isinstance(tag, Mapping) and tag.get("type") == "Hashtag" and tag.get("name")
        )[:20]
        return Profile(
            actor_url=facts.uri, handle=f"{facts.preferred_username}@{instance}", display_name=facts.name,
            instance=instance, followers_count=await self._count(site, document), tags=tags,
        )

    async def _count(self, site: Site, document: Mapping[str, Any]) -> int | None:
        """The account's followers, as its server counts them (None when it does not say)."""
        url = as_id(document.get("followers"))
        if not url or domain_of(url) != domain_of(as_id(document) or ""):
            return None
        try:
            total = (await self._get(site, url)).get("totalItems")
        except (Hidden, Unavailable, Refused):
            return None
        return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


register_discovery("fediverse", FediversePlugin())


def load_discovery_plugins(points: Iterable[EntryPoint] | None = None) -> list[str]:
    """Register every discovery plugin of the entry point group; a broken one is logged and left out."""
    loaded = []
    for point in entry_points(group=GROUP) if points is None else points:
        try:
            plugin = point.load()
            register_discovery(point.name, plugin() if isinstance(plugin, type) else plugin)
        except Exception:  # third-party code must not stop the server starting
            log.exception("discovery plugin %r (%s) could not be loaded and is left out", point.name, point.value)
            continue
        loaded.append(point.name)
    return loaded


# ---------------------------------------------------------------- the machine's handler


def _note(*parts: str | None) -> str | None:
    text = "; ".join(part for part in parts if part)
    return text[:500] or None


@NETWORK_DISCOVERIES.handler(may={DiscoveryState.DONE.value, DiscoveryState.FAILED.value})
async def run(site: Site, row: Discovery, lease: Lease) -> Outcome:
    """Read the lists from the page reached, adding each page's accounts as entries with the progress."""
    plugin = DISCOVERY_PLUGINS.get(row.plugin)
    if plugin is None:
        return GiveUp(f"the discovery plugin {row.plugin!r} is not installed here")
    limits = site.federation
    owner = await Actor.get(id=row.owner_id)
    try:
        if row.actor_url is None:
            row.actor_url = await plugin.resolve(site, row.start)
            await lease.save(row, actor_url=row.actor_url)
        while row.collections:
            collection = row.collections[0]
            url = row.next_url
            if url is None:
                try:
                    url = await plugin.first_page(site, row.actor_url, collection)
                except Hidden as hidden:
                    row.note = _note(row.note, hidden.reason)
                    url = None
            origin = domain_of(row.actor_url)
            while url:
                if domain_of(url) != origin:
                    raise Refused(f"the next page {url} is not on {origin}")
                if row.pages >= limits.discovery_max_pages or row.found >= limits.discovery_max_entries:
                    return Go(DiscoveryState.DONE.value, values={"note": _note(row.note, (
                        f"stopped at the limit of {limits.discovery_max_pages} pages or {limits.discovery_max_entries} entries"
                    ))})
                listing = await plugin.read_page(site, url)
                accounts = list(dict.fromkeys(listing.accounts))[:max(0, limits.discovery_max_entries - row.found)]
                known = set(await column(
                    NetworkEntry.filter(network_id=row.network_id, actor_url__in=accounts).values_list("actor_url", flat=True), str,
                ))
                profiles, skipped = [], 0
                for account in accounts:
                    if account in known:
                        continue
                    try:
                        profiles.append(await plugin.profile(site, account))
                    except (Hidden, Unavailable, Refused) as problem:
                        log.info("discovery %s: %s skipped: %s", row.id, account, problem.reason)
                        skipped += 1
                following = listing.next_url
                async with in_transaction():
                    added = await add_entries(
                        site, row.network_id, profiles, f"{owner.username}, from the {collection} of {row.start}",
                    )
                    values: dict[str, Any] = {
                        "next_url": following, "pages": row.pages + 1, "found": row.found + added,
                        "seen": row.seen + len(accounts), "skipped": row.skipped + skipped, "note": row.note,
                    }
                    if following is None:
                        values["collections"] = list(row.collections[1:])
                    await lease.save(row, **values)
                for name, value in values.items():
                    setattr(row, name, value)
                url = following
            if row.collections and row.collections[0] == collection:  # hidden, empty, or had no pages
                row.collections = list(row.collections[1:])
                await lease.save(row, collections=row.collections, next_url=None, note=row.note)
    except Unavailable as error:
        return Retry(error=error.reason[:500])
    except Refused as error:
        return GiveUp(error.reason[:500], values={"note": _note(row.note, error.reason)})
    return Go(DiscoveryState.DONE.value, values={"note": row.note})
