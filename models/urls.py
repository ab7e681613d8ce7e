"""Pure URL checks for addresses users give us (callbacks, webhooks, remote objects).

No DNS and no network here: `check_url` refuses what can be judged from the text alone
(scheme, userinfo, control characters, literal non-public IPs). federation/ssrf.py adds the
DNS half and the connection-time guard.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import Unprocessable

if TYPE_CHECKING:
    from .context import Site

__all__ = [
    "MAX_URL_LENGTH",
    "PRIVATE_HINT",
    "Target",
    "UrlRefused",
    "check_callback_syntax",
    "check_saved_url",
    "check_url",
    "is_public",
    "literal_address",
]

MAX_URL_LENGTH = 2048
# Two servers on one machine refused each other and nothing said how to allow it (issue 24).
PRIVATE_HINT = " (TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES=true allows it on a closed network)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def literal_address(host: str) -> IPAddress | None:
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
    literal = literal_address(host)
    if literal is not None and not allow_private and not is_public(literal):
        raise UrlRefused(f"{host} is not a public address{PRIVATE_HINT}")
    if not allow_private and (host.lower() == "localhost" or host.lower().endswith(".localhost")):
        raise UrlRefused(f"{host} is not a public address (RFC 6761: it always means this machine){PRIVATE_HINT}")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


def check_callback_syntax(url: str, *, allow_private: bool = False) -> Target:
    """The checks a callback URL gets when it is submitted; DNS is checked before each try."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    return check_url(url, allow_private=allow_private)


async def check_saved_url(site: Site, url: str) -> None:
    """A URL a user saves for us to post to later: the syntax here, then the server's DNS check
    (Site.check_url_host), so a host that resolves to a private address is refused when saved,
    not only when a delivery tries it. Call it before opening a transaction: it may wait on DNS.
    """
    check_callback_syntax(url, allow_private=site.federation.allow_private_addresses)
    if site.check_url_host is not None and not site.federation.allow_private_addresses:
        await site.check_url_host(url)
