"""Export of a set as a signed, self-contained document (always a job, owner only), its
download, and the import checks that refuse a changed, truncated or foreign-signed document
without storing anything. Importing across two real servers is in test_export_live.py."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from federation import exports
from federation.imports import check_export
from federation.signed_objects import sign_as, verify_remote_object
from models.actors import Actor
from models.attributes import content_hash
from models.context import Context
from models.exports import ImportedCopy, ImportRecord, SetExport
from models.federation import Follow, RemoteObject
from models.jobs import Job
from models.registry import REGISTRY
from server.app import create_app

from .conftest import Api, assert_problem
from .dbutil import test_settings as settings_for
from .fedhelpers import fed_api, site_of  # noqa: F401
from .jobhelpers import worker
from .sethelpers import add, make_set, make_token, make_type

PUBLIC_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "label", "type": "string"},
    {"name": "weight", "type": "decimal"},
]


async def run_jobs(api: Api) -> None:
    """Run every queued job in-process (the fixture has no embedded workers)."""
    runner = worker(api, "test-worker")
    while (job := await runner.claim()) is not None:
        await runner.run_job(job)


async def exported(api: Api, token: str, set_id: str) -> tuple[dict[str, Any], Any]:
    """Export the set through the API; the job's result and the downloaded reply."""
    queued = await api.post(f"/api/v1/sets/{set_id}/export", token=token)
    assert queued.status == 202, queued
    assert queued.headers["Location"] == f"/api/v1/jobs/{queued.body['id']}"
    await run_jobs(api)
    job = await api.get(f"/api/v1/jobs/{queued.body['id']}", token=token)
    assert job.body["state"] == "succeeded", job
    result = job.body["result"]
    download = await api.get(f"/api/v1/exports/{result['id']}")
    assert download.status == 200, download
    return result, download


async def shelf_with_tokens(api: Api) -> tuple[str, dict[str, Any]]:
    alice = await api.user("alice")
    base_type = await make_type(api, alice, PUBLIC_ATTRIBUTES, name="Metal", symbol="MTL")
    gem_type = await make_type(api, alice, PUBLIC_ATTRIBUTES, name="Ingot", symbol="ING", parents=[base_type])
    first = await make_token(api, alice, gem_type, label="Bar 1", weight="12.5")
    second = await make_token(api, alice, gem_type, label="Bar 2", weight="3")
    shelf = await make_set(api, alice, "Vault")
    assert (await add(api, alice, shelf["id"], first, second)).status == 200
    return alice, {"set": shelf["id"], "types": [base_type, gem_type], "tokens": [first, second]}


async def test_export__owner_gets_a_signed_self_contained_document_to_download(fed_api: Api) -> None:
    alice, made = await shelf_with_tokens(fed_api)
    result, download = await exported(fed_api, alice, made["set"])
    assert result["token_count"] == 2 and result["url"].endswith(f"/api/v1/exports/{result['id']}")
    assert download.headers["Content-Disposition"].startswith('attachment; filename="tallystick-vault-')
    document = orjson.loads(download.text)
    base = site_of(fed_api).base_url
    assert document["type"] == "TokenSetExport" and document["id"] == result["url"]
    assert document["exporter"] == document["attributedTo"] == f"{base}/users/alice"
    assert document["set"]["id"] == f"{base}/sets/{made['set']}" and document["set"]["proof"]
    assert [entry["object"]["id"] for entry in document["tokens"]] == [f"{base}/tokens/{t}" for t in made["tokens"]]
    for entry in document["tokens"]:
        token = entry["object"]
        assert token["attributes"]["label"].startswith("Bar") and token["version"] == 1
        assert content_hash(entry["content"]) == token["contentHash"]
        await verify_remote_object(site_of(fed_api), token)
    assert sorted(t["id"] for t in document["types"]) == sorted(f"{base}/types/{t}" for t in made["types"])
    assert {row["symbol"] for row in document["ledger"]["balances"]} == {"MTL", "ING"}
    ingots = next(row for row in document["ledger"]["balances"] if row["symbol"] == "ING")
    assert ingots["balance"] == "2" and ingots["created"] == "2"
    assert (await verify_remote_object(site_of(fed_api), document)).signer == f"{base}/users/alice"
    checked = await check_export(site_of(fed_api), document)
    assert [hash_checked for _, hash_checked in checked.tokens] == [True, True]


async def test_export__only_the_owner_may_export_and_a_refusal_queues_nothing(fed_api: Api) -> None:
    _, made = await shelf_with_tokens(fed_api)
    bob = await fed_api.user("bob")
    jobs = await Job.all().count()
    assert_problem(await fed_api.post(f"/api/v1/sets/{made['set']}/export", token=bob), 404, "set-not-found")
    assert_problem(await fed_api.post(f"/api/v1/sets/{made['set']}/export"), 401)
    assert_problem(await fed_api.post("/api/v1/sets/nosuchset/export", token=bob), 404, "set-not-found")
    assert await Job.all().count() == jobs
    assert_problem(await fed_api.get("/api/v1/exports/nosuchexport"), 404, "export-not-found")


