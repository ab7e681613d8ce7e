"""Two real servers: bob on B holds copies of alice's tokens on A; his copies page verifies them at A
("verify now"), and the verification page finds A's token accurate, and a stale copy's hash outdated."""

from __future__ import annotations

import re

import aiohttp
import pytest

from .pagehelpers import HTML, Page
from .test_export_live import copies_of, export_set
from .test_federation_live import Instance, pair, servers, trio  # noqa: F401

pytestmark = pytest.mark.slow
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


class LiveBrowser:
    """A cookie-keeping browser for a live server (cookies on 127.0.0.1 need an unsafe jar)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url, self.session = base_url, session

    async def get(self, path: str) -> Page:
        async with self.session.get(self.base_url + path, headers=HTML) as reply:
            return Page(reply.status, await reply.text(), str(reply.url))

    async def post(self, path: str, data: dict[str, str], csrf: str) -> Page:
        async with self.session.post(self.base_url + path, data=data | {"csrf_token": csrf}, headers=HTML) as reply:
            return Page(reply.status, await reply.text(), str(reply.url))

    async def sign_in(self, username: str) -> None:
        form = await self.get("/signin")
        signed_in = await self.post("/signin", {"username": username, "password": "correct horse"}, form.csrf())
        assert signed_in.status == 200 and "/signin" not in signed_in.url, signed_in.text[:500]


async def test_pages_live__copies_are_verified_from_the_copies_page_and_the_verify_page(
    pair: tuple[Instance, Instance],  # noqa: F811
) -> None:
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    made = await export_set(a, "alice")
    status, imported = await b.call("POST", "/api/v1/imports", "bob", json={"url": made["url"]})
    assert status == 201, imported
    held = await copies_of(b, "bob")
    first = held[made["tokens"][0]]

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        browser = LiveBrowser(b.server.base_url, session)
        await browser.sign_in("bob")
        copies = await browser.get("/app/copies")
        assert copies.status == 200 and copies.text.count('class="status">held<') == 2
        checked = await browser.post(f"/app/copies/{first['id']}/verify", {}, copies.csrf())
        assert checked.status == 200 and "ACCURATE" in checked and first["token"] in checked

        opened = await browser.get("/app/verify")
        verdict = await browser.post("/app/verify", {"url": first["token"], "content_hash": ""}, opened.csrf())
        assert verdict.status == 200 and "1 of 1 token(s) accurate" in verdict and "ACCURATE" in verdict
        status, changed = await a.call(
            "PATCH", f"/api/v1/tokens/{made['tokens'][0]}", "alice", json={"attributes": {"weight": "13"}}
        )
        assert status == 200, changed
        stale = await browser.post(
            "/app/verify", {"url": first["token"], "content_hash": first["content_hash"]}, opened.csrf()
        )
        assert stale.status == 200 and "OUTDATED" in stale and "0 of 1 token(s) accurate" in stale
