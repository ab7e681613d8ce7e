"""Subscriptions: a remote actor follows one token, type or set of ours, not its owner.

The Follow names the object's URL. We answer Accept as the object's owner, and from then on
every Create/Update/Delete of that object also goes to the subscriber (federation/outbox.py
adds subscriber inboxes to the followers). Undo(Follow) ends it (federation/follows.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.context import Context, Site
from models.errors import Gone, NotFound
from models.federation import RemoteActor, Subscription

from .as2 import as_id
from .objects import read_object
from .outbox import publish

__all__ = ["followable_object", "on_follow_object"]

_KINDS = {"tokens": "token", "types": "type", "sets": "set"}


def followable_object(site: Site, url: str) -> tuple[str, str] | None:
    """(kind, id) when `url` is one of our token, type or set URLs."""
    prefix = f"{site.base_url}/"
    if not url.startswith(prefix):
        return None
    collection, _, object_id = url[len(prefix):].partition("/")
    kind = _KINDS.get(collection)
    if kind is None or not object_id or "/" in object_id or len(object_id) > 64:
        return None
    return kind, object_id


async def _owner(site: Site, kind: str, object_id: str) -> Actor | None:
    """The local owner of a public object, or None when it is not (publicly) there."""
    try:
        owner = (await read_object(site, kind, object_id)).owner
    except (NotFound, Gone):
        return None
    return None if owner.domain else owner


async def on_follow_object(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    """Subscribe the sender to one of our objects and answer Accept as its owner."""
    found = followable_object(site, as_id(activity.get("object")) or "")
    if found is None:
        return "ignored: the object is not an actor, token, type or set here"
    kind, object_id = found
    owner = await _owner(site, kind, object_id)
    if owner is None:
        return "ignored: no such public object"
    uri = str(activity["id"])
    async with in_transaction():
        existing = await Subscription.get_or_none(
            follower_id=sender.actor_id, object_kind=kind, object_id=object_id
        )
        if existing is None:
            try:
                async with in_transaction():
                    await Subscription.create(follower_id=sender.actor_id, object_kind=kind, object_id=object_id,
                                              activity_uri=uri)
            except IntegrityError:
                return "duplicate"
        else:  # a repeated Follow is answered once, as in follows.on_follow
            if existing.activity_uri != uri:
                await Subscription.filter(id=existing.id).update(activity_uri=uri)
            return "ignored: already subscribed"
        answered = {"id": uri, "type": "Follow", "actor": sender.uri, "object": as_id(activity.get("object"))}
        await publish(site, owner, "Accept", answered, inboxes=[sender.inbox], to=[sender.uri])
    await Context(site=site, actor=owner, system=True).emit(
        "subscription.created", kind, object_id, {"follower": sender.uri, "owner": local_actor_url(site.base_url, owner)}
    )
    return "subscribed"
