"""A board of another server (an ActivityPub `Group`, FEP-1b12) copied on a server whose users joined it (a mirror).

To be written (issue 22, item 4): see docs/boards.md "Across servers".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from models.actors import Actor
from models.boards import Board
from models.context import Site
from models.events import Event
from models.federation import RemoteActor

__all__ = ["PUBLISHERS", "on_activity"]

# event name -> publisher, for boards whose Group actor is elsewhere (federation/board_events.py routes)
PUBLISHERS: dict[str, Callable[[Site, Event, Board, Actor], Awaitable[bool]]] = {}


async def on_activity(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """An activity a group we mirror announced; None when not."""
    return None
