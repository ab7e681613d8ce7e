"""Token types: create, read, list, update and soft-delete, with acyclic multiple inheritance.

A type's attribute schema is its own definitions plus those of its ancestors, searched
breadth-first (own, then parents in order, then grandparents): the nearest definition wins.
Types are public; only the owner changes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache, partial
from typing import Any, Literal

import orjson
from pydantic import Field, StrictBool, StrictInt, field_validator

from ..actors import Actor, owner_filter
from ..amounts import MAX_DECIMALS, to_decimal_string, to_minor
from ..attributes import STORED, AttributeDef, TextInput, fits
from ..base import column, iso
from ..context import Context, Site
from ..contracts import Licensing
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..ledger import LedgerEntry
from ..names import Name
from ..outputs import ActorOut, Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..patterns import OutOfTime, run_bounded
from ..registry import REGISTRY, Access
from ..tokens import RemoteTypeParent, Token, TokenType, TypeParent
from ..views import actor_view
from .licensing import license_parents, license_remote_parents, refuse_remote_parents, remote_parent_urls

__all__ = [
    "TypeSchema",
    "get_type",
    "type_view",
    "type_schema",
    "resolve_schema",
    "definitions_of",
    "require_type_owner",
]

MAX_PARENTS = 16
MAX_ANCESTORS = 1000  # a breadth-first walk stops here; real hierarchies are far smaller
ID = Field(min_length=1, max_length=64)


@dataclass
class TypeSchema:
    """The effective attribute schema of a type: nearest definitions, resolved defaults."""

    definitions: dict[str, AttributeDef] = field(default_factory=dict)
    sources: dict[str, str | None] = field(default_factory=dict)  # attribute -> type id (None: being defined)
    defaults: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> list[dict[str, Any]]:
        """Each effective definition with the type it comes from."""
        return [
            {**definition.as_json(), "defined_by": self.sources[name]} for name, definition in self.definitions.items()
        ]


def definitions_of(token_type: TokenType) -> list[AttributeDef]:
    """The type's own definitions (stored already validated)."""
    return [AttributeDef.model_validate(item, context=STORED) for item in token_type.attributes or []]


def stored_definitions(column: str | list[Any] | None) -> list[AttributeDef]:
    """Definitions from a type's `attributes` column as a raw read returns it (JSON text on
    SQLite), each distinct text parsed once: verification answers read the same types again
    and again. Callers must not change the definitions they get."""
    if isinstance(column, str):
        return list(_parsed_definitions(column))
    return [AttributeDef.model_validate(item, context=STORED) for item in column or []]


@lru_cache(maxsize=512)
def _parsed_definitions(text: str) -> tuple[AttributeDef, ...]:
    return tuple(AttributeDef.model_validate(item, context=STORED) for item in orjson.loads(text) or [])


async def get_type(type_id: str) -> TokenType:
    """A live type with its owner and parent links loaded; 404 type-not-found otherwise."""
    token_type = await TokenType.get_or_none(id=type_id, is_deleted=False).select_related("owner")
    if token_type is None:
        raise NotFound(f"there is no token type with id {type_id!r}", code="type-not-found")
    await token_type.fetch_related("parent_links", "remote_parent_links")
    return token_type


def _parent_links(token_type: TokenType) -> list[TypeParent]:
    links = token_type.parent_links.related_objects if token_type.parent_links._fetched else []
    return sorted(links, key=lambda link: link.position)


def _parent_ids(token_type: TokenType) -> list[str]:
    return [link.parent_id for link in _parent_links(token_type)]


def _remote_links(token_type: TokenType) -> list[RemoteTypeParent]:
    links = token_type.remote_parent_links.related_objects if token_type.remote_parent_links._fetched else []
    return sorted(links, key=lambda link: (link.position, link.id))


