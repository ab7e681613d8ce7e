"""Media uploads on media attributes: checks on type, size and content; storage and serving."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from models.events import Event
from models.tokens import Media, Token
from server.settings import Settings

from .conftest import Api, assert_problem
from . import dbutil

MAX_MEDIA = 4096
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20
PDF = b"%PDF-1.7\n%stub\n"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """A small media limit, so the domain's own size check is what answers (not aiohttp's)."""
    return dbutil.test_settings(tmp_path, database_url, limits={"max_media_bytes": MAX_MEDIA})


async def make_token(api: Api, owner: str, **type_changes: Any) -> dict[str, Any]:
    attributes = [
        {"name": "picture", "type": "media"},
        {"name": "scan", "type": "media", "private": True},
        {"name": "title", "type": "string"},
    ]
    body = {"name": "Art", "symbol": "ART", "fungible": False, "smallest_unit": 0, "attributes": attributes}
    body.update(type_changes)
    type_reply = await api.post("/api/v1/types", body, token=owner)
    assert type_reply.status == 201, type_reply
    reply = await api.post("/api/v1/tokens", {"type": type_reply.body["id"]}, token=owner)
    assert reply.status == 201, reply
    return reply.body


async def upload(api: Api, token_id: str, attribute: str, data: bytes, content_type: str, **kwargs: Any) -> Any:
    headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
    return await api.call("POST", f"/api/v1/tokens/{token_id}/media/{attribute}", data=data, headers=headers, **kwargs)


async def download(api: Api, media_id: str, token: str | None = None) -> tuple[int, Any, bytes]:
    """Files are binary: read them directly rather than through Api.call (which decodes text)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await api.client.get(f"/api/v1/media/{media_id}", headers=headers)
    return response.status, response.headers, await response.read()


async def state(api: Api) -> tuple[int, int, list[int], list[str]]:
    media_dir = api.settings.data_dir / "media"
    files = sorted(path.name for path in media_dir.iterdir()) if media_dir.exists() else []
    versions = list(await Token.all().order_by("id").values_list("version", flat=True))
    return await Media.all().count(), await Event.all().count(), versions, files


async def test_media_upload__stores_the_file_and_sets_the_attribute(api: Api) -> None:
    alice = await api.user("alice")
    token = await make_token(api, alice)
    reply = await upload(api, token["id"], "picture", PNG, "image/png", token=alice, headers={"If-Match": '"1"'})
    assert reply.status == 200, reply
    digest = hashlib.sha256(PNG).hexdigest()
    value = reply.body["attributes"]["picture"]
    assert value["content_type"] == "image/png" and value["size"] == len(PNG) and value["sha256"] == digest
    assert reply.body["version"] == 2 and reply.body["content_hash"] != token["content_hash"]
    assert (api.settings.data_dir / "media" / digest).read_bytes() == PNG
    media = await Media.get(id=value["media"])
    assert media.token_id == token["id"] and media.attribute == "picture"
    assert await Event.filter(name="media.uploaded", object_id=media.id).count() == 1
    assert await Event.filter(name="token.updated", object_id=token["id"]).count() == 1
    status, headers, raw = await download(api, media.id)
    assert status == 200 and headers["Content-Type"] == "image/png" and raw == PNG
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_media_upload__every_accepted_format_is_recognised(api: Api) -> None:
    alice = await api.user("alice")
    token = await make_token(api, alice)
    for data, content_type in [(JPEG, "image/jpeg"), (b"GIF89a" + b"\x00" * 10, "image/gif"), (WEBP, "image/webp"),
                               (PDF, "application/pdf"), (PNG, "image/png; charset=binary")]:
        reply = await upload(api, token["id"], "picture", data, content_type, token=alice)
        assert reply.status == 200, (content_type, reply)
        assert reply.body["attributes"]["picture"]["content_type"] == content_type.split(";")[0]
    assert await Media.all().count() == 5


