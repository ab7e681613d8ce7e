"""Outbox: our activities, made from domain events, kept per actor and handed to delivery.

`publish_due_events` reads the events table (the transactional outbox written by every
operation) and turns each event about a public object of a local actor into an activity:
Create/Update/Delete of tokens, types and sets, a Create of a LedgerEntry for each ledger
entry, and an Update (the full actor document) or Delete of a user's actor when the profile
changes or the account is deleted. The activity is stored (`outbox_activities`, served at
/activities/{id} and in the actor's paged outbox) and queued for delivery to the actor's
followers, one delivery per shared inbox, all in one transaction per event; the event id is
unique in that table, so an event never becomes two activities even when two sweepers race.

Events name their subject by id (models/events.py declares each payload): the object's
document is built from model reads by that id (federation/objects.py), and a give's remote
recipient is the actor id in its payload.

The cursor only passes events older than SETTLE_SECONDS: an event written by a transaction
that commits late (it got its id earlier) is still seen on a later sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.base import column
from models.context import Context, Site
from models.engine import MACHINES
from models.errors import Gone, NotFound
from models.events import Event
from models.federation import FederationCursor, Follow, FollowState, OutboxActivity, RemoteActor, Subscription
from models.ids import new_id
from models.market import ESCROW_KIND, Bid, Lot
from models.organizations import Organization
from models.registry import REGISTRY, Access, Input
from models.stores import Store, StoreItem
from models.tokens import TokenType

from . import documents
from .actors import ActorInput, actor_document, instance_actor, local_user_actor
from .delivery import enqueue
from .objects import read_object
from .outputs import ActivityDocument, CollectionDocument
from .signed_objects import signed_document

__all__ = [
    "EVENT_PUBLISHERS",
    "OUTBOXES",
    "OUTBOX_TYPES",
    "activity_url",
    "collection",
    "follower_inboxes",
    "publish",
    "publish_due_events",
    "subscriber_inboxes",
]

log = logging.getLogger("tallystick.outbox")

SETTLE_SECONDS = 30
PAGE = 200
PAGES_PER_SWEEP = 10
COLLECTION_PAGE_SIZE = 20
OUTBOX_TYPES = ("Create", "Update", "Delete")
CURSOR = "outbox"

# event name -> (object kind, activity type)
_EVENTS: dict[str, tuple[str, str]] = {
    "token.created": ("token", "Create"),
    "token.updated": ("token", "Update"),
    "token.deleted": ("token", "Delete"),
    "type.created": ("type", "Create"),
    "type.updated": ("type", "Update"),
    "type.deleted": ("type", "Delete"),
    "set.created": ("set", "Create"),
    "set.updated": ("set", "Update"),
    "set.tokens_added": ("set", "Update"),
    "set.token_removed": ("set", "Update"),
    "set.deleted": ("set", "Delete"),
    "ledger.create": ("ledger", "Create"),
    "ledger.give": ("ledger", "Create"),
    "ledger.burn": ("ledger", "Create"),
    "ledger.flagged": ("ledger", "Update"),
    "ledger.unflagged": ("ledger", "Update"),
    "market.lot.created": ("lot", "Create"),
    "market.lot.sold": ("lot", "Update"),
    "market.lot.unsold": ("lot", "Update"),
    "market.lot.withdrawn": ("lot", "Update"),
    "market.lot.extended": ("lot", "Update"),
    "actor.updated": ("actor", "Update"),
    "actor.deleted": ("actor", "Delete"),
    "store.created": ("store", "Create"),
    "store.updated": ("store", "Update"),
    "store.item.created": ("store_item", "Create"),
    "store.item.updated": ("store_item", "Update"),
}
_OBJECT_KINDS = {
    "token": "token", "type": "type", "set": "set", "ledger_entry": "ledger", "actor": "actor", "market_lot": "lot",
    "store": "store", "store_item": "store_item",
}

# actor kind -> its own outbox, for actors whose outbox is not their stored activities (a board's
# Group: federation/board_backfill.py serves its entries as a new member needs them)
OUTBOXES: dict[str, Callable[[Context, Actor, int | None], Awaitable[dict[str, Any]]]] = {}

# event name -> a publisher for events that are not a change of a public object (registered by
# the module that owns them; it returns whether an activity was made, with event_id=event.id)
EVENT_PUBLISHERS: dict[str, Callable[[Site, Event], Awaitable[bool]]] = {}


def activity_url(base_url: str, activity_id: str) -> str:
    return f"{base_url}/activities/{activity_id}"


async def _inboxes_of(actor_ids: list[str]) -> list[str]:
    """Where these actors receive: the shared inbox when they have one, once each (local actors have none)."""
    rows = await RemoteActor.filter(actor_id__in=actor_ids).values_list("shared_inbox", "inbox")
    return list(dict.fromkeys(shared or inbox for shared, inbox in rows))


async def follower_inboxes(actor: Actor) -> list[str]:
    """Where the actor's remote followers receive: their shared inbox when they have one, once each."""
    accepted = Follow.filter(target_id=actor.id, state=FollowState.ACCEPTED.value)
    return await _inboxes_of(await column(accepted.values_list("follower_id", flat=True), str))


