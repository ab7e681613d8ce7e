"""Signing and verifying HTTP signatures: round trips, every failure reason, key refresh."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation import keys
from federation.httpsig import verify_request
from federation.httpsig_cavage import cavage_signing_string, parse_cavage_header, sign_cavage
from federation.httpsig_core import Failure, SignatureError, VerifyResult, _parse_http_date, sign_bytes
from federation.httpsig_rfc9421 import sign_rfc9421

from .sighelpers import (
    BODY,
    ED_PRIVATE,
    ED_PUBLIC,
    INBOX,
    KEY_ID,
    NOW,
    RSA_PRIVATE,
    RSA_PUBLIC,
    RSA_PUBLIC_PEM,
    KeyStore,
    incoming,
)

OTHER_RSA = keys.generate_rsa()


async def _verify_cavage(
    headers: dict[str, str],
    *,
    method: str = "POST",
    url: str = INBOX,
    body: bytes = BODY,
    store: KeyStore | None = None,
    extra: dict[str, str] | None = None,
    at_offset: timedelta = timedelta(0),
) -> tuple[VerifyResult, KeyStore]:
    store = store or KeyStore.same(RSA_PUBLIC_PEM)
    result = await verify_request(incoming(method, url, headers, body, extra), store, now=NOW + at_offset)
    return result, store


# --- round trips -------------------------------------------------------------------------


async def test_sign_cavage__post_round_trip() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    assert set(headers) == {"Host", "Date", "Digest", "Signature"}
    assert headers["Host"] == "b.example"
    assert headers["Date"] == "Fri, 14 Mar 2025 15:09:26 GMT"
    assert 'headers="(request-target) host date digest"' in headers["Signature"]
    assert 'algorithm="rsa-sha256"' in headers["Signature"]
    result, store = await _verify_cavage(headers)
    assert result.ok and result.failure is None
    assert (result.key_id, result.algorithm, result.scheme) == (KEY_ID, "rsa-sha256", "cavage")
    assert store.calls == [(KEY_ID, False)]


async def test_sign_cavage__get_signs_no_digest() -> None:
    url = "https://b.example/users/bob/outbox"
    headers = sign_cavage("GET", url, key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW)
    assert "Digest" not in headers
    assert 'headers="(request-target) host date"' in headers["Signature"]
    result, _ = await _verify_cavage(headers, method="GET", url=url, body=b"")
    assert result.ok


async def test_sign_cavage__non_default_port_is_in_host() -> None:
    url = "http://127.0.0.1:8081/inbox"
    headers = sign_cavage("POST", url, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    assert headers["Host"] == "127.0.0.1:8081"
    result, _ = await _verify_cavage(headers, url=url)
    assert result.ok


@pytest.mark.parametrize(("private", "public"), [(RSA_PRIVATE, RSA_PUBLIC), (ED_PRIVATE, ED_PUBLIC)])
async def test_sign_rfc9421__post_round_trip(private: keys.PrivateKey, public: keys.PublicKey) -> None:
    headers = sign_rfc9421("POST", INBOX, key_id=KEY_ID, private_key=private, body=BODY, now=NOW)
    assert headers["Content-Digest"].startswith("sha-256=:")
    assert headers["Signature-Input"].startswith('sig1=("@method" "@target-uri" "content-digest");created=')
    result, store = await _verify_cavage(headers, store=KeyStore.same(public))
    assert result.ok, result.detail
    assert result.scheme == "rfc9421"
    assert result.algorithm == ("rsa-v1_5-sha256" if public is RSA_PUBLIC else "ed25519")
    assert store.calls == [(KEY_ID, False)]


async def test_sign_rfc9421__get_round_trip_without_alg() -> None:
    url = "https://b.example/users/bob?page=1"
    headers = sign_rfc9421("GET", url, key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW, include_alg=False)
    assert "alg=" not in headers["Signature-Input"]
    result, _ = await _verify_cavage(headers, method="GET", url=url, body=b"")
    assert result.ok
    assert result.algorithm == "rsa-v1_5-sha256"  # taken from the key's type


# --- hs2019 and algorithms -----------------------------------------------------------------


@pytest.mark.parametrize(("private", "public"), [(RSA_PRIVATE, RSA_PUBLIC), (ED_PRIVATE, ED_PUBLIC)])
async def test_verify__hs2019_uses_the_key_type(private: keys.PrivateKey, public: keys.PublicKey) -> None:
    headers = sign_cavage(
        "POST", INBOX, key_id=KEY_ID, private_key=private, body=BODY, now=NOW, algorithm="hs2019"
    )
    assert 'algorithm="hs2019"' in headers["Signature"]
    result, _ = await _verify_cavage(headers, store=KeyStore.same(public))
    assert result.ok and result.algorithm == "hs2019"


async def test_verify__rsa_sha256_with_an_ed25519_key_is_a_bad_signature() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=ED_PRIVATE, body=BODY, now=NOW, algorithm="hs2019")
    headers["Signature"] = headers["Signature"].replace('algorithm="hs2019"', 'algorithm="rsa-sha256"')
    result, store = await _verify_cavage(headers, store=KeyStore.same(ED_PUBLIC))
    assert result.failure is Failure.BAD_SIGNATURE
    assert len(store.calls) == 2


def test_sign_cavage__rsa_sha256_refuses_an_ed25519_key() -> None:
    with pytest.raises(ValueError, match="cannot be used"):
        sign_cavage("GET", INBOX, key_id=KEY_ID, private_key=ED_PRIVATE)


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "rsa-sha1", "ecdsa-sha256"])
async def test_verify__unknown_cavage_algorithm_is_refused_without_fetching(algorithm: str) -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    headers["Signature"] = headers["Signature"].replace('algorithm="rsa-sha256"', f'algorithm="{algorithm}"')
    result, store = await _verify_cavage(headers)
    assert result.failure is Failure.UNSUPPORTED_ALGORITHM
    assert store.calls == []


async def test_verify__unknown_rfc9421_algorithm_is_refused() -> None:
    headers = sign_rfc9421("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    headers["Signature-Input"] = headers["Signature-Input"].replace("rsa-v1_5-sha256", "hmac-sha256")
    result, store = await _verify_cavage(headers)
    assert result.failure is Failure.UNSUPPORTED_ALGORITHM
    assert store.calls == []


async def test_verify__unknown_digest_algorithm_is_refused() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    headers["Digest"] = "MD5=Sd/dVLAcvNLSq16eXua5uQ=="
    result, _ = await _verify_cavage(headers)
    assert result.failure is Failure.UNSUPPORTED_ALGORITHM


# --- tampering and wrong keys ------------------------------------------------------------


async def test_verify__tampered_body_is_a_digest_mismatch() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, store = await _verify_cavage(headers, body=BODY.replace(b"bob", b"eve"))
    assert result.failure is Failure.DIGEST_MISMATCH
    assert store.calls == []


async def test_verify__tampered_body_rfc9421_is_a_digest_mismatch() -> None:
    headers = sign_rfc9421("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, _ = await _verify_cavage(headers, body=BODY + b" ")
    assert result.failure is Failure.DIGEST_MISMATCH


async def test_verify__body_and_digest_both_replaced_is_a_bad_signature() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    forged = BODY.replace(b"bob", b"eve")
    forged_digest = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=forged, now=NOW)["Digest"]
    result, _ = await _verify_cavage({**headers, "Digest": forged_digest}, body=forged)
    assert result.failure is Failure.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("name", "value"), [("Date", "Fri, 14 Mar 2025 15:09:27 GMT"), ("Host", "c.example")]
)
async def test_verify__tampered_signed_header_is_a_bad_signature(name: str, value: str) -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, _ = await _verify_cavage({**headers, name: value})
    assert result.failure is Failure.BAD_SIGNATURE
    assert result.key_id == KEY_ID


async def test_verify__tampered_rfc9421_target_is_a_bad_signature() -> None:
    headers = sign_rfc9421("POST", INBOX, key_id=KEY_ID, private_key=ED_PRIVATE, body=BODY, now=NOW)
    result, _ = await _verify_cavage(
        headers, url="https://b.example/users/eve/inbox", store=KeyStore.same(ED_PUBLIC)
    )
    assert result.failure is Failure.BAD_SIGNATURE


async def test_verify__wrong_key_refetches_once_then_fails() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=OTHER_RSA.private_pem, body=BODY, now=NOW)
    result, store = await _verify_cavage(headers)
    assert result.failure is Failure.BAD_SIGNATURE
    assert result.key_refreshed
    assert store.calls == [(KEY_ID, False), (KEY_ID, True)]


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
async def test_verify__rotated_key_is_found_by_the_refresh(scheme: str) -> None:
    sign = sign_cavage if scheme == "cavage" else sign_rfc9421
    headers = sign("POST", INBOX, key_id=KEY_ID, private_key=OTHER_RSA.private_pem, body=BODY, now=NOW)
    store = KeyStore(key=RSA_PUBLIC, refreshed_key=OTHER_RSA.public_pem)  # cache holds the old key
    result, _ = await _verify_cavage(headers, store=store)
    assert result.ok and result.key_refreshed
    assert store.calls == [(KEY_ID, False), (KEY_ID, True)]


async def test_verify__unknown_key_is_not_refetched() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, store = await _verify_cavage(headers, store=KeyStore(None, RSA_PUBLIC))
    assert result.failure is Failure.UNKNOWN_KEY
    assert store.calls == [(KEY_ID, False)]


async def test_verify__key_gone_on_refresh_is_unknown_key() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=OTHER_RSA.private_pem, body=BODY, now=NOW)
    result, store = await _verify_cavage(headers, store=KeyStore(RSA_PUBLIC, None))
    assert result.failure is Failure.UNKNOWN_KEY and result.key_refreshed
    assert len(store.calls) == 2


async def test_verify__unreadable_key_pem_is_unknown_key() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, _ = await _verify_cavage(headers, store=KeyStore("not a pem", None))
    assert result.failure is Failure.UNKNOWN_KEY


# --- query strings -------------------------------------------------------------------------


async def test_verify__cavage_signed_with_query_string() -> None:
    url = "https://b.example/users/bob/outbox?page=2"
    headers = sign_cavage("GET", url, key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW)
    result, _ = await _verify_cavage(headers, method="GET", url=url, body=b"")
    assert result.ok


async def test_verify__cavage_signed_without_query_string() -> None:
    # Some servers sign (request-target) as the bare path even when a query is sent.
    url = "https://b.example/users/bob/outbox?page=2"
    headers = sign_cavage("GET", url, key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW, include_query=False)
    result, store = await _verify_cavage(headers, method="GET", url=url, body=b"")
    assert result.ok
    assert store.calls == [(KEY_ID, False)]


async def test_verify__cavage_different_query_is_a_bad_signature() -> None:
    headers = sign_cavage("GET", "https://b.example/o?page=2", key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW)
    result, _ = await _verify_cavage(headers, method="GET", url="https://b.example/o?page=3", body=b"")
    assert result.failure is Failure.BAD_SIGNATURE


# --- date window ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "failure"),
    [
        (timedelta(hours=11, minutes=59), None),
        (timedelta(hours=12, minutes=1), Failure.EXPIRED),
        (-timedelta(minutes=59), None),
        (-timedelta(minutes=61), Failure.FUTURE),
    ],
)
@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
async def test_verify__date_window(scheme: str, offset: timedelta, failure: Failure | None) -> None:
    """``offset`` is how far the verifier's clock is ahead of the signer's."""
    sign = sign_cavage if scheme == "cavage" else sign_rfc9421
    headers = sign("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, _ = await _verify_cavage(headers, at_offset=offset)
    assert result.failure is failure
    assert result.ok is (failure is None)


async def test_verify__rfc9421_past_expires_is_expired() -> None:
    headers = sign_rfc9421("GET", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW)
    created = int(NOW.timestamp())
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        f"created={created}", f"created={created};expires={created + 60}"
    )
    result, _ = await _verify_cavage(headers, method="GET", body=b"", at_offset=timedelta(minutes=2))
    assert result.failure is Failure.EXPIRED


def _created_expires_header(created: int, expires: int) -> dict[str, str]:
    """A hs2019 signature over (created)/(expires) instead of Date, built by hand."""
    names = ["(request-target)", "(created)", "(expires)", "host"]
    params = {"created": str(created), "expires": str(expires)}
    signing = cavage_signing_string(names, "GET", "/users/bob", {"host": "b.example"}, params)
    signature = base64.b64encode(sign_bytes(ED_PRIVATE, "ed25519", signing.encode())).decode()
    return {
        "Host": "b.example",
        "Signature": (
            f'keyId="{KEY_ID}",algorithm="hs2019",created={created},expires={expires},'
            f'headers="{" ".join(names)}",signature="{signature}"'
        ),
    }


async def test_verify__cavage_created_and_expires_replace_date() -> None:
    created = int(NOW.timestamp())
    headers = _created_expires_header(created, created + 300)
    store = KeyStore.same(ED_PUBLIC)
    result, _ = await _verify_cavage(headers, method="GET", url="https://b.example/users/bob", body=b"", store=store)
    assert result.ok, result.detail
    late, _ = await _verify_cavage(
        headers, method="GET", url="https://b.example/users/bob", body=b"", store=store, at_offset=timedelta(minutes=6)
    )
    assert late.failure is Failure.EXPIRED


async def test_verify__unreadable_date_is_malformed() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, _ = await _verify_cavage({**headers, "Date": "yesterday-ish"})
    assert result.failure is Failure.MALFORMED


# --- missing and malformed -----------------------------------------------------------------


async def test_verify__unsigned_request_is_missing() -> None:
    result, store = await _verify_cavage({"Host": "b.example"})
    assert result.failure is Failure.MISSING and not result.ok
    assert store.calls == []


@pytest.mark.parametrize(
    ("method", "covered"),
    [
        ("POST", ["(request-target)", "host", "date"]),  # POST without digest
        ("GET", ["host", "date"]),  # no (request-target)
        ("GET", ["(request-target)", "date"]),  # no host
        ("GET", ["(request-target)", "host"]),  # no date
        ("GET", None),  # headers parameter absent: only (created) per the draft
    ],
)
async def test_verify__cavage_required_headers(method: str, covered: list[str] | None) -> None:
    body = BODY if method == "POST" else None
    headers = sign_cavage(
        method, INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=body, now=NOW, headers=covered or ["date"]
    )
    if covered is None:
        headers["Signature"] = headers["Signature"].replace(',headers="date"', "")
    result, store = await _verify_cavage(headers, method=method, body=body or b"")
    assert result.failure is Failure.MISSING_HEADERS
    assert store.calls == []


async def test_verify__post_with_empty_body_still_needs_a_digest() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW)
    result, _ = await _verify_cavage(headers, body=b"")
    assert result.failure is Failure.MISSING_HEADERS


async def test_verify__signed_header_not_sent_is_missing_headers() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    del headers["Host"]
    result, _ = await _verify_cavage(headers)
    assert result.failure is Failure.MISSING_HEADERS


@pytest.mark.parametrize(
    ("method", "components"),
    [
        ("GET", ["@method", "@authority", "@path"]),  # no @target-uri
        ("GET", ["@target-uri"]),  # no @method
        ("POST", ["@method", "@target-uri"]),  # body without content-digest
    ],
)
async def test_verify__rfc9421_required_components(method: str, components: list[str]) -> None:
    body = BODY if method == "POST" else None
    headers = sign_rfc9421(
        method, INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=body, now=NOW, components=components
    )
    result, _ = await _verify_cavage(headers, method=method, body=body or b"")
    assert result.failure is Failure.MISSING_HEADERS


async def test_verify__rfc9421_date_may_replace_created() -> None:
    headers = sign_rfc9421(
        "GET", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, now=NOW, components=["@method", "@target-uri", "date"]
    )
    created = int(NOW.timestamp())
    assert f"created={created}" in headers["Signature-Input"]
    result, _ = await _verify_cavage(headers, method="GET", body=b"")
    assert result.ok


@pytest.mark.parametrize(
    "signature",
    [
        "garbage",
        'keyId="k",algorithm="rsa-sha256",headers="(request-target) host date"',  # no signature
        'algorithm="rsa-sha256",headers="(request-target) host date",signature="AAAA"',  # no keyId
        'keyId="k",headers="(request-target) host date",signature="not base64!"',
        'keyId="k",headers="(request-target) host date",signature="AAAA=AAA"',  # data after the padding
        'keyId="k",headers="(request-target) host date",signature="AAAÄ"',  # not ASCII
        'keyId="k",keyId="j",headers="date",signature="AAAA"',  # duplicate parameter
        'keyId="k",headers="(request-target) host date",signature="AAAA",created=soon,',
    ],
)
async def test_verify__malformed_cavage_header(signature: str) -> None:
    headers = {"Host": "b.example", "Date": "Fri, 14 Mar 2025 15:09:26 GMT", "Signature": signature}
    result, store = await _verify_cavage(headers, method="GET", body=b"")
    if "created=soon" in signature:
        # (created) is not covered, so an unreadable created parameter is simply unused.
        assert result.failure is Failure.BAD_SIGNATURE
    else:
        assert result.failure is Failure.MALFORMED
        assert store.calls == []


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        ("not a (dictionary", "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri");created=1741964966', "sig1=:AAAA:"),  # no keyid
        ('sig1=("@method" "@target-uri");created=1741964966;keyid="k"', "other=:AAAA:"),  # labels differ
        ('sig1=("@method" "@target-uri");created=1741964966;keyid="k"', 'sig1="text"'),  # not bytes
        ('sig1=("@method" "@target-uri" "content-type";sf);created=1741964966;keyid="k"', "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri" "@query-param");created=1741964966;keyid="k"', "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri");created="yesterday";keyid="k"', "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri");created=1741964966;keyid="k";weird=1', "sig1=:AAAA:"),
        ('sig1=("@method" "@method" "@target-uri");created=1741964966;keyid="k"', "sig1=:AAAA:"),
    ],
)
async def test_verify__malformed_rfc9421_headers(signature_input: str, signature: str) -> None:
    headers = {
        "Host": "b.example",
        "Content-Type": "application/json",
        "Signature-Input": signature_input,
        "Signature": signature,
    }
    result, store = await _verify_cavage(headers, method="GET", body=b"")
    assert result.failure is Failure.MALFORMED, result.detail
    assert store.calls == []


async def test_verify__malformed_digest_header() -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    result, _ = await _verify_cavage({**headers, "Digest": "SHA-256=***"})
    assert result.failure is Failure.MALFORMED


def test_parse_cavage_header__accepts_any_order_and_unquoted_numbers() -> None:
    params = parse_cavage_header(
        'signature="c2ln", headers="(request-target) (created)",  created=1402170695, keyId="a\\"b"'
    )
    assert params == {
        "signature": "c2ln",
        "headers": "(request-target) (created)",
        "created": "1402170695",
        "keyid": 'a"b',
    }


def test_parse_cavage_header__garbage_raises_malformed() -> None:
    with pytest.raises(SignatureError) as caught:
        parse_cavage_header('keyId="unterminated')
    assert caught.value.failure is Failure.MALFORMED


def test_sign_cavage__refuses_relative_urls_and_quoted_key_ids() -> None:
    with pytest.raises(ValueError):
        sign_cavage("GET", "/inbox", key_id=KEY_ID, private_key=RSA_PRIVATE)
    with pytest.raises(ValueError):
        sign_cavage("GET", INBOX, key_id='a"b', private_key=RSA_PRIVATE)


@pytest.mark.parametrize("created", ["nan", "inf", "1e300", "-1e300"])
async def test_verify__absurd_created_is_malformed(created: str) -> None:
    headers = {
        "Host": "b.example",
        "Signature": (
            f'keyId="{KEY_ID}",algorithm="hs2019",created={created},'
            'headers="(request-target) (created) host",signature="AAAA"'
        ),
    }
    result, store = await _verify_cavage(headers, method="GET", body=b"")
    assert result.failure is Failure.MALFORMED
    assert store.calls == []


_header_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=120)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    signature=_header_text,
    signature_input=st.one_of(st.none(), _header_text),
    date=_header_text,
    digest=st.one_of(st.none(), _header_text),
    body=st.binary(max_size=20),
)
async def test_verify__arbitrary_headers_never_raise(
    signature: str, signature_input: str | None, date: str, digest: str | None, body: bytes
) -> None:
    """Whatever a remote server sends, the verifier answers with a result, never a crash."""
    headers = {"Host": "b.example", "Date": date, "Signature": signature}
    if signature_input is not None:
        headers["Signature-Input"] = signature_input
    if digest is not None:
        headers["Digest"] = digest
        headers["Content-Digest"] = digest
    result = await verify_request(incoming("POST", INBOX + "?q=1", headers, body), KeyStore.same(RSA_PUBLIC), now=NOW)
    assert not result.ok and result.failure is not None


@settings(max_examples=100)
@given(
    st.sampled_from(["keyId", "algorithm", "headers", "signature", "created", "expires"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters='"\\'), max_size=60),
)
async def test_verify__extra_cavage_parameter(name: str, value: str) -> None:
    headers = sign_cavage("POST", INBOX, key_id=KEY_ID, private_key=RSA_PRIVATE, body=BODY, now=NOW)
    headers["Signature"] += f',{name}="{value}"'
    result, _ = await _verify_cavage(headers)
    if name in ("created", "expires"):
        assert result.ok  # parameters the signature does not cover are ignored
    else:
        assert result.failure is Failure.MALFORMED  # a repeated parameter


@pytest.mark.parametrize("text", ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"])
def test_http_date__the_three_forms_of_rfc_9110_name_one_moment(text: str) -> None:
    assert _parse_http_date(text) == datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


@pytest.mark.parametrize("text", ["Mon, 31 Feb 2026 10:00:00 GMT", "Mon, 02 Foo 2026 10:00:00 GMT", "yesterday"])
def test_http_date__impossible_or_unreadable_dates_are_malformed(text: str) -> None:
    with pytest.raises(SignatureError, match="unreadable Date header"):
        _parse_http_date(text)


def test_incoming_request__repeated_fields_are_joined_in_order() -> None:
    """RFC 9110 section 5.3: what a signature over a repeated field covers is the joined value."""
    from federation.httpsig_core import IncomingRequest

    built = IncomingRequest.build("post", "/inbox", [("Accept", "a/b"), ("X-Tag", " one "), ("x-tag", "two\t")], b"{}")
    assert dict(built.headers) == {"accept": "a/b", "x-tag": "one, two"}
    single = IncomingRequest.build("GET", "", {"Host": " b.example "})
    assert (single.method, single.target, dict(single.headers)) == ("GET", "/", {"host": "b.example"})