async def test_media_upload__refusals_leave_no_trace(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    token = await make_token(api, alice)
    before = await state(api)
    tid = token["id"]
    assert_problem(await upload(api, tid, "picture", PNG, "image/png", token=bob), 403, "not-owner")
    assert_problem(await upload(api, tid, "picture", PNG, "image/png"), 401, "authentication-required")
    assert_problem(await upload(api, "missing", "picture", PNG, "image/png", token=alice), 404, "token-not-found")
    assert_problem(await upload(api, tid, "nothing", PNG, "image/png", token=alice), 404, "attribute-not-found")
    assert_problem(await upload(api, tid, "title", PNG, "image/png", token=alice), 422, "not-a-media-attribute")
    assert_problem(await upload(api, tid, "bad-name!", PNG, "image/png", token=alice), 400, "validation-failed")
    assert_problem(await upload(api, tid, "picture", b"<svg/>", "image/svg+xml", token=alice), 415, "unsupported-media-type")
    assert_problem(await upload(api, tid, "picture", b"<html>", "text/html", token=alice), 415, "unsupported-media-type")
    assert_problem(await upload(api, tid, "picture", JPEG, "image/png", token=alice), 422, "media-content-mismatch")
    assert_problem(await upload(api, tid, "picture", b"RIFF0000WAVE", "image/webp", token=alice), 422,
                   "media-content-mismatch")
    assert_problem(await upload(api, tid, "picture", b"", "image/png", token=alice), 400, "empty-upload")
    too_big = PNG + b"\x00" * MAX_MEDIA
    problem = assert_problem(await upload(api, tid, "picture", too_big, "image/png", token=alice), 413, "media-too-large")
    assert str(MAX_MEDIA) in problem["detail"]
    problem = assert_problem(
        await upload(api, tid, "picture", PNG, "image/png", token=alice, headers={"If-Match": '"9"'}), 409, "version-mismatch"
    )
    assert problem["current_version"] == 1
    assert await state(api) == before


async def test_media_upload__a_media_value_cannot_be_set_as_json_but_can_be_removed(api: Api) -> None:
    alice = await api.user("alice")
    token = await make_token(api, alice)
    path = f"/api/v1/tokens/{token['id']}"
    reply = await api.patch(path, {"attributes": {"picture": {"media": "forged", "sha256": "0" * 64}}}, token=alice)
    assert_problem(reply, 422, "media-upload-required")
    await upload(api, token["id"], "picture", PNG, "image/png", token=alice)
    removed = await api.patch(path, {"attributes": {"picture": None}}, token=alice)
    assert removed.status == 200 and removed.body["attributes"]["picture"] is None


async def test_media_get__private_media_only_for_the_owner(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    token = await make_token(api, alice)
    reply = await upload(api, token["id"], "scan", PDF, "application/pdf", token=alice)
    media_id = reply.body["attributes"]["scan"]["media"]
    assert "scan" not in (await api.get(f"/api/v1/tokens/{token['id']}", token=bob)).body["attributes"]
    assert (await download(api, media_id, alice))[2] == PDF
    assert_problem(await api.get(f"/api/v1/media/{media_id}", token=bob), 404, "media-not-found")
    assert_problem(await api.get(f"/api/v1/media/{media_id}"), 404, "media-not-found")
    assert_problem(await api.get("/api/v1/media/missing"), 404, "media-not-found")


async def test_media_get__media_of_a_deleted_token_is_gone_for_others(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    token = await make_token(api, alice)
    reply = await upload(api, token["id"], "picture", PNG, "image/png", token=alice)
    media_id = reply.body["attributes"]["picture"]["media"]
    assert (await download(api, media_id, bob))[0] == 200
    assert (await api.delete(f"/api/v1/tokens/{token['id']}", token=alice)).status == 204
    assert_problem(await api.get(f"/api/v1/media/{media_id}", token=bob), 404, "media-not-found")
    assert (await download(api, media_id, alice))[0] == 200
