"""Shared pieces of HTTP signature handling: result types, the request view, crypto, time.

Both signature schemes we speak (draft-cavage-12 in ``federation.httpsig_cavage`` and RFC 9421
in ``federation.httpsig_rfc9421``) reduce an incoming request to a ``ParsedSignature``: who signed
(key id), with what (declared algorithm), over which bytes (one or more candidate signing
strings), and when (created/expires/Date). Everything after that -- the date window, the
body digest, fetching the key and checking the bytes -- is common and lives in
``federation.httpsig.verify_request``.

Nothing here maps to HTTP statuses: the inbox decides that (format errors 400, bad
signatures 401), as Takahe's core/signatures.py and microblog.pub's httpsig.py do.
"""

from __future__ import annotations

import email.utils
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal, TypeAlias
from urllib.parse import SplitResult, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from federation.keys import PrivateKey, PublicKey, load_private_key, load_public_key

__all__ = [
    "BODY_METHODS",
    "MAX_AGE",
    "MAX_FUTURE",
    "Failure",
    "IncomingRequest",
    "ParsedSignature",
    "Scheme",
    "SigAlg",
    "SignatureError",
    "VerifyResult",
    "as_private_key",
    "authority_of",
    "check_window",
    "coerce_public_key",
    "http_date",
    "resolve_algorithm",
    "sign_bytes",
    "split_url",
    "verify_bytes",
]

Scheme = Literal["cavage", "rfc9421"]
# Concrete algorithms, named as in the RFC 9421 registry (section 6.2.2).
SigAlg: TypeAlias = Literal["rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519"]

# DESIGN.md "Federation": refuse more than 1 hour in the future or 12 hours old.
MAX_FUTURE = timedelta(hours=1)
MAX_AGE = timedelta(hours=12)

# Methods that carry a body and therefore must sign a digest (Mastodon requires Digest on
# POST even when the body is empty).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Failure(enum.StrEnum):
    """Why a signature was refused. Values are stable strings for logs and problem codes."""

    MISSING = "missing"  # no Signature / Signature-Input header at all
    MALFORMED = "malformed"  # headers present but not parseable
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"  # signature or digest algorithm unknown
    EXPIRED = "expired"  # older than MAX_AGE, or past its expires
    FUTURE = "future"  # more than MAX_FUTURE ahead of our clock
    DIGEST_MISMATCH = "digest-mismatch"  # the body does not match its digest header
    BAD_SIGNATURE = "bad-signature"  # the bytes do not verify, even with a refetched key
    MISSING_HEADERS = "missing-headers"  # a required component is not signed or not sent
    UNKNOWN_KEY = "unknown-key"  # fetch_key could not produce a usable key


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verifying one request; ``ok`` is True only when nothing failed."""

    ok: bool
    failure: Failure | None = None
    detail: str = ""
    key_id: str | None = None
    algorithm: str | None = None
    scheme: Scheme | None = None
    key_refreshed: bool = False


class SignatureError(Exception):
    """Internal: a check failed. ``verify_request`` turns it into a VerifyResult."""

    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True)
class IncomingRequest:
    """The parts of an HTTP request a signature can cover.

    ``target`` is the request target exactly as received (path plus ``?query``);
    ``headers`` has lower-case names, repeated fields joined with ``", "`` (RFC 9110
    section 5.3, which both signature schemes follow); ``scheme`` is how the request
    reached us, needed to rebuild ``@target-uri`` (behind a proxy: the public scheme).
    """

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""
    scheme: str = "https"

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes = b"",
        scheme: str = "https",
    ) -> IncomingRequest:
        """Normalise header names and join repeated fields (works on aiohttp's CIMultiDict)."""
        merged: dict[str, str] = {}
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in pairs:
            key = name.lower()
            value = value.strip(" \t")
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return cls(method.upper(), target or "/", MappingProxyType(merged), body, scheme.lower())

    def header(self, name: str) -> str | None:
        """One header value by (case-insensitive) name, or None."""
        return self.headers.get(name.lower())

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0] or "/"

    @property
    def has_body(self) -> bool:
        """Whether a digest must be signed: any content, or a method that carries one."""
        return bool(self.body) or self.method in BODY_METHODS


@dataclass(frozen=True)
class ParsedSignature:
    """A signature header read into scheme-neutral parts, coverage already checked."""

    scheme: Scheme
    key_id: str
    algorithm: str  # as declared: "rsa-sha256", "hs2019", "ed25519", ... ("" if absent)
    signature: bytes
    candidates: tuple[bytes, ...]  # signing strings to try, most likely first
    created: float | None  # only when the timestamp itself is covered by the signature
    expires: float | None
    date: str | None  # the Date header, when it is covered


def http_date(moment: datetime | None = None) -> str:
    """An IMF-fixdate (RFC 9110 section 5.6.7) for the Date header, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    moment = moment or datetime.now(UTC)
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def split_url(url: str) -> SplitResult:
    """Split an absolute http(s) URL; ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return parts


