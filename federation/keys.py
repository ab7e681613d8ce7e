"""Key pairs and their encodings for federation.

Every actor has two keys (DESIGN.md, "Federation"):

- an RSA-2048 key for HTTP signatures, published as ``publicKey.publicKeyPem`` (SPKI PEM)
  because that is what Mastodon-family servers read;
- an Ed25519 key for Object Integrity Proofs, published in ``assertionMethod`` as a
  Multikey (FEP-521a) whose ``publicKeyMultibase`` is base58-btc multibase of the
  multicodec-prefixed raw key.

Pure functions only: nothing here touches the database or the network. Private keys are
serialised as unencrypted PKCS#8 PEM (RFC 5208/5958), public keys as SubjectPublicKeyInfo
PEM (RFC 5280 section 4.1.2.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

__all__ = [
    "KeyFormatError",
    "KeyKind",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "base58btc_decode",
    "base58btc_encode",
    "ed25519_from_multibase",
    "ed25519_private_from_multibase",
    "ed25519_private_to_multibase",
    "ed25519_to_multibase",
    "generate_ed25519",
    "generate_rsa",
    "key_kind",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
KeyKind = Literal["rsa", "ed25519"]

RSA_KEY_SIZE = 2048
RSA_PUBLIC_EXPONENT = 65537

# Multicodec table entries (https://github.com/multiformats/multicodec, table.csv),
# written as their unsigned-varint bytes: ed25519-pub is 0xed -> 0xed 0x01, and
# ed25519-priv is 0x1300 -> 0x80 0x26.
ED25519_PUB_MULTICODEC = b"\xed\x01"
ED25519_PRIV_MULTICODEC = b"\x80\x26"
# Multibase prefix for base58-btc (draft-multiformats-multibase section 2).
BASE58BTC_PREFIX = "z"
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: index for index, char in enumerate(_B58_ALPHABET)}
_B58_PAIRS = [high + low for high in _B58_ALPHABET for low in _B58_ALPHABET]  # 0..58**2-1 as two digits
_B58_CHUNK = 58**10  # ten digits at a time fit a machine word: a tenth of the big-number divisions


class KeyFormatError(ValueError):
    """A key or key encoding could not be read (bad PEM, wrong type, bad multibase)."""


@dataclass(frozen=True)
class KeyPair:
    """A freshly generated key pair, already serialised for storage and publication."""

    kind: KeyKind
    private_pem: str
    public_pem: str

    def private_key(self) -> PrivateKey:
        """The private key as a cryptography object."""
        return load_private_key(self.private_pem)

    def public_key(self) -> PublicKey:
        """The public key as a cryptography object."""
        return load_public_key(self.public_pem)


def generate_rsa() -> KeyPair:
    """Generate an RSA-2048 key pair (e = 65537), the size Mastodon uses for actors."""
    key = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_KEY_SIZE)
    return KeyPair("rsa", private_key_pem(key), public_key_pem(key.public_key()))


def generate_ed25519() -> KeyPair:
    """Generate an Ed25519 key pair (RFC 8032) for proofs and hs2019/RFC 9421 signatures."""
    key = ed25519.Ed25519PrivateKey.generate()
    return KeyPair("ed25519", private_key_pem(key), public_key_pem(key.public_key()))


def private_key_pem(key: PrivateKey) -> str:
    """Serialise a private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key: PublicKey) -> str:
    """Serialise a public key as SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``)."""
    return key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")


def load_private_key(pem: str | bytes) -> PrivateKey:
    """Read an unencrypted PEM private key (PKCS#8 or PKCS#1); only RSA and Ed25519."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"not a readable PEM private key: {exc}") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise KeyFormatError(f"unsupported private key type {type(key).__name__}")
    return key


def load_public_key(pem: str | bytes) -> PublicKey:
    """Read a PEM public key (SPKI, or PKCS#1 ``RSA PUBLIC KEY``); only RSA and Ed25519.

    Remote actors publish whatever their software writes, so both RSA PEM forms are
    accepted; anything else (EC, DSA, garbage) is a KeyFormatError.
    """
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"not a readable PEM public key: {exc}") from exc
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise KeyFormatError(f"unsupported public key type {type(key).__name__}")
    return key


def key_kind(key: PublicKey | PrivateKey) -> KeyKind:
    """Tell an RSA key from an Ed25519 key (hs2019 picks its algorithm this way)."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "rsa"
    return "ed25519"


def base58btc_encode(data: bytes) -> str:
    """Encode bytes in base58 with the Bitcoin alphabet (draft-msporny-base58 section 3).

    Each leading zero byte becomes a leading ``1``; the rest is the big-endian number
    written in base 58.
    """
    zeros = len(data) - len(data.lstrip(b"\x00"))
    number = int.from_bytes(data, "big")
    pairs: list[str] = []
    while number:
        number, chunk = divmod(number, _B58_CHUNK)
        for _ in range(5):
            chunk, pair = divmod(chunk, 58 * 58)
            pairs.append(_B58_PAIRS[pair])
    return "1" * zeros + "".join(reversed(pairs)).lstrip("1")  # the chunks' own leading zeros go


def base58btc_decode(text: str) -> bytes:
    """Decode base58-btc text; raises KeyFormatError on characters outside the alphabet."""
    zeros = len(text) - len(text.lstrip("1"))
    number = 0
    for char in text:
        index = _B58_INDEX.get(char)
        if index is None:
            raise KeyFormatError(f"invalid base58btc character {char!r}")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * zeros + body


def _multibase_decode(value: str, codec: bytes, length: int, what: str) -> bytes:
    """Strip the multibase prefix and multicodec header; check the payload length."""
    if not value.startswith(BASE58BTC_PREFIX):
        raise KeyFormatError(f"{what} must be base58btc multibase (start with 'z')")
    raw = base58btc_decode(value[1:])
    if not raw.startswith(codec):
        raise KeyFormatError(f"{what} has the wrong multicodec header {raw[:2].hex()}")
    payload = raw[len(codec) :]
    if len(payload) != length:
        raise KeyFormatError(f"{what} must hold {length} key bytes, not {len(payload)}")
    return payload


def ed25519_to_multibase(key: ed25519.Ed25519PublicKey) -> str:
    """Encode an Ed25519 public key as a Multikey ``publicKeyMultibase`` (FEP-521a).

    The value is ``z`` + base58btc(0xed 0x01 + 32 raw key bytes), so it always starts
    with ``z6Mk``.
    """
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return BASE58BTC_PREFIX + base58btc_encode(ED25519_PUB_MULTICODEC + raw)


def ed25519_from_multibase(value: str) -> ed25519.Ed25519PublicKey:
    """Read a Multikey ``publicKeyMultibase`` back into an Ed25519 public key."""
    raw = _multibase_decode(value, ED25519_PUB_MULTICODEC, 32, "publicKeyMultibase")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


def ed25519_private_to_multibase(key: ed25519.Ed25519PrivateKey) -> str:
    """Encode an Ed25519 private key as ``secretKeyMultibase`` (multicodec ed25519-priv)."""
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return BASE58BTC_PREFIX + base58btc_encode(ED25519_PRIV_MULTICODEC + raw)


def ed25519_private_from_multibase(value: str) -> ed25519.Ed25519PrivateKey:
    """Read a ``secretKeyMultibase`` (as in the Data Integrity test vectors) into a key."""
    raw = _multibase_decode(value, ED25519_PRIV_MULTICODEC, 32, "secretKeyMultibase")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
