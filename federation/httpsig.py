"""Verify an incoming request's HTTP signature, whichever scheme it uses.

Incoming requests may use draft-cavage-12 (``Signature`` header; ``federation.httpsig_cavage``)
or RFC 9421 (``Signature-Input`` + ``Signature``; ``federation.httpsig_rfc9421``). Each scheme
reduces the request to a ``ParsedSignature`` (``federation.httpsig_core``); ``verify_request``
then checks, in order: the header parses; the algorithm is supported; the required components
are covered; the date window (``federation.httpsig_core.check_window``); the body digest
(``federation.digests``); and finally the signature, fetching the key through the
``fetch_key`` callable. On a bad signature the key is fetched once more with
``refresh=True`` -- the sender may have rotated it -- and checked again.

The result is a frozen ``VerifyResult``; nothing here raises for bad input or maps to HTTP.
Signing outgoing requests is the schemes' own: ``sign_cavage`` and ``sign_rfc9421``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeAlias

from federation.digests import DigestStatus, check_body_digests
from federation.httpsig_cavage import parse_cavage
from federation.httpsig_core import (
    Failure,
    IncomingRequest,
    ParsedSignature,
    SignatureError,
    VerifyResult,
    check_window,
    coerce_public_key,
    resolve_algorithm,
    verify_bytes,
)
from federation.httpsig_rfc9421 import parse_rfc9421
from federation.keys import KeyFormatError, PublicKey

__all__ = ["FetchKey", "verify_request"]

# ``fetch_key(key_id, refresh)`` returns the public key (object or PEM text), or None when
# the key cannot be had (unknown actor, gone, unreachable). With ``refresh=True`` it must
# bypass any cache. Exceptions it raises propagate to the caller.
FetchKey: TypeAlias = Callable[[str, bool], Awaitable[PublicKey | str | None]]


def _check_digest(request: IncomingRequest) -> None:
    """The body must match every digest header sent (RFC 3230 / RFC 9530)."""
    status = check_body_digests(request.header("digest"), request.header("content-digest"), request.body)
    if status is DigestStatus.MISMATCH:
        raise SignatureError(Failure.DIGEST_MISMATCH, "the body does not match its digest")
    if status is DigestStatus.MALFORMED:
        raise SignatureError(Failure.MALFORMED, "the digest header cannot be parsed")
    if status is DigestStatus.UNSUPPORTED:
        raise SignatureError(Failure.UNSUPPORTED_ALGORITHM, "no supported digest algorithm")
    if status is DigestStatus.ABSENT and request.has_body:
        raise SignatureError(Failure.MISSING_HEADERS, "a request with a body needs a digest")


def _matches(parsed: ParsedSignature, key: PublicKey) -> bool:
    concrete = resolve_algorithm(parsed.algorithm, key)
    if concrete is None:
        return False
    return any(verify_bytes(key, concrete, candidate, parsed.signature) for candidate in parsed.candidates)


async def _fetch(fetch_key: FetchKey, key_id: str, refresh: bool) -> PublicKey | None:
    found = await fetch_key(key_id, refresh)
    if found is None:
        return None
    try:
        return coerce_public_key(found)
    except KeyFormatError:
        return None


async def verify_request(
    request: IncomingRequest, fetch_key: FetchKey, *, now: datetime | None = None
) -> VerifyResult:
    """Verify an incoming request's HTTP signature (cavage or RFC 9421).

    Returns ``VerifyResult(ok=True, key_id=..., algorithm=...)`` or a failure with its
    reason. ``fetch_key`` is awaited at most twice: once normally, and once with
    ``refresh=True`` only when the first key does not verify the signature.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:  # a naive clock reading is taken as UTC
        now = now.replace(tzinfo=UTC)
    try:
        if request.header("signature-input") is not None:
            parsed = parse_rfc9421(request)
        elif request.header("signature") is not None:
            parsed = parse_cavage(request)
        else:
            return VerifyResult(ok=False, failure=Failure.MISSING, detail="the request is not signed")
    except SignatureError as exc:
        return VerifyResult(ok=False, failure=exc.failure, detail=exc.detail)

    def refused(failure: Failure, detail: str, refreshed: bool = False) -> VerifyResult:
        return VerifyResult(
            ok=False,
            failure=failure,
            detail=detail,
            key_id=parsed.key_id,
            algorithm=parsed.algorithm,
            scheme=parsed.scheme,
            key_refreshed=refreshed,
        )

    try:
        check_window(parsed, now)
        _check_digest(request)
    except SignatureError as exc:
        return refused(exc.failure, exc.detail)

    key = await _fetch(fetch_key, parsed.key_id, False)
    if key is None:
        return refused(Failure.UNKNOWN_KEY, f"no usable key for {parsed.key_id}")
    refreshed = False
    if not _matches(parsed, key):
        refreshed = True
        key = await _fetch(fetch_key, parsed.key_id, True)
        if key is None:
            return refused(Failure.UNKNOWN_KEY, f"no usable key for {parsed.key_id}", refreshed)
        if not _matches(parsed, key):
            return refused(Failure.BAD_SIGNATURE, "the signature does not verify", refreshed)
    return VerifyResult(
        ok=True,
        key_id=parsed.key_id,
        algorithm=parsed.algorithm or resolve_algorithm("", key),
        scheme=parsed.scheme,
        key_refreshed=refreshed,
    )