def _link_views(token_type: TokenType) -> list[dict[str, Any]]:
    """Every parent link in the order the parents were given: a parent of another server is
    its URL, under the contract (its URL) held there."""
    local: list[tuple[int, dict[str, Any]]] = [(link.position, {"parent": link.parent_id, "basis": link.basis, "contract": link.contract_id})
             for link in _parent_links(token_type)]
    remote: list[tuple[int, dict[str, Any]]] = [(link.position, {"parent": link.parent_uri, "basis": "contract", "contract": link.contract_uri})
              for link in _remote_links(token_type)]
    return [view for _, view in sorted(local + remote, key=lambda pair: pair[0])]


class AttributeDefOut(Output):
    """An attribute definition as stored (models/attributes.py AttributeDef; unset options left out)."""

    name: str
    type: str


class EffectiveAttributeOut(AttributeDefOut):
    defined_by: str | None = Field(description="the id of the type that defines it")


class OwnerRef(Output):
    id: str


class ParentLinkOut(Output):
    parent: str
    basis: Literal["own", "open", "contract", "grandfathered"] = Field(
        description="why the type may use this parent: same owner, the parent was open, a contract, or"
        " grandfathered (made before licensing existed)"
    )
    contract: str | None = Field(description="the contract it was derived under (its URL when it lives on another server)")


class TypeOut(Output):
    """A token type (type_view); amounts are decimal strings."""

    id: str
    name: str
    symbol: str
    description: str
    fungible: bool
    smallest_unit: int
    supply_limit: str | None
    minted: str
    owner: ActorOut | OwnerRef
    parents: list[str]
    parent_links: list[ParentLinkOut]
    licensing: Literal["open", "contract", "closed"] = Field(
        description="who may use it as a parent: anyone, holders of a contract with its owner, or its owner only"
    )
    attributes: list[AttributeDefOut]
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class TypeDetailOut(TypeOut):
    """A type with its effective (own and inherited) attribute definitions."""

    effective_attributes: list[EffectiveAttributeOut]


def type_view(token_type: TokenType, site: Site) -> dict[str, Any]:
    """The public JSON of a type (owner and parent links should be loaded, as get_type does)."""
    decimals = token_type.smallest_unit
    owner = token_type.owner
    owner_id = token_type.owner_id
    limit = token_type.supply_limit
    links = _link_views(token_type)
    return {
        "id": token_type.id,
        "name": token_type.name,
        "symbol": token_type.symbol,
        "description": token_type.description,
        "fungible": token_type.fungible,
        "smallest_unit": decimals,
        "supply_limit": None if limit is None else to_decimal_string(limit, decimals),
        "minted": to_decimal_string(token_type.minted, decimals),
        "owner": actor_view(owner, site) if isinstance(owner, Actor) else {"id": owner_id},
        "parents": [link["parent"] for link in links],
        "parent_links": links,
        "licensing": token_type.licensing,
        "attributes": [definition.as_json() for definition in definitions_of(token_type)],
        "version": token_type.version,
        "created_at": iso(token_type.created_at),
        "updated_at": iso(token_type.updated_at),
    }


async def resolve_schema(own: list[AttributeDef], parent_ids: list[str], own_id: str | None = None) -> TypeSchema:
    """Walk the ancestors breadth-first; the first definition of a name wins.

    A default comes from the nearest definition of the same name and value type that has one
    valid under the effective definition, so a child may leave the default to a parent
    ("type default -> parent types' defaults") without inheriting one it forbids.
    """
    ordered: list[tuple[str | None, list[AttributeDef]]] = [(own_id, own)]
    seen: set[str] = {own_id} if own_id else set()
    level = [pid for pid in dict.fromkeys(parent_ids) if pid not in seen]
    while level and len(seen) < MAX_ANCESTORS:
        seen.update(level)
        rows = {row.id: row for row in await TokenType.filter(id__in=level)}
        links = await TypeParent.filter(child_id__in=level).order_by("position")
        by_child: dict[str, list[str]] = {}
        for link in links:
            by_child.setdefault(link.child_id, []).append(link.parent_id)
        following: list[str] = []
        for type_id in level:
            if type_id in rows:
                ordered.append((type_id, definitions_of(rows[type_id])))
            following += [pid for pid in by_child.get(type_id, []) if pid not in seen and pid not in following]
        level = following
    nearest: dict[str, AttributeDef] = {}
    patterned = 0  # characters of farther defaults that nearer definitions' patterns check
    for _, definitions in ordered:
        for definition in definitions:
            effective = nearest.setdefault(definition.name, definition)
            if effective is not definition and effective.regex and isinstance(definition.default, str):
                patterned += len(definition.default)
    return await run_bounded(  # a default checked against another type's pattern may be long
        partial(_merged, ordered), patterned, "inherited defaults against the type's patterns",
        "ask the type's owner for a simpler pattern", code="pattern-too-slow",
    )


