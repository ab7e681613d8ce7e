"""Body digests for signed requests: ``Digest`` and ``Content-Digest``.

Two generations of the same idea travel the fediverse:

- ``Digest: SHA-256=<base64>`` (RFC 3230 section 4.3.2, as used by draft-cavage-12 and
  Mastodon): a comma-separated list of ``algorithm=value``, algorithm names case-insensitive;
- ``Content-Digest: sha-256=:<base64>:`` (RFC 9530 section 2): a Structured Field Dictionary
  (RFC 8941) whose members are byte sequences, used with RFC 9421 signatures.

We produce SHA-256 and accept SHA-256 and SHA-512. Checking returns a status rather than
raising, so the signature verifier can report a digest mismatch as its own failure reason.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Callable, Mapping

import http_sf

__all__ = [
    "DigestFormatError",
    "DigestStatus",
    "check_body_digests",
    "check_content_digest",
    "check_digest",
    "content_digest_header",
    "digest_header",
    "parse_content_digest",
    "parse_digest",
]

# Algorithm names as spelled in the Content-Digest registry (RFC 9530 section 7.2); the
# legacy Digest header uses the same names in upper case, compared case-insensitively.
_HASHES: Mapping[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda body: hashlib.sha256(body).digest(),
    "sha-512": lambda body: hashlib.sha512(body).digest(),
}


class DigestStatus(enum.Enum):
    """Outcome of checking a digest header against a body."""

    OK = "ok"
    ABSENT = "absent"  # no such header at all
    MALFORMED = "malformed"  # the header cannot be parsed
    UNSUPPORTED = "unsupported"  # parsed, but names no algorithm we can compute
    MISMATCH = "mismatch"  # a supported digest does not match the body


class DigestFormatError(ValueError):
    """A digest header value does not follow its grammar."""


def digest_header(body: bytes) -> str:
    """The legacy ``Digest`` value for a body: ``SHA-256=<base64>`` (RFC 3230)."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def content_digest_header(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value for a body: ``sha-256=:<base64>:``."""
    return http_sf.ser({"sha-256": (hashlib.sha256(body).digest(), {})})


def decode_base64(text: str) -> bytes:
    """Standard base64 with padding, nothing else allowed (binascii.Error or ValueError if not).

    Like base64.b64decode(validate=True), without its regular expression: read on every
    inbox POST (the signature and the digest)."""
    return binascii.a2b_base64(text, strict_mode=True)


def parse_digest(value: str) -> dict[str, bytes]:
    """Parse a legacy ``Digest`` header into ``{algorithm (lower case): raw digest}``.

    Values are base64 (with ``=`` padding), so each member is split on its first ``=``.
    Unknown algorithms are kept (undecoded bytes of their text) so callers can tell
    "unsupported" from "malformed".
    """
    result: dict[str, bytes] = {}
    for member in value.split(","):
        member = member.strip()
        if not member:
            continue
        name, sep, encoded = member.partition("=")
        name = name.strip().lower()
        if not sep or not name or not encoded:
            raise DigestFormatError(f"digest member {member!r} is not algorithm=value")
        if name in _HASHES:
            try:
                result[name] = decode_base64(encoded.strip())
            except (binascii.Error, ValueError) as exc:
                raise DigestFormatError(f"digest {name} is not base64") from exc
        else:
            result[name] = encoded.encode("utf-8", "replace")
    if not result:
        raise DigestFormatError("empty Digest header")
    return result


def parse_content_digest(value: str) -> dict[str, bytes]:
    """Parse an RFC 9530 ``Content-Digest`` dictionary into ``{algorithm: raw digest}``."""
    try:
        parsed = http_sf.parse(value.encode("utf-8"), tltype="dictionary")
    except (http_sf.StructuredFieldError, ValueError, UnicodeError) as exc:
        raise DigestFormatError(f"Content-Digest is not a structured dictionary: {exc}") from exc
    result: dict[str, bytes] = {}
    assert isinstance(parsed, dict)
    for name, member in parsed.items():
        bare = member[0] if isinstance(member, tuple) else None
        if not isinstance(bare, bytes):
            raise DigestFormatError(f"Content-Digest member {name} is not a byte sequence")
        result[name.lower()] = bare
    if not result:
        raise DigestFormatError("empty Content-Digest header")
    return result


def _compare(digests: Mapping[str, bytes], body: bytes) -> DigestStatus:
    """Every supported digest present must match; at least one must be supported."""
    known = {name: raw for name, raw in digests.items() if name in _HASHES}
    if not known:
        return DigestStatus.UNSUPPORTED
    for name, raw in known.items():
        if not hmac.compare_digest(_HASHES[name](body), raw):
            return DigestStatus.MISMATCH
    return DigestStatus.OK


def check_digest(value: str | None, body: bytes) -> DigestStatus:
    """Check a legacy ``Digest`` header value against the body."""
    if value is None:
        return DigestStatus.ABSENT
    try:
        return _compare(parse_digest(value), body)
    except DigestFormatError:
        return DigestStatus.MALFORMED


def check_content_digest(value: str | None, body: bytes) -> DigestStatus:
    """Check an RFC 9530 ``Content-Digest`` header value against the body."""
    if value is None:
        return DigestStatus.ABSENT
    try:
        return _compare(parse_content_digest(value), body)
    except DigestFormatError:
        return DigestStatus.MALFORMED


def check_body_digests(digest: str | None, content_digest: str | None, body: bytes) -> DigestStatus:
    """Check whichever digest headers are present; the worst outcome wins.

    A sender may send both headers; if either disagrees with the body the body was changed
    (or the sender is broken), so any MISMATCH is reported before MALFORMED/UNSUPPORTED.
    ABSENT only when neither header is present.
    """
    if content_digest is None:  # what nearly every sender does: only Digest
        return check_digest(digest, body)
    statuses = [
        status
        for status in (check_digest(digest, body), check_content_digest(content_digest, body))
        if status is not DigestStatus.ABSENT
    ]
    if not statuses:
        return DigestStatus.ABSENT
    for worst in (DigestStatus.MISMATCH, DigestStatus.MALFORMED, DigestStatus.UNSUPPORTED):
        if worst in statuses:
            return worst
    return DigestStatus.OK