async def subscriber_inboxes(kind: str, object_id: str) -> list[str]:
    """Where the remote subscribers of one of our objects receive (shared inbox first, once each)."""
    subscribed = Subscription.filter(object_kind=kind, object_id=object_id)
    return await _inboxes_of(await column(subscribed.values_list("follower_id", flat=True), str))


async def publish(
    site: Site,
    actor: Actor,
    kind: str,
    obj: Any,
    *,
    inboxes: list[str] | None = None,
    to: list[str] | None = None,
    event_id: str | None = None,
    row_id: str | None = None,
    addressees: Sequence[RemoteActor] = (),
    subscribers: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
    followers: list[str] | None = None,
) -> dict[str, Any]:
    """Store an activity of a local actor and queue its deliveries (call inside a transaction).

    Without `inboxes` it goes to the actor's followers and is public; with them, to those only.
    The `addressees` (the remote recipient of a give, the remote holder who gave onward) get it
    in their own inboxes as well, and so do
    the `subscribers` (inboxes of those who follow the object itself). `extra` adds properties
    (a `content` reason on a Reject, say). `followers`: the follower inboxes, when the caller
    has just read them.
    """
    row_id = row_id or new_id()
    actor_id = local_actor_url(site.base_url, actor)
    document: dict[str, Any] = {
        "@context": [documents.AS_CONTEXT, documents.vocabulary_url(site.base_url)],
        "id": activity_url(site.base_url, row_id),
        "type": kind,
        "actor": actor_id,
        "object": obj,
        "published": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        **(extra or {}),
    }
    if inboxes is None:
        document["to"] = [documents.PUBLIC]
        document["cc"] = [f"{actor_id}/followers"]
        targets = [*(await follower_inboxes(actor) if followers is None else followers), *(subscribers or [])]
    else:
        document["to"] = to or []
        targets = list(inboxes)
    for addressee in addressees:
        document["to"] = [*document["to"], addressee.uri]
        targets.append(addressee.inbox)
    await OutboxActivity.create(id=row_id, actor=actor, event_id=event_id, type=kind, document=document)
    await enqueue(actor, document["id"], orjson.dumps(document).decode(), targets)
    return document


async def _actor_object(site: Site, actor: Actor, activity: str) -> dict[str, Any] | None:
    """The actor's full document for an Update (with its own @context: it names the key vocabularies),
    a Tombstone for a Delete, or None when the account is gone by the time the Update goes out."""
    if activity == "Delete":
        gone = documents.tombstone(local_actor_url(site.base_url, actor), actor.kind)
        gone.pop("@context")  # the activity's context covers it
        return gone
    try:
        document: dict[str, Any] = await actor_document(Context(site=site), ActorInput(username=actor.username))
        return document
    except (NotFound, Gone):
        return None  # deleted since: the Delete follows


async def _object_for(
    site: Site, kind: str, object_id: str, activity: str, *, signed: bool
) -> dict[str, Any] | None:
    """The object's public document (with its owner's FEP-8b32 proof), a Tombstone for a Delete, or None."""
    url = documents.object_url(site.base_url, kind, object_id)
    if activity == "Delete":
        return {"id": url, "type": "Tombstone"}
    try:
        if signed:
            document = await signed_document(site, kind, object_id)
        else:
            document = (await read_object(site, kind, object_id)).document
    except (NotFound, Gone):
        return None  # deleted (or made private) since: its own event says so
    if "proof" not in document:  # a signed object keeps its @context: the proof covers it
        document.pop("@context", None)
    return document


def _payload(event: Event) -> Mapping[str, Any]:
    return event.payload if isinstance(event.payload, Mapping) else {}


async def _remote_parties(site: Site, event: Event, *, remote_author: bool) -> list[RemoteActor]:
    """The remote actors a ledger entry concerns, who must hear of it even if they follow nobody
    here: the recipient of a give, and a remote holder who gave or burnt units onward."""
    author = await RemoteActor.get_or_none(actor_id=event.actor_id) if remote_author and event.actor_id else None
    recipient = await _remote_recipient(site, event)
    parties = [party for party in (recipient, author) if party is not None]
    return list({party.uri: party for party in parties}.values())