def _merged(ordered: list[tuple[str | None, list[AttributeDef]]], deadline: float) -> TypeSchema:
    """The nearest definition of each name and the nearest default valid under it."""
    schema = TypeSchema()
    for source, definitions in ordered:
        if time.monotonic() > deadline:
            raise OutOfTime
        for definition in definitions:
            if definition.name not in schema.definitions:
                schema.definitions[definition.name] = definition
                schema.sources[definition.name] = source
            effective = schema.definitions[definition.name]
            if (
                definition.name not in schema.defaults
                and definition.default is not None
                and definition.type == effective.type
                and (definition is effective or fits(effective, definition.default))
            ):
                schema.defaults[definition.name] = definition.default
    return schema


async def type_schema(token_type: TokenType) -> TypeSchema:
    """The effective schema of a stored type."""
    links = await TypeParent.filter(child_id=token_type.id).order_by("position")
    parents = [link.parent_id for link in links]
    return await resolve_schema(definitions_of(token_type), parents, token_type.id)


def require_type_owner(ctx: Context, token_type: TokenType) -> None:
    if ctx.system:
        return
    if ctx.require_actor().id != token_type.owner_id:
        raise Forbidden("only the owner of this token type may change it", code="not-owner")


def _unique_names(value: list[AttributeDef] | None) -> list[AttributeDef] | None:
    names = [definition.name for definition in value or []]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"attribute names must be unique; repeated: {', '.join(duplicates)}")
    return value


def _unique_ids(value: list[str] | None) -> list[str] | None:
    if value is not None and len(set(value)) != len(value):
        raise ValueError("each parent may be listed once")
    return value


class TypeCreateInput(TextInput):
    name: Name = Field(min_length=1, max_length=200)
    symbol: Name = Field(min_length=1, max_length=32)
    fungible: StrictBool
    smallest_unit: StrictInt = Field(ge=0, le=MAX_DECIMALS, description="decimal places of the smallest unit")
    description: str = Field("", max_length=10_000)
    supply_limit: str | StrictInt | None = Field(None, description="a decimal string; no limit when absent")
    parents: list[str] = Field(default_factory=list, max_length=MAX_PARENTS)
    attributes: list[AttributeDef] = Field(default_factory=list, max_length=1000)
    licensing: Licensing = Field(
        Licensing.CONTRACT, description="who may use it as a parent: open (anyone), contract (holders of a contract), closed"
    )

    _names = field_validator("attributes")(_unique_names)
    _parents = field_validator("parents")(_unique_ids)


class TypeUpdateInput(TextInput):
    id: str = ID
    name: Name | None = Field(None, min_length=1, max_length=200)
    symbol: Name | None = Field(None, min_length=1, max_length=32)
    description: str | None = Field(None, max_length=10_000)
    fungible: StrictBool | None = None
    smallest_unit: StrictInt | None = Field(None, ge=0, le=MAX_DECIMALS)
    supply_limit: str | StrictInt | None = Field(None, description="a decimal string; null removes the limit")
    parents: list[str] | None = Field(None, max_length=MAX_PARENTS)
    attributes: list[AttributeDef] | None = Field(None, max_length=1000)
    licensing: Licensing | None = None

    _names = field_validator("attributes")(_unique_names)
    _parents = field_validator("parents")(_unique_ids)


class TypeIdInput(TextInput):
    id: str = ID


class TypeListInput(ListInput, TextInput):
    owner: str | None = Field(None, max_length=300, description="username, or user@host for a remote owner")


