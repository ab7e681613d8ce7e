"""Discovery plugins (issue 21, item 4): the interface a social network's reader implements.

A plugin lists the accounts around a starting account (followers, following) page by page and
reads each account's profile; the machine networks.discoveries (handler: federation/discovery.py)
drives it and turns what it reads into network entries (models/operations/networks.py). The
built-in plugin is the fediverse one (federation/discovery.py); more are entry points in the
group "tallystick.discovery" (pyproject.toml), loaded when the server starts. Plugins do the
network I/O, so they live outside models; only their shape and the registry are here.

A plugin says how a read went by what it raises: `Hidden` (the server keeps that list private:
the discovery ends with a note, not an error), `Unavailable` (try again later), `Refused`
(never: an address refused, no such account).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .context import Site

__all__ = [
    "COLLECTIONS", "DISCOVERY_PLUGINS", "DiscoveryPlugin", "Hidden", "Listing", "Profile", "Refused", "Unavailable",
    "register_discovery",
]

COLLECTIONS = ("followers", "following")


@dataclass(frozen=True)
class Profile:
    """What a network entry records of one account."""

    actor_url: str
    handle: str
    display_name: str
    instance: str
    followers_count: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listing:
    """One page of a collection: the accounts' URLs in it, and the next page (None: the last)."""

    accounts: list[str] = field(default_factory=list)
    next_url: str | None = None


class DiscoveryProblem(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Hidden(DiscoveryProblem):
    """The server does not show this list (401/403, or a count without items)."""


class Unavailable(DiscoveryProblem):
    """The server did not answer now; the same read may work later."""


class Refused(DiscoveryProblem):
    """It cannot work: an address we may not reach, no such account, not a collection."""


class DiscoveryPlugin(Protocol):
    """A social network's reader (federation/discovery.py FediversePlugin is the model)."""

    async def resolve(self, site: Site, start: str) -> str:
        """The URL of the account `start` names (a handle or a URL)."""
        ...

    async def first_page(self, site: Site, account_url: str, collection: str) -> str | None:
        """The URL of the first page of the account's `collection`; None when it has none."""
        ...

    async def read_page(self, site: Site, url: str) -> Listing:
        """One page of a collection."""
        ...

    async def profile(self, site: Site, account_url: str) -> Profile:
        """The account's profile, as an entry records it."""
        ...


DISCOVERY_PLUGINS: dict[str, DiscoveryPlugin] = {}


def register_discovery(name: str, plugin: DiscoveryPlugin) -> None:
    """Make a plugin available to networks.discover under `name`."""
    DISCOVERY_PLUGINS[name] = plugin