async def _ledger_keeper(event: Event) -> Actor | None:
    """Who tells of an entry a remote holder made (a give onward): the owner of its type, whose
    ledger it is."""
    type_id = _payload(event).get("type")
    token_type = await TokenType.get_or_none(id=str(type_id)) if type_id else None
    return await Actor.get_or_none(id=token_type.owner_id, domain="") if token_type else None


async def _remote_recipient(site: Site, event: Event) -> RemoteActor | None:
    """The remote actor a ledger entry gives to."""
    if event.name != "ledger.give":
        return None
    recipient = str(_payload(event).get("recipient") or "")
    if "@" in recipient:  # an event recorded before payloads named actors by id held the handle
        username, _, domain = recipient.partition("@")
        if domain.lower() == site.domain.lower():
            return None
        return await RemoteActor.get_or_none(actor__username=username, actor__domain=domain)
    return await RemoteActor.get_or_none(actor_id=recipient) if recipient else None


async def _audience(event: Event) -> list[str] | None:
    """The inboxes an event names itself: a deleted account's follows are gone by the time it is
    published, so the deletion recorded who was on the other side (models/operations/accounts.py)."""
    audience = _payload(event).get("audience")
    if event.name != "actor.deleted" or not isinstance(audience, list):
        return None
    return await _inboxes_of([str(actor_id) for actor_id in audience])


async def _store_organization(kind: str, object_id: str) -> str | None:
    """The actor of the organization whose store (or store item) this is: it tells its followers."""
    item = await StoreItem.get_or_none(id=object_id) if kind == "store_item" else None
    store = await Store.get_or_none(id=item.store_id if item is not None else object_id)
    organization = await Organization.get_or_none(id=store.organization_id) if store is not None else None
    return organization.actor_id if organization is not None else None


async def _publish_event(site: Site, event: Event) -> bool:
    special = EVENT_PUBLISHERS.get(event.name)
    if special is not None:
        return await special(site, event)
    mapping = _EVENTS.get(event.name)
    kind = _OBJECT_KINDS.get(event.object_type)
    if mapping is None or kind is None:
        return False
    # An actor event is about the actor itself, whoever caused it (an admin deletes a user), a
    # lot's is its seller's (its close is the server's doing); any other event is published by
    # the actor who caused it.
    subject = event.object_id if kind == "actor" else event.actor_id
    if kind == "lot":
        lot = await Lot.get_or_none(id=event.object_id)
        subject = lot.seller_id if lot is not None else None
    if kind in ("store", "store_item"):  # a storefront is its organization's (an unlisted item is not told)
        subject = await _store_organization(kind, event.object_id)
    actor = await Actor.get_or_none(id=subject, domain="") if subject else None
    # an entry a remote holder made, or a lot's escrow (it has no keys and no followers), is
    # told by the owner of its type
    remote_author = kind == "ledger" and (actor is None or actor.kind == ESCROW_KIND)
    if remote_author:
        actor = await _ledger_keeper(event)
    if actor is None:
        return False
    addressees = await _remote_parties(site, event, remote_author=remote_author) if kind == "ledger" else []
    if kind == "lot":  # whoever bid from another server hears how the lot ends, following or not
        addressees = await RemoteActor.filter(actor_id__in=Subquery(Bid.filter(lot_id=event.object_id).values("bidder_id")))
    subscribers = await subscriber_inboxes(mapping[0], event.object_id)
    audience = await _audience(event)
    followers = await follower_inboxes(actor) if audience is None else None
    if kind == "actor":
        obj = await _actor_object(site, actor, mapping[1])
    else:
        # Signed only when someone receives it: the first proof creates the owner's keys.
        heard = bool(addressees or subscribers or audience or followers)
        obj = await _object_for(site, mapping[0], event.object_id, mapping[1], signed=heard)
    if obj is None:
        return False
    try:
        async with in_transaction():
            await publish(
                site, actor, mapping[1], obj, event_id=event.id, addressees=addressees, subscribers=subscribers,
                inboxes=audience, to=[documents.PUBLIC] if audience is not None else None, followers=followers,
            )
    except IntegrityError:  # another sweeper made this event's activity first
        return False
    return True