def _merge_scripts(submitted: list[AttributeDef], existing: list[AttributeDef]) -> list[AttributeDef]:
    """Script definitions can only be carried over unchanged; omitted ones are kept."""
    current = {definition.name: definition for definition in existing if definition.type == "script"}
    for definition in submitted:
        if definition.type == "script" and current.get(definition.name) != definition:
            raise Unprocessable(
                f"attribute {definition.name!r}: script attributes cannot be added or edited through the API",
                code="script-attribute-forbidden",
            )
        if definition.name in current and definition.type != "script":
            raise Unprocessable(
                f"attribute {definition.name!r} is a script attribute and cannot be replaced through the API",
                code="script-attribute-forbidden",
            )
    names = {definition.name for definition in submitted}
    return submitted + [definition for name, definition in current.items() if name not in names]


async def _check_parents(parent_ids: list[str], child_id: str | None) -> None:
    """Parents must be live types, and the child must not be among their ancestors."""
    if child_id is not None and child_id in parent_ids:
        raise Unprocessable("a type cannot be its own parent", code="cyclic-parents")
    found = set(await column(TokenType.filter(id__in=parent_ids, is_deleted=False).values_list("id", flat=True), str))
    missing = [pid for pid in parent_ids if pid not in found]
    if missing:
        raise NotFound(f"parent type {missing[0]!r} does not exist", code="type-not-found")
    if child_id is None:
        return
    seen: set[str] = set()
    level = list(parent_ids)
    while level and len(seen) < MAX_ANCESTORS:
        seen.update(level)
        level = [
            pid
            for pid in await column(TypeParent.filter(child_id__in=level).values_list("parent_id", flat=True), str)
            if pid not in seen
        ]
        if child_id in level:
            raise Unprocessable(
                "these parents would make the type its own ancestor; type hierarchies must not be cyclic",
                code="cyclic-parents",
            )


async def _checked_schema(ctx: Context, own: list[AttributeDef], parents: list[str], type_id: str | None) -> TypeSchema:
    if len(own) > ctx.site.limits.max_attributes:
        raise Unprocessable(
            f"a type may define at most {ctx.site.limits.max_attributes} attributes; this one has {len(own)}",
            code="too-many-attributes",
        )
    await _check_parents(parents, type_id)
    inherited = await resolve_schema([], parents)
    for definition in own:
        parent = inherited.definitions.get(definition.name)
        if parent is not None and parent.type != definition.type:
            raise Unprocessable(
                f"attribute {definition.name!r} is a {parent.type} in parent type {inherited.sources[definition.name]}"
                f" and cannot be redefined as a {definition.type}",
                code="attribute-type-conflict",
            )
    references = {d.default: d.name for d in own if d.type == "token" and d.default is not None}
    if references:
        live = set(await Token.filter(id__in=list(references), is_deleted=False).values_list("id", flat=True))
        for token_id, name in references.items():
            if token_id not in live:
                raise Unprocessable(
                    f"the default of {name!r} names token {token_id!r}, which does not exist", code="token-not-found"
                )
    return await resolve_schema(own, parents, type_id)


def _supply(value: str | int | None, decimals: int, minted: int) -> int | None:
    if value is None:
        return None
    limit = to_minor(value, decimals, field="supply_limit", what="the supply limit is more than")
    if limit < minted:
        raise Conflict(
            f"the supply limit {to_decimal_string(limit, decimals)} is below the "
            f"{to_decimal_string(minted, decimals)} already created",
            code="supply-below-minted",
        )
    return limit


async def _view(token_type: TokenType, ctx: Context) -> dict[str, Any]:
    view = type_view(token_type, ctx.site)
    view["effective_attributes"] = (await type_schema(token_type)).describe()
    return view


