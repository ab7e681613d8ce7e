"""A board's history across servers (issue 22): the group's outbox lists its threads for a new
member's server, and that server copies them into its mirror when its first member joins.

Group side: alice's board `cafe` here, bob a member on a fake remote server. Member side: the
group lives on a fake server (tests/test_federation_backfill.py's FlakyRemote, whose pages can be
down or held) that serves its outbox; what it passes on later arrives as signed Announces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from federation.httpsig_cavage import sign_cavage
from models.boards import Board
from models.engine import run_due
from models.federation import Backfill
from models.machines import BACKFILLS
from server.app import create_app

from .conftest import Api
from .dbutil import test_settings as app_settings
from .fedhelpers import SHARED_KEY, Remote, fed_api, remote, site_of  # noqa: F401
from .pagehelpers import Browser
from .test_boards_groups import GROUP, _act, _board, _member, _note, _send
from .test_boards_mirrors import CAFE_TERMS, Group, _entries, _joined
from .test_federation_backfill import FlakyRemote, flaky, later  # noqa: F401

AP = {"Accept": "application/activity+json"}


# ---------------------------------------------------------------- the group's outbox


async def _outbox(api: Api, page: int | None = None, signer: Any = None) -> dict[str, Any]:
    path = "/users/cafe/outbox" + (f"?page={page}" if page else "")
    headers = dict(AP)
    if signer is not None:
        url = f"http://{api.client.host}:{api.client.port}{path}"
        headers |= sign_cavage("GET", url, key_id=signer.key_id, private_key=SHARED_KEY.private_pem)
    return dict(orjson.loads((await api.get(path, headers=headers, expect=200)).text))


async def test_outbox__lists_threads_newest_first_with_replies_and_vote_totals(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice)
    bob = await _member(api, remote, "bob")
    first = (await api.post(f"/api/v1/boards/{board['id']}/entries", {"body": "First thread"}, token=alice,
                            expect=201)).body
    reply = (await api.post(f"/api/v1/entries/{first['id']}/replies", {"body": "A reply"}, token=alice,
                            expect=201)).body
    bobs = _note(bob, "Bob's thread")
    assert (await _send(api, bob, bobs)).startswith("posted")
    assert (await _send(api, bob, _act(bob, "Like", f"http://127.0.0.1:8080/boards/{board['id']}/entries/{first['id']}"))
            ).startswith("voted up")
    collection = await _outbox(api)
    assert (collection["type"], collection["totalItems"]) == ("OrderedCollection", 2)
    page = await _outbox(api, 1)
    items = page["orderedItems"]
    assert [item["type"] for item in items] == ["Announce"] * 3 and "next" not in page
    newest, top, answer = items
    # bob's thread (newest) is named by its id on his server: a reader fetches it from there
    assert newest["object"] == {"type": "Create", "actor": bob.uri, "object": bobs["object"]["id"], "audience": GROUP}
    assert newest["context"] == bobs["object"]["id"]
    # alice's thread is embedded, signed by her, with bob's vote counted; her reply follows it
    assert (top["object"]["object"]["source"]["content"], top["votes"]) == ("First thread", {"up": 1, "down": 0})
    assert top["object"]["object"]["proof"]["verificationMethod"].startswith("http://127.0.0.1:8080/users/alice")
    assert answer["object"]["object"]["inReplyTo"] == top["object"]["object"]["id"] == answer["context"]
    assert answer["object"]["object"]["id"].endswith(reply["id"])
    # 20 threads a page
    for n in range(19):
        await api.post(f"/api/v1/boards/{board['id']}/entries", {"body": f"thread {n}"}, token=alice, expect=201)
    first_page = await _outbox(api, 1)
    assert len([i for i in first_page["orderedItems"] if i["context"] == i["object"]["object"] or
                isinstance(i["object"]["object"], dict) and i["context"] == i["object"]["object"]["id"]]) == 20
    assert first_page["next"].endswith("/users/cafe/outbox?page=2")
    last = await _outbox(api, 2)
    assert [i["object"]["object"]["source"]["content"] for i in last["orderedItems"]] == ["First thread", "A reply"]


async def test_outbox__a_members_board_is_listed_to_members_servers_only(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice, visibility="members")
    bob = await _member(api, remote, "bob")
    await api.post(f"/api/v1/boards/{board['id']}/entries", {"body": "for members"}, token=alice, expect=201)
    anyone = await _outbox(api)
    assert (anyone["totalItems"], anyone["orderedItems"]) == (0, [])
    assert (await _outbox(api, 1))["orderedItems"] == []
    assert (await _outbox(api, signer=bob))["totalItems"] == 1
    [item] = (await _outbox(api, 1, signer=bob))["orderedItems"]
    assert item["object"]["object"]["source"]["content"] == "for members"
    elsewhere = Remote()  # a server where no member lives
    await elsewhere.start()
    try:
        stranger = await _outbox(api, 1, signer=elsewhere.actor("mallory"))
        assert stranger["orderedItems"] == [] and stranger["totalItems"] == 0
    finally:
        await elsewhere.stop()


# ---------------------------------------------------------------- the member's copy


def _serve_history(server: Remote, pages: list[list[dict[str, Any]]], total: int) -> dict[str, Any]:
    """The group's outbox on the fake server, /objects/cafe-outbox and its pages; the group's terms naming it."""
    base = f"{server.base}/objects/cafe-outbox"
    server.objects["cafe-outbox"] = {"id": base, "type": "OrderedCollection", "totalItems": total, "first": f"{base}-1"}
    for n, items in enumerate(pages, 1):
        page: dict[str, Any] = {"id": f"{base}-{n}", "type": "OrderedCollectionPage", "orderedItems": items}
        if n < len(pages):
            page["next"] = f"{base}-{n + 1}"
        server.objects[f"cafe-outbox-{n}"] = page
    return {**CAFE_TERMS, "outbox": base}


def _item(group: Group, note: dict[str, Any], thread: str, up: int = 0, down: int = 0) -> dict[str, Any]:
    return {"id": f"{group.uri}/history/{note['id'].rsplit('/', 1)[-1]}", "type": "Announce", "actor": group.uri,
            "object": {"type": "Create", "actor": note["attributedTo"], "object": note}, "context": thread,
            "votes": {"up": up, "down": down}}


def _history(server: Remote) -> tuple[Group, list[list[dict[str, Any]]], str]:
    """Two pages: bob's thread (3 up, 1 down) with carol's reply, then carol's thread."""
    group = Group(server)
    bob, carol = group.member("bob"), group.member("carol")
    thread = group.note(bob, 1, "Old thread")
    answer = group.note(carol, 2, "Old reply", reply_to=thread["id"])
    later_thread = group.note(carol, 3, "Second old thread")
    pages = [[_item(group, thread, thread["id"], 3, 1), _item(group, answer, thread["id"])],
             [_item(group, later_thread, later_thread["id"])]]
    return group, pages, thread["id"]


