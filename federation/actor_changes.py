"""The inbox side of a remote account's own changes: Update of its profile, Delete of itself.

Origin rule (DESIGN.md "Federation"): an actor changes only itself, so the object's id must be
the id of the actor that signed the activity; an Update about anyone else is ignored. The
profile in a signed Update is taken as if we had fetched it (name, summary, inbox, keys),
which also saves the fetch Mastodon-style servers would otherwise cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.actors import Actor
from models.context import Site
from models.federation import Follow, RemoteActor, Subscription

from .as2 import as_id, type_of
from .documents import ACTOR_TYPES
from .fetch import FetchError
from .remote_actors import mark_gone, refresh_actor

__all__ = ["on_actor_delete", "on_actor_update"]


async def on_actor_update(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """Refresh our cached copy of the sender from its Update; None when the object is not an actor."""
    obj = activity.get("object")
    if not isinstance(obj, Mapping) or type_of(obj) not in ACTOR_TYPES:
        return None
    if as_id(obj) != sender.uri:
        return "ignored: an actor may only update itself"
    try:
        await refresh_actor(obj, sender.uri)
    except FetchError as error:
        return f"ignored: the actor document was refused: {error.detail}"[:500]
    return "actor updated"


async def on_actor_delete(site: Site, sender: RemoteActor) -> str:
    """The sender deleted its account: drop its follows both ways and its subscriptions, remember it is gone."""
    actor_id = sender.actor_id
    async with in_transaction():
        await Follow.filter(Q(follower_id=actor_id) | Q(target_id=actor_id)).delete()
        await Subscription.filter(follower_id=actor_id).delete()
        await Actor.filter(id=actor_id).update(display_name="(deleted)")
        await mark_gone(sender)
    return "actor deleted"
