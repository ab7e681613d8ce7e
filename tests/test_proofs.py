"""Object Integrity Proofs (FEP-8b32, eddsa-jcs-2022): checked against W3C's published test
vector, against an independent RFC 8785 implementation (the `jcs` package), and both ways
against bovine, a fediverse server library, run in its own virtual environment (its pins
conflict with ours)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jcs
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.keys import (
    ed25519_from_multibase,
    ed25519_private_to_multibase,
    ed25519_to_multibase,
    generate_ed25519,
    load_private_key,
)
from federation.proofs import DATA_INTEGRITY_CONTEXT, ProofError, canonicalize, sign_object, verify_object

ROOT = Path(__file__).resolve().parent.parent
VECTOR = json.loads((Path(__file__).parent / "fixtures" / "w3c_eddsa_jcs_2022.json").read_text())
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"


class Pair:
    """An Ed25519 key pair as key objects (the stored KeyPair holds PEM text)."""

    def __init__(self) -> None:
        private = load_private_key(generate_ed25519().private_pem)
        assert isinstance(private, ed25519.Ed25519PrivateKey)
        self.private = private
        self.public = private.public_key()


def a_token() -> dict[str, Any]:
    return {
        "@context": [AS_CONTEXT, DATA_INTEGRITY_CONTEXT],
        "id": "https://a.example/tokens/01abc",
        "type": "Note",
        "attributedTo": "https://a.example/users/alice",
        "name": "Gold coin #7",
        "content": "Weight: 31.1 g, purity 0.999 — minted in Zürich",
        "tallystick:attributes": {"weight": 31.1, "purity": 0.999, "serial": 7, "tags": ["gold", "coin"]},
    }


# ---------------------------------------------------------------- the algorithm


def test_w3c_test_vector__verifies_and_any_change_breaks_it() -> None:
    key = ed25519_from_multibase(VECTOR["publicKeyMultibase"])
    assert verify_object(VECTOR["signed"], key)["cryptosuite"] == "eddsa-jcs-2022"
    changed = json.loads(json.dumps(VECTOR["signed"]))
    changed["credentialSubject"]["alumniOf"] = "The School of Forgeries"
    with pytest.raises(ProofError, match="changed or signed by another key"):
        verify_object(changed, key)


def test_sign_then_verify__round_trip_and_tampering_is_caught() -> None:
    pair = Pair()
    signed = sign_object(a_token(), pair.private, "https://a.example/users/alice#ed25519-key")
    assert signed["proof"]["type"] == "DataIntegrityProof" and signed["proof"]["proofValue"].startswith("z")
    assert verify_object(signed, pair.public)["verificationMethod"].endswith("#ed25519-key")

    for change in (
        lambda doc: doc["tallystick:attributes"].update(weight=31.2),  # one attribute
        lambda doc: doc.update(attributedTo="https://b.example/users/mallory"),  # the owner
        lambda doc: doc["proof"].update(created="2020-01-01T00:00:00Z"),  # the proof options
        lambda doc: doc.update(extra=True),  # an added field
    ):
        tampered = json.loads(json.dumps(signed))
        change(tampered)
        with pytest.raises(ProofError):
            verify_object(tampered, pair.public)
    with pytest.raises(ProofError, match="another key"):
        verify_object(signed, Pair().public)


def test_verify__refuses_missing_foreign_and_malformed_proofs() -> None:
    pair = Pair()
    signed = sign_object(a_token(), pair.private, "https://a.example/users/alice#ed25519-key")
    with pytest.raises(ProofError, match="no proof"):
        verify_object(a_token(), pair.public)
    for field, value, message in (
        ("cryptosuite", "eddsa-rdfc-2022", "unsupported proof"),
        ("proofValue", "u" + signed["proof"]["proofValue"][1:], "base58btc"),
        ("proofValue", "z0OIl", "cannot be checked"),
        ("proofPurpose", "authentication", "not 'assertionMethod'"),
    ):
        broken = {**signed, "proof": {**signed["proof"], field: value}}
        with pytest.raises(ProofError, match=message):
            verify_object(broken, pair.public)


def test_sign__adds_the_data_integrity_context_and_replaces_an_old_proof() -> None:
    pair = Pair()
    document = {"@context": AS_CONTEXT, "id": "https://a.example/x", "type": "Note"}
    once = sign_object(document, pair.private, "https://a.example/k")
    assert once["@context"] == [AS_CONTEXT, DATA_INTEGRITY_CONTEXT]
    twice = sign_object(once, pair.private, "https://a.example/k2")
    assert twice["proof"]["verificationMethod"] == "https://a.example/k2"
    assert verify_object(twice, pair.public)


# ---------------------------------------------------------------- RFC 8785


@pytest.mark.parametrize(
    ("number", "expected"),
    [  # RFC 8785 appendix B and ECMAScript Number::toString edge cases
        (0.0, "0"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (123456789012345680000.0, "123456789012345680000"),
        (333333333.3333333, "333333333.3333333"),
        (4.5, "4.5"),
        (0.002, "0.002"),
        (0.000001, "0.000001"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1.5e-9, "-1.5e-9"),
        (9007199254740991, "9007199254740991"),
        (-9007199254740991, "-9007199254740991"),
    ],
)
def test_canonicalize__numbers_as_ecmascript_writes_them(number: float, expected: str) -> None:
    assert canonicalize(number) == expected.encode()


def test_canonicalize__refuses_values_json_cannot_carry_exactly() -> None:
    for value in (float("nan"), float("inf"), 2**53, {1: "x"}, {"when": object()}):
        with pytest.raises((ValueError, TypeError)):
            canonicalize(value)


def test_canonicalize__sorts_keys_by_utf16_and_escapes_like_json_stringify() -> None:
    value = {"\U0001f600": 1, "\ufb33": 2, "a": '\u2028\x1f"\\/\t', "\u20ac": [None, True, False]}
    assert (
        canonicalize(value)
        == '{"a":"\u2028\\u001f\\"\\\\/\\t","\u20ac":[null,true,false],"\U0001f600":1,"\ufb33":2}'.encode()
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonicalize__agrees_with_an_independent_rfc8785_implementation(value: Any) -> None:
    assert canonicalize(value) == jcs.canonicalize(value)


# Documents without floats take the orjson path: check it on its own, keys beyond U+FFFF included.
float_free_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(float_free_values)
def test_canonicalize__fast_path_agrees_with_an_independent_rfc8785_implementation(value: Any) -> None:
    assert canonicalize(value) == jcs.canonicalize(value)


# ---------------------------------------------------------------- interop with bovine

BOVINE_SCRIPT = r"""
import json, sys
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret
request = json.load(sys.stdin)
identifier = CryptographicIdentifier.from_tuple(request["controller"], request["public"])
def verified(document):
    try:
        return identifier.verify_document(document)
    except Exception as error:
        return None
