"""Secrets: memory-hard password hashes (scrypt) and bearer tokens kept only as SHA-256."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "check_password", "hash_password_off_loop", "check_password_off_loop", "new_bearer_token",
           "token_digest"]

PRODUCTION_COST = (2**14, 8, 1)  # scrypt n, r, p: ~16 MiB and ~50 ms per hash
# The cost of new hashes. Only the test suite lowers it (tests/conftest.py); every stored hash
# records its own n, r, p, so hashes made at any cost keep verifying.
cost: tuple[int, int, int] = PRODUCTION_COST


async def hash_password_off_loop(password: str) -> str:
    """hash_password on a worker thread: scrypt's ~50 ms would otherwise stop every other request."""
    return await asyncio.to_thread(hash_password, password)


async def check_password_off_loop(password: str, stored: str) -> bool:
    """check_password on a worker thread (hashlib's scrypt releases the GIL while it works)."""
    return await asyncio.to_thread(check_password, password, stored)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    """A salted scrypt hash at the current `cost`, as `scrypt$n$r$p$salt$digest`."""
    n, r, p = cost
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time check; False for any malformed stored hash."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


def new_bearer_token() -> str:
    """A high-entropy secret; the prefix lets secret scanners recognise leaked tokens."""
    return "tsk_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
