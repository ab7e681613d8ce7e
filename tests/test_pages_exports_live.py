"""Two real servers, through pages only: alice on A exports a set from its page, her job page
links the file, bob on B uploads that file on his imports page and reads what was imported."""

from __future__ import annotations

import re

import aiohttp
import pytest

from .pagehelpers import HTML, Page
from .test_federation_live import Instance, eventually, pair, servers, trio  # noqa: F401
from .test_pages_federation_live import LiveBrowser

pytestmark = pytest.mark.slow
ATTRIBUTES = [{"name": "label", "type": "string"}, {"name": "weight", "type": "decimal"}]


async def upload(browser: LiveBrowser, path: str, content: bytes, csrf: str) -> Page:
    """The import form as a browser posts it: multipart, with the file."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("url", "")
    form.add_field("file", content, filename="export.json", content_type="application/json")
    async with browser.session.post(browser.base_url + path, data=form, headers=HTML) as reply:
        return Page(reply.status, await reply.text(), str(reply.url))


async def test_pages_live__export_on_one_server_and_import_the_file_on_another(
    pair: tuple[Instance, Instance],  # noqa: F811
) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    _, kind = await a.call("POST", "/api/v1/types", "alice", expect=201, json={
        "name": "Ingot", "symbol": "ING", "fungible": False, "smallest_unit": 0, "attributes": ATTRIBUTES})
    for label in ("Bar 1", "Bar 2"):
        await a.call("POST", "/api/v1/tokens", "alice", expect=201,
                     json={"type": kind["id"], "attributes": {"label": label, "weight": "12.5"}})
    _, shelf = await a.call("POST", "/api/v1/sets", "alice", expect=201, json={"name": "Vault"})

    async with (aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice_session,
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bob_session):
        alice = LiveBrowser(a.server.base_url, alice_session)
        await alice.sign_in("alice")
        set_page = await alice.get(f"/app/sets/{shelf['id']}")
        picked = {"pick": re.findall(r'name="pick" value="([0-9a-z]+)"', set_page.text)}
        assert len(picked["pick"]) == 2, set_page.text[:2000]
        form = aiohttp.FormData([("csrf_token", set_page.csrf()), *(("pick", token) for token in picked["pick"])])
        async with alice_session.post(f"{a.server.base_url}/app/sets/{shelf['id']}/tokens", data=form,
                                      headers=HTML) as added:
            assert added.status == 200 and "Added 2 token(s)." in await added.text()
        started = await alice.post(f"/app/sets/{shelf['id']}/export", {}, set_page.csrf())
        assert started.status == 200 and "Export started." in started, started.text[:2000]
        job_path = started.url.removeprefix(a.server.base_url)

        async def ready() -> str | None:
            page = await alice.get(job_path)
            link = re.search(r'href="(/api/v1/exports/[0-9a-z]+)" download>', page.text)
            return link.group(1) if link else None

        link = await eventually(ready, "the export's download link")
        async with alice_session.get(a.server.base_url + link) as download:
            assert download.status == 200
            content = await download.read()

        bob = LiveBrowser(b.server.base_url, bob_session)
        await bob.sign_in("bob")
        imports = await bob.get("/app/imports")
        imported = await upload(bob, "/app/imports", content, imports.csrf())
        assert imported.status == 200 and "Imported 2 token copy(ies)." in imported, imported.text[:3000]
        assert "Import of Vault" in imported and "Bar 1" in imported and "Bar 2" in imported
        assert "its content hash was recomputed from the file" in imported
        listed = await bob.get("/app/imports")
        assert "Vault" in listed and "2 token(s)" in listed
