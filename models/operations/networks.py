"""Networks (issue 21, items 3 and 4): make a network, read its entries, filter a subnetwork,
start a discovery and follow its progress. The tables and their meaning: models/networks.py.

A network, its entries and its discoveries are its owner's: anyone else gets the same 404 as
for a network that does not exist. The entries themselves are ordinary unique tokens of the
owner's `network-entry` type, so they can be given, put in other sets and listed on the market
(#10) like any token.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery

from ..actors import Actor, User
from ..base import column, iso
from ..context import Context, Site
from ..discovery import COLLECTIONS, DISCOVERY_PLUGINS, Profile
from ..engine import MACHINES
from ..errors import BadInput, Conflict, NotFound, Unprocessable
from ..ids import new_id
from ..machines import NETWORK_DISCOVERIES
from ..names import Name
from ..networks import ENTRY_ATTRIBUTES, ENTRY_TYPE_NAME, Discovery, DiscoveryState, Network, NetworkEntry
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, Page, paginate
from ..registry import REGISTRY, Access, Input
from ..set_search import SearchFilter
from ..sets import SetMember, TokenSet
from ..tokens import Token, TokenType
from ..urls import UrlRefused, check_url
from .sets import SetCreateInput, create_set, matching_tokens
from .tokens import Resolver, TokenOut, mint_token, token_view
from .types import TypeCreateInput, create_type

__all__ = ["add_entries", "discovery_views", "owner_context"]

MAX_FILTERS = 10
Collection = Literal["followers", "following"]


# ---------------------------------------------------------------- inputs and outputs


class NetworkCreateInput(Input):
    name: Name = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)


class NetworkIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


class NetworkEntriesInput(ListInput):
    id: str = Field(min_length=1, max_length=64)


class SubnetworkInput(Input):
    id: str = Field(min_length=1, max_length=64, description="the network to filter")
    name: Name = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    filters: list[SearchFilter] = Field(
        min_length=1, max_length=MAX_FILTERS, description="set-search filters on the entries' attributes; all must hold"
    )


def _followers_only() -> list[Collection]:
    return ["followers"]


class DiscoverInput(Input):
    id: str = Field(min_length=1, max_length=64, description="the network the accounts found join")
    start: str = Field(min_length=3, max_length=2048, description="@name@server, name@server or an actor URL")
    collections: list[Collection] = Field(
        default_factory=_followers_only, min_length=1, max_length=2, description="which lists to read"
    )
    plugin: str = Field("fediverse", min_length=1, max_length=64, description="the discovery plugin to use")

    @field_validator("collections")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class DiscoveryIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


class DiscoveryOut(Output):
    """A discovery's progress (discovery_views)."""

    id: str
    network: str
    plugin: str
    start: str
    actor_url: str | None
    collections: list[str] = Field(description="the lists still to read, the one under way first")
    state: str = Field(description="pending, running, done or failed")
    pages: int = Field(description="pages read")
    found: int = Field(description="entries added to the network")
    seen: int = Field(description="accounts listed, new or already in the network")
    skipped: int = Field(description="accounts whose profile could not be read")
    note: str | None = Field(description="how it ended, in words (a hidden list, a limit)")
    last_error: str | None = Field(description="why the last try failed (the other server was down, say)")
    created_at: Timestamp
    updated_at: Timestamp


class NetworkOut(Output):
    """A network (network_views): its set, entry type, parent and filters, counts and discoveries."""

    id: str
    name: str
    description: str
    set: str = Field(description="the token set holding its entries")
    entry_type: str = Field(description="the network-entry type of its tokens")
    parent: str | None = Field(description="a subnetwork: the network it was filtered from")
    filters: list[dict[str, Any]]
    entry_count: int
    subnetworks: list[str]
    discoveries: list[DiscoveryOut] = Field(description="the latest discoveries into it, newest first")
    created_at: Timestamp
    updated_at: Timestamp


class NetworkEntryOut(Output):
    """One account in a network, with the token that stands for it."""

    actor_url: str
    handle: str
    token: TokenOut


