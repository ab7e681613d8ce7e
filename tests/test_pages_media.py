"""Files for media attributes from the token forms (issue 23, item 1: media.upload had no page):
each chosen file goes through media.upload, its refusals sit beside the field in plain words,
and the token page shows the picture."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData

from models.tokens import Media
from server.settings import Settings

from . import dbutil
from .conftest import Api
from .pagehelpers import HTML, Browser, Page
from .test_media import JPEG, PNG, make_token
from .test_pages_session import assert_labelled

MAX_MEDIA = 4096  # small, so media.upload's own limit answers (not the server's body limit)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return dbutil.test_settings(tmp_path, database_url, limits={"max_media_bytes": MAX_MEDIA})


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def post_form(browser: Browser, path: str, csrf: str, fields: dict[str, str],
                    files: dict[str, tuple[str, bytes, str]]) -> Page:
    """A multipart form as a browser sends it: text fields, then each file with its name and type."""
    data = FormData()
    data.add_field("csrf_token", csrf)
    for name, value in fields.items():
        data.add_field(name, value)
    for name, (filename, content, content_type) in files.items():
        data.add_field(name, io.BytesIO(content), filename=filename, content_type=content_type)
    response = await browser.client.post(path, data=data, headers=HTML)
    return Page(response.status, await response.text(), str(response.url))


def media_ids(page: Page) -> list[str]:
    return re.findall(r'<img class="media" src="/app/media/([^"]+)"', page.text)


async def test_pages_media__a_new_token_with_a_picture_shows_it(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    token = await make_token(api, alice)  # the type Art: picture and scan (private) media, title text
    type_id = token["type"]
    await browser.sign_in("alice")
    page = await browser.get(f"/app/types/{type_id}", expect=200)
    assert 'enctype="multipart/form-data"' in page.text and 'type="file"' in page.text
    assert 'accept="image/png,image/jpeg,image/gif,image/webp,application/pdf"' in page.text
    assert "at most 4 KB" in page
    assert_labelled(page.text)
    made = await post_form(browser, f"/app/types/{type_id}/tokens", page.csrf(), {"a-title": "Sunset"},
                           {"a-picture": ("sunset.png", PNG, "image/png"), "a-scan": ("", b"", "application/octet-stream")})
    assert made.status == 200 and "Token created." in made and "Sunset" in made, made.text[:500]
    [media_id] = media_ids(made)
    assert 'alt="picture of this token"' in made.text
    served = await browser.client.get(f"/app/media/{media_id}")
    assert served.status == 200 and served.headers["Content-Type"] == "image/png" and await served.read() == PNG
    new_id = made.url.rsplit("/", 1)[1]
    stored = (await api.get(f"/api/v1/tokens/{new_id}", token=alice, expect=200)).body["attributes"]
    assert stored["picture"]["media"] == media_id and stored["scan"] is None and stored["title"] == "Sunset"


async def test_pages_media__a_refused_file_is_explained_beside_its_field(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    type_id = (await make_token(api, alice))["type"]
    await browser.sign_in("alice")
    page = await browser.get(f"/app/types/{type_id}", expect=200)
    wrong = await post_form(browser, f"/app/types/{type_id}/tokens", page.csrf(), {"a-title": "Notes"},
                            {"a-picture": ("notes.txt", b"hello", "text/plain")})
    assert wrong.status == 415, wrong.text[:500]
    assert "The token is created, but a file was not taken" in wrong
    assert wrong.field_error("a-picture") == "notes.txt is not a kind of file kept here; choose a PNG, JPEG, GIF or WebP picture, or a PDF"
    assert 'value="Notes"' in wrong.text and "/edit" in wrong.text  # now the new token's edit page, title kept
    token_id = re.search(r'action="/app/tokens/([^/"]+)/edit"', wrong.text).group(1)  # type: ignore[union-attr]
    big = await post_form(browser, f"/app/tokens/{token_id}/edit", wrong.csrf(),
                          {"a-title": "Notes, longer", "version": "1"}, {"a-picture": ("big.png", PNG + b"\0" * 5000, "image/png")})
    assert big.status == 413 and big.field_error("a-picture") == "big.png is too big: files can be at most 4 KB"
    assert "Your other changes are saved, but a file was not taken" in big and 'value="Notes, longer"' in big.text
    fake = await post_form(browser, f"/app/tokens/{token_id}/edit", big.csrf(), {"version": "2"},
                           {"a-picture": ("photo.png", b"GIF89a" + b"\0" * 10, "image/png")})
    assert fake.status == 422 and "not really what its name says" in (fake.field_error("a-picture") or "")
    assert await Media.all().count() == 0
    assert (await api.get(f"/api/v1/tokens/{token_id}", token=alice, expect=200)).body["attributes"]["picture"] is None


async def test_pages_media__edit_replaces_and_removes_a_file(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    token = await make_token(api, alice)
    await browser.sign_in("alice")
    edit = await browser.get(f"/app/tokens/{token['id']}/edit", expect=200)
    assert 'enctype="multipart/form-data"' in edit.text
    assert_labelled(edit.text)
    saved = await post_form(browser, f"/app/tokens/{token['id']}/edit", edit.csrf(), {"version": "1"},
                            {"a-scan": ("scan.jpg", JPEG, "image/jpeg")})
    assert saved.status == 200 and "Token saved." in saved
    [scan_id] = media_ids(saved)  # a private picture: its owner sees it
    stored: dict[str, Any] = (await api.get(f"/api/v1/tokens/{token['id']}", token=alice, expect=200)).body
    assert stored["version"] == 2 and stored["attributes"]["scan"]["content_type"] == "image/jpeg"
    await browser.sign_up("bob")
    assert (await browser.client.get(f"/app/media/{scan_id}", headers=HTML)).status == 404  # not to others
    assert (await browser.get(f"/app/tokens/{token['id']}/edit")).status == 404
    await browser.sign_in("alice")
    again = await browser.get(f"/app/tokens/{token['id']}/edit", expect=200)
    assert "Now:" in again and "image/jpeg" in again and 'href="/app/media/' in again.text
    stale = await post_form(browser, f"/app/tokens/{token['id']}/edit", again.csrf(), {"version": "1"},
                            {"a-picture": ("p.png", PNG, "image/png")})
    assert stale.status == 409 and "Someone changed this token" in stale
    removed = await post_form(browser, f"/app/tokens/{token['id']}/edit", again.csrf(),
                              {"version": "2", "a-scan-remove": "on"}, {})
    assert removed.status == 200 and media_ids(removed) == []
    assert (await api.get(f"/api/v1/tokens/{token['id']}", token=alice, expect=200)).body["attributes"]["scan"] is None


async def test_pages_media__others_and_forged_forms_are_refused(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    token = await make_token(api, alice)
    await browser.sign_up("bob")
    home = await browser.get("/", expect=200)
    other = await post_form(browser, f"/app/tokens/{token['id']}/edit", home.csrf(), {"version": "1"},
                            {"a-picture": ("p.png", PNG, "image/png")})
    assert other.status == 404
    await browser.sign_in("alice")
    forged = await post_form(browser, f"/app/tokens/{token['id']}/edit", "forged", {"version": "1"},
                             {"a-picture": ("p.png", PNG, "image/png")})
    assert forged.status == 403 and "security token" in forged
    assert await Media.all().count() == 0
