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
from collections.abc import Callable
from typing import Any

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from models.urls import PRIVATE_HINT, UrlRefused, Target, check_callback_syntax, check_url, is_public, literal_address

__all__ = ["UrlRefused", "Target", "check_url", "is_public", "resolve_public", "check_callback_url", "GuardedResolver"]

DNS_TIMEOUT_SECONDS = 5


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
    literal = literal_address(host)
    if literal is not None:
        if not allow_private and not is_public(literal):
            raise UrlRefused(f"{host} is not a public address{PRIVATE_HINT}")
        return [host]
    found = await _addresses(host, port)
    if not found:
        raise UrlRefused(f"the host {host} has no addresses")
    if not allow_private:
        refused = sorted({addr for addr in found if not is_public(ipaddress.ip_address(addr))})
        if refused:
            raise UrlRefused(f"the host {host} resolves to a non-public address ({', '.join(refused)}){PRIVATE_HINT}")
    return found


async def check_callback_url(url: str, *, allow_private: bool = False) -> str:
    """Full check of a URL given by a user (syntax, then DNS); the URL unchanged."""
    target = check_callback_syntax(url, allow_private=allow_private)
    await resolve_public(target.host, target.port, allow_private=allow_private)
    return url


# What turns host names into addresses before the guard checks them: the system's resolver. A
# simulation (bench/internet.py: thousands of host names, all on 127.0.0.1) puts its own here.
NAME_RESOLVER: Callable[[], AbstractResolver] = DefaultResolver


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses non-public addresses at connection time."""

    def __init__(self, *, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._inner = NAME_RESOLVER()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        results = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            for item in results:
                if not is_public(ipaddress.ip_address(item["host"])):
                    raise OSError(f"refused to connect to {host}: {item['host']} is not a public address{PRIVATE_HINT}")
        return results

    async def close(self) -> None:
        await self._inner.close()
