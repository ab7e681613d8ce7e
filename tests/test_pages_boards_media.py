"""Posting on a board page with files is all or nothing: a file the board refuses (its type, its
size, one too many, or media off) leaves no entry behind, and the form comes back with the file's
error and the words still in the textarea."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from models.boards import BoardEntry
from server.settings import Settings

from .conftest import Api
from .dbutil import test_settings as settings_for
from .pagehelpers import HTML, Browser, Page
from .test_pages_boards import make

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(tmp_path, database_url, limits={"board_media_per_entry": 2, "max_media_bytes": 1024})


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def post_with_files(browser: Browser, board_id: str, csrf: str, body: str,
                          files: list[tuple[str, bytes, str]], *, parent: str = "", expect: int) -> Page:
    """Post the entry form as a browser does: multipart, one part per picked file."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("body", body)
    if parent:
        form.add_field("parent", parent)
        form.add_field("back", f"/app/posts/{parent}")
    for name, content, content_type in files:
        form.add_field("file", content, filename=name, content_type=content_type)
    reply = await browser.client.post(f"/app/boards/{board_id}/entries", data=form, headers=HTML)
    page = Page(reply.status, await reply.text(), str(reply.url))
    assert page.status == expect, f"{page.url}: expected {expect}, got {page.status}: {page.text[:1500]}"
    return page


def textarea(page: Page, field_id: str) -> str:
    start = page.text.index(f'id="{field_id}"')
    return page.text[page.text.index(">", start) + 1:page.text.index("</textarea>", start)]


async def test_pages_boards_media__a_refused_file_posts_nothing_and_keeps_the_words(browser: Browser) -> None:
    await browser.sign_up("alice")
    board_id = await make(browser, media_allowed="on")
    page = await browser.get(f"/app/boards/{board_id}", expect=200)

    wrong_type = await post_with_files(browser, board_id, page.csrf(), "My coin, photographed",
                                       [("coin.txt", b"hello", "text/plain")], expect=415)
    assert "text/plain is not accepted" in (wrong_type.field_error("file") or "")
    assert "nothing was posted" in wrong_type and "My coin, photographed" in textarea(wrong_type, "f-body")
    fake = await post_with_files(browser, board_id, page.csrf(), "Fake", [("coin.png", b"GIF89a" + b"\x00" * 8,
                                                                          "image/png")], expect=422)
    assert "not image/png" in (fake.field_error("file") or "")
    too_big = await post_with_files(browser, board_id, page.csrf(), "Big", [("big.png", PNG + b"\x00" * 2000,
                                                                            "image/png")], expect=413)
    assert "the limit is 1024" in (too_big.field_error("file") or "") and "Big" in textarea(too_big, "f-body")
    too_many = await post_with_files(browser, board_id, page.csrf(), "Three",
                                     [(f"{n}.png", PNG, "image/png") for n in range(3)], expect=409)
    assert "at most 2 files" in (too_many.field_error("file") or "")
    assert await BoardEntry.filter(board_id=board_id).count() == 0

    posted = await post_with_files(browser, board_id, page.csrf(), "Two coins",
                                   [("a.png", PNG, "image/png"), ("b.png", PNG, "image/png")], expect=200)
    assert "Posted." in posted and posted.text.count("/media/") == 4  # two files, each a link and an image
    entry = await BoardEntry.get(board_id=board_id)
    assert entry.body == "Two coins" and len(entry.media) == 2

    thread = await browser.get(f"/app/posts/{entry.id}", expect=200)
    refused = await post_with_files(browser, board_id, thread.csrf(), "A reply with a bad file",
                                    [("x.txt", b"x", "text/plain")], parent=entry.id, expect=415)
    assert "text/plain is not accepted" in refused and "A reply with a bad file" in textarea(refused, f"reply-{entry.id}")
    assert await BoardEntry.filter(board_id=board_id).count() == 1
    replied = await post_with_files(browser, board_id, thread.csrf(), "A reply with a good file",
                                    [("r.png", PNG, "image/png")], parent=entry.id, expect=200)
    assert "A reply with a good file" in replied and "Posted." in replied
    reply = await BoardEntry.get(parent_id=entry.id)
    assert len(reply.media) == 1


async def test_pages_boards_media__a_file_on_a_board_without_media_posts_nothing(browser: Browser) -> None:
    await browser.sign_up("alice")
    board_id = await make(browser)  # media_allowed not ticked
    page = await browser.get(f"/app/boards/{board_id}", expect=200)
    assert 'name="file"' not in page.text
    refused = await post_with_files(browser, board_id, page.csrf(), "From an old tab", [("a.png", PNG, "image/png")],
                                    expect=403)
    assert "media are off on this board" in refused and "From an old tab" in textarea(refused, "f-body")
    assert await BoardEntry.filter(board_id=board_id).count() == 0
    plain = await post_with_files(browser, board_id, page.csrf(), "Just words", [], expect=200)
    assert "Just words" in plain and await BoardEntry.filter(board_id=board_id).count() == 1
