"""Independent checks of our HTTP signatures: spec test vectors, other implementations, fixtures.

- draft-cavage-12 Appendix C and RFC 9421 Appendix B.2.6 vectors (keys in fixtures/httpsig);
- the ``httpsig`` package verifies our cavage signatures and signs requests we verify;
- ``http-message-signatures`` does the same for RFC 9421;
- fixtures/httpsig/vectors.json pins our exact output, so a canonicalisation change shows.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpsig
import pytest
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.resolvers import MappingKeyResolver

from federation.httpsig import verify_request
from federation.httpsig_cavage import cavage_signing_string, sign_cavage
from federation.httpsig_core import Failure, IncomingRequest, sign_bytes, verify_bytes
from federation.httpsig_rfc9421 import sign_rfc9421, signature_base
from federation.keys import load_private_key, load_public_key

from .sighelpers import (
    BODY,
    ED_PRIVATE,
    ED_PRIVATE_PEM,
    ED_PUBLIC,
    FIXTURES,
    INBOX,
    KEY_ID,
    NOW,
    RSA_PRIVATE,
    RSA_PRIVATE_PEM,
    RSA_PUBLIC,
    RSA_PUBLIC_PEM,
    KeyStore,
    incoming,
    load_vectors,
)

# draft-cavage-http-signatures-12, Appendix C: the "Test" RSA key and request. Only the
# C.2 "basic" vector is used: the C.3 "all headers" signature in the draft does not verify
# under any reading of its signing string (a known defect of the draft's examples).
CAVAGE_SPEC_KEY = load_public_key((FIXTURES / "cavage_spec_public.pem").read_text())
CAVAGE_SPEC_HEADERS = {
    "Host": "example.com",
    "Date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Length": "18",
}
CAVAGE_SPEC_BODY = b'{"hello": "world"}'
CAVAGE_C2_SIGNATURE = (
    "qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzic+"
    "efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="
)

# RFC 9421 Appendix B.1.4 key and B.2.6 "Signing a Request Using ed25519".
RFC_ED_PRIVATE = load_private_key((FIXTURES / "rfc9421_ed25519_private.pem").read_text())
RFC_ED_PUBLIC = load_public_key((FIXTURES / "rfc9421_ed25519_public.pem").read_text())
RFC_B26_PARAMS = (
    '("date" "@method" "@path" "@authority" "content-type" "content-length");'
    'created=1618884473;keyid="test-key-ed25519"'
)
RFC_B26_SIGNATURE = "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


# --- spec vectors --------------------------------------------------------------------------


def test_cavage_spec__c2_basic_signing_string_verifies() -> None:
    signing = cavage_signing_string(
        ["(request-target)", "host", "date"],
        "POST",
        "/foo?param=value&pet=dog",
        {name.lower(): value for name, value in CAVAGE_SPEC_HEADERS.items()},
    )
    assert signing == (
        "(request-target): post /foo?param=value&pet=dog\nhost: example.com\ndate: Sun, 05 Jan 2014 21:31:40 GMT"
    )
    assert verify_bytes(CAVAGE_SPEC_KEY, "rsa-v1_5-sha256", signing.encode(), base64.b64decode(CAVAGE_C2_SIGNATURE))


async def test_cavage_spec__c2_is_refused_for_not_signing_the_digest() -> None:
    header = f'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",signature="{CAVAGE_C2_SIGNATURE}"'
    request = IncomingRequest.build(
        "POST", "/foo?param=value&pet=dog", {**CAVAGE_SPEC_HEADERS, "Signature": header}, CAVAGE_SPEC_BODY
    )
    result = await verify_request(request, KeyStore.same(CAVAGE_SPEC_KEY), now=datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC))
    assert result.failure is Failure.MISSING_HEADERS


def _rfc_b26_request() -> IncomingRequest:
    return IncomingRequest.build(
        "POST",
        "/foo?param=Value&Pet=dog",
        {
            "Host": "example.com",
            "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
            "Content-Type": "application/json",
            "Content-Length": "18",
        },
        b'{"hello": "world"}',
    )


def test_rfc9421_spec__b26_signature_base_and_signature() -> None:
    names = ["date", "@method", "@path", "@authority", "content-type", "content-length"]
    base = signature_base(names, RFC_B26_PARAMS, _rfc_b26_request())
    assert base.decode() == (
        '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
        '"@method": POST\n'
        '"@path": /foo\n'
        '"@authority": example.com\n'
        '"content-type": application/json\n'
        '"content-length": 18\n'
        f'"@signature-params": {RFC_B26_PARAMS}'
    )
    # Ed25519 is deterministic, so signing with the RFC's key must give the RFC's bytes.
    assert base64.b64encode(sign_bytes(RFC_ED_PRIVATE, "ed25519", base)).decode() == RFC_B26_SIGNATURE
    assert verify_bytes(RFC_ED_PUBLIC, "ed25519", base, base64.b64decode(RFC_B26_SIGNATURE))


async def test_rfc9421_spec__b26_is_refused_for_not_covering_the_target_uri() -> None:
    request = _rfc_b26_request()
    headers = {**request.headers, "signature-input": f"sig-b26={RFC_B26_PARAMS}", "signature": f"sig-b26=:{RFC_B26_SIGNATURE}:"}
    full = IncomingRequest.build(request.method, request.target, headers, request.body)
    result = await verify_request(full, KeyStore.same(RFC_ED_PUBLIC), now=datetime.fromtimestamp(1618884480, UTC))
    assert result.failure is Failure.MISSING_HEADERS


# --- httpsig (draft-cavage, independent implementation on pycryptodome) --------------------


@pytest.mark.parametrize(("method", "url", "body"), [("POST", INBOX, BODY), ("GET", "https://b.example/o?page=2", None)])
def test_httpsig__verifies_our_cavage_signature(method: str, url: str, body: bytes | None) -> None:
    headers = sign_cavage(method, url, key_id=KEY_ID, private_key=RSA_PRIVATE, body=body)
    required = ["(request-target)", "host", "date"] + (["digest"] if body is not None else [])
    verifier = httpsig.HeaderVerifier(
        headers, RSA_PUBLIC_PEM, required_headers=required, method=method, path=_target(url), sign_header="signature"
    )
    assert verifier.verify() is True


def test_httpsig__rejects_our_signature_for_another_path() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY)
    verifier = httpsig.HeaderVerifier(
        headers, RSA_PUBLIC_PEM, method="POST", path="/users/eve/inbox", sign_header="signature"
    )
    assert verifier.verify() is False


@pytest.mark.parametrize("url", [INBOX, "https://b.example/users/bob/inbox?x=1"])
async def test_httpsig__signature_is_verified_by_us(url: str) -> None:
    sent = {
        "Host": "b.example",
        "Date": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "Digest": sign_cavage("POST", url, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY)["Digest"],
    }
    signer = httpsig.HeaderSigner(
        KEY_ID,
        RSA_PRIVATE_PEM,
        algorithm="rsa-sha256",
        headers=["(request-target)", "host", "date", "digest"],
        sign_header="signature",
    )
    signed = signer.sign(sent, method="POST", path=_target(url))
    result = await verify_request(incoming("POST", url, dict(signed.items()), BODY), KeyStore.same(RSA_PUBLIC))
    assert result.ok, result.detail
    tampered = await verify_request(
        incoming("POST", url, {**dict(signed.items()), "host": "c.example"}, BODY), KeyStore.same(RSA_PUBLIC)
    )
    assert tampered.failure is Failure.BAD_SIGNATURE


# --- http-message-signatures (RFC 9421, independent implementation) ------------------------


@dataclass
class _Message:
    """The minimal request shape http-message-signatures reads and writes."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def _library_algorithm(kind: str) -> Any:
    return algorithms.RSA_V1_5_SHA256 if kind == "rsa" else algorithms.ED25519


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
@pytest.mark.parametrize(("method", "url", "body"), [("POST", INBOX, BODY), ("GET", "https://b.example/o?page=2", None)])
def test_http_message_signatures__verifies_our_rfc9421_signature(
    kind: str, method: str, url: str, body: bytes | None
) -> None:
    private, public = (RSA_PRIVATE, RSA_PUBLIC) if kind == "rsa" else (ED_PRIVATE, ED_PUBLIC)
    headers = sign_rfc9421(method, url, key_id=KEY_ID, private_key=private, body=body)
    message = _Message(method, url, headers)
    verifier = HTTPMessageVerifier(
        signature_algorithm=_library_algorithm(kind),
        key_resolver=MappingKeyResolver(public_keys={KEY_ID: public}, private_keys={}),
    )
    results = verifier.verify(message, body=body, require_components=("@method", "@target-uri"))
    assert results[0].parameters["keyid"] == KEY_ID
    message.url = url.replace("b.example", "c.example")
    with pytest.raises(InvalidSignature):
        verifier.verify(message, body=body)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
