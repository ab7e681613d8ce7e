"""Board pages (issue 22, item 5): the list and the form to make a board, a chat room (without
JavaScript a plain page, newest last; with it, Server-Sent Events), a thread with nested replies and
vote buttons as forms, reviews of a subject with stars in text, and the moderators' page. Every
field labelled, every page fits a 390 px phone."""

from __future__ import annotations

import re

import pytest

from models.boards import Board, BoardEntry

from .conftest import Api
from .pagehelpers import Browser, Page, assert_fits_phone
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


def checked(page: Page) -> Page:
    assert_labelled(page.text)
    assert_fits_phone(page.text)
    return page


async def make(browser: Browser, **fields: str) -> str:
    form = checked(await browser.get("/app/boards", expect=200))
    made = await browser.post("/app/boards", {"name": "Coins talk", "kind": "discussion", "visibility": "public",
                                              "members_only": "on", "replies_allowed": "on", **fields},
                              csrf=form.csrf(), expect=200)
    match = re.search(r"/app/boards/([0-9a-z]{26})", made.url)
    assert match, made.url
    return match.group(1)


async def test_pages_boards__make_a_board_post_reply_vote_and_delete(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    bad = await browser.submit("/app/boards", "/app/boards", {"name": "", "kind": "discussion"}, expect=400)
    assert bad.field_error("name") and not await Board.exists()
    board_id = await make(browser, votes_allowed="on")
    page = checked(await browser.get(f"/app/boards/{board_id}", expect=200))
    assert "Coins talk" in page and "Start a thread" in page and "<script" not in page.text
    too_long = await browser.post(f"/app/boards/{board_id}/entries", {"body": "x" * 6000}, csrf=page.csrf(), expect=413)
    assert too_long.field_error("body") and "limit is 5000" in too_long
    posted = await browser.post(f"/app/boards/{board_id}/entries", {"body": "Which **coins** do you keep?"},
                                csrf=page.csrf(), expect=200)
    assert "<strong>coins</strong>" in posted.text and "Posted." in posted
    top = await BoardEntry.get(board_id=board_id)
    thread = checked(await browser.get(f"/app/posts/{top.id}", expect=200))
    replied = await browser.post(f"/app/boards/{board_id}/entries", {"body": "Old ones", "parent": top.id,
                                                                     "back": f"/app/posts/{top.id}"},
                                 csrf=thread.csrf(), expect=200)
    reply = await BoardEntry.get(parent_id=top.id)
    deeper = await browser.post(f"/app/boards/{board_id}/entries", {"body": "Which?", "parent": reply.id,
                                                                    "back": f"/app/posts/{top.id}"},
                                csrf=replied.csrf(), expect=200)
    assert deeper.text.index("Old ones") < deeper.text.index("Which?") and 'class="replies"' in deeper.text
    voted = await browser.post(f"/app/posts/{top.id}/up", {"back": f"/app/posts/{top.id}"}, csrf=deeper.csrf(),
                               expect=200)
    assert "1 point (1 up, 0 down)" in voted and "Take my vote back" in voted
    gone = await browser.post(f"/app/posts/{reply.id}/delete", {"back": f"/app/posts/{top.id}"},
                              csrf=voted.csrf(), expect=200)
    assert "This entry was deleted. Its replies stay." in gone and "Which?" in gone
    edit = checked(await browser.get(f"/app/posts/{top.id}/edit", expect=200))
    saved = await browser.post(f"/app/posts/{top.id}/edit", {"body": "Which coins?"}, csrf=edit.csrf(), expect=200)
    assert "Which coins?" in saved
    history = await browser.get(f"/app/posts/{top.id}/edit", expect=200)
    assert "Version 1" in history and "Which <strong>coins</strong> do you keep?" in history.text


async def test_pages_boards__chat_room_without_js_and_its_events(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    board_id = await make(browser, kind="chat")
    room = await browser.get(f"/app/boards/{board_id}", expect=200)
    assert "No messages yet" in room
    first = await browser.post(f"/app/boards/{board_id}/entries", {"body": "first"}, csrf=room.csrf(), expect=200)
    second = await browser.post(f"/app/boards/{board_id}/entries", {"body": "second"}, csrf=first.csrf(), expect=200)
    checked(second)
    assert second.text.index("first") < second.text.index("second")  # newest last
    response = await browser.client.get(f"/app/boards/{board_id}", headers={"Accept": "text/html"})
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<script src="/static/boards-chat.js"' in await response.text()
    entries = await BoardEntry.filter(board_id=board_id).order_by("id")
    events = await browser.client.get(f"/app/boards/{board_id}/events", headers={"Last-Event-ID": entries[0].id})
    assert events.status == 200 and events.headers["Content-Type"].startswith("text/event-stream")
    assert await events.content.readuntil(b"\n\n") == b"retry: 3000\n\n"
    event = (await events.content.readuntil(b"\n\n")).decode()
    events.close()
    assert event.startswith("id: 20") and "\nevent: entry\ndata: " in event  # the id: the poll's time
    assert f'"id":"{entries[1].id}"' in event and '"html":"<p>second</p>' in event
    script = await browser.client.get("/static/boards-chat.js")
    assert script.status == 200 and "EventSource" in await script.text()


async def test_pages_boards__reviews_with_stars_on_the_type_page(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    coin = (await api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2},
                           token=alice, expect=201)).body["id"]
    await browser.sign_up("bob")
    board_id = await make(browser, kind="review", members_only="")
    page = checked(await browser.get(f"/app/boards/{board_id}", expect=200))
    assert "Write a review" in page
    await browser.post(f"/app/boards/{board_id}/entries", {"subject_kind": "type", "subject_id": coin, "rating": "4",
                                                           "body": "Good coin"}, csrf=page.csrf(), expect=200)
    again = await browser.post(f"/app/boards/{board_id}/entries", {"subject_kind": "type", "subject_id": coin,
                                                                   "rating": "1", "body": "Again"}, csrf=page.csrf(),
                               expect=409)
    assert "already reviewed" in again
    reviews = checked(await browser.get(f"/app/reviews/type/{coin}", expect=200))
    assert "4.0 out of 5" in reviews and "from 1 review" in reviews and "★★★★☆" in reviews and "Good coin" in reviews
    type_page = await browser.get(f"/app/types/{coin}", expect=200)
    assert "4.0 out of 5 from 1 review" in type_page and f"/app/reviews/type/{coin}" in type_page.text
    badge = (await api.post("/api/v1/types", {"name": "Badge", "symbol": "BDG", "fungible": False, "smallest_unit": 0},
                            token=alice, expect=201)).body["id"]
    token = (await api.post("/api/v1/tokens", {"type": badge, "attributes": {}}, token=alice, expect=201)).body["id"]
    unreviewed = await browser.get(f"/app/tokens/{token}", expect=200)
    assert "No reviews yet." in unreviewed
    await browser.post(f"/app/boards/{board_id}/entries", {"subject_kind": "token", "subject_id": token, "rating": "2",
                                                           "body": "Scratched"}, csrf=page.csrf(), expect=200)
    token_page = await browser.get(f"/app/tokens/{token}", expect=200)
    assert "2.0 out of 5 from 1 review" in token_page and "★★☆☆☆" in token_page


async def test_pages_boards__moderators_page_invites_and_bans(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    bob = await api.user("bob")
    board_id = await make(browser, visibility="invite")
    manage = checked(await browser.get(f"/app/boards/{board_id}/manage", expect=200))
    made = await browser.post(f"/app/boards/{board_id}/manage/invite", {"max_uses": "1", "expires_in_hours": "24"},
                              csrf=manage.csrf(), expect=200)
    link = re.search(r"/app/boards/invite/([A-Za-z0-9_-]+)", made.text)
    assert link and "shown only now" in made
    await api.post("/api/v1/boards/invites/accept", {"code": link.group(1)}, token=bob, expect=200)
    banned = await browser.post(f"/app/boards/{board_id}/manage/ban", {"username": "bob", "reason": "rude"},
                                csrf=made.csrf(), expect=200)
    assert "rude" in banned and "Banned" in banned
    refused = await api.post(f"/api/v1/boards/{board_id}/entries", {"body": "hi"}, token=bob)
    assert refused.status == 404  # banned from an invite-only board: no longer a member, so it is hidden
    no_reason = await browser.post(f"/app/boards/{board_id}/manage/ban", {"username": "bob", "reason": ""},
                                   csrf=banned.csrf(), expect=400)
    assert no_reason.field_error("reason")
    lifted = await browser.post(f"/app/boards/{board_id}/manage/lift", {"username": "bob"}, csrf=banned.csrf(),
                                expect=200)
    assert "Nobody is banned" in lifted


async def test_pages_boards__invite_link_page_joins(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    club = (await api.post("/api/v1/boards", {"name": "Club", "kind": "chat", "visibility": "invite"}, token=alice,
                           expect=201)).body
    code = (await api.post(f"/api/v1/boards/{club['id']}/invites", {}, token=alice, expect=201)).body["code"]
    await browser.sign_up("bob")
    page = checked(await browser.get(f"/app/boards/invite/{code}", expect=200))
    joined = await browser.post(f"/app/boards/invite/{code}", {}, csrf=page.csrf(), expect=200)
    assert "Welcome" in joined and "Club" in joined
    used = await browser.post(f"/app/boards/invite/{code}", {}, csrf=page.csrf(), expect=409)
    assert "already a member" in used


async def test_pages_boards__a_board_named_for_other_servers_says_how_to_follow_it(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    taken = await make(browser, handle="coinstalk")
    page = checked(await browser.get(f"/app/boards/{taken}", expect=200))
    assert "follow <code>@coinstalk@" in page.text
    again = await browser.get("/app/boards", expect=200)
    refused = await browser.post("/app/boards", {"name": "Second", "kind": "discussion", "visibility": "public",
                                                 "handle": "coinstalk"}, csrf=again.csrf(), expect=409)
    assert "taken" in refused.text and await Board.filter(name="Second").count() == 0
    secret = await make(browser, name="Secret", visibility="invite", handle="secret_room")
    assert "follow <code>@" not in (await browser.get(f"/app/boards/{secret}", expect=200)).text
