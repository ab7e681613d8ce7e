"""SSRF guard: refuse outgoing requests to addresses inside our own network.

A user-supplied URL (job callbacks, later webhooks and federation fetches) must not make the
server talk to itself, its database, the cloud metadata service or anything else that only
trusts callers from inside. `check_url` is the pure part (scheme, userinfo, literal IPs);
`resolve_public` resolves a host name and refuses it if any address is not public.

DNS can change between the check and the connection (rebinding), so callers that connect
use `GuardedResolver` with aiohttp: the addresses it hands to the connector are the very
ones it checked. Everything is allowed when settings.federation.allow_private_addresses is
set (tests, closed networks).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from models.errors import Unprocessable

__all__ = ["UrlRefused", "Target", "check_url", "is_public", "resolve_public", "check_callback_url", "GuardedResolver"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DNS_TIMEOUT_SECONDS = 5


class UrlRefused(Unprocessable):
    """The URL may not be fetched or posted to; the detail says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="callback-url-refused")


@dataclass(frozen=True)
class Target:
    """The checked parts of a URL: scheme, host (IPv6 without brackets) and port."""

    scheme: str
    host: str
    port: int


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address; IPv4-mapped/-compatible IPv6 judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if address.packed[:12] == bytes(12):  # ::a.b.c.d (deprecated IPv4-compatible) and ::, ::1
            return False if int(address) <= 1 else is_public(ipaddress.IPv4Address(address.packed[12:]))
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, *, allow_private: bool = False) -> Target:
    """The pure checks: http(s), a host, no userinfo, a literal IP must be public."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"the URL is malformed: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("only http and https URLs are allowed")
    if "@" in parts.netloc:
        raise UrlRefused("URLs with a user name or password are not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("the URL has no host")
    if any(ord(char) < 33 for char in url):
        raise UrlRefused("the URL contains spaces or control characters")
    literal = _literal(host)
    if literal is not None and not allow_private and not is_public(literal):
        raise UrlRefused(f"{host} is not a public address")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


async def _addresses(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), DNS_TIMEOUT_SECONDS)
    except (socket.gaierror, UnicodeError) as error:
        raise UrlRefused(f"the host {host} cannot be resolved: {error}") from None
    except TimeoutError:
        raise UrlRefused(f"the host {host} did not resolve within {DNS_TIMEOUT_SECONDS} seconds") from None
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


async def resolve_public(host: str, port: int, *, allow_private: bool = False) -> list[str]:
    """The host's addresses; refused if it has none or any of them is not public."""
    literal = _literal(host)
    if literal is not None:
        if not allow_private and not is_public(literal):
            raise UrlRefused(f"{host} is not a public address")
        return [host]
    found = await _addresses(host, port)
    if not found:
        raise UrlRefused(f"the host {host} has no addresses")
    if not allow_private:
        refused = sorted({addr for addr in found if not is_public(ipaddress.ip_address(addr))})
        if refused:
            raise UrlRefused(f"the host {host} resolves to a non-public address ({', '.join(refused)})")
    return found


async def check_callback_url(url: str, *, allow_private: bool = False) -> str:
    """Full check of a URL given by a user (syntax, then DNS); the URL unchanged."""
    if len(url) > 2048:
        raise UrlRefused("the URL is longer than 2048 characters")
    target = check_url(url, allow_private=allow_private)
    await resolve_public(target.host, target.port, allow_private=allow_private)
    return url


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses non-public addresses at connection time."""

    def __init__(self, *, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        results = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            for item in results:
                if not is_public(ipaddress.ip_address(item["host"])):
                    raise OSError(f"refused to connect to {host}: {item['host']} is not a public address")
        return results

    async def close(self) -> None:
        await self._inner.close()
