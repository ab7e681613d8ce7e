"""Backfill on follow: a new follower gets what existed before the follow, not only what changes.

Origin side: `federation.objects` serves an actor's current public objects (types, tokens, sets,
the ledger entries it wrote and its open market lots) as a paged OrderedCollection at /users/{name}/objects, each item
the signed document `federation.signed_object` serves (FEP-8b32 proof by its owner for the kinds
that carry one). Oldest first, paged by id: page N+1 is "after the last id of page N", so objects
made while a follower pages through never shift a page it has not read yet, and later objects
reach it as activities anyway. `?object=<url of one of the actor's types or sets or tokens>`
narrows it to what a subscription to that object covers: the type with its tokens and ledger
entries, the set with its member tokens, or the token alone. Only what an anonymous reader may
see is listed (an item `signed_object` would refuse is skipped).

Follower side: the machine federation.backfills (models/machines.py), one row per accepted follow
of a remote actor or object, started when the Accept arrives (federation/follows.py). `run` reads
the actor document for the collection's URL, then page after page stores each object as a copy
(the RemoteObject table incoming Creates fill), verifying a proof where there is one, refusing
what does not live on the followed actor's server. The page it reached, the counts and the copies
are committed together after each page, so a killed process repeats at most the page under way,
and an origin that is down is retried with backoff from that page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.base import iso
from models.context import Context, Site
from models.engine import MACHINES, GiveUp, Go, Lease, Outcome, Retry
from models.errors import DomainError, NotFound
from models.federation import Backfill, BackfillState, Follow, FollowState, RemoteObject
from models.ledger import LedgerEntry
from models.machines import BACKFILLS
from models.market import ESCROW_KIND, Lot, LotState, LotVisibility
from models.outputs import Output, Paged, Timestamp
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access, Input
from models.sets import SetMember, TokenSet
from models.tokens import Token, TokenType

from . import documents
from .actors import local_user_actor
from .as2 import OBJECT_TYPES, as_id, domain_of, type_of
from .fetch import FetchError, fetch_json
from .objects import read_object
from .outputs import CollectionDocument
from .remote_actors import remote_actor
from .signed_objects import ActorDocuments, ObjectRefused, signed_document, verify_remote_object
from .subscriptions import followable_object

__all__ = ["RUNNERS", "BackfillOut", "backfill_views", "backfills", "backfills_of", "object_collection", "run", "start_backfill"]

log = logging.getLogger("tallystick.backfill")



# ---------------------------------------------------------------- origin: the objects collection


class ObjectsInput(Input):
    username: str = Field(min_length=1, max_length=64)
    page: int | None = Field(None, ge=1, le=1_000_000, description="omit for the collection itself")
    after: str | None = Field(None, min_length=1, max_length=64, description="the last id of the previous page")
    object: str | None = Field(
        None, min_length=8, max_length=2048, description="only what a follow of this type, set or token (its URL) covers"
    )


def _collection_url(base: str, object_url: str | None, **query: Any) -> str:
    params = {"object": object_url} if object_url else {}
    params.update({key: value for key, value in query.items() if value is not None})
    return f"{base}?{urlencode(params, quote_via=quote, safe='')}" if params else base


async def _candidates(actor: Actor, scope: tuple[str, str] | None, after: str, limit: int) -> list[tuple[str, str]]:
    """(id, kind) of the next `limit` objects after `after`, oldest first, across the kinds."""
    found: list[tuple[str, str]] = []

    async def take(kind: str, query: Any, column: str = "id") -> None:
        ids = await query.filter(**{f"{column}__gt": after}).order_by(column).limit(limit).values_list(column, flat=True)
        found.extend((str(object_id), kind) for object_id in ids)

    if scope is None:
        await take("type", TokenType.filter(owner_id=actor.id, is_deleted=False))
        await take("token", Token.filter(owner_id=actor.id, is_deleted=False))
        await take("set", TokenSet.filter(owner_id=actor.id, is_deleted=False))
        # what the actor wrote, and what remote holders gave onward of its types and lots' escrows
        # gave of them (this server's record, published in the type owner's name: federation/outbox.py)
        told = Q(type__owner_id=actor.id) & (~Q(author__domain="") | Q(author__kind=ESCROW_KIND))
        await take("ledger", LedgerEntry.filter(Q(author_id=actor.id) | told))
        await take("lot", Lot.filter(seller_id=actor.id, state=LotState.OPEN.value, visibility=LotVisibility.PUBLIC.value))
    else:
        kind, object_id = scope
        if object_id > after:
            found.append((object_id, kind))
        if kind == "type":
            await take("token", Token.filter(type_id=object_id, is_deleted=False))
            await take("ledger", LedgerEntry.filter(type_id=object_id))  # its whole ledger, gives onward too
        elif kind == "set":
            await take("token", SetMember.filter(set_id=object_id, token__is_deleted=False), "token_id")
    found.sort()
    return found[:limit]


async def _scope(site: Site, actor: Actor, url: str | None) -> tuple[str, str] | None:
    """(kind, id) of the actor's own type, set or token a filtered collection covers; None: all."""
    if url is None:
        return None
    found = followable_object(site, url)
    if found is None:
        raise NotFound("object must be the URL of a token, type or set of this server", code="object-not-found")
    kind, object_id = found
    owner = (await read_object(site, kind, object_id)).owner  # 404/410 as its page says
    if owner.id != actor.id:
        raise NotFound(f"{url} does not belong to this actor", code="object-not-found")
    return kind, object_id


