"""Token sets: named, owned collections of tokens with an acyclic parent and linked sets.

Sets are public to read. Only the owner changes a set. A token joins a set only if the
set's owner owns it or the token is shareable (DESIGN.md "Sets"). A parent set must belong
to the same owner, so `include_children` never pulls in tokens chosen by someone else; links
are plain references and may name anyone's set. A deleted set's name is freed lazily: the
next set that wants the name renames the tombstone. Writes are conditional on the version
read, and membership changes bump the version too (a set's ETag covers its tokens).
"""

from __future__ import annotations

import inspect
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import Field, StrictBool, field_validator
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Subquery
from tortoise.functions import Count

from ..actors import Actor, owner_filter
from ..base import column, iso
from ..context import Context
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from ..formats import get_renderer
from ..ids import new_id
from ..names import Name
from ..outputs import ActorOut, Output, Paged, Timestamp
from ..paging import ListInput, PagedInput, paginate
from ..registry import REGISTRY, Access, Input
from ..results import Rendered
from ..set_search import Matcher, SearchFilter
from ..sets import SetLink, SetMember, TokenSet
from ..tokens import Token, TokenType
from ..views import actor_view
from .tokens import Resolver, TokenOut, get_visible_token, token_view

__all__ = ["get_visible_set", "set_views", "require_set_owner"]

MAX_LINKS = 100
MAX_TOKENS_PER_ADD = 100
MAX_SET_DEPTH = 32  # parent chains; also bounds the walk down for include_children
MAX_CHILD_SETS = 1000
MAX_FORMAT_TOKENS = 1000
ID = Field(min_length=1, max_length=64)
SetId = Annotated[str, Field(min_length=1, max_length=64)]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class SetCreateInput(Input):
    name: Name = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    parent: str | None = Field(None, min_length=1, max_length=64, description="a set of yours to nest this one in")
    links: list[SetId] = Field(default_factory=list, max_length=MAX_LINKS, description="ids of related sets")


class SetUpdateInput(Input):
    id: str = ID
    name: Name | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    parent: str | None = Field(None, min_length=1, max_length=64, description="null removes the parent")
    links: list[SetId] | None = Field(None, max_length=MAX_LINKS, description="replaces every link")

    @field_validator("name", "description", "links")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value


class SetIdInput(Input):
    id: str = ID


class SetListInput(ListInput):
    owner: str | None = Field(None, max_length=300, description="username, or user@host for a remote owner")
    parent: str | None = Field(None, max_length=64, description="only the children of this set")


class SetTokensListInput(ListInput):
    id: str = ID


class SetTokensInput(Input):
    id: str = ID
    tokens: list[SetId] = Field(min_length=1, max_length=MAX_TOKENS_PER_ADD)


class SetTokenInput(Input):
    id: str = ID
    token_id: str = ID


class SetSearchInput(PagedInput):
    id: str = ID
    filters: list[SearchFilter] = Field(default_factory=list, max_length=20, description="all must hold")
    include_children: StrictBool = False


class SetFormatInput(Input):
    id: str = ID
    format: str = Field(min_length=1, max_length=64)


async def get_visible_set(set_id: str) -> TokenSet:
    """A live set with its owner loaded; 404 set-not-found otherwise (deleted sets included)."""
    token_set = await TokenSet.get_or_none(id=set_id, is_deleted=False).select_related("owner")
    if token_set is None:
        raise NotFound(f"there is no set with id {set_id!r}", code="set-not-found")
    return token_set


def require_set_owner(ctx: Context, token_set: TokenSet) -> None:
    if ctx.system:
        return
    if ctx.require_actor().id != token_set.owner_id:
        raise Forbidden("only the owner of this set may change it", code="not-owner")


class SetOut(Output):
    """A token set (set_views): its owner, parent, links and token count."""

    id: str
    name: str
    description: str
    owner: ActorOut
    parent: str | None
    links: list[str]
    version: int
    token_count: int
    created_at: Timestamp
    updated_at: Timestamp


class SetAddedOut(Output):
    set: SetOut
    added: list[str]
    already_present: list[str]


class SetSearchOut(Output):
    """A page of the tokens that match, and how much was searched."""

    items: list[TokenOut]
    page: int
    page_size: int
    next_page: int | None
    previous_page: int | None
    total: int
    scanned: int
    truncated: bool = Field(description="more tokens than the server searches in one call")
    sets_searched: int


