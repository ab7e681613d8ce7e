"""Our objects' ActivityPub documents, built from model reads by id.

A token, type, set, ledger entry or market lot is read once by its id with its owner's actor row, turned
into its public view by the models' view functions (as an anonymous reader sees it: private
attributes never leave), and rendered by `documents`. The actor ids come from the rows, so
no handle is parsed back out of a view and no operation is called by name on the way. The
outbox (Create/Update of an object), exports and `federation.object` all use this one path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from models.actors import Actor
from models.context import Context, Site
from models.contracts import Contract
from models.errors import NotFound
from models.ledger import LedgerEntry
from models.market import ESCROW_KIND, Lot, LotVisibility, lot_of_escrow
from models.operations.contracts import contract_views, offer_views, public_offer
from models.operations.entries import entry_views
from models.operations.ledger import sealed_from
from models.operations.market import lot_views
from models.operations.organizations import proposal_view
from models.operations.sets import get_visible_set, set_views
from models.operations.stores import item_view, store_view
from models.operations.tokens import get_visible_token, token_view
from models.operations.types import get_type, type_view
from models.organizations import Organization, OrgMember, Proposal, Voter
from models.stores import Store, StoreItem, store_of_escrow

from . import documents

__all__ = ["ObjectKind", "PublicObject", "read_object"]

ObjectKind = Literal["token", "type", "set", "ledger", "lot", "contract", "offer", "proposal", "store", "store_item"]


@dataclass(frozen=True)
class PublicObject:
    """An object's public document and the actor it is attributed to (the owner, or an entry's author).

    `signer`: whose key signs it when that is not `owner` (a ledger entry: its type's owner).
    """

    document: dict[str, Any]
    owner: Actor
    signer: Actor | None = None


def actor_url(site: Site, actor: Actor) -> str:
    """An actor's ActivityPub id: ours are computed, remote ones are their URI (or an acct: URI).
    A lot's escrow is named by its lot: what the escrow holds, the lot holds; a store's by its store."""
    if actor.kind == ESCROW_KIND:
        store_id = store_of_escrow(actor.username)
        if store_id is not None:
            return documents.store_escrow_url(site.base_url, store_id)
        return documents.object_url(site.base_url, "lot", lot_of_escrow(actor.username))
    if not actor.domain:
        return documents.actor_url(site.base_url, actor.username)
    return actor.uri or f"acct:{actor.handle(site.domain)}"


async def _token(site: Site, public: Context, object_id: str) -> PublicObject:
    token = await get_visible_token(public, object_id)
    view = await token_view(token, public)
    token_type = await get_type(token.type_id)
    document = documents.token_document(
        view, base_url=site.base_url, owner_url=actor_url(site, token.owner),
        type_name=token_type.name, type_symbol=token_type.symbol,
    )
    return PublicObject(document, token.owner)


async def _type(site: Site, object_id: str) -> PublicObject:
    token_type = await get_type(object_id)
    view = type_view(token_type, site)
    document = documents.type_document(view, base_url=site.base_url, owner_url=actor_url(site, token_type.owner))
    return PublicObject(document, token_type.owner)


async def _set(site: Site, public: Context, object_id: str) -> PublicObject:
    token_set = await get_visible_set(object_id)
    [view] = await set_views([token_set], public)
    document = documents.set_document(view, base_url=site.base_url, owner_url=actor_url(site, token_set.owner))
    return PublicObject(document, token_set.owner)


async def _entry(site: Site, public: Context, object_id: str, reveal: bool) -> PublicObject:
    entry = await LedgerEntry.get_or_none(id=object_id).select_related("author", "recipient")
    if entry is None or (not reveal and await sealed_from(public, [entry])):  # a sealed bid's hold, as for the API
        raise NotFound(f"there is no ledger operation {object_id!r}", code="operation-not-found")
    [view] = await entry_views([entry], public)
    token_type = await get_type(entry.type_id)
    recipient: Actor | None = entry.recipient
    document = documents.entry_document(
        view,
        base_url=site.base_url,
        author_url=actor_url(site, entry.author),
        recipient_url=actor_url(site, recipient) if recipient is not None else None,
        type_symbol=token_type.symbol,
        token_owner_url=actor_url(site, token_type.owner),
    )
    return PublicObject(document, entry.author, token_type.owner)


async def _lot(site: Site, public: Context, object_id: str) -> PublicObject:
    lot = await Lot.get_or_none(id=object_id, visibility=LotVisibility.PUBLIC.value).select_related("seller", "winner")
    if lot is None:  # a lot for followers or listed users is not federated: its document would be public
        raise NotFound(f"there is no lot {object_id!r}", code="lot-not-found")
    [view] = await lot_views(public, [lot])
    winner: Actor | None = lot.winner
    document = documents.lot_document(
        view, base_url=site.base_url, seller_url=actor_url(site, lot.seller),
        winner_url=actor_url(site, winner) if winner is not None else None,
    )
    return PublicObject(document, lot.seller)


async def _contract(site: Site, public: Context, object_id: str) -> PublicObject:
    """A contract's public facts, attributed to (and signed by) its licensor."""
    contract = await Contract.get_or_none(id=object_id).select_related("licensor", "licensee")
    if contract is None:
        raise NotFound(f"there is no contract {object_id!r}", code="contract-not-found")
    [view] = await contract_views(public, [contract])
    document = documents.contract_document(
        view, base_url=site.base_url, licensor_url=actor_url(site, contract.licensor),
        licensee_url=actor_url(site, contract.licensee),
    )
    return PublicObject(document, contract.licensor)


async def _offer(site: Site, public: Context, object_id: str) -> PublicObject:
    """An offer made to anyone (a listed one is 404 here, as for an anonymous API caller)."""
    offer = await public_offer(public, object_id)
    [view] = await offer_views(public, [offer])
    licensor = await Actor.get(id=offer.licensor_id)
    return PublicObject(documents.offer_document(view, base_url=site.base_url, licensor_url=actor_url(site, licensor)), licensor)


async def proposal_audience(site: Site, proposal: Proposal) -> list[Actor]:
    """Who an organization's proposal is addressed to: its members now and its voters (snapshotted
    when it opened), local and remote."""
    members = OrgMember.filter(organization_id=proposal.organization_id).values_list("actor_id", flat=True)
    voters = Voter.filter(proposal_id=proposal.id).values_list("actor_id", flat=True)
    ids = {str(actor_id) for actor_id in [*await members, *await voters]}
    return list(await Actor.filter(id__in=ids).order_by("id"))


async def _proposal(site: Site, object_id: str) -> PublicObject:
    """An organization's proposal as a `Question` (a Mastodon-shaped poll) addressed to its members."""
    proposal = await Proposal.get_or_none(id=object_id)
    if proposal is None:
        raise NotFound(f"there is no proposal {object_id!r}", code="proposal-not-found")
    organization = await Organization.get(id=proposal.organization_id).select_related("actor")
    view = await proposal_view(proposal, organization.actor.username, voters=True)
    audience = [actor_url(site, actor) for actor in await proposal_audience(site, proposal)]
    share_type = documents.object_url(site.base_url, "type", organization.share_type_id) if organization.share_type_id else None
    document = documents.question_document(
        view, base_url=site.base_url, organization_url=actor_url(site, organization.actor), audience=audience,
        share_type_url=share_type,
    )
    return PublicObject(document, organization.actor)


async def _open_store(store_id: str) -> tuple[Store, Actor]:
    """An open store, by its id or its slug (its page's address names it so), and its organization's
    actor; a closed store is 404, as to an anonymous caller."""
    store = await Store.get_or_none(id=store_id, is_open=True) or await Store.get_or_none(slug=store_id.lower(), is_open=True)
    if store is None:
        raise NotFound(f"there is no store {store_id!r}", code="store-not-found")
    organization = await Organization.get(id=store.organization_id).select_related("actor")
    return store, organization.actor


async def _store(site: Site, object_id: str) -> PublicObject:
    """A storefront with its listed items, attributed to (and signed by) its organization."""
    store, owner = await _open_store(object_id)
    items = await StoreItem.filter(store_id=store.id, is_listed=True).order_by("id")
    document = documents.store_document(
        await store_view(store, None), [await item_view(store, item) for item in items],
        base_url=site.base_url, organization_url=actor_url(site, owner),
    )
    return PublicObject(document, owner)


async def _store_item(site: Site, object_id: str) -> PublicObject:
    item = await StoreItem.get_or_none(id=object_id, is_listed=True)
    if item is None:
        raise NotFound(f"there is no store item {object_id!r}", code="item-not-found")
    store, owner = await _open_store(item.store_id)
    document = documents.store_item_document(
        await item_view(store, item), base_url=site.base_url, store_id=store.id, organization_url=actor_url(site, owner),
    )
    return PublicObject(document, owner)


async def read_object(site: Site, kind: str, object_id: str, *, reveal: bool = False) -> PublicObject:
    """The public document of one of our objects; NotFound (404) or Gone (410) as its read says.
    `reveal`: a sealed bid's hold too, for the answer to the bidder's own request."""
    public = Context(site=site)  # always the anonymous view
    if kind == "token":
        return await _token(site, public, object_id)
    if kind == "type":
        return await _type(site, object_id)
    if kind == "set":
        return await _set(site, public, object_id)
    if kind == "ledger":
        return await _entry(site, public, object_id, reveal)
    if kind == "lot":
        return await _lot(site, public, object_id)
    if kind == "contract":
        return await _contract(site, public, object_id)
    if kind == "offer":
        return await _offer(site, public, object_id)


    if kind == "proposal":
        return await _proposal(site, object_id)
    if kind == "store":
        return await _store(site, object_id)
    if kind == "store_item":
        return await _store_item(site, object_id)
    raise NotFound(f"there is no object kind {kind!r}", code="object-not-found")