# ---------------------------------------------------------------- helpers


async def owner_context(site: Site, owner_id: str) -> Context:
    """The context a machine acts in for a network's or distribution's owner (a local user)."""
    actor = await Actor.get(id=owner_id)
    user = await User.get_or_none(actor_id=owner_id)
    return Context(site=site, user=user, actor=actor)


async def _entry_type(ctx: Context, actor: Actor) -> TokenType:
    """The caller's network-entry type, made the first time they need it."""
    found = await TokenType.get_or_none(owner_id=actor.id, name=ENTRY_TYPE_NAME, is_deleted=False)
    if found is not None:
        return found
    view = await create_type(ctx, TypeCreateInput(
        name=ENTRY_TYPE_NAME, symbol="ENTRY", fungible=False, smallest_unit=0,
        description="An account elsewhere (the fediverse) in one of your networks.",
        attributes=ENTRY_ATTRIBUTES,  # type: ignore[arg-type]  # validated into AttributeDef
    ))
    return await TokenType.get(id=view["id"])


async def _mine(ctx: Context, network_id: str) -> Network:
    network = await Network.get_or_none(id=network_id).select_related("set")
    if network is None or network.set.is_deleted or ctx.require_actor().id != network.owner_id:
        raise NotFound(f"there is no network {network_id!r}", code="network-not-found")
    return network


def discovery_views(rows: list[Discovery]) -> list[dict[str, Any]]:
    return [
        {
            "id": row.id, "network": row.network_id, "plugin": row.plugin, "start": row.start, "actor_url": row.actor_url,
            "collections": list(row.collections), "state": row.state, "pages": row.pages, "found": row.found,
            "seen": row.seen, "skipped": row.skipped, "note": row.note, "last_error": row.last_error,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        }
        for row in rows
    ]


async def network_views(networks: list[Network]) -> list[dict[str, Any]]:
    views = []
    for network in networks:
        count = await SetMember.filter(set_id=network.set_id, token__is_deleted=False).count()
        children = await Network.filter(parent_id=network.id).order_by("id").values_list("id", flat=True)
        latest = await Discovery.filter(network_id=network.id).order_by("-id").limit(10)
        views.append({
            "id": network.id, "name": network.set.name, "description": network.set.description, "set": network.set_id,
            "entry_type": network.entry_type_id, "parent": network.parent_id, "filters": list(network.filters),
            "entry_count": count, "subnetworks": [str(child) for child in children],
            "discoveries": discovery_views(latest),
            "created_at": iso(network.created_at), "updated_at": iso(network.updated_at),
        })
    return views


async def add_entries(site: Site, network_id: str, profiles: list[Profile], discovered_by: str) -> int:
    """Mint an entry (a token of the owner's network-entry type, in the network's set) for each
    profile not in the network yet; the number added. In the caller's transaction."""
    network = await Network.get(id=network_id)
    wanted = {profile.actor_url: profile for profile in profiles}
    present = set(await column(NetworkEntry.filter(network_id=network.id, actor_url__in=list(wanted)).values_list("actor_url", flat=True), str))
    fresh = [profile for url, profile in wanted.items() if url not in present]
    if not fresh:
        return 0
    ctx = await owner_context(site, network.owner_id)
    owner = ctx.require_actor()
    entry_type = await TokenType.get(id=network.entry_type_id)
    resolver = Resolver()
    members, entries = [], []
    for profile in fresh:
        values = {
            "handle": profile.handle[:300], "actor_url": profile.actor_url, "display_name": profile.display_name[:200],
            "discovered_by": discovered_by[:300], "followers_count": profile.followers_count,
            "instance": profile.instance[:300], "tags": ", ".join(profile.tags)[:1000] or None,
        }
        token, _ = await mint_token(ctx, entry_type, owner, values, resolver, description=f"network entry: {profile.handle}"[:500])
        members.append(SetMember(id=new_id(), set_id=network.set_id, token_id=token.id, added_by_id=owner.id))
        entries.append(NetworkEntry(id=new_id(), network_id=network.id, token_id=token.id,
                                    actor_url=profile.actor_url, handle=profile.handle[:300]))
    await SetMember.bulk_create(members)
    await NetworkEntry.bulk_create(entries)
    version = await _touch(network.set_id)
    await ctx.emit("set.tokens_added", "set", network.set_id, {"tokens": [m.token_id for m in members], "version": version})
    return len(fresh)