async def set_views(sets: list[TokenSet], ctx: Context) -> list[dict[str, Any]]:
    """JSON views of sets (owners loaded), with token counts and links fetched in batches."""
    ids = [token_set.id for token_set in sets]
    if not ids:
        return []
    rows = await (
        SetMember.filter(set_id__in=ids, token__is_deleted=False)
        .annotate(count=Count("id")).group_by("set_id").values("set_id", "count")
    )
    counts = {row["set_id"]: row["count"] for row in rows}
    links: dict[str, list[str]] = {}
    pairs = SetLink.filter(set_id__in=ids, linked__is_deleted=False).order_by("id").values_list("set_id", "linked_id")
    for set_id, linked_id in await pairs:
        links.setdefault(set_id, []).append(linked_id)
    parent_ids = {token_set.parent_id for token_set in sets if token_set.parent_id}
    live_parents: set[str] = set()
    if parent_ids:
        live_parents = set(await column(TokenSet.filter(id__in=parent_ids, is_deleted=False).values_list("id", flat=True), str))
    return [
        {
            "id": token_set.id,
            "name": token_set.name,
            "description": token_set.description,
            "owner": actor_view(token_set.owner, ctx.site),
            "parent": token_set.parent_id if token_set.parent_id in live_parents else None,
            "links": links.get(token_set.id, []),
            "version": token_set.version,
            "token_count": counts.get(token_set.id, 0),
            "created_at": iso(token_set.created_at),
            "updated_at": iso(token_set.updated_at),
        }
        for token_set in sets
    ]


async def _view(token_set: TokenSet, ctx: Context) -> dict[str, Any]:
    return (await set_views([token_set], ctx))[0]


async def _claim_name(owner_id: str, name: str, set_id: str | None) -> None:
    """409 set-name-taken if a live set of this owner has the name; rename a tombstone that does."""
    holder = await TokenSet.get_or_none(owner_id=owner_id, name=name)
    if holder is None or holder.id == set_id:
        return
    if not holder.is_deleted:
        raise Conflict(f"you already have a set named {name!r}", code="set-name-taken", extra={"set": holder.id})
    await TokenSet.filter(id=holder.id).update(name=f"{name[:150]} (deleted {holder.id})")


async def _checked_parent(owner_id: str, parent_id: str, set_id: str | None) -> None:
    """The parent exists, has the same owner, and the chain stays acyclic and bounded."""
    if parent_id == set_id:
        raise Unprocessable("a set cannot be its own parent", code="cyclic-parent")
    # Parent changes of one owner run one at a time (a row lock on PostgreSQL; SQLite
    # serializes every write), so two concurrent updates cannot close a cycle between them.
    await Actor.filter(id=owner_id).select_for_update().first()
    parent = await TokenSet.get_or_none(id=parent_id, is_deleted=False)
    if parent is None:
        raise NotFound(f"there is no set with id {parent_id!r} to use as the parent", code="set-not-found")
    if parent.owner_id != owner_id:
        raise Forbidden("the parent set must belong to the same owner", code="parent-not-owned")
    depth, current = 1, parent.parent_id
    while current:
        if current == set_id:
            raise Unprocessable(f"set {parent_id!r} is already inside this set: that would make a cycle",
                                code="cyclic-parent")
        depth += 1
        if depth >= MAX_SET_DEPTH:
            raise Unprocessable(f"sets may be nested at most {MAX_SET_DEPTH} deep", code="parent-chain-too-deep")
        above = await column(TokenSet.filter(id=current).values_list("parent_id", flat=True), str)
        current = above[0] if above else None


async def _checked_links(link_ids: list[str], set_id: str | None) -> list[str]:
    wanted = list(dict.fromkeys(link_ids))
    if set_id is not None and set_id in wanted:
        raise Unprocessable("a set cannot link to itself", code="self-link")
    found = TokenSet.filter(id__in=wanted, is_deleted=False).values_list("id", flat=True)
    live = set(await column(found, str)) if wanted else set()
    missing = [link for link in wanted if link not in live]
    if missing:
        raise NotFound(f"there is no set with id {missing[0]!r} to link to", code="set-not-found",
                       extra={"missing": missing})
    return wanted


