"""Boards across servers (issue 22, item 4): one place that routes a board's events and
activities to the side of federation that owns the board.

A board with a local `Group` actor is the origin: federation/board_groups.py announces what
happens on it to the group's followers and takes members' activities from other servers. A
board whose `Group` actor lives elsewhere is a mirror: federation/board_mirrors.py sends what
our users do on it to the group and keeps the copy in step with the group's announcements.
A board with no actor is local only and nothing leaves the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from models.actors import Actor
from models.boards import Board
from models.context import Site
from models.events import EVENTS, Event
from models.federation import RemoteActor

from . import board_groups, board_mirrors
from .outbox import EVENT_PUBLISHERS

__all__ = ["on_board_activity"]

Publisher = Callable[[Site, Event, Board, Actor], Awaitable[bool]]
BOARD_EVENTS = tuple(name for name in EVENTS if name.startswith("board."))


async def _publish(site: Site, event: Event) -> bool:
    payload = event.payload if isinstance(event.payload, Mapping) else {}
    board = await Board.get_or_none(id=str(payload.get("board") or ""))
    if board is None or board.actor_id is None:
        return False  # gone since, or local only
    group = await Actor.get(id=board.actor_id)
    publisher: Publisher | None = (board_groups.PUBLISHERS if group.is_local else board_mirrors.PUBLISHERS).get(event.name)
    return await publisher(site, event, board, group) if publisher is not None else False


for _name in BOARD_EVENTS:
    EVENT_PUBLISHERS[_name] = _publish


async def on_board_activity(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """What became of an activity about a board (the inbox row's outcome), or None when it is not
    about one of our groups or of a group we mirror: the inbox's other handlers take it then."""
    return await board_groups.on_activity(site, activity, sender) or await board_mirrors.on_activity(site, activity, sender)