async def _touch(set_id: str) -> int:
    token_set = await TokenSet.get(id=set_id)
    await TokenSet.filter(id=set_id).update(version=token_set.version + 1)
    return token_set.version + 1


# ---------------------------------------------------------------- operations


@REGISTRY.operation("networks.create", NetworkCreateInput, output=NetworkOut)
async def create_network(ctx: Context, params: NetworkCreateInput) -> dict[str, Any]:
    """Make a network: a set of yours whose entries will be accounts elsewhere."""
    actor = ctx.require_actor()
    entry_type = await _entry_type(ctx, actor)
    made = await create_set(ctx, SetCreateInput(name=params.name, description=params.description))
    network = await Network.create(id=new_id(), set_id=made["id"], owner_id=actor.id, entry_type_id=entry_type.id)
    await ctx.emit("network.created", "network", network.id, {"set": made["id"], "owner": actor.id})
    await network.fetch_related("set")
    return (await network_views([network]))[0]


@REGISTRY.operation("networks.list", ListInput, output=Paged[NetworkOut], access=Access.USER)
async def list_networks(ctx: Context, params: ListInput) -> Page:
    """Your networks and subnetworks, newest first."""
    query = Network.filter(owner_id=ctx.require_actor().id, set__is_deleted=False).select_related("set")
    page = await paginate(query, params)
    page.items = await network_views(page.items)
    return page


@REGISTRY.operation("networks.get", NetworkIdInput, output=NetworkOut, access=Access.USER)
async def read_network(ctx: Context, params: NetworkIdInput) -> dict[str, Any]:
    """One of your networks, with its counts and latest discoveries."""
    return (await network_views([await _mine(ctx, params.id)]))[0]


@REGISTRY.operation("networks.entries", NetworkEntriesInput, output=Paged[NetworkEntryOut], access=Access.USER)
async def list_entries(ctx: Context, params: NetworkEntriesInput) -> Page:
    """A network's entries: each account and its token, newest first."""
    network = await _mine(ctx, params.id)
    live = Subquery(SetMember.filter(set_id=network.set_id).values("token_id"))
    query = NetworkEntry.filter(network_id=network.id, token_id__in=live, token__is_deleted=False).select_related("token__owner")
    page = await paginate(query, params)
    resolver = Resolver()
    page.items = [
        {"actor_url": row.actor_url, "handle": row.handle, "token": await token_view(row.token, ctx, resolver)}
        for row in page.items
    ]
    return page


@REGISTRY.operation("networks.subnetwork", SubnetworkInput, output=NetworkOut)
async def make_subnetwork(ctx: Context, params: SubnetworkInput) -> dict[str, Any]:
    """A new network of the entries of one of yours that match every filter; it records its parent."""
    actor = ctx.require_actor()
    parent = await _mine(ctx, params.id)
    matches, _, truncated, _ = await matching_tokens(ctx, parent.set_id, params.filters, False)
    if truncated:
        raise Unprocessable(
            f"the network has more entries than one filter reads ({ctx.site.limits.max_set_search_tokens}); "
            "filter a smaller network first", code="network-too-large",
        )
    made = await create_set(ctx, SetCreateInput(name=params.name, description=params.description, parent=parent.set_id))
    network = await Network.create(
        id=new_id(), set_id=made["id"], owner_id=actor.id, entry_type_id=parent.entry_type_id, parent_id=parent.id,
        filters=[item.model_dump(exclude_unset=True) for item in params.filters],
    )
    token_ids = [view["id"] for view in matches]
    by_token = {row.token_id: row for row in await NetworkEntry.filter(network_id=parent.id, token_id__in=token_ids)}
    await SetMember.bulk_create([SetMember(id=new_id(), set_id=made["id"], token_id=t, added_by_id=actor.id) for t in token_ids])
    await NetworkEntry.bulk_create([
        NetworkEntry(id=new_id(), network_id=network.id, token_id=t, actor_url=by_token[t].actor_url, handle=by_token[t].handle)
        for t in token_ids if t in by_token
    ])
    if token_ids:
        version = await _touch(made["id"])
        await ctx.emit("set.tokens_added", "set", made["id"], {"tokens": token_ids, "version": version})
    await ctx.emit("network.created", "network", network.id, {"set": made["id"], "owner": actor.id, "parent": parent.id})
    await network.fetch_related("set")
    return (await network_views([network]))[0]


