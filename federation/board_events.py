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
from models.base import iso
from models.boards import Board, BoardEntry, BoardKind, Visibility, entry_url
from models.context import Site
from models.markdown import markdown_to_html
from models.tokens import Media
from models.events import EVENTS, Event
from models.federation import RemoteActor

from . import board_backfill, board_groups, board_mirrors, documents  # board_backfill: registers its outbox and runner
from .objects import actor_url
from .outbox import EVENT_PUBLISHERS
from .signed_objects import sign_as

__all__ = ["entry_document", "on_board_activity"]

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


async def entry_document(site: Site, entry: BoardEntry, *, signed: bool = True) -> dict[str, Any]:
    """Our entry as the Note or Page its group passes on (docs/boards.md "Across servers"), with
    its author's FEP-8b32 proof when `signed` (then the author must be ours). An entry from
    elsewhere is not ours to describe: its `uri` names its own server's document."""
    board = await Board.get(id=entry.board_id)
    author = await Actor.get(id=entry.author_id)
    group = await Actor.get(id=board.actor_id) if board.actor_id else None
    parent = await BoardEntry.get_or_none(id=entry.parent_id) if entry.parent_id else None
    media = {row.id: row.content_type for row in await Media.filter(id__in=list(entry.media or []))}
    url = entry_url(site.base_url, entry)
    document = documents.board_entry_document(
        {"body": entry.body, "html": markdown_to_html(entry.body), "created_at": iso(entry.created_at),
         "edited_at": iso(entry.edited_at), "rating": entry.rating, "subject_kind": entry.subject_kind,
         "subject_id": entry.subject_id},
        base_url=site.base_url, entry_id=url, author_url=actor_url(site, author),
        group_url=actor_url(site, group) if group is not None else f"{site.base_url}/app/boards/{board.id}",
        parent_url=entry_url(site.base_url, parent) if parent is not None else None,
        page=parent is None and board.kind != BoardKind.CHAT.value, public=board.visibility == Visibility.PUBLIC.value,
        media_urls=[(f"{site.base_url}/api/v1/entries/{entry.id}/media/{media_id}", media[media_id])
                    for media_id in entry.media or [] if media_id in media],
    )
    if signed and author.is_local:
        document = await sign_as(site, author, document)
    return document
