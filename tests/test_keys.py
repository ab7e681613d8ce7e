"""Key generation, PEM round trips, base58btc and Multikey (FEP-521a) encodings."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from federation import keys
from federation.keys import KeyFormatError

FIXTURES = Path(__file__).parent / "fixtures" / "httpsig"

# W3C Data Integrity EdDSA Cryptosuites v1.0, test vectors (section B.1): the key pair
# used by every eddsa-jcs-2022 example. Deriving the public Multikey from the secret one
# checks base58btc, both multicodec headers and the Ed25519 derivation at once.
DI_SECRET_MULTIBASE = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
DI_PUBLIC_MULTIBASE = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"


def test_generate_rsa__is_2048_bit_pkcs8_and_spki() -> None:
    pair = keys.generate_rsa()
    assert pair.kind == "rsa"
    assert pair.private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert pair.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    private = pair.private_key()
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    assert keys.public_key_pem(private.public_key()) == pair.public_pem


def test_generate_ed25519__round_trips_through_pem() -> None:
    pair = keys.generate_ed25519()
    assert pair.kind == "ed25519"
    private = pair.private_key()
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert keys.private_key_pem(private) == pair.private_pem
    assert keys.public_key_pem(pair.public_key()) == pair.public_pem
    assert keys.key_kind(pair.public_key()) == "ed25519"


def test_generate__gives_distinct_keys() -> None:
    assert keys.generate_ed25519().public_pem != keys.generate_ed25519().public_pem


def test_load_public_key__accepts_pkcs1_rsa_public_key() -> None:
    public = keys.load_public_key((FIXTURES / "rsa_public.pem").read_text())
    assert isinstance(public, rsa.RSAPublicKey)
    pkcs1 = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    ).decode()
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    loaded = keys.load_public_key(pkcs1)
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == public.public_numbers()


@pytest.mark.parametrize("text", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"])
def test_load_public_key__garbage_is_a_key_format_error(text: str) -> None:
    with pytest.raises(KeyFormatError):
        keys.load_public_key(text)


def test_load_public_key__ec_keys_are_refused() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(KeyFormatError, match="unsupported public key type"):
        keys.load_public_key(ec_pem)


def test_load_private_key__public_pem_is_refused() -> None:
    with pytest.raises(KeyFormatError):
        keys.load_private_key((FIXTURES / "rsa_public.pem").read_text())


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        # draft-msporny-base58-03, section 5 (test vectors)
        (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
        (b"The quick brown fox jumps over the lazy dog.", "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"),
        (b"\x00\x00\x28\x7f\xb4\xcd", "11233QC4"),
        (b"", ""),
        (b"\x00", "1"),
    ],
)
def test_base58btc__spec_vectors(raw: bytes, encoded: str) -> None:
    assert keys.base58btc_encode(raw) == encoded
    assert keys.base58btc_decode(encoded) == raw


@given(st.binary(max_size=80))
def test_base58btc__round_trips_any_bytes(raw: bytes) -> None:
    assert keys.base58btc_decode(keys.base58btc_encode(raw)) == raw


@pytest.mark.parametrize("bad", ["0abc", "O", "Il", "abc+", "z z"])
def test_base58btc__characters_outside_the_alphabet_are_refused(bad: str) -> None:
    with pytest.raises(KeyFormatError, match="invalid base58btc character"):
        keys.base58btc_decode(bad)


def test_multibase__data_integrity_vector_derives_the_published_public_key() -> None:
    secret = keys.ed25519_private_from_multibase(DI_SECRET_MULTIBASE)
    assert keys.ed25519_to_multibase(secret.public_key()) == DI_PUBLIC_MULTIBASE
    assert keys.ed25519_private_to_multibase(secret) == DI_SECRET_MULTIBASE


def test_multibase__generated_key_round_trips_with_z6mk_prefix() -> None:
    public = keys.generate_ed25519().public_key()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    encoded = keys.ed25519_to_multibase(public)
    assert encoded.startswith("z6Mk")
    assert keys.ed25519_from_multibase(encoded) == public


def test_multibase__other_bases_are_refused() -> None:
    with pytest.raises(KeyFormatError, match="start with 'z'"):
        keys.ed25519_from_multibase("u7QE" + "A" * 43)


def test_multibase__wrong_multicodec_is_refused() -> None:
    # An X25519 key (multicodec 0xec -> 0xec 0x01) must not pass as an Ed25519 key.
    fake = "z" + keys.base58btc_encode(b"\xec\x01" + bytes(32))
    with pytest.raises(KeyFormatError, match="wrong multicodec header"):
        keys.ed25519_from_multibase(fake)


def test_multibase__wrong_length_is_refused() -> None:
    short = "z" + keys.base58btc_encode(keys.ED25519_PUB_MULTICODEC + bytes(31))
    with pytest.raises(KeyFormatError, match="32 key bytes"):
        keys.ed25519_from_multibase(short)


def test_multibase__secret_key_is_not_a_public_key() -> None:
    with pytest.raises(KeyFormatError):
        keys.ed25519_from_multibase(DI_SECRET_MULTIBASE)