secret = CryptographicSecret.from_multibase(request["key_id"], request["private"])
print(json.dumps({
    "ours": verified(request["ours"]),
    "tampered": verified(request["tampered"]),
    "theirs": secret.sign_document(request["unsigned"]),
}))
"""


@pytest.fixture(scope="session")
def bovine_python() -> Path:
    """A separate venv with bovine (it pins cryptography<46), built once and kept in .venv-interop."""
    venv = ROOT / ".venv-interop"
    python = venv / "bin" / "python"
    stamp = venv / ".bovine-0.5.19"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "bovine==0.5.19"],
            check=True,
            timeout=600,
            capture_output=True,
        )
        stamp.touch()
    return python


def test_bovine__verifies_our_proofs_and_we_verify_its(bovine_python: Path) -> None:
    pair = Pair()
    actor = "https://a.example/users/alice"
    ours = sign_object(a_token(), pair.private, f"{actor}#ed25519-key")
    tampered = {**ours, "name": "Gold coin #8"}
    request = {
        "controller": actor,
        "public": ed25519_to_multibase(pair.public),
        "private": ed25519_private_to_multibase(pair.private),
        "key_id": f"{actor}#ed25519-key",
        "ours": ours,
        "tampered": tampered,
        "unsigned": a_token(),
    }
    done = subprocess.run(
        [str(bovine_python), "-c", BOVINE_SCRIPT],
        check=False,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ours"] == actor  # bovine accepts our proof and names its controller
    assert answer["tampered"] is None  # and is not a verifier that accepts anything
    theirs = answer["theirs"]
    assert theirs["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert verify_object(theirs, pair.public)["verificationMethod"] == f"{actor}#ed25519-key"
    with pytest.raises(ProofError):
        verify_object({**theirs, "name": "Gold coin #8"}, pair.public)