async def object_collection(site: Site, params: ObjectsInput) -> dict[str, Any]:
    """The collection, or one page of it (`page` given): signed documents, oldest first."""
    actor = await local_user_actor(params.username)
    scope = await _scope(site, actor, params.object)
    base = f"{local_actor_url(site.base_url, actor)}/objects"
    collection_id = _collection_url(base, params.object)
    if params.page is None:
        return {
            "@context": documents.AS_CONTEXT, "id": collection_id, "type": "OrderedCollection",
            "first": _collection_url(base, params.object, page=1),
        }
    size = site.federation.backfill_page_size
    candidates = await _candidates(actor, scope, params.after or "", size + 1)
    has_next = len(candidates) > size
    candidates = candidates[:size]
    items = []
    for object_id, kind in candidates:
        try:
            document = await signed_document(site, kind, object_id)
        except DomainError:  # gone since, or not public: what signed_object would refuse
            continue
        items.append(document)  # whole: its proof covers the @context too (eddsa-jcs-2022)
    page: dict[str, Any] = {
        "@context": [documents.AS_CONTEXT, documents.vocabulary_url(site.base_url)],
        "id": _collection_url(base, params.object, page=params.page, after=params.after),
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
        "orderedItems": items,
    }
    if has_next and candidates:
        page["next"] = _collection_url(base, params.object, page=params.page + 1, after=candidates[-1][0])
    return page


@REGISTRY.operation("federation.objects", ObjectsInput, output=CollectionDocument, access=Access.PUBLIC)
async def objects(ctx: Context, params: ObjectsInput) -> dict[str, Any]:
    """An actor's public types, tokens, sets and ledger entries as they are now, signed, oldest first
    (what a new follower copies); `object` narrows it to one followed type, set or token."""
    return await object_collection(ctx.site, params)


# ---------------------------------------------------------------- follower: the machine


async def start_backfill(follow: Follow) -> None:
    """A follow of ours was accepted: copy what the followed actor (or object) already holds."""
    try:
        async with in_transaction():
            await Backfill.create(follow_id=follow.id, state=BackfillState.PENDING.value)
    except IntegrityError:
        return  # a repeated Accept: the backfill exists
    MACHINES.wake(BACKFILLS.name)


@dataclass
class _PageResult:
    copies: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)  # uri, type, owner id, document
    refused: list[str] = field(default_factory=list)  # reasons


def _first_url(actor_document: Mapping[str, Any], object_uri: str) -> str | None:
    objects_url = as_id(actor_document.get("objects"))
    if not objects_url:
        return None
    if object_uri:
        objects_url = _collection_url(objects_url, object_uri)
    return objects_url