async def test_export__a_retried_job_writes_the_document_once(fed_api: Api) -> None:
    alice, made = await shelf_with_tokens(fed_api)
    await exported(fed_api, alice, made["set"])
    job = await Job.get(operation="exports.build")
    owner = await Actor.get(username="alice", domain="")
    again = await REGISTRY.call(Context(site=site_of(fed_api), actor=owner, system=True, extra={"job_id": job.id}),
                                "exports.build", {"set": made["set"]})
    assert again["id"] == (await SetExport.get(job_id=job.id)).id
    assert await SetExport.all().count() == 1


async def test_export__tokens_with_private_values_carry_no_content(fed_api: Api) -> None:
    alice = await fed_api.user("alice")
    kind = await make_type(fed_api, alice, [*PUBLIC_ATTRIBUTES, {"name": "vault", "type": "string", "private": True}])
    token = await make_token(fed_api, alice, kind, label="Sealed", vault="B-12")
    shelf = await make_set(fed_api, alice)
    await add(fed_api, alice, shelf["id"], token)
    _, download = await exported(fed_api, alice, shelf["id"])
    assert "B-12" not in download.text
    assert orjson.loads(download.text)["tokens"][0]["content"] is None


async def stored_counts() -> tuple[int, int, int, int]:
    return (await ImportRecord.all().count(), await ImportedCopy.all().count(), await RemoteObject.all().count(),
            await Follow.all().count())


async def refused(api: Api, token: str, document: Any, match: str) -> None:
    before = await stored_counts()
    reply = await api.post("/api/v1/imports", {"document": document}, token=token)
    problem = assert_problem(reply, 422, "import-refused")
    assert match in problem["detail"], problem["detail"]
    assert await stored_counts() == before


@pytest.fixture
async def export_document(fed_api: Api) -> dict[str, Any]:
    alice, made = await shelf_with_tokens(fed_api)
    _, download = await exported(fed_api, alice, made["set"])
    return dict(orjson.loads(download.text))


async def test_import__refuses_a_document_changed_by_one_byte(fed_api: Api, export_document: dict[str, Any]) -> None:
    bob = await fed_api.user("bob")
    text = orjson.dumps(export_document).decode()
    assert text.count("Bar 2") == 3  # content, attributes and the HTML content of the token
    changed = orjson.loads(text.replace('"label":"Bar 2"', '"label":"Bar 3"', 1))
    await refused(fed_api, bob, changed, "does not match")


async def test_import__refuses_edited_hashes_truncation_swapped_and_foreign_proofs(
    fed_api: Api, export_document: dict[str, Any]
) -> None:
    bob = await fed_api.user("bob")
    truncated = {**export_document, "tokens": export_document["tokens"][:1]}
    await refused(fed_api, bob, truncated, "the export's own proof")
    no_types = {key: value for key, value in export_document.items() if key != "types"}
    await refused(fed_api, bob, no_types, "no tokens or types")
    edited_hash = copy.deepcopy(export_document)
    edited_hash["tokens"][0]["object"]["contentHash"] = "sha256:" + "0" * 64
    await refused(fed_api, bob, edited_hash, "the export's own proof")
    swapped = copy.deepcopy(export_document)
    swapped["tokens"][0]["object"]["proof"] = export_document["tokens"][1]["object"]["proof"]
    await refused(fed_api, bob, swapped, "the export's own proof")
    mallory = await fed_api.user("mallory")
    assert mallory
    mallory_actor = await Actor.get(username="mallory", domain="")
    foreign = await sign_as(site_of(fed_api), mallory_actor, export_document)
    await refused(fed_api, bob, foreign, "belongs to")
    claimed = await sign_as(site_of(fed_api), mallory_actor, {**export_document, "attributedTo": "x"})
    claimed["attributedTo"] = export_document["attributedTo"]
    await refused(fed_api, bob, claimed, "the export's own proof")
    not_export = {**export_document, "type": "Note"}
    await refused(fed_api, bob, not_export, "not a TokenSetExport")


async def test_import__refuses_inner_changes_even_when_the_export_is_resigned(
    fed_api: Api, export_document: dict[str, Any]
) -> None:
    """The exporter vouches for the whole, but each token must still carry its owner's intact proof."""
    bob = await fed_api.user("bob")
    alice = await Actor.get(username="alice", domain="")
    site = site_of(fed_api)
    changed = copy.deepcopy(export_document)
    changed["tokens"][1]["object"]["attributes"]["weight"] = "30"
    await refused(fed_api, bob, await sign_as(site, alice, changed), "does not match")
    wrong_content = copy.deepcopy(export_document)
    wrong_content["tokens"][0]["content"]["attributes"]["weight"] = "1"
    await refused(fed_api, bob, await sign_as(site, alice, wrong_content), "does not match its signed document")
    missing_type = copy.deepcopy(export_document)
    missing_type["types"] = [t for t in missing_type["types"] if t["symbol"] != "ING"]
    await refused(fed_api, bob, await sign_as(site, alice, missing_type), "whose type the export carries")


