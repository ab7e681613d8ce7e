"""Shared helpers for the HTTP signature tests: fixture keys, a recording key store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from federation.httpsig_core import IncomingRequest
from federation.keys import PrivateKey, PublicKey, load_private_key, load_public_key

FIXTURES = Path(__file__).parent / "fixtures" / "httpsig"
RSA_PRIVATE_PEM = (FIXTURES / "rsa_private.pem").read_text()
RSA_PUBLIC_PEM = (FIXTURES / "rsa_public.pem").read_text()
ED_PRIVATE_PEM = (FIXTURES / "ed25519_private.pem").read_text()
ED_PUBLIC_PEM = (FIXTURES / "ed25519_public.pem").read_text()
RSA_PRIVATE: PrivateKey = load_private_key(RSA_PRIVATE_PEM)
RSA_PUBLIC: PublicKey = load_public_key(RSA_PUBLIC_PEM)
ED_PRIVATE: PrivateKey = load_private_key(ED_PRIVATE_PEM)
ED_PUBLIC: PublicKey = load_public_key(ED_PUBLIC_PEM)

KEY_ID = "https://a.example/users/alice#main-key"
NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
BODY = b'{"type":"Follow","actor":"https://a.example/users/alice","object":"https://b.example/users/bob"}'
INBOX = "https://b.example/users/bob/inbox"


def load_vectors() -> list[dict[str, Any]]:
    """The known-good signatures in fixtures/httpsig/vectors.json."""
    data = json.loads((FIXTURES / "vectors.json").read_text())
    vectors: list[dict[str, Any]] = data["vectors"]
    return vectors


def incoming(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes = b"",
    extra: dict[str, str] | None = None,
) -> IncomingRequest:
    """What our server would see for a request sent to ``url`` with these headers."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    merged = {**headers, **(extra or {})}
    return IncomingRequest.build(method, target, merged, body, parts.scheme)


@dataclass
class KeyStore:
    """A fetch_key double: returns ``keys[0]`` normally and ``keys[1]`` on refresh."""

    key: PublicKey | str | None
    refreshed_key: PublicKey | str | None = None
    calls: list[tuple[str, bool]] = field(default_factory=list)

    async def __call__(self, key_id: str, refresh: bool) -> PublicKey | str | None:
        self.calls.append((key_id, refresh))
        if refresh:
            return self.refreshed_key
        return self.key

    @classmethod
    def same(cls, key: PublicKey | str) -> KeyStore:
        """A store that answers the same key before and after a refresh."""
        return cls(key, key)