def _start_url(site: Site, start: str) -> None:
    """400 for a start that is neither a handle nor an http(s) URL; 422 ssrf-refused for one on
    an address this server may not reach (the DNS half is checked when it is read)."""
    allow = site.federation.allow_private_addresses
    if start.startswith(("https://", "http://")):
        url = start
    else:
        name, _, host = start.lstrip("@").partition("@")
        if not name or not host or "@" in host or "/" in host or any(ord(char) < 33 for char in start):
            raise BadInput(f"{start!r} is not @name@server or an actor URL", code="invalid-handle")
        url = f"https://{host}/"
    try:
        check_url(url, allow_private=allow)
    except UrlRefused as error:
        raise Unprocessable(f"cannot read {start}: {error.detail}", code="address-refused") from None


@REGISTRY.operation("networks.discover", DiscoverInput, output=DiscoveryOut)
async def discover(ctx: Context, params: DiscoverInput) -> dict[str, Any]:
    """Start reading an account's followers (and/or following) into a network; its page shows the progress."""
    actor = ctx.require_actor()
    network = await _mine(ctx, params.id)
    if params.plugin not in DISCOVERY_PLUGINS:
        known = ", ".join(sorted(DISCOVERY_PLUGINS)) or "none"
        raise BadInput(f"there is no discovery plugin {params.plugin!r} (known: {known})", code="unknown-plugin")
    _start_url(ctx.site, params.start)
    if await Discovery.filter(network_id=network.id, state__in=(DiscoveryState.PENDING.value, DiscoveryState.RUNNING.value)).count() >= 3:
        raise Conflict("three discoveries into this network are under way; wait for one to end", code="too-many-discoveries")
    assert all(name in COLLECTIONS for name in params.collections)
    try:
        row = await Discovery.create(
            network_id=network.id, owner_id=actor.id, plugin=params.plugin, start=params.start,
            collections=list(params.collections), state=DiscoveryState.PENDING.value,
        )
    except IntegrityError:  # pragma: no cover  (ids are fresh)
        raise Conflict("try again", code="conflict") from None
    await ctx.emit("network.discovery.started", "network", network.id, {"discovery": row.id, "start": params.start})
    MACHINES.wake(NETWORK_DISCOVERIES.name)
    return discovery_views([row])[0]


@REGISTRY.operation("networks.discoveries.get", DiscoveryIdInput, output=DiscoveryOut, access=Access.USER)
async def read_discovery(ctx: Context, params: DiscoveryIdInput) -> dict[str, Any]:
    """One of your discoveries: where it is (entries found, pages read) or how it ended."""
    row = await Discovery.get_or_none(id=params.id)
    if row is None or row.owner_id != ctx.require_actor().id:
        raise NotFound(f"there is no discovery {params.id!r}", code="discovery-not-found")
    return discovery_views([row])[0]


async def entry_token_ids(network_id: str) -> list[str]:
    """The tokens of a network's live entries (tests and distributions read them)."""
    return [str(t) for t in await Token.filter(network_entries__network_id=network_id, is_deleted=False).values_list("id", flat=True)]