async def _owner_of(site: Site, item: Mapping[str, Any], target: Actor, origin: str, known: dict[str, str]) -> str:
    """The local id of the actor an item is attributed to (a ledger entry: its type's owner, who
    keeps that ledger, as its author may live anywhere); ObjectRefused when it may not be stored."""
    keeper = as_id(item.get("tokenOwner")) if type_of(item) == "LedgerEntry" else None
    owner = keeper or as_id(item.get("attributedTo")) or ""
    if owner == target.uri:
        return target.id
    if not owner or domain_of(owner) != origin:
        raise ObjectRefused(f"it is attributed to {owner or 'nobody'}, not to an actor of {origin}")
    if owner not in known:  # a token of a followed type or set held by someone else there
        try:
            known[owner] = (await remote_actor(site, owner)).actor_id
        except FetchError as error:
            raise ObjectRefused(f"its owner {owner} cannot be fetched: {error.detail}") from None
    return known[owner]


async def _check_page(
    site: Site, items: list[Any], target: Actor, signers: ActorDocuments, known: dict[str, str]
) -> _PageResult:
    """Verify a page's items (network: signer documents, owners) before anything is stored."""
    origin = domain_of(target.uri or "")
    result = _PageResult()
    for item in items:
        object_id = as_id(item) if isinstance(item, Mapping) else None
        try:
            if not isinstance(item, Mapping) or not object_id or type_of(item) not in OBJECT_TYPES:
                raise ObjectRefused("it is not a token, type, set or ledger entry")
            if domain_of(object_id) != origin:
                raise ObjectRefused(f"it lives on {domain_of(object_id)}, not on {origin}")
            owner_id = await _owner_of(site, item, target, origin, known)
            if "proof" in item:
                await verify_remote_object(site, item, actors=signers)
        except ObjectRefused as error:
            log.info("backfill from %s: %s refused: %s", origin, object_id, error.reason)
            result.refused.append(f"{object_id}: {error.reason}")
            continue
        result.copies.append((object_id, str(type_of(item)), owner_id, dict(item)))
    return result


async def _store(copies: list[tuple[str, str, str, dict[str, Any]]]) -> tuple[int, int]:
    """Store the copies we do not hold yet (in the caller's transaction); (held now, refused).

    A copy we hold already is left as it is: the activities that follow it are newer than a page
    read a moment ago. One held under another owner is refused, as an incoming Create would be.
    """
    existing = {row.uri: row for row in await RemoteObject.filter(uri__in=[uri for uri, *_ in copies])}
    held = refused = 0
    for uri, kind, owner_id, document in copies:
        row = existing.get(uri)
        if row is None:
            try:
                async with in_transaction():  # a savepoint: an incoming Create may store it first
                    await RemoteObject.create(uri=uri, type=kind, owner_id=owner_id, document=document)
            except IntegrityError:
                row = await RemoteObject.get(uri=uri)
        if row is not None and row.owner_id != owner_id:
            refused += 1
        else:
            held += 1
    return held, refused


# Backfills of follows that are not of an actor's objects (a board's group: federation/board_backfill.py):
# each returns None when the follow is not its kind, else the outcome of its own run.
Runner = Callable[[Site, Backfill, Follow, Lease], Awaitable[Outcome | None]]
RUNNERS: list[Runner] = []


