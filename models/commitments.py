"""Salted commitments to private attribute values, and the disclosures that open them.

A token's content hash covers its public document. Before issue 14 that document held the
values of private attributes too, unsalted: anyone could hash every candidate of a small
value (a 4-digit pin: 10,000 tries, 0.02 s) and find it. Now the hashed document carries,
for each private (or owner-readable) attribute, only a commitment:

    commitment = base64url(SHA-256(canonical_json([salt, name, value])))   (no padding)

the digest of an SD-JWT disclosure (a JSON array of salt, claim name and value): a form that
holders of selective-disclosure credentials already check. `canonical_json` is the one
canonical JSON the content hash uses (sorted keys, no whitespace, UTF-8), so there is one
canonicalisation to implement. The salt is 128 random bits: guessing the value needs the salt.

The owner hands a copy holder a *disclosure*, base64url(canonical_json([salt, name, value])):
its SHA-256, base64url-encoded, must equal `commitments[name]` in the token's public document,
which the content hash (and the owner's proof) cover. That check needs no network; the
origin also answers it (POST /api/v1/verify with `disclosure`).

Salts live in the token row (`Token.salts`), never in a public document: a fresh random one
whenever the token's own value of a private attribute changes. An attribute that became
private after the token was last written has no stored salt yet; its salt is then derived
from the token's random seed (the `*` entry, 128 bits) with HMAC-SHA256, which is as
unguessable and stays the same without a write on a read path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

import orjson

from .attributes import canonical_json

__all__ = [
    "SALT_BYTES",
    "SEED_KEY",
    "b64url",
    "commitment",
    "disclosure",
    "new_salt",
    "open_disclosure",
    "salt_for",
]

SALT_BYTES = 16  # 128 bits, as SD-JWT recommends
SEED_KEY = "*"  # not an attribute name (names match NAME_PATTERN), so it cannot collide


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 section 5, as JOSE and SD-JWT use it)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_salt() -> str:
    """A fresh random salt (128 bits from `secrets`), base64url-encoded."""
    return b64url(secrets.token_bytes(SALT_BYTES))


def salt_for(salts: dict[str, Any], name: str) -> str:
    """The salt of one attribute: the stored one, else one derived from the token's seed."""
    stored = salts.get(name)
    if isinstance(stored, str) and stored:
        return stored
    seed = salts.get(SEED_KEY)
    if not isinstance(seed, str) or not seed:
        raise ValueError("the token has no salt seed")  # every row gets one (create, migration 0003)
    derived = hmac.new(seed.encode("ascii"), name.encode("utf-8"), hashlib.sha256).digest()[:SALT_BYTES]
    return b64url(derived)


def _array(salt: str, name: str, value: Any) -> bytes:
    return canonical_json([salt, name, value])


def commitment(salt: str, name: str, value: Any) -> str:
    """base64url(SHA-256(canonical_json([salt, name, value]))): what the hashed document carries."""
    return b64url(hashlib.sha256(_array(salt, name, value)).digest())


def disclosure(salt: str, name: str, value: Any) -> str:
    """base64url(canonical_json([salt, name, value])): what the owner hands a copy holder."""
    return b64url(_array(salt, name, value))


def open_disclosure(text: str) -> tuple[str, str, Any, str]:
    """(salt, name, value, commitment) of a disclosure; ValueError when it is not one."""
    try:
        raw = _b64url_decode(text)
        parsed = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise ValueError("is not a disclosure: base64url of a JSON array [salt, name, value]") from None
    if not (isinstance(parsed, list) and len(parsed) == 3 and all(isinstance(item, str) for item in parsed[:2])):
        raise ValueError("is not a disclosure: base64url of a JSON array [salt, name, value]")
    salt, name, value = parsed
    try:  # the commitment is over the canonical form, so a re-encoded but equal array still opens it
        return salt, name, value, commitment(salt, name, value)
    except (orjson.JSONEncodeError, TypeError):  # e.g. nested deeper than canonical JSON allows
        raise ValueError("is not a disclosure: its value is not canonical JSON") from None
