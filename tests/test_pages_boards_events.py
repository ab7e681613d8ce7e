"""A chat room's live updates (Server-Sent Events) poll and last as the settings say
(limits.board_events_poll_seconds, limits.board_events_max_seconds)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.settings import Settings

from .conftest import Api
from .dbutil import test_settings as settings_for


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(tmp_path, database_url,
                        limits={"board_events_poll_seconds": 0.05, "board_events_max_seconds": 1.5})


async def test_pages_boards_events__poll_and_length_come_from_the_settings(api: Api) -> None:
    alice = await api.user("alice")
    room = (await api.post("/api/v1/boards", {"name": "Lobby", "kind": "chat"}, token=alice, expect=201)).body["id"]
    started = time.monotonic()
    events = await api.client.get(f"/app/boards/{room}/events")
    assert events.status == 200 and await events.content.readuntil(b"\n\n") == b"retry: 3000\n\n"
    said = (await api.post(f"/api/v1/boards/{room}/entries", {"body": "hello"}, token=alice, expect=201)).body["id"]
    # Seen at the next poll (0.05 s), not up to 2 s later as with the default.
    event = (await asyncio.wait_for(events.content.readuntil(b"\n\n"), 1.5)).decode()
    assert event.startswith("id: 20") and "\nevent: entry\n" in event and f'"id":"{said}"' in event and "hello" in event
    assert await asyncio.wait_for(events.content.read(), 30.0) == b""  # the stream ends after 1.5 s, not 300
    assert 1.5 <= time.monotonic() - started < 30.0
    events.close()


async def test_pages_boards_events__an_entry_from_elsewhere_placed_earlier_still_arrives(api: Api) -> None:
    """A copy takes its place by when it was posted (an id before the room's last one): the stream
    follows arrivals, so it still sends it, once, and a reconnect from the last event sends no repeat."""
    from models.boards import Board, BoardEntry
    from models.operations.boards_entries import insert_entry

    alice = await api.user("alice")
    room = (await api.post("/api/v1/boards", {"name": "Lobby", "kind": "chat"}, token=alice, expect=201)).body["id"]
    latest = (await api.post(f"/api/v1/boards/{room}/entries", {"body": "newest here"}, token=alice, expect=201)).body
    events = await api.client.get(f"/app/boards/{room}/events", params={"after": latest["id"]})
    assert events.status == 200 and await events.content.readuntil(b"\n\n") == b"retry: 3000\n\n"
    board = await Board.get(id=room)
    author = await BoardEntry.get(id=latest["id"]).values_list("author_id", flat=True)
    posted = datetime.now(UTC) - timedelta(minutes=5)
    copy = await insert_entry(board, str(author), None, "from far away", uri="https://b.example/e/1", published=posted)
    assert copy.id < latest["id"]  # placed before what the room showed last
    seen: list[str] = []
    while not any("from far away" in event for event in seen):  # the page's own last entry may come again first
        seen.append((await asyncio.wait_for(events.content.readuntil(b"\n\n"), 5)).decode())
    assert f'"id":"{copy.id}"' in seen[-1] and len(seen) <= 2
    last_id = seen[-1].split("\n", 1)[0].removeprefix("id: ")
    events.close()
    again = await api.client.get(f"/app/boards/{room}/events", headers={"Last-Event-ID": last_id})
    assert again.status == 200 and await again.content.readuntil(b"\n\n") == b"retry: 3000\n\n"
    # the reconnect looks back a little and may send it again (the page skips an entry it shows);
    # what it must not do is miss it or fail
    body = (await asyncio.wait_for(again.content.read(), 30)).decode()
    assert body.count("from far away") <= 1
    again.close()