@BACKFILLS.handler(may={BackfillState.DONE.value, BackfillState.FAILED.value})
async def run(site: Site, row: Backfill, lease: Lease) -> Outcome:
    """Read the followed actor's objects from the page reached, storing each page with the progress."""
    follow = await Follow.get_or_none(id=row.follow_id)
    if follow is None or follow.state != FollowState.ACCEPTED.value:
        return GiveUp("the follow has ended")
    for runner in RUNNERS:
        outcome = await runner(site, row, follow, lease)
        if outcome is not None:
            return outcome
    target = await Actor.get(id=follow.target_id)
    limit = site.federation.backfill_max_objects
    if limit == 0:
        return Go(BackfillState.DONE.value, values={"note": "this server copies no past objects (backfill_max_objects = 0)"})
    origin = domain_of(target.uri or "")
    url = row.next_url
    try:
        if url is None and row.pages == 0:
            url = _first_url(await fetch_json(site, target.uri or ""), follow.object_uri)
            if url is None:
                return Go(BackfillState.DONE.value, values={"note": f"{origin} offers no list of past objects"})
            collection = await fetch_json(site, url)
            url = as_id(collection.get("first")) if type_of(collection) == "OrderedCollection" else url
        signers = ActorDocuments(site)  # each signer's document fetched once per run
        known: dict[str, str] = {}  # owner URL -> actor id
        while url:
            if domain_of(url) != origin:
                return GiveUp(f"the next page {url} is not on {origin}")
            if row.copied + row.refused >= limit or row.pages >= limit:  # empty pages forever count too
                return Go(BackfillState.DONE.value, values={"note": f"stopped at the limit of {limit} objects"})
            page = await fetch_json(site, url)
            items = list(page.get("orderedItems") or page.get("items") or [])[: site.federation.backfill_page_size]
            items = items[: max(0, limit - row.copied - row.refused)]
            checked = await _check_page(site, items, target, signers, known)
            following = as_id(page.get("next"))
            following = None if following == url else following
            async with in_transaction():
                held, clashes = await _store(checked.copies)
                values: dict[str, Any] = {
                    "next_url": following, "pages": row.pages + 1, "copied": row.copied + held,
                    "refused": row.refused + len(checked.refused) + clashes,
                }
                if follow.object_uri:
                    values["members"] = [*row.members, *(uri for uri, *_ in checked.copies if uri != follow.object_uri)]
                if checked.refused:
                    values["note"] = f"refused {checked.refused[-1]}"[:500]
                await lease.save(row, **values)
            for name, value in values.items():
                setattr(row, name, value)
            url = following
    except FetchError as error:
        if error.kind == "unreachable":
            return Retry(error=error.detail)
        return GiveUp(f"cannot read the objects of {target.uri}: {error.detail}")
    return Go(BackfillState.DONE.value)


# ---------------------------------------------------------------- reading progress


class BackfillOut(Output):
    """federation/backfill.py backfill_views: copying what a followed actor (or object) held before."""

    id: str
    follow: str = Field(description="the follow's id")
    target: str = Field(description="handle of the followed actor")
    object: str | None = Field(description="the followed object's URL, when an object is followed")
    state: str = Field(description="pending (waiting, or to try again), running, done or failed")
    copied: int = Field(description="objects held as copies so far")
    refused: int = Field(description="objects refused: of another server, a proof that does not check out")
    pages: int
    threads: int = Field(0, description="a board's history: threads copied so far")
    total: int | None = Field(None, description="a board's history: threads its group lists (at most our limit)")
    note: str | None = Field(description="why it ended early, or the last refusal")
    last_error: str | None = Field(description="why the last try failed (the other server was down, say)")
    created_at: Timestamp
    updated_at: Timestamp


async def backfill_views(site: Site, rows: list[Backfill]) -> list[dict[str, Any]]:
    follows = {row.id: row for row in await Follow.filter(id__in=[row.follow_id for row in rows])}
    targets = {actor.id: actor for actor in await Actor.filter(id__in=[f.target_id for f in follows.values()])}
    views = []
    for row in rows:
        follow = follows[row.follow_id]
        views.append({
            "id": row.id, "follow": row.follow_id, "target": targets[follow.target_id].handle(site.domain),
            "object": follow.object_uri or None, "state": row.state, "copied": row.copied, "refused": row.refused,
            "pages": row.pages, "threads": row.threads, "total": row.total, "note": row.note, "last_error": row.last_error,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        })
    return views


@REGISTRY.operation("federation.backfills", ListInput, output=Paged[BackfillOut], access=Access.USER)
async def backfills(ctx: Context, params: ListInput) -> Page:
    """How copying what the actors and objects you follow held before the follow goes, newest follow first."""
    page = await paginate(Backfill.filter(follow__follower_id=ctx.require_actor().id), params)
    page.items = await backfill_views(ctx.site, page.items)
    return page


async def backfills_of(site: Site, actor: Actor) -> dict[str, dict[str, Any]]:
    """The backfills of an actor's follows, by follow id (the follows page shows them beside each)."""
    views = await backfill_views(site, await Backfill.filter(follow__follower_id=actor.id))
    return {view["follow"]: view for view in views}