async def _copied(api: Api, board: dict[str, Any], token: str) -> list[tuple[str, int, int, list[str]]]:
    """The board's threads as our user reads them: (words, up, down, the replies' words), by words;
    the thread's count of replies agrees."""
    found = []
    for thread in await _entries(api, board, token):
        whole = (await api.get(f"/api/v1/entries/{thread['id']}", token=token, expect=200)).body
        found.append((whole["body"], whole["up"], whole["down"], [reply["body"] for reply in whole["replies"] or []]))
        assert whole["reply_count"] == len(whole["replies"] or []), whole
    return sorted(found)


def _fetched(server: Remote, path: str) -> int:
    return len([r for r in server.fetches() if r["path"] == path])


async def test_mirror__copies_the_history_page_by_page_and_retries_a_group_that_is_down(
    fed_api: Api, flaky: FlakyRemote,
) -> None:
    api, site = fed_api, site_of(fed_api)
    _, pages, first_id = _history(flaky)
    terms = _serve_history(flaky, pages, total=2)
    flaky.down = {"cafe-outbox-2"}
    group, alice, board = await _joined(api, flaky, "alice", terms)
    assert board["history"] == {"copied": 0, "of": None}
    browser = Browser(api.client)
    await browser.sign_in("alice")
    assert "Copying the board's history: 0 threads so far" in (await browser.get(f"/app/boards/{board['id']}",
                                                                                      expect=200)).text
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.threads, row.total, row.copied, row.pages) == ("pending", 1, 2, 2, 1)
    assert "503" in (row.last_error or "")
    text = (await browser.get(f"/app/boards/{board['id']}", expect=200)).text
    assert "Copying the board's history: 1 of 2 threads so far" in text
    assert await _copied(api, board, alice) == [("Old thread", 3, 1, ["Old reply"])]
    flaky.down = set()
    assert await run_due(site, BACKFILLS) == 0  # not before the backoff
    assert await run_due(site, BACKFILLS, now=later(60)) == 1
    row = await Backfill.get()
    assert (row.state, row.threads, row.copied, row.refused, row.pages) == ("done", 2, 3, 0, 2)
    assert _fetched(flaky, "/objects/cafe-outbox-1") == 1  # resumed from the page reached
    listed = (await api.get("/api/v1/federation/backfills", token=alice, expect=200)).body["items"]
    assert [(b["target"], b["state"], b["threads"], b["total"], b["copied"]) for b in listed] == [
        (group.actor.handle, "done", 2, 2, 3)]
    assert await _copied(api, board, alice) == [("Old thread", 3, 1, ["Old reply"]), ("Second old thread", 0, 0, [])]
    assert "Copying" not in (await browser.get(f"/app/boards/{board['id']}", expect=200)).text
    assert (await api.get(f"/api/v1/boards/{board['id']}", token=alice, expect=200)).body.get("history") is None
    # the copy then follows the group's votes from the starting figure
    dave = group.member("dave")
    assert await group.announce(api, group.wrap("Like", dave, first_id)) == "vote counted"
    assert (await _copied(api, board, alice))[0] == ("Old thread", 4, 1, ["Old reply"])


