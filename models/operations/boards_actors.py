"""A board's own `Group` actor (issue 22, item 4; FEP-1b12): its handle, made once.

A group's handle is an actor name of this server like a user's or an organization's (the same
characters, the same namespace: `/users/{handle}`, WebFinger `acct:{handle}@{host}`), so a
name a group holds is taken for new users and organizations too, and the reverse. Every board
gets its group when it is made; a board made before groups existed gets one the first time it
is needed (`group_actor`, safe when two callers race: the board's `actor_id` is set by one
conditional UPDATE, and the loser's actor is rolled back with its savepoint).
"""

from __future__ import annotations

import re
import secrets

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..actors import Actor, User
from ..boards import GROUP_KIND, Board
from ..errors import Conflict

__all__ = ["group_actor", "handle_from_name", "name_taken"]

HANDLE_MAX = 30  # models/operations/accounts.py USERNAME: 1-30 of [a-z0-9_]
_UNFIT = re.compile(r"[^a-z0-9_]+")
_SUFFIX = "abcdefghjkmnpqrstvwxyz0123456789"


class _Lost(Exception):
    """Another caller gave the board its group first: roll ours back."""


def handle_from_name(name: str) -> str:
    """A handle candidate from a board's name: lower case, other characters as `_`."""
    handle = _UNFIT.sub("_", name.lower()).strip("_")
    return (handle or "board")[:HANDLE_MAX]


async def name_taken(name: str) -> bool:
    """Whether a user, an organization, a group (or any local actor) holds the name."""
    return await User.filter(username=name).exists() or await Actor.filter(username=name, domain="").exists()


async def _free_handle(name: str) -> str:
    base = handle_from_name(name)
    if not await name_taken(base):
        return base
    for _ in range(20):
        suffix = "_" + "".join(secrets.choice(_SUFFIX) for _ in range(5))
        candidate = base[: HANDLE_MAX - len(suffix)] + suffix
        if not await name_taken(candidate):
            return candidate
    raise Conflict(f"no free handle is left for {name!r}: give one", code="name-taken")


async def _attach(board: Board, handle: str) -> Actor:
    """Make the group `handle` for the board (IntegrityError: the name was taken meanwhile; _Lost:
    the board got a group meanwhile)."""
    async with in_transaction():  # a savepoint: a lost race leaves the caller's transaction usable
        actor = await Actor.create(kind=GROUP_KIND, username=handle, display_name=board.name[:200])
        if not await Board.filter(id=board.id, actor_id=None).update(actor_id=actor.id):
            raise _Lost
    board.actor_id = actor.id
    return actor


async def group_actor(board: Board, handle: str | None = None) -> Actor:
    """The board's Group actor, made now if it has none (an explicit `handle` that is taken: 409
    name-taken; without one, a handle made from the board's name, unique with a short suffix)."""
    for _ in range(5):
        if board.actor_id is not None:
            return await Actor.get(id=board.actor_id)
        if handle is not None and await name_taken(handle):
            raise Conflict(f"the name {handle!r} is taken", code="name-taken", extra={"field": "handle"})
        try:
            return await _attach(board, handle or await _free_handle(board.name))
        except IntegrityError:
            if handle is not None:
                raise Conflict(f"the name {handle!r} is taken", code="name-taken", extra={"field": "handle"}) from None
        except _Lost:
            board.actor_id = (await Board.get(id=board.id)).actor_id
    raise Conflict("the board's group could not be made: try again", code="name-taken")
