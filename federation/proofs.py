"""Object Integrity Proofs (FEP-8b32): `DataIntegrityProof` with the `eddsa-jcs-2022` cryptosuite.

A proof lets anyone check an object offline against its owner's Ed25519 key (the Multikey in
the actor's `assertionMethod`), whoever handed them the copy. The algorithm (W3C Data
Integrity EdDSA Cryptosuites, section 3.3):

    hash = SHA-256(JCS(proof options)) || SHA-256(JCS(document without its proof))
    proofValue = "z" + base58btc(Ed25519 signature of hash)

JCS is RFC 8785: keys sorted by UTF-16 code units, no whitespace, ECMAScript number and
string forms. Proof options are the proof without `proofValue`, exactly as they appear: we
sign without putting `@context` into the proof (as FEP-8b32 shows and as Mastodon-family
verifiers such as bovine expect, since the document's own context already carries the
data-integrity terms), and we verify whatever options a signer wrote (W3C's test vectors
include `@context` there).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from .keys import BASE58BTC_PREFIX, KeyFormatError, base58btc_decode, base58btc_encode

__all__ = [
    "CRYPTOSUITE",
    "DATA_INTEGRITY_CONTEXT",
    "ProofError",
    "canonicalize",
    "proof_of",
    "sign_object",
    "verify_object",
    "with_data_integrity_context",
]

CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v2"
MAX_SAFE_INTEGER = 2**53 - 1  # I-JSON: larger integers do not survive other parsers
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class ProofError(ValueError):
    """The object carries no usable proof, or the proof does not match; the text says which."""


# ---------------------------------------------------------------- RFC 8785 (JCS)


def _string(value: str) -> str:
    out = ['"']
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _number(value: float) -> str:
    """ECMAScript Number::toString, which JCS prescribes (Python's repr has the same shortest digits)."""
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"the integer {value} is outside the range JSON numbers keep exactly; send it as a string")
        return str(value)
    if not math.isfinite(value):
        raise ValueError("NaN and infinities have no JSON form")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digits_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digits_tuple)).rstrip("0") or "0"
    exponent = int(exponent) + len("".join(map(str, digits_tuple))) - len(digits)
    k = len(digits)
    n = exponent + k  # the decimal point sits after n digits
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    power = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (int, float)):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
        out.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} has no JSON form")


def _orjson_agrees(value: Any) -> bool:
    """Whether orjson's sorted output is exactly RFC 8785 for this value: no floats (JCS formats
    them as ECMAScript does), integers within the safe range, and keys whose UTF-8 order is their
    UTF-16 order (no characters beyond U+FFFF). orjson escapes strings as JCS does.

    Written as loops over exact types: it runs on every signed answer, twice."""
    kind = type(value)
    if kind is str or value is None or value is True or value is False:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                return False
            if type(item) is not str and not _orjson_agrees(item):
                return False
        return True
    if kind is list:
        for item in value:
            if type(item) is not str and not _orjson_agrees(item):
                return False
        return True
    return False  # floats, subclasses of the JSON types, anything else: the careful writer


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    Most documents (no floats) take orjson's sorted output, which is the same bytes several
    times faster; the rest go through our own writer.
    """
    if _orjson_agrees(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # lone surrogates: the writer below keeps them
            pass
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- proofs


def with_data_integrity_context(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the data-integrity context listed, so `proof` terms are defined."""
    context = document.get("@context")
    items = [] if context is None else list(context) if isinstance(context, list) else [context]
    if DATA_INTEGRITY_CONTEXT not in items:
        items.append(DATA_INTEGRITY_CONTEXT)
    return {**document, "@context": items}


def _hash_data(options: Mapping[str, Any], document: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(canonicalize(options)).digest() + hashlib.sha256(canonicalize(document)).digest()


def _timestamp(moment: datetime | None) -> str:
    return _second((moment or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0))


@lru_cache(maxsize=4)
def _second(moment: datetime) -> str:
    """XML Schema dateTime in UTC to the second (answers made within one second share it)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_object(
    document: dict[str, Any],
    private_key: ed25519.Ed25519PrivateKey,
    verification_method: str,
    *,
    created: datetime | None = None,
    purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """A copy of the document with a fresh `proof` (an earlier proof is replaced)."""
    unsecured = with_data_integrity_context({key: value for key, value in document.items() if key != "proof"})
    options = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "verificationMethod": verification_method,
        "proofPurpose": purpose,
        "created": _timestamp(created),
    }
    signature = private_key.sign(_hash_data(options, unsecured))
    return {**unsecured, "proof": {**options, "proofValue": BASE58BTC_PREFIX + base58btc_encode(signature)}}


def proof_of(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document's single eddsa-jcs-2022 proof, checked for shape; ProofError otherwise."""
    proof = document.get("proof")
    if not isinstance(proof, Mapping):
        raise ProofError("the object has no proof")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise ProofError(f"unsupported proof: only {PROOF_TYPE} with {CRYPTOSUITE} is accepted")
    for name in ("verificationMethod", "proofPurpose", "proofValue"):
        if not isinstance(proof.get(name), str) or not proof[name]:
            raise ProofError(f"the proof has no {name}")
    return dict(proof)


def verify_object(
    document: Mapping[str, Any], public_key: ed25519.Ed25519PublicKey, *, purpose: str = "assertionMethod"
) -> dict[str, Any]:
    """Check the proof against the key; the proof on success, ProofError (with the reason) otherwise.

    Resolving `verificationMethod` to a key, and checking that the key's controller owns
    the object (FEP-fe34), is the caller's job: this only does the mathematics.
    """
    proof = proof_of(document)
    if proof["proofPurpose"] != purpose:
        raise ProofError(f"the proof is for {proof['proofPurpose']!r}, not {purpose!r}")
    options = {key: value for key, value in proof.items() if key != "proofValue"}
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    if "@context" in options and not _context_prefix(options["@context"], unsecured.get("@context")):
        raise ProofError("the proof's @context does not match the object's")
    value = proof["proofValue"]
    try:
        if not value.startswith(BASE58BTC_PREFIX):
            raise KeyFormatError("proofValue must be base58btc multibase (start with 'z')")
        signature = base58btc_decode(value[1:])
        hash_data = _hash_data(options, unsecured)
    except (KeyFormatError, ValueError) as error:
        raise ProofError(f"the proof cannot be checked: {error}") from None
    try:
        public_key.verify(signature, hash_data)
    except InvalidSignature:
        raise ProofError("the proof does not match the object: it was changed or signed by another key") from None
    return proof


def _context_prefix(expected: Any, actual: Any) -> bool:
    def as_list(value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]

    wanted, found = as_list(expected), as_list(actual)
    return found[: len(wanted)] == wanted