async def test_mirror__a_worker_stopped_mid_history_repeats_at_most_a_page(fed_api: Api, flaky: FlakyRemote) -> None:
    api, site = fed_api, site_of(fed_api)
    _, pages, _ = _history(flaky)
    terms = _serve_history(flaky, pages, total=2)
    flaky.held["cafe-outbox-2"] = asyncio.Event()
    _, alice, board = await _joined(api, flaky, "alice", terms)
    running = asyncio.create_task(run_due(site, BACKFILLS))
    for _ in range(200):  # until page 1 is stored and page 2 asked for
        if (await Backfill.get()).pages == 1:
            break
        await asyncio.sleep(0.05)
    running.cancel()  # the process stops while it waits for page 2
    with pytest.raises(asyncio.CancelledError):
        await running
    row = await Backfill.get()
    assert (row.state, row.copied, row.next_url) == ("pending", 2, f"{flaky.base}/objects/cafe-outbox-2")
    flaky.held.pop("cafe-outbox-2").set()
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.threads, row.copied) == ("done", 2, 3)
    assert _fetched(flaky, "/objects/cafe-outbox-1") == 1
    assert await _copied(api, board, alice) == [("Old thread", 3, 1, ["Old reply"]), ("Second old thread", 0, 0, [])]
    assert (await Board.get(id=board["id"])).entry_count == 3  # nothing stored twice


@pytest.fixture
async def one_thread_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """fed_api, copying at most one thread of a board's history."""
    settings = app_settings(tmp_path, database_url, embedded_workers=False,
                            federation={"allow_private_addresses": True, "inbox_max_bytes": 4096,
                                        "board_backfill_max_threads": 1})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def test_mirror__copies_at_most_the_thread_limit_and_only_for_the_first_member(
    one_thread_api: Api, flaky: FlakyRemote,
) -> None:
    api, site = one_thread_api, site_of(one_thread_api)
    _, pages, _ = _history(flaky)
    terms = _serve_history(flaky, pages, total=2)
    _, alice, board = await _joined(api, flaky, "alice", terms)
    assert await run_due(site, BACKFILLS) == 1
    row = await Backfill.get()
    assert (row.state, row.threads, row.total, row.note) == ("done", 1, 1, "stopped at the limit of 1 threads")
    assert await _copied(api, board, alice) == [("Old thread", 3, 1, ["Old reply"])]
    assert _fetched(flaky, "/objects/cafe-outbox-2") == 0
    await _joined(api, flaky, "bob", terms)  # a second member: the copy has its history already
    assert await Backfill.all().count() == 1
