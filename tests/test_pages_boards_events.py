"""A chat room's live updates (Server-Sent Events) poll and last as the settings say
(limits.board_events_poll_seconds, limits.board_events_max_seconds)."""

from __future__ import annotations

import asyncio
import time
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
    assert event.startswith(f"id: {said}\nevent: entry\n") and "hello" in event
    assert await asyncio.wait_for(events.content.read(), 30.0) == b""  # the stream ends after 1.5 s, not 300
    assert 1.5 <= time.monotonic() - started < 30.0
    events.close()