async def _save_links(set_id: str, link_ids: list[str]) -> None:
    await SetLink.bulk_create([SetLink(id=new_id(), set_id=set_id, linked_id=link) for link in link_ids])


async def _bump(token_set: TokenSet, **changes: Any) -> None:
    """Write changes with version + 1, only if nobody wrote first; 409 version-mismatch else."""
    old = token_set.version
    now = _now()
    try:
        updated = await TokenSet.filter(id=token_set.id, version=old, is_deleted=False).update(
            version=old + 1, updated_at=now, **changes
        )
    except IntegrityError:  # a concurrent rename took the name between check and write
        raise Conflict("you already have a set with that name", code="set-name-taken") from None
    if not updated:
        raise Conflict("the set changed while this update ran; read it again and retry", code="version-mismatch")
    token_set.version, token_set.updated_at = old + 1, now
    for key, value in changes.items():
        setattr(token_set, key, value)


async def _touch(token_set: TokenSet) -> int:
    """Bump the version after a membership change; atomic, so concurrent additions both count."""
    await TokenSet.filter(id=token_set.id).update(version=F("version") + 1, updated_at=_now())
    await token_set.refresh_from_db(fields=["version", "updated_at"])
    return token_set.version


@REGISTRY.operation("sets.create", SetCreateInput, output=SetOut)
async def create_set(ctx: Context, params: SetCreateInput) -> dict[str, Any]:
    """Create a token set owned by the caller."""
    actor = ctx.require_actor()
    await _claim_name(actor.id, params.name, None)
    if params.parent is not None:
        await _checked_parent(actor.id, params.parent, None)
    links = await _checked_links(params.links, None)
    token_set = TokenSet(id=new_id(), owner=actor, name=params.name, description=params.description,
                         parent_id=params.parent)
    try:
        await token_set.save(force_create=True)
    except IntegrityError:
        raise Conflict(f"you already have a set named {params.name!r}", code="set-name-taken") from None
    await _save_links(token_set.id, links)
    await ctx.emit("set.created", "set", token_set.id,
                   {"name": token_set.name, "owner": actor.id, "parent": params.parent, "links": links, "version": 1})
    return await _view(token_set, ctx)


@REGISTRY.operation("sets.get", SetIdInput, output=SetOut, access=Access.PUBLIC)
async def read_set(ctx: Context, params: SetIdInput) -> dict[str, Any]:
    """A token set with its owner, parent, links and token count."""
    return await _view(await get_visible_set(params.id), ctx)


@REGISTRY.operation("sets.list", SetListInput, output=Paged[SetOut], access=Access.PUBLIC)
async def list_sets(ctx: Context, params: SetListInput) -> Any:
    """Token sets, newest first; filter by owner username or parent set."""
    query = TokenSet.filter(is_deleted=False)
    if params.owner:
        query = query.filter(**owner_filter(params.owner, ctx.site.domain))
    if params.parent:
        query = query.filter(parent_id=params.parent)
    page = await paginate(query.select_related("owner"), params)
    page.items = await set_views(page.items, ctx)
    return page


@REGISTRY.operation("sets.update", SetUpdateInput, output=SetOut)
async def update_set(ctx: Context, params: SetUpdateInput) -> dict[str, Any]:
    """Rename, describe, re-parent (null clears) or re-link a set (owner only; If-Match honoured)."""
    token_set = await get_visible_set(params.id)
    require_set_owner(ctx, token_set)
    ctx.check_version(token_set.version, "set")
    owner_id: str = token_set.owner_id
    given = params.model_fields_set
    changes: dict[str, Any] = {}
    if params.name is not None and params.name != token_set.name:
        await _claim_name(owner_id, params.name, token_set.id)
        changes["name"] = params.name
    if params.description is not None and params.description != token_set.description:
        changes["description"] = params.description
    if "parent" in given and params.parent != token_set.parent_id:
        if params.parent is not None:
            await _checked_parent(owner_id, params.parent, token_set.id)
        changes["parent_id"] = params.parent
    fields = sorted(key.removesuffix("_id") for key in changes)
    links: list[str] = []
    if params.links is not None:
        links = await _checked_links(params.links, token_set.id)
        current = await column(SetLink.filter(set_id=token_set.id).order_by("id").values_list("linked_id", flat=True), str)
        if links != current:
            fields.append("links")
    if not fields:
        return await _view(token_set, ctx)
    await _bump(token_set, **changes)
    if "links" in fields:
        await SetLink.filter(set_id=token_set.id).delete()
        await _save_links(token_set.id, links)
    await ctx.emit("set.updated", "set", token_set.id, {"version": token_set.version, "fields": fields})
    return await _view(token_set, ctx)


