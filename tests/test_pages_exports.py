"""Export and import through pages: the set page starts an export, its job page links the file,
the file downloads, and the imports page takes it back (on one instance the import is refused in
plain words, as the API refuses copying a server onto itself; a changed file is refused too, and
nothing is stored). The imports pages list what was imported and each copy, only to its importer.
Importing across two real servers: test_export_live.py."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson

from models.actors import Actor, User
from models.exports import ImportedCopy, ImportRecord
from models.federation import RemoteObject

from .conftest import Api
from .fedhelpers import fed_api  # noqa: F401
from .pagehelpers import HTML, Browser, Page
from .test_export import run_jobs, shelf_with_tokens, stored_counts
from .test_pages_session import assert_labelled


async def upload(browser: Browser, csrf: str, content: bytes | None, url: str = "", *, expect: int) -> Page:
    """Post the import form as a browser does: multipart, with the file field (empty when no file)."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("url", url)
    form.add_field("file", content or b"", filename="export.json" if content is not None else "",
                   content_type="application/json")
    reply = await browser.client.post("/app/imports", data=form, headers=HTML)
    page = Page(reply.status, await reply.text(), str(reply.url))
    assert page.status == expect, f"{page.url}: expected {expect}, got {page.status}: {page.text[:1500]}"
    return page


async def test_pages_exports__export_download_and_import_round_trip(fed_api: Api) -> None:  # noqa: F811
    browser = Browser(fed_api.client)
    _, made = await shelf_with_tokens(fed_api)
    await browser.sign_in("alice")
    set_page = await browser.get(f"/app/sets/{made['set']}", expect=200)
    assert "Export this set" in set_page
    started = await browser.post(f"/app/sets/{made['set']}/export", {}, csrf=set_page.csrf(), expect=200)
    assert "Export started." in started and "Export of a set" in started and "waiting to start" in started
    assert "Download the export file" not in started
    await run_jobs(fed_api)
    done = await browser.get(started.url.removeprefix(str(fed_api.client.make_url(""))), expect=200)
    assert "The export holds 2 token(s)." in done and "exports.build" not in done
    link = re.search(r'href="(/api/v1/exports/[0-9a-z]+)" download>Download the export file', done.text)
    assert link, done.text[:3000]
    listed = await browser.get("/app/jobs", expect=200)
    assert link.group(1) in listed.text
    download = await fed_api.client.get(link.group(1))
    assert download.status == 200 and download.headers["Content-Disposition"].startswith("attachment")
    content = await download.read()
    assert orjson.loads(content)["type"] == "TokenSetExport"

    form = await browser.get("/app/imports", expect=200)
    assert "No imports yet." in form and 'enctype="multipart/form-data"' in form.text
    assert_labelled(form.text)
    before = await stored_counts()
    ours = await upload(browser, form.csrf(), content, expect=422)
    assert "these tokens live on this server already: there is nothing to copy" in (ours.field_error("file") or "")
    changed = content.replace(b"Bar 1", b"Bar 9", 1)
    tampered = await upload(browser, form.csrf(), changed, "https://elsewhere.example/e", expect=422)
    assert (tampered.field_error("file") or "").startswith("the export was refused:"), tampered.text[:3000]
    assert 'value="https://elsewhere.example/e"' in tampered.text  # what was typed is kept
    not_json = await upload(browser, form.csrf(), b"\x89PNG...", expect=422)
    assert "the file is not JSON; upload an export file downloaded from a Tallystick server" in not_json
    nothing = await upload(browser, form.csrf(), None, expect=422)
    assert "choose an export file" in (nothing.field_error("file") or "")
    assert await stored_counts() == before
    await browser.post("/app/imports", {"url": "https://elsewhere.example/e"}, csrf="forged", expect=403)


async def actor_of(username: str) -> Actor:
    return await (await User.get(username=username)).actor


async def imported_for(username: str, origin_actor: Actor) -> ImportRecord:
    """An import record with one copy, as federation/imports.py stores one (its checks are tested there)."""
    importer = await actor_of(username)
    record = await ImportRecord.create(
        importer=importer, source_url=None, export_uri="https://far.example/api/v1/exports/e1", origin="far.example",
        set_uri="https://far.example/sets/s1", set_name="Vault", exporter_uri="https://far.example/users/zoe",
        token_count=1, document_hash="sha256:" + "0" * 64,
    )
    document: dict[str, Any] = {"id": "https://far.example/tokens/t1", "name": "Bar 1", "version": 2,
                                "attributes": {"label": "Bar 1", "weight": "12.5"}, "contentHash": "sha256:1"}
    held = await RemoteObject.create(uri=document["id"], type="Token", owner=origin_actor, document=document)
    await ImportedCopy.create(
        record=record, importer=importer, remote_object=held, token_uri=document["id"], origin="far.example",
        origin_token_id="t1", version=1, content_hash="sha256:0", hash_checked=True,
    )
    return record


async def test_pages_imports__list_and_detail_only_for_the_importer(fed_api: Api) -> None:  # noqa: F811
    await fed_api.user("alice")
    browser = Browser(fed_api.client)
    await browser.sign_up("bob")
    record = await imported_for("bob", await actor_of("alice"))
    listed = await browser.get("/app/imports", expect=200)
    assert "Vault" in listed and "from far.example" in listed and "1 token(s)" in listed
    detail = await browser.get(f"/app/imports/{record.id}", expect=200)
    assert "Import of Vault" in detail and "Imported at version 1, now version 2" in detail
    assert "its content hash was recomputed from the file" in detail and "weight" in detail and "12.5" in detail
    assert not re.search(r"\d{2}:\d{2}:\d{2}", re.sub(r"<[^>]+>", " ", detail.text))
    await browser.post("/signout", {}, csrf=detail.csrf(), expect=200)
    await browser.sign_in("alice")
    await browser.get(f"/app/imports/{record.id}", expect=404)
    theirs = await browser.get("/app/imports", expect=200)
    assert "No imports yet." in theirs and "Vault" not in theirs
