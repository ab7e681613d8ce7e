"""Verification queries at the origin: accurate / outdated / withdrawn / unknown copies,
range and pattern checks that never reveal the value, private attributes, the signed answer,
the checksum in If-Match, and the budget for anonymous clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yarl

from federation.httpsig_cavage import sign_cavage
from federation.keys import ed25519_from_multibase
from federation.proofs import ProofError, verify_object
from models.operations.tokens import hashed_document
from models.tokens import Token
from server.app import create_app

from .conftest import Api, assert_problem
from .dbutil import test_settings as settings_for
from .fedhelpers import SHARED_KEY, Remote, remote  # noqa: F401

VERIFY = "/api/v1/verify"
SECRET_SERIAL = "SN-7731-QX"
ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "weight", "type": "decimal", "min": "0"},
    {"name": "serial", "type": "string"},
    {"name": "vault_code", "type": "string", "private": True},
    {"name": "grade", "type": "integer", "read": "owner", "verifiable": True},
]


async def gold_token(api: Api, owner: str) -> dict[str, Any]:
    kind = await api.post(
        "/api/v1/types",
        {"name": "Gold", "symbol": "AU", "fungible": False, "smallest_unit": 0, "attributes": ATTRIBUTES},
        token=owner,
    )
    assert kind.status == 201, kind
    reply = await api.post(
        "/api/v1/tokens",
        {
            "type": kind.body["id"],
            "attributes": {"weight": "31.10", "serial": SECRET_SERIAL, "vault_code": "V-99", "grade": 7},
        },
        token=owner,
    )
    assert reply.status == 201, reply
    return reply.body


async def instance_key(api: Api) -> Any:
    actor = await api.get("/actor", headers={"Accept": "application/activity+json"})
    assert actor.status == 200, actor
    method = json.loads(actor.text)["assertionMethod"][0]
    return method["id"], ed25519_from_multibase(method["publicKeyMultibase"])


async def test_verify_copy__accurate_then_outdated_after_a_change_and_withdrawn_after_delete(api: Api) -> None:
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    first_hash = token["content_hash"]

    answer = await api.post(VERIFY, {"token": token["id"], "content_hash": first_hash})  # anonymous client
    assert answer.status == 200, answer
    assert answer.body["verdict"] == "accurate" and answer.body["checksum"] == first_hash
    assert answer.body["version"] == 1

    changed = await api.call(
        "PATCH", f"/api/v1/tokens/{token['id']}", json={"attributes": {"weight": "31.00"}}, token=alice
    )
    assert changed.status == 200, changed
    old = await api.post(VERIFY, {"token": token["id"], "content_hash": first_hash})
    assert old.body["verdict"] == "outdated" and old.body["copy_version"] == 1 and old.body["version"] == 2
    assert old.body["checksum"] == changed.body["content_hash"] != first_hash

    forged = await api.post(VERIFY, {"token": token["id"], "content_hash": "sha256:" + "ab" * 32})
    assert forged.body["verdict"] == "unknown"

    deleted = await api.call("DELETE", f"/api/v1/tokens/{token['id']}", token=alice)
    assert deleted.status in (200, 204), deleted
    gone = await api.post(VERIFY, {"token": token["id"], "content_hash": changed.body["content_hash"]})
    assert gone.body["verdict"] == "withdrawn"
    missing = await api.post(VERIFY, {"token": "01nosuchtoken", "content_hash": first_hash})
    assert missing.body["verdict"] == "unknown" and "no token" in missing.body["reason"]


async def test_verify_copy__a_whole_document_or_a_token_url_and_tampering_is_unknown(api: Api) -> None:
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    stored = await Token.get(id=token["id"])
    document = await hashed_document(stored)
    url = f"{api.settings.base_url}/tokens/{token['id']}"
    accurate = await api.post(VERIFY, {"token": url, "copy": document})
    assert accurate.body["verdict"] == "accurate", accurate
    tampered = {**document, "attributes": {**document["attributes"], "weight": "99.00"}}
    assert (await api.post(VERIFY, {"token": url, "copy": tampered})).body["verdict"] == "unknown"
    via_get = await api.get(
        VERIFY, params={"token": f"/api/v1/tokens/{token['id']}", "content_hash": token["content_hash"]}
    )
    assert via_get.body["verdict"] == "accurate", via_get
    elsewhere = await api.post(
        VERIFY, {"token": f"https://other.example/tokens/{token['id']}", "content_hash": token["content_hash"]}
    )
    assert_problem(elsewhere, 422, "not-our-token")


async def test_verify_range_and_pattern__answer_true_or_false_without_the_value(api: Api) -> None:
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    asks = [
        ({"attribute": "weight", "min": "31", "max": "32"}, True),
        ({"attribute": "weight", "min": "31.2"}, False),
        ({"attribute": "weight", "max": 31}, False),
        ({"attribute": "serial", "pattern": "^SN-[0-9]{4}-"}, True),
        ({"attribute": "serial", "pattern": "QZ$"}, False),
        ({"attribute": "grade", "min": 5, "max": 9}, True),  # owner-readable but verifiable
    ]
    for question, expected in asks:
        reply = await api.post(VERIFY, {"token": token["id"], **question})
        assert reply.status == 200, (question, reply)
        assert reply.body["result"] is expected, question
        assert SECRET_SERIAL not in reply.text and "31.10" not in reply.text


async def test_verify__refusals(api: Api) -> None:
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    tid = token["id"]
    assert_problem(
        await api.post(VERIFY, {"token": tid, "attribute": "vault_code", "pattern": "^V"}),
        403,
        "attribute-not-verifiable",
    )
    assert_problem(
        await api.post(VERIFY, {"token": tid, "attribute": "colour", "pattern": "x"}), 422, "unknown-attribute"
    )
    assert_problem(
        await api.post(VERIFY, {"token": tid, "attribute": "serial", "pattern": "(a)\\1"}), 422, "unsupported-regex"
    )
    assert_problem(
        await api.post(VERIFY, {"token": tid, "attribute": "serial", "pattern": "([a-"}), 400, "invalid-regex"
    )
    for body in (
        {"token": tid},  # no question
        {"token": tid, "content_hash": token["content_hash"], "attribute": "weight", "min": 1},  # two questions
        {"token": tid, "min": 1},  # range without attribute
        {"token": tid, "attribute": "weight", "min": 5, "max": 1},
        {"token": tid, "content_hash": "md5:abc"},
    ):
        assert_problem(await api.post(VERIFY, body), 400, "validation-failed")


async def test_verify__answers_are_signed_by_the_instance_key(api: Api) -> None:
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    answer = (await api.post(VERIFY, {"token": token["id"], "attribute": "weight", "min": "1"})).body
    method_id, key = await instance_key(api)
    assert answer["proof"]["verificationMethod"] == method_id
    assert verify_object(answer, key)
    with pytest.raises(ProofError):
        verify_object({**answer, "result": not answer["result"]}, key)


async def test_checksum_in_if_match__a_change_after_the_answer_is_refused_with_409(api: Api) -> None:
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    checksum = (await api.post(VERIFY, {"token": token["id"], "content_hash": token["content_hash"]})).body["checksum"]
    path = f"/api/v1/tokens/{token['id']}"
    first = await api.call(
        "PATCH", path, json={"attributes": {"weight": "30.00"}}, token=alice, headers={"If-Match": f'"{checksum}"'}
    )
    assert first.status == 200, first
    again = await api.call(
        "PATCH", path, json={"attributes": {"weight": "29.00"}}, token=alice, headers={"If-Match": f'"{checksum}"'}
    )
    problem = assert_problem(again, 409, "checksum-mismatch")
    assert problem["current_version"] == 2
    assert (await api.get(path, token=alice)).body["attributes"]["weight"] == "30.00"  # nothing changed


@pytest.fixture
async def strict_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    settings = settings_for(tmp_path, database_url, limits={"anonymous_requests_per_minute": 3})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def test_verify__anonymous_clients_have_a_budget_token_holders_do_not(strict_api: Api) -> None:
    alice = await strict_api.user("alice")
    token = await gold_token(strict_api, alice)
    question = {"token": token["id"], "content_hash": token["content_hash"]}
    for _ in range(3):
        assert (await strict_api.post(VERIFY, question)).status == 200
    limited = await strict_api.post(VERIFY, question)
    assert_problem(limited, 429, "rate-limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await strict_api.post(VERIFY, question, token=alice)).status == 200


async def test_verify__huge_numbers_and_unknown_tokens_get_a_clear_answer(api: Api) -> None:
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    for bound in ("1e400", "-1e400", "9" * 5000):
        raw = f'{{"token": "{token["id"]}", "attribute": "weight", "min": {bound}}}'.encode()
        reply = await api.call("POST", VERIFY, data=raw, headers={"Content-Type": "application/json"})
        assert 400 <= reply.status < 500, reply
    unknown = await api.post(VERIFY, {"token": "nope", "content_hash": token["content_hash"]})
    assert unknown.status == 200 and unknown.body["verdict"] == "unknown", unknown
    ranged = await api.post(VERIFY, {"token": "nope", "attribute": "weight", "min": 1})
    assert ranged.status == 200 and ranged.body["verdict"] == "unknown" and "result" not in ranged.body, ranged


@pytest.fixture
async def strict_fed_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """Three anonymous questions a minute; private addresses allowed, so a fake remote server can sign."""
    settings = settings_for(tmp_path, database_url, embedded_workers=False, limits={"anonymous_requests_per_minute": 3},
                            federation={"allow_private_addresses": True})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def test_verify__a_server_that_signs_its_question_is_known_and_has_its_own_budget(
    strict_fed_api: Api, remote: Remote
) -> None:
    api = strict_fed_api
    alice = await api.user("alice")
    token = await gold_token(api, alice)
    checker = remote.actor("checker")
    # signed as the client sends it (yarl turns %3A back into ":" in the query)
    path = str(yarl.URL(f"{VERIFY}?token={quote(token['id'], safe='')}&content_hash={quote(token['content_hash'], safe='')}"))

    def signed(key_id: str) -> dict[str, str]:
        return sign_cavage("GET", f"http://{api.client.host}:{api.client.port}{path}", key_id=key_id,
                           private_key=SHARED_KEY.private_pem)

    for _ in range(5):  # beyond the anonymous budget of 3
        answer = await api.get(path, headers=signed(checker.key_id))
        assert answer.status == 200 and answer.body["verdict"] == "accurate", answer
    assert answer.body["askedBy"] == checker.uri  # inside the signed answer
    forged = await api.get(path, headers={**signed(checker.key_id), "Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert_problem(forged, 401, "bad-signature")
    for _ in range(3):
        assert (await api.get(path)).status == 200
    assert_problem(await api.get(path), 429, "rate-limited")  # anonymous callers still have theirs