async def test_http_message_signatures__signature_is_verified_by_us(kind: str) -> None:
    private, public = (RSA_PRIVATE, RSA_PUBLIC) if kind == "rsa" else (ED_PRIVATE, ED_PUBLIC)
    message = _Message("POST", INBOX + "?x=1", {"Host": "b.example", "Content-Type": "application/activity+json"})
    signer = HTTPMessageSigner(
        signature_algorithm=_library_algorithm(kind),
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: private}),
    )
    signer.sign(
        message,
        key_id=KEY_ID,
        label="mastodon",
        covered_component_ids=("@method", "@target-uri", "content-type"),
        body=BODY,
    )
    assert "content-digest" in message.headers["Signature-Input"]
    result = await verify_request(incoming("POST", message.url, message.headers, BODY), KeyStore.same(public))
    assert result.ok, result.detail
    assert result.scheme == "rfc9421"
    changed = await verify_request(
        incoming("POST", message.url, {**message.headers, "Content-Type": "text/plain"}, BODY), KeyStore.same(public)
    )
    assert changed.failure is Failure.BAD_SIGNATURE


# --- pinned fixtures -----------------------------------------------------------------------


@pytest.mark.parametrize("vector", load_vectors(), ids=lambda vector: vector["name"])
async def test_fixture__signing_is_byte_for_byte_stable(vector: dict[str, Any]) -> None:
    private = RSA_PRIVATE_PEM if vector["key"] == "rsa" else ED_PRIVATE_PEM
    public = RSA_PUBLIC if vector["key"] == "rsa" else ED_PUBLIC
    sign = sign_cavage if vector["scheme"] == "cavage" else sign_rfc9421
    body = vector["body"].encode() if vector["body"] is not None else None
    headers = sign(
        vector["method"], vector["url"], key_id=vector["key_id"], private_key=private, body=body, now=NOW, **vector["options"]
    )
    assert headers == vector["headers"]
    request = incoming(vector["method"], vector["url"], vector["headers"], body or b"")
    result = await verify_request(request, KeyStore.same(public), now=NOW)
    assert result.ok, result.detail