@MACHINES.pump("federation.outbox")  # the runner turns new events into activities each round
async def publish_due_events(site: Site, *, now: datetime | None = None) -> int:
    """Turn new events into activities and deliveries; the number of activities made."""
    now = now or datetime.now(UTC)
    try:
        cursor, _ = await FederationCursor.get_or_create(name=CURSOR)
    except IntegrityError:  # another process made it first
        cursor = await FederationCursor.get(name=CURSOR)
    settled_before = now - timedelta(seconds=SETTLE_SECONDS)
    position, settled, made = cursor.position, cursor.position, 0
    for _ in range(PAGES_PER_SWEEP):
        events = await Event.filter(id__gt=position).order_by("id").limit(PAGE)
        if not events:
            break
        relevant = {event.id for event in events if event.name in _EVENTS or event.name in EVENT_PUBLISHERS}
        published = OutboxActivity.filter(event_id__in=list(relevant)).values_list("event_id", flat=True)
        done = set(await column(published, str)) if relevant else set()
        for event in events:
            if event.id in relevant and event.id not in done:
                try:
                    made += await _publish_event(site, event)
                except Exception:
                    log.exception("outbox: event %s (%s) could not be published", event.id, event.name)
            if event.created_at < settled_before and settled == position:
                settled = event.id
            position = event.id
        if len(events) < PAGE:
            break
    if settled != cursor.position:
        await FederationCursor.filter(id=cursor.id).update(position=settled)
    return made


class CollectionInput(Input):
    username: str | None = Field(None, min_length=1, max_length=64, description="omit for the instance actor")
    collection: Literal["inbox", "outbox", "followers", "following"]
    page: int | None = Field(None, ge=1, le=100_000)


@REGISTRY.operation("federation.collection", CollectionInput, output=CollectionDocument, access=Access.PUBLIC)
async def actor_collection(ctx: Context, params: CollectionInput) -> dict[str, Any]:
    """An actor's outbox, followers or following (paged), or its inbox (never listed)."""
    actor = await instance_actor() if params.username is None else await local_user_actor(params.username)
    if params.collection == "inbox":
        return documents.ordered_collection(f"{local_actor_url(ctx.site.base_url, actor)}/inbox", 0, paged=False)
    if params.collection == "outbox" and actor.kind in OUTBOXES:
        return await OUTBOXES[actor.kind](ctx, actor, params.page)
    return await collection(ctx.site, actor, params.collection, params.page)


class ActivityInput(Input):
    id: str = Field(min_length=1, max_length=64)


@REGISTRY.operation("federation.activity", ActivityInput, output=ActivityDocument, access=Access.PUBLIC)
async def activity_document(ctx: Context, params: ActivityInput) -> dict[str, Any]:
    """One of our public activities (Create/Update/Delete) by its id."""
    row = await OutboxActivity.get_or_none(id=params.id, type__in=OUTBOX_TYPES, event_id__isnull=False)
    if row is None:
        raise NotFound("there is no public activity with this id", code="activity-not-found")
    return dict(row.document)


async def collection(site: Site, actor: Actor, name: str, page: int | None) -> dict[str, Any]:
    """The actor's outbox, followers or following as a paged OrderedCollection (newest first)."""
    collection_id = f"{local_actor_url(site.base_url, actor)}/{name}"
    if name == "outbox":
        # public ones only: those made from events (an agent's report to one owner is not)
        query: Any = OutboxActivity.filter(actor_id=actor.id, type__in=OUTBOX_TYPES, event_id__isnull=False)
    elif name == "followers":
        query = Follow.filter(target_id=actor.id, state=FollowState.ACCEPTED.value, object_uri="")
    else:  # following: actors only (subscriptions to single objects are not "following" them)
        query = Follow.filter(follower_id=actor.id, state=FollowState.ACCEPTED.value, object_uri="")
    if page is None:
        return documents.ordered_collection(collection_id, await query.count(), paged=True)
    rows = await query.order_by("-id").offset((page - 1) * COLLECTION_PAGE_SIZE).limit(COLLECTION_PAGE_SIZE + 1)
    has_next = len(rows) > COLLECTION_PAGE_SIZE
    rows = rows[:COLLECTION_PAGE_SIZE]
    if name == "outbox":
        items: list[Any] = [{k: v for k, v in row.document.items() if k != "@context"} for row in rows]
    else:
        other = [row.follower_id if name == "followers" else row.target_id for row in rows]
        actors = {a.id: a for a in await Actor.filter(id__in=other)}
        items = [
            actors[actor_id].uri or local_actor_url(site.base_url, actors[actor_id])
            for actor_id in other
            if actor_id in actors
        ]
    return documents.collection_page(collection_id, page, items, has_next=has_next)