@REGISTRY.operation("sets.delete", SetIdInput, output=None)
async def delete_set(ctx: Context, params: SetIdInput) -> None:
    """Soft-delete a set (owner only); its children lose their parent, its tokens are untouched."""
    token_set = await get_visible_set(params.id)
    require_set_owner(ctx, token_set)
    ctx.check_version(token_set.version, "set")
    await _bump(token_set, is_deleted=True)
    await ctx.emit("set.deleted", "set", token_set.id, {"version": token_set.version, "name": token_set.name})


@REGISTRY.operation("sets.tokens", SetTokensListInput, output=Paged[TokenOut], access=Access.PUBLIC)
async def list_set_tokens(ctx: Context, params: SetTokensListInput) -> Any:
    """The tokens in a set, in the order they were added (newest first by default)."""
    token_set = await get_visible_set(params.id)
    query = SetMember.filter(set_id=token_set.id, token__is_deleted=False).select_related("token__owner")
    page = await paginate(query, params)
    resolver = Resolver()
    page.items = [await token_view(member.token, ctx, resolver) for member in page.items]
    return page


@REGISTRY.operation("sets.add_tokens", SetTokensInput, output=SetAddedOut)
async def add_tokens(ctx: Context, params: SetTokensInput) -> dict[str, Any]:
    """Put tokens in a set: all or nothing; each must be the set owner's or shareable."""
    token_set = await get_visible_set(params.id)
    require_set_owner(ctx, token_set)
    ctx.check_version(token_set.version, "set")
    wanted = list(dict.fromkeys(params.tokens))
    tokens = [await get_visible_token(ctx, token_id) for token_id in wanted]
    owner_id = token_set.owner_id
    refused = [token.id for token in tokens if token.owner_id != owner_id and not token.shareable]
    if refused:
        raise Forbidden(
            f"token {refused[0]!r} belongs to someone else and is not shareable; nothing was added",
            code="token-not-shareable",
            extra={"tokens": refused},
        )
    in_set = SetMember.filter(set_id=token_set.id, token_id__in=wanted)
    present = set(await column(in_set.values_list("token_id", flat=True), str))
    added = [token_id for token_id in wanted if token_id not in present]
    if added:
        adder = ctx.actor or token_set.owner
        await SetMember.bulk_create(
            [SetMember(id=new_id(), set_id=token_set.id, token_id=token_id, added_by=adder) for token_id in added],
            ignore_conflicts=True,  # a concurrent call added the same token: adding is idempotent
        )
        version = await _touch(token_set)
        await ctx.emit("set.tokens_added", "set", token_set.id, {"tokens": added, "version": version})
    return {"set": await _view(token_set, ctx), "added": added, "already_present": [t for t in wanted if t in present]}


@REGISTRY.operation("sets.remove_token", SetTokenInput, output=None)
async def remove_token(ctx: Context, params: SetTokenInput) -> None:
    """Take a token out of a set (the set's owner, or the token's owner for their own token)."""
    token_set = await get_visible_set(params.id)
    member = await SetMember.get_or_none(set_id=token_set.id, token_id=params.token_id).select_related("token")
    if not ctx.system:
        actor = ctx.require_actor()
        owns_token = member is not None and member.token.owner_id == actor.id
        if actor.id != token_set.owner_id and not owns_token:
            raise Forbidden("only the owner of this set (or of the token) may take a token out", code="not-owner")
    if member is None:
        raise NotFound(f"token {params.token_id!r} is not in this set", code="token-not-in-set")
    ctx.check_version(token_set.version, "set")
    await SetMember.filter(id=member.id).delete()
    version = await _touch(token_set)
    await ctx.emit("set.token_removed", "set", token_set.id, {"token": params.token_id, "version": version})


