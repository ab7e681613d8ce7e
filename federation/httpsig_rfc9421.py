"""RFC 9421 HTTP Message Signatures: the subset the fediverse uses, signing and parsing.

Mastodon accepts RFC 9421 since 4.4 (DESIGN.md "Field notes"). Senders cover
``@method``, ``@target-uri`` and, with a body, ``content-digest`` (RFC 9530), and put the
key URL in ``keyid``. We support:

- derived components ``@method @target-uri @authority @scheme @request-target @path
  @query`` (section 2.2) and plain header fields (section 2.1) without parameters;
  component parameters (``sf``, ``key``, ``bs``, ``req``) are refused as malformed;
- algorithms ``rsa-v1_5-sha256``, ``rsa-pss-sha512`` and ``ed25519`` (section 3.3), or no
  ``alg`` at all, in which case the key's type decides;
- the first signature label present in both ``Signature-Input`` and ``Signature``.

Structured fields (RFC 8941) are parsed and serialised with ``http_sf``, so the
``@signature-params`` line is the canonical serialisation of the parsed inner list
(section 2.3), exactly as the signer had to produce it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import http_sf
from http_sf.innerlist import ser_innerlist

from federation.digests import content_digest_header
from federation.httpsig_core import (
    Failure,
    IncomingRequest,
    ParsedSignature,
    SigAlg,
    SignatureError,
    as_private_key,
    authority_of,
    http_date,
    sign_bytes,
    split_url,
)
from federation.keys import PrivateKey, key_kind

__all__ = ["SUPPORTED_ALGORITHMS", "parse_rfc9421", "sign_rfc9421", "signature_base"]

SUPPORTED_ALGORITHMS = frozenset({"rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519"})
_DERIVED = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"}
)
_ALLOWED_PARAMS = frozenset({"created", "expires", "keyid", "alg", "nonce", "tag"})


def _component_value(name: str, request: IncomingRequest) -> str:
    """Resolve one covered component (RFC 9421 sections 2.1 and 2.2)."""
    if name.startswith("@"):
        if name not in _DERIVED:
            raise SignatureError(Failure.MALFORMED, f"unsupported derived component {name}")
        authority = (request.header("host") or "").lower()
        query = request.target.partition("?")[2] if "?" in request.target else None
        if name == "@method":
            return request.method
        if name == "@target-uri":
            return f"{request.scheme}://{authority}{request.target}"
        if name == "@authority":
            return authority
        if name == "@scheme":
            return request.scheme
        if name == "@request-target":
            return request.target
        if name == "@path":
            return request.path
        return "?" + (query or "")  # @query
    if name != name.lower():
        raise SignatureError(Failure.MALFORMED, f"component {name!r} is not lower case")
    value = request.header(name)
    if value is None:
        raise SignatureError(Failure.MISSING_HEADERS, f"signed header {name!r} is not in the request")
    return value


def signature_base(components: Sequence[str], signature_params: str, request: IncomingRequest) -> bytes:
    """Build the signature base (section 2.5): one line per component, then the params line."""
    lines = [f'"{name}": {_component_value(name, request)}' for name in components]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("utf-8", "replace")


def _default_algorithm(key: PrivateKey) -> SigAlg:
    return "rsa-v1_5-sha256" if key_kind(key) == "rsa" else "ed25519"


def sign_rfc9421(
    method: str,
    url: str,
    *,
    key_id: str,
    private_key: PrivateKey | str,
    body: bytes | None = None,
    now: datetime | None = None,
    components: Sequence[str] | None = None,
    label: str = "sig1",
    algorithm: SigAlg | None = None,
    include_alg: bool = True,
) -> dict[str, str]:
    """Sign a request per RFC 9421; return the headers to add.

    Returns ``Host``, ``Date``, ``Content-Digest`` (when there is a body; RFC 9530) and
    ``Signature-Input`` / ``Signature``. By default the signature covers ``@method``,
    ``@target-uri`` and, with a body, ``content-digest``, with ``created`` and ``keyid``.
    """
    parts = split_url(url)
    key = as_private_key(private_key)
    alg = algorithm or _default_algorithm(key)
    moment = now or datetime.now(UTC)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": authority_of(parts), "Date": http_date(moment)}
    if body is not None:
        headers["Content-Digest"] = content_digest_header(body)
    names = list(components) if components is not None else ["@method", "@target-uri"]
    if components is None and body is not None:
        names.append("content-digest")
    params: dict[str, Any] = {"created": int(moment.timestamp()), "keyid": key_id}
    if include_alg:
        params["alg"] = alg
    inner: Any = ([(name, {}) for name in names], params)
    request = IncomingRequest.build(method, target, headers, body or b"", parts.scheme)
    base = signature_base(names, ser_innerlist(inner), request)
    signature = sign_bytes(key, alg, base)
    headers["Signature-Input"] = http_sf.ser({label: inner})
    headers["Signature"] = http_sf.ser({label: (signature, {})})
    return headers


def _parse_dictionary(name: str, value: str) -> dict[str, Any]:
    try:
        parsed = http_sf.parse(value.encode("utf-8"), tltype="dictionary")
    except (http_sf.StructuredFieldError, ValueError, UnicodeError) as exc:
        raise SignatureError(Failure.MALFORMED, f"{name} is not a structured dictionary: {exc}") from exc
    assert isinstance(parsed, dict)
    return parsed


def _timestamp(params: dict[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if type(value) is not int:  # bool is an int subclass; RFC 9421 wants an Integer
        raise SignatureError(Failure.MALFORMED, f"signature parameter {name} must be an integer")
    return float(value)


def parse_rfc9421(request: IncomingRequest) -> ParsedSignature:
    """Read ``Signature-Input``/``Signature`` and check coverage (sections 4.1, 4.2, 3.2).

    Required coverage: ``@method`` and ``@target-uri`` (which includes the host), a time
    (the ``created`` parameter or the ``date`` field) and, for requests with a body,
    ``content-digest`` (or the legacy ``digest``).
    """
    inputs = _parse_dictionary("Signature-Input", request.header("signature-input") or "")
    signatures = _parse_dictionary("Signature", request.header("signature") or "")
    labels = [label for label in inputs if label in signatures]
    if not labels:
        raise SignatureError(Failure.MALFORMED, "no label is present in both Signature-Input and Signature")
    label = labels[0]
    items, params = inputs[label]
    signature = signatures[label][0]
    if not isinstance(items, list):
        raise SignatureError(Failure.MALFORMED, f"Signature-Input {label} is not an inner list")
    if not isinstance(signature, bytes) or not signature:
        raise SignatureError(Failure.MALFORMED, f"Signature {label} is not a byte sequence")
    names: list[str] = []
    for value, component_params in items:
        if type(value) is not str:
            raise SignatureError(Failure.MALFORMED, "component identifiers must be strings")
        if component_params:
            raise SignatureError(Failure.MALFORMED, f"component parameters on {value!r} are not supported")
        names.append(value)
    if len(set(names)) != len(names):
        raise SignatureError(Failure.MALFORMED, "a component is covered twice")
    unknown = set(params) - _ALLOWED_PARAMS
    if unknown:
        raise SignatureError(Failure.MALFORMED, f"unknown signature parameters {sorted(unknown)}")
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureError(Failure.MALFORMED, "the keyid parameter is missing")
    alg = params.get("alg", "")
    if not isinstance(alg, str):
        raise SignatureError(Failure.MALFORMED, "the alg parameter must be a string")
    if alg and alg not in SUPPORTED_ALGORITHMS:
        raise SignatureError(Failure.UNSUPPORTED_ALGORITHM, f"unsupported algorithm {alg!r}")
    created, expires = _timestamp(params, "created"), _timestamp(params, "expires")

    missing = [name for name in ("@method", "@target-uri") if name not in names]
    if created is None and "date" not in names:
        missing.append("date or created")
    if request.has_body and "content-digest" not in names and "digest" not in names:
        missing.append("content-digest")
    if missing:
        raise SignatureError(Failure.MISSING_HEADERS, f"the signature does not cover {', '.join(missing)}")

    base = signature_base(names, ser_innerlist((items, params)), request)
    return ParsedSignature(
        scheme="rfc9421",
        key_id=key_id,
        algorithm=alg,
        signature=signature,
        candidates=(base,),
        created=created,
        expires=expires,
        date=request.header("date") if "date" in names else None,
    )
