"""Digest (RFC 3230) and Content-Digest (RFC 9530) headers: producing, parsing, checking."""

from __future__ import annotations

import pytest

from federation.digests import (
    DigestFormatError,
    DigestStatus,
    check_body_digests,
    check_content_digest,
    check_digest,
    content_digest_header,
    digest_header,
    parse_content_digest,
    parse_digest,
)

# The body of draft-cavage-12 Appendix C and RFC 9530 section 2's examples.
BODY = b'{"hello": "world"}'
SHA256 = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
SHA512 = "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew=="


def test_digest_header__matches_the_cavage_example() -> None:
    assert digest_header(BODY) == f"SHA-256={SHA256}"


def test_content_digest_header__matches_the_rfc9530_example() -> None:
    assert content_digest_header(BODY) == f"sha-256=:{SHA256}:"


@pytest.mark.parametrize(
    "value",
    [f"SHA-256={SHA256}", f"sha-256={SHA256}", f"SHA-512={SHA512}, SHA-256={SHA256}", f"MD5=abc, SHA-256={SHA256}"],
)
def test_check_digest__accepts_matching_values(value: str) -> None:
    assert check_digest(value, BODY) is DigestStatus.OK


def test_check_digest__one_wrong_member_is_a_mismatch() -> None:
    wrong = SHA512.replace("W", "X", 1)
    assert check_digest(f"SHA-256={SHA256}, SHA-512={wrong}", BODY) is DigestStatus.MISMATCH


def test_check_digest__other_body_is_a_mismatch() -> None:
    assert check_digest(f"SHA-256={SHA256}", BODY + b"\n") is DigestStatus.MISMATCH


@pytest.mark.parametrize(
    "value", ["", "SHA-256", "SHA-256=", "=abc", "SHA-256=not*base64", f"SHA-256={SHA256}AA", "SHA-256=AAAÄ", "SHA-256=AAA"]
)
def test_check_digest__unparseable_values_are_malformed(value: str) -> None:
    assert check_digest(value, BODY) is DigestStatus.MALFORMED


def test_check_digest__only_unknown_algorithms_is_unsupported() -> None:
    assert check_digest("MD5=Sd/dVLAcvNLSq16eXua5uQ==, UNIXsum=30637", BODY) is DigestStatus.UNSUPPORTED


def test_check_digest__absent_header() -> None:
    assert check_digest(None, BODY) is DigestStatus.ABSENT


def test_parse_digest__lower_cases_algorithm_names() -> None:
    parsed = parse_digest(f"SHA-256={SHA256}")
    assert list(parsed) == ["sha-256"] and len(parsed["sha-256"]) == 32


@pytest.mark.parametrize("value", [f"sha-256=:{SHA256}:", f"sha-512=:{SHA512}:, sha-256=:{SHA256}:"])
def test_check_content_digest__accepts_matching_values(value: str) -> None:
    assert check_content_digest(value, BODY) is DigestStatus.OK


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (f"sha-256=:{SHA256}:", DigestStatus.MISMATCH),  # checked against another body below
        (f"sha-256={SHA256}", DigestStatus.MALFORMED),  # legacy syntax in the new header
        ('sha-256="text"', DigestStatus.MALFORMED),
        ("unixsum=:AAAA:", DigestStatus.UNSUPPORTED),
        ("", DigestStatus.MALFORMED),
    ],
)
def test_check_content_digest__failures(value: str, status: DigestStatus) -> None:
    assert check_content_digest(value, b"other") is status


def test_parse_content_digest__rejects_non_dictionaries() -> None:
    with pytest.raises(DigestFormatError):
        parse_content_digest("(a b)")


def test_check_body_digests__mismatch_in_either_header_wins() -> None:
    good, bad = f"SHA-256={SHA256}", "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
    assert check_body_digests(good, bad, BODY) is DigestStatus.MISMATCH
    assert check_body_digests(good, f"sha-256=:{SHA256}:", BODY) is DigestStatus.OK
    assert check_body_digests(None, None, BODY) is DigestStatus.ABSENT
    assert check_body_digests("garbage", None, BODY) is DigestStatus.MALFORMED