async def _descendants(token_set: TokenSet) -> list[str]:
    """Live child sets of the same owner, breadth-first, bounded in depth and count."""
    seen, frontier, found = {token_set.id}, [token_set.id], list[str]()
    for _ in range(MAX_SET_DEPTH):
        if not frontier or len(found) >= MAX_CHILD_SETS:
            break
        below = TokenSet.filter(parent_id__in=frontier, owner_id=token_set.owner_id, is_deleted=False)
        children = await column(below.order_by("id").values_list("id", flat=True), str)
        frontier = [child for child in children if child not in seen][: MAX_CHILD_SETS - len(found)]
        seen.update(frontier)
        found.extend(frontier)
    return found


async def matching_tokens(
    ctx: Context, set_id: str, filters: list[SearchFilter], include_children: bool
) -> tuple[list[dict[str, Any]], int, bool, list[str]]:
    """Views of the set's tokens (with its child sets') whose attributes the caller sees match
    every filter: (matches, tokens scanned, truncated at the cap, set ids searched). Shared by
    sets.search and the watchers (models/operations/watchers.py)."""
    token_set = await get_visible_set(set_id)
    matcher = Matcher(filters)  # bad or unsafe patterns fail here, before any scanning
    set_ids = [token_set.id, *(await _descendants(token_set) if include_children else [])]
    cap = ctx.site.limits.max_set_search_tokens
    members = Subquery(SetMember.filter(set_id__in=set_ids).values("token_id"))
    tokens = await Token.filter(id__in=members, is_deleted=False).select_related("owner").order_by("id").limit(cap + 1)
    truncated, tokens = len(tokens) > cap, tokens[:cap]
    resolver = Resolver()
    views: list[dict[str, Any]] = []
    rows: list[tuple[dict[str, Any], dict[str, str]]] = []
    for token in tokens:
        view = await token_view(token, ctx, resolver)  # what the caller may see is what they may search
        schema = await resolver.schema(token.type_id)
        views.append(view)
        rows.append((view["attributes"], {name: definition.type for name, definition in schema.definitions.items()}))
    matches = [view for view, selected in zip(views, await matcher.select(rows), strict=True) if selected]
    return matches, len(tokens), truncated, set_ids


@REGISTRY.operation("sets.search", SetSearchInput, output=SetSearchOut, access=Access.PUBLIC)
async def search_set(ctx: Context, params: SetSearchInput) -> dict[str, Any]:
    """Tokens in a set (optionally its child sets too) whose visible attributes match every filter."""
    matches, scanned, truncated, set_ids = await matching_tokens(ctx, params.id, params.filters, params.include_children)
    start = (params.page - 1) * params.page_size
    has_next = len(matches) > start + params.page_size
    return {
        "items": matches[start : start + params.page_size],
        "page": params.page,
        "page_size": params.page_size,
        "next_page": params.page + 1 if has_next else None,
        "previous_page": params.page - 1 if params.page > 1 else None,
        "total": len(matches),
        "scanned": scanned,
        "truncated": truncated,
        "sets_searched": len(set_ids),
    }


@REGISTRY.operation("sets.format", SetFormatInput, output=Rendered, access=Access.PUBLIC)
async def format_set(ctx: Context, params: SetFormatInput) -> Rendered:
    """A set rendered by a format plugin (html, markdown, ...) with the tokens the caller may see."""
    renderer = get_renderer(params.format)
    token_set = await get_visible_set(params.id)
    view = await _view(token_set, ctx)
    limit = min(MAX_FORMAT_TOKENS, ctx.site.limits.max_set_search_tokens)
    members = await (
        SetMember.filter(set_id=token_set.id, token__is_deleted=False)
        .select_related("token__owner").order_by("id").limit(limit + 1)
    )
    resolver = Resolver()
    tokens = [await token_view(member.token, ctx, resolver) for member in members[:limit]]
    type_ids = {token["type"] for token in tokens}
    types = {
        row.id: {"id": row.id, "name": row.name, "symbol": row.symbol}
        for row in (await TokenType.filter(id__in=type_ids) if type_ids else [])
    }
    document = {
        "format": params.format,
        "set": view,
        "owner": view["owner"],
        "tokens": tokens,
        "types": types,
        "truncated": len(members) > limit,
        "site": {"base_url": ctx.site.base_url, "domain": ctx.site.domain},
    }
    result = renderer(document)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, Rendered):
        raise TypeError(f"the {params.format!r} format returned {type(result).__name__}, not Rendered")
    return result