def authority_of(parts: SplitResult) -> str:
    """Host (lower case) plus port unless it is the scheme's default (RFC 9421 section 2.2.3)."""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"


def as_private_key(key: PrivateKey | str) -> PrivateKey:
    """Accept a key object or its PEM text."""
    return load_private_key(key) if isinstance(key, str) else key


def resolve_algorithm(declared: str, key: PublicKey | PrivateKey) -> SigAlg | None:
    """The concrete algorithm for a declared name and a key, or None if they disagree.

    ``hs2019`` (draft-cavage-12 section 2.1.3) and an absent algorithm mean "whatever the
    key is": RSA keys verify as RSASSA-PKCS1-v1_5 with SHA-256 (what Mastodon sends under
    hs2019), Ed25519 keys as Ed25519.
    """
    is_rsa = isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey))
    if declared in ("", "hs2019"):
        return "rsa-v1_5-sha256" if is_rsa else "ed25519"
    if declared in ("rsa-sha256", "rsa-v1_5-sha256"):
        return "rsa-v1_5-sha256" if is_rsa else None
    if declared == "rsa-pss-sha512":
        return "rsa-pss-sha512" if is_rsa else None
    if declared == "ed25519":
        return None if is_rsa else "ed25519"
    return None


def _pss() -> padding.PSS:
    # RFC 9421 section 3.3.1: MGF1 with SHA-512 and a 64-byte salt.
    return padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)


def sign_bytes(key: PrivateKey, alg: SigAlg, data: bytes) -> bytes:
    """Sign ``data`` with a concrete algorithm; ValueError if the key does not fit it."""
    if alg == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if alg == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "rsa-pss-sha512" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _pss(), hashes.SHA512())
    raise ValueError(f"a {type(key).__name__} cannot sign with {alg}")


_PKCS1 = padding.PKCS1v15()  # stateless parameter objects, shared
_SHA256 = hashes.SHA256()


def verify_bytes(key: PublicKey, alg: SigAlg, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``data`` verifies; never raises for bad input."""
    try:
        if alg == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPublicKey):  # nearly every request
            key.verify(signature, data, _PKCS1, _SHA256)
            return True
        if alg == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if alg == "rsa-pss-sha512" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, _pss(), hashes.SHA512())
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


# IMF-fixdate (RFC 9110 section 5.6.7), what every sender writes: read without the general parser.
_IMF_FIXDATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}


def _parse_http_date(value: str) -> datetime:
    fixed = _IMF_FIXDATE.fullmatch(value)
    if fixed is not None and fixed[2] in _MONTHS:
        day, _, year, hour, minute, second = fixed.groups()
        try:
            return datetime(int(year), _MONTHS[fixed[2]], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
        except ValueError as exc:  # 31 Feb, hour 25: well formed, still no date
            raise SignatureError(Failure.MALFORMED, f"unreadable Date header {value!r}") from exc
    try:  # the obsolete forms (RFC 850, asctime) and anything a lenient sender writes
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise SignatureError(Failure.MALFORMED, f"unreadable Date header {value!r}") from exc
    if moment.tzinfo is None:  # "-0000" means UTC without a claim (RFC 5322 section 3.3)
        moment = moment.replace(tzinfo=UTC)
    return moment


def _from_timestamp(value: float, name: str) -> datetime:
    """A Unix timestamp as an aware datetime; absurd values (nan, 1e300) are malformed."""
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SignatureError(Failure.MALFORMED, f"{name} is not a usable timestamp") from exc


def check_window(parsed: ParsedSignature, now: datetime) -> None:
    """Refuse signatures older than MAX_AGE, past ``expires``, or beyond MAX_FUTURE.

    The signed ``created`` time wins over the Date header when both are covered (as in
    Mastodon); one of them is always covered, the parsers make sure of that.
    """
    if parsed.created is not None:
        moment = _from_timestamp(parsed.created, "created")
    elif parsed.date is not None:
        moment = _parse_http_date(parsed.date)
    else:
        raise SignatureError(Failure.MISSING_HEADERS, "neither Date nor created is signed")
    if moment > now + MAX_FUTURE:
        raise SignatureError(Failure.FUTURE, f"signed at {moment.isoformat()}, in the future")
    if moment < now - MAX_AGE:
        raise SignatureError(Failure.EXPIRED, f"signed at {moment.isoformat()}, too long ago")
    if parsed.expires is not None and _from_timestamp(parsed.expires, "expires") < now:
        raise SignatureError(Failure.EXPIRED, "the signature's expires time has passed")


def coerce_public_key(key: PublicKey | str) -> PublicKey:
    """Accept what fetch_key returns: a key object or PEM text (KeyFormatError if bad)."""
    if isinstance(key, str):
        return load_public_key(key)
    return key