@REGISTRY.operation("types.create", TypeCreateInput, output=TypeDetailOut)
async def create_type(ctx: Context, params: TypeCreateInput) -> dict[str, Any]:
    """Create a token type owned by the caller."""
    actor = ctx.require_actor()
    remote = remote_parent_urls(params.parents)
    local = [pid for pid in params.parents if pid not in remote]
    own = _merge_scripts(params.attributes, [])
    await _checked_schema(ctx, own, local, None)
    limit = _supply(params.supply_limit, params.smallest_unit, 0)
    links = await license_parents(ctx, actor, local)
    token_type = await TokenType.create(
        owner=actor,
        name=params.name,
        symbol=params.symbol,
        description=params.description,
        fungible=params.fungible,
        smallest_unit=params.smallest_unit,
        supply_limit=limit,
        attributes=[definition.as_json() for definition in own],
        licensing=params.licensing.value,
    )
    for position, parent_id in enumerate(params.parents):
        if parent_id in remote:
            continue
        link = links[parent_id]
        await TypeParent.create(
            child=token_type, parent_id=parent_id, position=position, basis=link.basis, contract_id=link.contract_id,
        )
    # a parent of another server: asked there under the owner's contract (its attributes are not inherited)
    await license_remote_parents(ctx, actor, token_type, [(params.parents.index(uri), uri) for uri in remote])
    await ctx.emit("type.created", "type", token_type.id, {"name": token_type.name, "symbol": token_type.symbol})
    return await _view(await get_type(token_type.id), ctx)


@REGISTRY.operation("types.get", TypeIdInput, output=TypeDetailOut, access=Access.PUBLIC)
async def read_type(ctx: Context, params: TypeIdInput) -> dict[str, Any]:
    """A token type with its own and its effective (inherited) attribute definitions."""
    return await _view(await get_type(params.id), ctx)


@REGISTRY.operation("types.list", TypeListInput, output=Paged[TypeOut], access=Access.PUBLIC)
async def list_types(ctx: Context, params: TypeListInput) -> Any:
    """Token types, newest first; filter by owner username."""
    query = TokenType.filter(is_deleted=False)
    if params.owner:
        query = query.filter(**owner_filter(params.owner, ctx.site.domain))
    page = await paginate(query.select_related("owner").prefetch_related("parent_links", "remote_parent_links"), params)
    return page.map(lambda row: type_view(row, ctx.site))


def _not_null(params: TypeUpdateInput) -> None:
    nullable = {"supply_limit"}
    errors = [
        {"field": name, "message": "cannot be null", "type": "null"}
        for name in sorted(params.model_fields_set - nullable)
        if getattr(params, name) is None
    ]
    if errors:
        raise BadInput(f"{errors[0]['field']} cannot be null", code="validation-failed", errors=errors)