async def test_import__a_url_is_fetched_only_behind_the_ssrf_guard(api: Api) -> None:
    bob = await api.user("bob")
    listening = f"http://127.0.0.1:{api.client.port}/api/v1/exports/x"  # this very server: only the guard refuses it
    for url in (listening, "http://10.0.0.1/e", "file:///etc/passwd"):
        assert_problem(await api.post("/api/v1/imports", {"url": url}, token=bob), 422, "import-source-unavailable")
    assert await stored_counts() == (0, 0, 0, 0)


async def test_import__an_intact_export_of_this_server_is_not_copied_onto_itself(
    fed_api: Api, export_document: dict[str, Any]
) -> None:
    bob = await fed_api.user("bob")
    before = await stored_counts()
    ours = await fed_api.post("/api/v1/imports", {"document": export_document}, token=bob)
    assert_problem(ours, 422, "import-from-self")
    assert_problem(await fed_api.post("/api/v1/imports", {"document": export_document, "url": "http://x.test/e"},
                                      token=bob), 400, "validation-failed")
    assert_problem(await fed_api.post("/api/v1/imports", {"document": export_document}), 401)
    assert await stored_counts() == before
    listed = await fed_api.get("/api/v1/copies", token=bob)
    assert listed.status == 200 and listed.body["items"] == []
    assert_problem(await fed_api.get("/api/v1/imports/nope", token=bob), 404, "import-not-found")


@pytest.fixture
async def small_fetch_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """Private addresses allowed (the export is fetched from this very server) and a small fetch limit."""
    settings = settings_for(tmp_path, database_url, embedded_workers=False,
                            federation={"allow_private_addresses": True, "fetch_max_bytes": 4096})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def test_import__a_url_is_fetched_within_the_size_limit(small_fetch_api: Api) -> None:
    api = small_fetch_api
    alice, made = await shelf_with_tokens(api)
    result, download = await exported(api, alice, made["set"])
    assert len(download.text) > 4096
    bob = await api.user("bob")
    here = f"http://127.0.0.1:{api.client.port}/api/v1/exports/{result['id']}"
    reply = await api.post("/api/v1/imports", {"url": here}, token=bob)
    too_large = assert_problem(reply, 422, "import-source-unavailable")
    assert "the limit is 4096" in too_large["detail"]
    assert await stored_counts() == (0, 0, 0, 0)


async def test_export__a_set_beyond_the_limit_fails_its_job_with_a_clear_problem(
    fed_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, made = await shelf_with_tokens(fed_api)
    monkeypatch.setattr(exports, "MAX_EXPORT_TOKENS", 1)
    queued = await fed_api.post(f"/api/v1/sets/{made['set']}/export", token=alice)
    await run_jobs(fed_api)
    job = await fed_api.get(f"/api/v1/jobs/{queued.body['id']}", token=alice)
    assert job.body["state"] == "failed" and job.body["error"]["code"] == "export-too-large", job
    assert await SetExport.all().count() == 0


async def test_import__malformed_documents_get_a_clear_4xx_never_a_500(
    fed_api: Api, export_document: dict[str, Any]
) -> None:
    bob = await fed_api.user("bob")
    token = export_document["tokens"][0]
    variants: list[Any] = [
        {},
        {"type": "TokenSetExport"},
        {**export_document, "id": 7},
        {**export_document, "tokens": "all of them"},
        {**export_document, "tokens": [1, 2]},
        {**export_document, "set": None},
        {**export_document, "proof": {"type": "DataIntegrityProof"}},
        {**export_document, "proof": {**export_document["proof"], "proofValue": "z0OIl"}},
        {**export_document, "proof": {**export_document["proof"], "verificationMethod": "not a url"}},
        {**export_document, "proof": {**export_document["proof"], "verificationMethod": "http://[::1/x#k"}},
        {**export_document, "attributedTo": {"id": 3}},
        {**export_document, "tokens": [{**token, "object": "a token"}]},
        {**export_document, "types": [None]},
        {**export_document, "published": 2**60},  # beyond what JSON numbers keep exactly
    ]
    before = await stored_counts()
    for variant in variants:
        reply = await fed_api.post("/api/v1/imports", {"document": variant}, token=bob)
        assert reply.status in (400, 422), (variant.keys() if isinstance(variant, dict) else variant, reply)
    assert await stored_counts() == before
