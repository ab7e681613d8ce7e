"""A board as an ActivityPub `Group` actor (FEP-1b12), on the board's own server (the origin).

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

# event name -> publisher, for boards whose Group actor is ours (federation/board_events.py routes)
PUBLISHERS: dict[str, Callable[[Site, Event, Board, Actor], Awaitable[bool]]] = {}


async def on_activity(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """An activity for one of our groups (a member's post, vote, edit, deletion); None when not."""
    return None