@REGISTRY.operation("types.update", TypeUpdateInput, output=TypeDetailOut)
async def update_type(ctx: Context, params: TypeUpdateInput) -> dict[str, Any]:
    """Change a type (owner only). fungible and smallest_unit are fixed once units exist."""
    _not_null(params)
    token_type = await get_type(params.id)
    kept_remote = [link.parent_uri for link in _remote_links(token_type)]
    if params.parents is not None and remote_parent_urls(params.parents) != kept_remote:
        refuse_remote_parents([uri for uri in remote_parent_urls(params.parents) if uri not in kept_remote] or kept_remote,
                              "a parent of another server is named when the type is created, and is kept")
    if params.parents is not None:
        params.parents = [pid for pid in params.parents if pid not in kept_remote]
    require_type_owner(ctx, token_type)
    ctx.check_version(token_type.version, "token type")
    given = params.model_fields_set - {"id"}
    changes: dict[str, Any] = {
        name: getattr(params, name) for name in ("name", "symbol", "description") if name in given
    }
    if "licensing" in given and params.licensing is not None:
        changes["licensing"] = params.licensing.value
    for name in ("fungible", "smallest_unit"):
        value = getattr(params, name)
        if name in given and value != getattr(token_type, name):
            if await LedgerEntry.filter(type_id=token_type.id).exists():
                raise Conflict(f"{name} cannot change: this type already has ledger entries", code="type-has-entries")
            changes[name] = value
    decimals = changes.get("smallest_unit", token_type.smallest_unit)
    if "supply_limit" in given:
        changes["supply_limit"] = _supply(params.supply_limit, decimals, token_type.minted)
    elif token_type.supply_limit is not None and decimals != token_type.smallest_unit:
        text = to_decimal_string(token_type.supply_limit, token_type.smallest_unit)
        try:
            changes["supply_limit"] = to_minor(text, decimals, field="supply_limit")
        except (BadInput, Unprocessable):
            raise Unprocessable(
                f"the supply limit {text} cannot be written with {decimals} decimal places; set a new supply_limit",
                code="supply-limit-not-representable",
            ) from None
    own = definitions_of(token_type)
    parents = _parent_ids(token_type)
    if "attributes" in given or "parents" in given:
        if "attributes" in given:
            own = _merge_scripts(params.attributes or [], own)
            changes["attributes"] = [definition.as_json() for definition in own]
        parents = params.parents if params.parents is not None else parents
        before = await type_schema(token_type)
        after = await _checked_schema(ctx, own, parents, token_type.id)
        required = [
            name
            for name, definition in after.definitions.items()
            if not definition.nullable and name not in after.defaults and definition.type not in ("media", "script")
            and not (name in before.definitions and not before.definitions[name].nullable)
        ]
        if required and await Token.filter(type_id=token_type.id, is_deleted=False).exists():
            raise Unprocessable(
                f"attribute {required[0]!r} is not nullable and has no default, but tokens of this type exist;"
                " give it a default",
                code="default-required",
            )
    if not changes and "parents" not in given:
        return await _view(token_type, ctx)
    kept = {link.parent_id: link for link in _parent_links(token_type)}
    added = [pid for pid in parents if pid not in kept] if "parents" in given else []
    links = await license_parents(ctx, token_type.owner, added) if added else {}
    version = token_type.version + 1
    # `minted` in the condition: a mint racing this update (units, supply limit) makes it fail
    updated = await TokenType.filter(
        id=token_type.id, version=token_type.version, minted=token_type.minted, is_deleted=False
    ).update(**changes, version=version, updated_at=datetime.now(timezone.utc))
    if not updated:
        current = await TokenType.get(id=token_type.id)
        raise Conflict(
            "the type changed while this update ran; read it again and retry",
            code="version-mismatch",
            extra={"current_version": current.version},
        )
    if "parents" in given:
        await TypeParent.filter(child_id=token_type.id).delete()
        for position, parent_id in enumerate(parents):
            old = kept.get(parent_id)  # a kept link keeps its basis: grandfathered stays grandfathered
            basis, contract_id = (old.basis, old.contract_id) if old else (links[parent_id].basis, links[parent_id].contract_id)
            await TypeParent.create(
                child_id=token_type.id, parent_id=parent_id, position=position, basis=basis, contract_id=contract_id,
            )
    fields = sorted(given)
    await ctx.emit("type.updated", "type", token_type.id, {"fields": fields, "version": version})
    return await _view(await get_type(token_type.id), ctx)


@REGISTRY.operation("types.delete", TypeIdInput, output=None)
async def delete_type(ctx: Context, params: TypeIdInput) -> None:
    """Soft-delete a type (owner only) that no live token, child type or ledger entry uses."""
    token_type = await get_type(params.id)
    require_type_owner(ctx, token_type)
    ctx.check_version(token_type.version, "token type")
    if await Token.filter(type_id=token_type.id, is_deleted=False).exists():
        raise Conflict("tokens of this type exist; delete them first", code="type-in-use")
    if await TypeParent.filter(parent_id=token_type.id, child__is_deleted=False).exists():
        raise Conflict("other types inherit from this type", code="type-in-use")
    if await LedgerEntry.filter(type_id=token_type.id).exists():
        raise Conflict("this type has ledger entries; its history must stay readable", code="type-in-use")
    version = token_type.version + 1
    updated = await TokenType.filter(id=token_type.id, version=token_type.version, is_deleted=False).update(
        is_deleted=True, version=version, updated_at=datetime.now(timezone.utc)
    )
    if not updated:
        raise Conflict("the type changed while it was being deleted; try again", code="version-mismatch")
    await ctx.emit("type.deleted", "type", token_type.id, {"version": version})