@pytest.mark.parametrize(
    "vector", [v for v in load_vectors() if v["scheme"] == "cavage" and v["key"] == "rsa"], ids=lambda v: v["name"]
)
def test_fixture__cavage_vectors_verify_with_httpsig(vector: dict[str, Any]) -> None:
    signature = vector["headers"]["Signature"]
    covered = signature.split('headers="', 1)[1].split('"', 1)[0].split()
    verifier = httpsig.HeaderVerifier(
        vector["headers"],
        RSA_PUBLIC_PEM,
        required_headers=covered,
        method=vector["method"],
        path=_target(vector["url"]),
        sign_header="signature",
    )
    assert verifier.verify() is True


@pytest.mark.parametrize("vector", [v for v in load_vectors() if v["scheme"] == "rfc9421"], ids=lambda v: v["name"])
def test_fixture__rfc9421_vectors_verify_with_http_message_signatures(vector: dict[str, Any]) -> None:
    public = RSA_PUBLIC if vector["key"] == "rsa" else ED_PUBLIC
    body = vector["body"].encode() if vector["body"] is not None else None
    verifier = HTTPMessageVerifier(
        signature_algorithm=_library_algorithm(vector["key"]),
        key_resolver=MappingKeyResolver(public_keys={KEY_ID: public}, private_keys={}),
    )
    results = verifier.verify(_Message(vector["method"], vector["url"], dict(vector["headers"])), body=body, max_age=None)
    assert results[0].parameters["created"] == int(NOW.timestamp())
