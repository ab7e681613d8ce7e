"""draft-cavage-http-signatures-12: the ``Signature`` header scheme, signing and parsing.

Outgoing requests are signed the way Mastodon signs and every fediverse server verifies:
draft-cavage-http-signatures-12 with ``algorithm="rsa-sha256"``, covering
``(request-target) host date digest`` (``digest`` only when there is a body; GETs sign
``(request-target) host date``), keyId ``<actor>#main-key`` (DESIGN.md "Federation").
Incoming ones may declare ``rsa-sha256`` or ``hs2019``; ``parse_cavage`` reduces them to a
``ParsedSignature`` that ``federation.httpsig.verify_request`` checks.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

from federation.digests import decode_base64, digest_header
from federation.httpsig_core import (
    Failure,
    IncomingRequest,
    ParsedSignature,
    SignatureError,
    as_private_key,
    authority_of,
    http_date,
    resolve_algorithm,
    sign_bytes,
    split_url,
)
from federation.keys import PrivateKey

__all__ = ["CAVAGE_ALGORITHMS", "cavage_signing_string", "parse_cavage", "parse_cavage_header", "sign_cavage"]

# draft-cavage-12 section 2.3 and Mastodon: rsa-sha256 is what everyone sends; hs2019 means
# "derive the algorithm from the key".
CAVAGE_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
CavageAlgorithm = Literal["rsa-sha256", "hs2019"]

# One ``name="value"`` or ``name=value`` member of the Signature header, then a comma or
# the end (draft-cavage-12 section 2.1: a comma-separated list of parameters).
# The quoted value is matched as runs of plain characters between escapes ("unrolled"): an
# alternation per character made this the costliest step of an inbox POST (20 us of 30).
_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^",\s]+))\s*(?:,|$)')
_ESCAPED = re.compile(r"\\(.)")


def parse_cavage_header(value: str) -> dict[str, str]:
    """Parse a cavage ``Signature`` header into lower-cased parameter names and values."""
    params: dict[str, str] = {}
    position = 0
    value = value.strip()
    while position < len(value):
        match = _PARAM.match(value, position)
        if match is None or match.end() == position:
            raise SignatureError(Failure.MALFORMED, f"unreadable Signature header near {value[position:][:20]!r}")
        name = match.group(1).lower()
        if name in params:
            raise SignatureError(Failure.MALFORMED, f"Signature parameter {name} appears twice")
        quoted = match.group(2)
        if quoted is None:
            params[name] = match.group(3)
        else:
            params[name] = _ESCAPED.sub(r"\1", quoted) if "\\" in quoted else quoted
        position = match.end()
    return params


def cavage_signing_string(
    names: Sequence[str],
    method: str,
    target: str,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
) -> str:
    """Build the signing string (draft-cavage-12 section 2.3).

    One ``name: value`` line per covered name, in the signed order: ``(request-target)`` is
    ``<lower-case method> <target>``, ``(created)``/``(expires)`` are the Signature
    parameters of the same name, anything else is the header value (names lower case).
    """
    params = params or {}
    lines: list[str] = []
    for name in names:
        if name == "(request-target)":
            value = f"{method.lower()} {target}"
        elif name in ("(created)", "(expires)"):
            raw = params.get(name[1:-1])
            if raw is None:
                raise SignatureError(Failure.MALFORMED, f"{name} is signed but the parameter is missing")
            value = raw
        else:
            found = headers.get(name)
            if found is None:
                raise SignatureError(Failure.MISSING_HEADERS, f"signed header {name!r} is not in the request")
            value = found
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def sign_cavage(
    method: str,
    url: str,
    *,
    key_id: str,
    private_key: PrivateKey | str,
    body: bytes | None = None,
    now: datetime | None = None,
    algorithm: CavageAlgorithm = "rsa-sha256",
    headers: Sequence[str] | None = None,
    include_query: bool = True,
) -> dict[str, str]:
    """Sign a request per draft-cavage-12; return the headers to add.

    Returns ``Host``, ``Date``, ``Digest`` (only when ``body`` is given) and ``Signature``.
    ``headers`` overrides the covered list and ``include_query=False`` signs the
    ``(request-target)`` without its query string (as some servers do); both exist for
    tests and interoperability, the defaults are what Mastodon expects.
    """
    if '"' in key_id or "\\" in key_id:
        raise ValueError("keyId must not contain quotes or backslashes")
    parts = split_url(url)
    key = as_private_key(private_key)
    concrete = resolve_algorithm(algorithm, key)
    if concrete is None:
        raise ValueError(f"{algorithm} cannot be used with this key")
    out = {"Host": authority_of(parts), "Date": http_date(now or datetime.now(UTC))}
    if body is not None:
        out["Digest"] = digest_header(body)
    names = list(headers) if headers is not None else ["(request-target)", "host", "date"]
    if headers is None and body is not None:
        names.append("digest")
    target = parts.path or "/"
    if parts.query and include_query:
        target += f"?{parts.query}"
    lookup = {name.lower(): value for name, value in out.items()}
    signing = cavage_signing_string(names, method, target, lookup)
    signature = base64.b64encode(sign_bytes(key, concrete, signing.encode("utf-8"))).decode("ascii")
    out["Signature"] = (
        f'keyId="{key_id}",algorithm="{algorithm}",headers="{" ".join(names)}",signature="{signature}"'
    )
    return out


def _parse_timestamp(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return float(raw)  # draft-cavage-12 section 2.1.4 allows sub-second decimals
    except ValueError as exc:
        raise SignatureError(Failure.MALFORMED, f"{name} is not a timestamp") from exc


def parse_cavage(request: IncomingRequest) -> ParsedSignature:
    """Read a cavage ``Signature`` header and check coverage (draft-cavage-12 section 2).

    Required: ``(request-target)``, ``host``, ``date`` or ``(created)``, and for requests
    with a body ``digest`` (or ``content-digest``). The signing string is rebuilt with the
    query string and, when there is one, without it: GoToSocial signs both ways.
    """
    params = parse_cavage_header(request.header("signature") or "")
    key_id = params.get("keyid")
    encoded = params.get("signature")
    if not key_id or not encoded:
        raise SignatureError(Failure.MALFORMED, "keyId and signature are required")
    try:
        signature = decode_base64(encoded)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(Failure.MALFORMED, "signature is not base64") from exc
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in CAVAGE_ALGORITHMS:
        raise SignatureError(Failure.UNSUPPORTED_ALGORITHM, f"unsupported algorithm {algorithm!r}")
    # Section 2.1.6: without a headers parameter only (created) is signed.
    names = params.get("headers", "(created)").lower().split()
    missing = [name for name in ("(request-target)", "host") if name not in names]
    if "date" not in names and "(created)" not in names:
        missing.append("date")
    if request.has_body and "digest" not in names and "content-digest" not in names:
        missing.append("digest")
    if missing:
        raise SignatureError(Failure.MISSING_HEADERS, f"the signature does not cover {', '.join(missing)}")
    created = _parse_timestamp(params, "created") if "(created)" in names else None
    expires = _parse_timestamp(params, "expires") if "(expires)" in names else None

    targets = [request.target]
    if "?" in request.target:
        targets.append(request.path)
    candidates = tuple(
        cavage_signing_string(names, request.method, target, request.headers, params).encode("utf-8", "replace")
        for target in targets
    )
    return ParsedSignature(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm,
        signature=signature,
        candidates=candidates,
        created=created,
        expires=expires,
        date=request.header("date") if "date" in names else None,
    )
