"""Tokens: instances of a type with attribute values, one owner, a version and a content hash.

A token stores only its own values. Its effective value of an attribute is, in order: its
own value, its parent token's effective value, the type's default, the parent types'
defaults. Writes are conditional on the version read, so two concurrent updates cannot both win.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone
from typing import Any

from pydantic import Field, StrictBool

from ..actors import Actor, owner_filter
from ..attributes import (
    NAME_PATTERN,
    MediaUploadRequired,
    ScriptForbidden,
    TextInput,
    content_hash,
    is_hidden,
    validate_value,
)
from ..base import column, iso
from ..commitments import SEED_KEY, commitment, disclosure, new_salt, salt_for
from ..context import Context
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..ids import new_id
from ..ledger import EntryKind
from ..moderation import AttributeChange
from ..outputs import ActorOut, Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..patterns import OutOfTime, run_bounded
from ..registry import REGISTRY, Access
from ..tokens import Token, TokenType
from ..views import actor_view
from .entries import record_entry, reserve_supply, spend_token_unit, unit
from .licensing import charge_mint
from .types import TypeSchema, get_type, type_schema

__all__ = [
    "Resolver",
    "effective_attributes",
    "token_view",
    "get_visible_token",
    "token_document",
    "hashed_document",
    "require_token_owner",
    "save_token_change",
    "apply_token_update",
    "merged_own_values",
    "check_token_if_match",
    "check_token_values",
    "mint_token",
]

MAX_PARENT_DEPTH = 32
ID = Field(min_length=1, max_length=64)


class Resolver:
    """Type schemas and effective values, cached for the length of one call."""

    def __init__(self) -> None:
        self._schemas: dict[str, TypeSchema] = {}
        self._values: dict[str, dict[str, Any]] = {}

    def prime(self, type_id: str, schema: TypeSchema) -> None:
        """A schema the caller already resolved (read together with the token, say)."""
        self._schemas[type_id] = schema

    async def schema(self, type_id: str) -> TypeSchema:
        if type_id not in self._schemas:
            token_type = await TokenType.get_or_none(id=type_id)
            self._schemas[type_id] = await type_schema(token_type) if token_type else TypeSchema()
        return self._schemas[type_id]

    async def effective(self, token: Token, depth: int = 0) -> dict[str, Any]:
        """Every attribute of the token's schema with its effective value (None when unset)."""
        if token.id in self._values:
            return self._values[token.id]
        schema = await self.schema(token.type_id)
        inherited: dict[str, Any] = {}
        parent_schema = TypeSchema()
        parent_id = token.parent_id
        if parent_id and depth < MAX_PARENT_DEPTH:
            parent = await Token.get_or_none(id=parent_id, is_deleted=False)
            if parent is not None:
                inherited = dict(await self.effective(parent, depth + 1))
                parent_schema = await self.schema(parent.type_id)
                if parent.owner_id != token.owner_id:
                    # another owner's private values must not leak through inheritance
                    for name, definition in parent_schema.definitions.items():
                        if is_hidden(definition):
                            inherited.pop(name, None)
        own = token.attributes or {}
        candidates = [
            (name, definition) for name, definition in schema.definitions.items()
            if own.get(name) is None and inherited.get(name) is not None
        ]
        patterned = sum(
            len(inherited[name]) for name, definition in candidates
            if definition.regex and isinstance(inherited[name], str)
        )
        fitting = await run_bounded(
            functools.partial(_fitting, candidates, parent_schema, inherited), patterned,
            "inherited values against the type's patterns", "ask the type's owner for a simpler pattern",
            code="pattern-too-slow",
        )
        values: dict[str, Any] = {}
        for name, definition in schema.definitions.items():
            if own.get(name) is not None:
                values[name] = own[name]
            elif name in fitting:
                values[name] = inherited[name]
            else:
                values[name] = schema.defaults.get(name)
        self._values[token.id] = values
        return values

    def forget(self, token_id: str) -> None:
        self._values.pop(token_id, None)


def _fitting(
    candidates: list[tuple[str, Any]], parent_schema: TypeSchema, inherited: dict[str, Any], deadline: float
) -> set[str]:
    """Names whose inherited value is valid under this token's definition (OutOfTime past the
    deadline): values checked against a pattern may be long, so this may run off the loop."""
    fitting = set()
    for name, definition in candidates:
        if time.monotonic() > deadline:
            raise OutOfTime
        if _fits(definition, parent_schema, name, inherited[name]):
            fitting.add(name)
    return fitting


def _fits(definition: Any, parent_schema: TypeSchema, name: str, value: Any) -> bool:
    """A parent token of another type passes on only values valid under this token's schema."""
    try:
        validate_value(definition, value)
    except ValueError:
        return False
    except (ScriptForbidden, MediaUploadRequired):
        source = parent_schema.definitions.get(name)
        return source is not None and source.type == definition.type
    return True


async def effective_attributes(token: Token) -> dict[str, Any]:
    """The token's effective values, including private ones (callers filter for views)."""
    return await Resolver().effective(token)


def token_document(token: Token, effective: dict[str, Any], schema: TypeSchema) -> dict[str, Any]:
    """What the content hash covers (and what verification recomputes): the public values, and
    for each private or owner-readable attribute only its salted commitment (models/commitments.py).

    A token without such attributes has no `commitments` member, so its hash is what it was
    before commitments existed."""
    salts = token.salts or {}
    public: dict[str, Any] = {}
    committed: dict[str, str] = {}
    for name, value in effective.items():
        definition = schema.definitions.get(name)
        if definition is not None and is_hidden(definition):
            committed[name] = commitment(salt_for(salts, name), name, value)
        else:
            public[name] = value
    document: dict[str, Any] = {
        "id": token.id,
        "type": token.type_id,
        "owner": token.owner_id,
        "version": token.version,
        "attributes": public,
    }
    if committed:
        document["commitments"] = committed
    return document


async def hashed_document(token: Token, resolver: Resolver | None = None) -> dict[str, Any]:
    """The document the token's content hash covers, resolving its values and schema."""
    resolver = resolver or Resolver()
    effective = await resolver.effective(token)
    return token_document(token, effective, await resolver.schema(token.type_id))


def _rotate_salts(token: Token, schema: TypeSchema, before: dict[str, Any], after: dict[str, Any]) -> None:
    """A fresh random salt for each private value that changed (or is new): an old disclosure
    cannot open the new commitment, and equal values at two moments do not look equal."""
    salts = dict(token.salts or {})
    for name, definition in schema.definitions.items():
        if is_hidden(definition) and (name not in before or before.get(name) != after.get(name)):
            salts[name] = new_salt()
    for name in [name for name in salts if name != SEED_KEY and name not in schema.definitions]:
        del salts[name]  # a definition that went away: its salt guards nothing any more
    token.salts = salts


async def get_visible_token(ctx: Context, token_id: str) -> Token:
    """A live token (tokens are public); 404 token-not-found otherwise."""
    token = await Token.get_or_none(id=token_id, is_deleted=False).select_related("owner")
    if token is None:
        raise NotFound(f"there is no token with id {token_id!r}", code="token-not-found")
    return token


async def check_token_if_match(ctx: Context, token: Token) -> None:
    """If-Match on a token: its version, or the checksum a verification answer gave (its content hash)."""
    checksum = None
    if ctx.if_match is not None and "sha256:" in ctx.if_match:
        checksum = content_hash(await hashed_document(token))
    ctx.check_version(token.version, "token", checksum)


def _is_owner(ctx: Context, token: Token) -> bool:
    return ctx.system or (ctx.actor is not None and ctx.actor.id == token.owner_id)


def require_token_owner(ctx: Context, token: Token) -> None:
    if not ctx.system:
        ctx.require_actor()
    if not _is_owner(ctx, token):
        raise Forbidden("only the owner of this token may change it", code="not-owner")


class TokenOut(Output):
    """A token (token_view): private attribute values only in its owner's view."""

    id: str
    type: str = Field(description="the token type's id")
    owner: ActorOut
    parent: str | None
    attributes: dict[str, Any] = Field(description="effective values, inherited ones included")
    own_attributes: dict[str, Any]
    shareable: bool
    version: int
    commitments: dict[str, str] = Field(description="per private attribute, the salted commitment")
    content_hash: str
    created_at: Timestamp
    updated_at: Timestamp


class DisclosureOut(Output):
    attribute: str
    value: Any
    salt: str
    commitment: str
    disclosure: str


class DisclosuresOut(Output):
    token: str
    version: int
    content_hash: str
    disclosures: list[DisclosureOut]


async def token_view(token: Token, ctx: Context, resolver: Resolver | None = None) -> dict[str, Any]:
    """The JSON of a token; private attributes are left out unless the caller owns it."""
    resolver = resolver or Resolver()
    effective = await resolver.effective(token)
    schema = await resolver.schema(token.type_id)
    owner = token.owner
    if not isinstance(owner, Actor):
        owner = await Actor.get(id=token.owner_id)
    hidden = set() if _is_owner(ctx, token) else {n for n, d in schema.definitions.items() if is_hidden(d)}
    document = token_document(token, effective, schema)
    return {
        "id": token.id,
        "type": token.type_id,
        "owner": actor_view(owner, ctx.site),
        "parent": token.parent_id,
        "attributes": {name: value for name, value in effective.items() if name not in hidden},
        "own_attributes": {name: value for name, value in (token.attributes or {}).items() if name not in hidden},
        "shareable": token.shareable,
        "version": token.version,
        "commitments": document.get("commitments", {}),
        "content_hash": content_hash(document),
        "created_at": iso(token.created_at),
        "updated_at": iso(token.updated_at),
    }


def _check_values(
    schema: TypeSchema, values: dict[str, Any], current: dict[str, Any], max_string: int, deadline: float
) -> tuple[dict[str, Any], list[dict[str, Any]], list[tuple[str, str]]]:
    """Normalized values, errors and token references; OutOfTime past the deadline."""
    errors: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    references: list[tuple[str, str]] = []  # (attribute, token id)
    for name, value in values.items():
        if time.monotonic() > deadline:
            raise OutOfTime
        field = f"attributes.{name}"
        definition = schema.definitions.get(name)
        if definition is None:
            if value is None and name in current:  # a value left over from a removed definition
                result[name] = None
            else:
                message = "is not an attribute of this token's type"
                errors.append({"field": field, "message": message, "type": "unknown"})
            continue
        if definition.type == "script":
            raise Unprocessable(
                f"{name!r} is a script attribute; it cannot be set through the API", code="script-attribute-forbidden"
            )
        if value is None:
            result[name] = None
            continue
        try:
            result[name] = validate_value(definition, value, max_string)
        except MediaUploadRequired:
            raise Unprocessable(
                f"{name!r} is a media attribute: upload the file with POST /api/v1/tokens/{{id}}/media/{name}",
                code="media-upload-required",
            ) from None
        except ValueError as error:
            errors.append({"field": field, "message": str(error), "type": definition.type})
            continue
        if definition.type == "token":
            references.append((name, result[name]))
    return result, errors, references


async def _validated(
    ctx: Context, schema: TypeSchema, values: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """Normalize submitted values; None means "remove the own value". One 400 lists every error.
    Values checked against a type's pattern are checked off the event loop when long
    (models/patterns.py): a pattern may cost ~50 ms on a 10,000-character value."""
    patterned = sum(
        len(value) for name, value in values.items()
        if isinstance(value, str) and (definition := schema.definitions.get(name)) is not None and definition.regex
    )
    check = functools.partial(_check_values, schema, values, current, ctx.site.limits.max_string_length)
    result, errors, references = await run_bounded(
        check, patterned, "the values against the type's patterns", "send shorter values, or ask the type's owner "
        "for a simpler pattern", code="pattern-too-slow",
    )
    if references:
        wanted = list({token_id for _, token_id in references})
        live = set(await column(Token.filter(id__in=wanted, is_deleted=False).values_list("id", flat=True), str))
        errors += [
            {"field": f"attributes.{name}", "message": f"there is no token with id {token_id!r}", "type": "token"}
            for name, token_id in references
            if token_id not in live
        ]
    if errors:
        summary = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5])
        raise BadInput(f"some attribute values are not valid: {summary}", code="invalid-attributes", errors=errors)
    return result


def _require_values(schema: TypeSchema, effective: dict[str, Any]) -> None:
    missing = [
        name
        for name, definition in schema.definitions.items()
        if not definition.nullable and effective.get(name) is None and definition.type not in ("media", "script")
    ]
    if missing:
        message = "is required: it is not nullable and inherits no value"
        errors = [{"field": f"attributes.{name}", "message": message, "type": "missing"} for name in missing]
        raise BadInput(f"attribute {missing[0]!r} needs a value", code="invalid-attributes", errors=errors)


async def save_token_change(
    ctx: Context, token: Token, attributes: dict[str, Any], shareable: bool, resolver: Resolver
) -> Token:
    """Write new own values with version + 1 and a fresh hash, only if nobody wrote first."""
    schema = await resolver.schema(token.type_id)
    before = dict(await resolver.effective(token))
    old_version = token.version
    token.attributes, token.shareable, token.version = attributes, shareable, old_version + 1
    resolver.forget(token.id)
    effective = await resolver.effective(token)
    _require_values(schema, effective)
    _rotate_salts(token, schema, before, effective)
    token.content_hash = content_hash(token_document(token, effective, schema))
    token.updated_at = datetime.now(timezone.utc)
    updated = await Token.filter(id=token.id, version=old_version, is_deleted=False).update(
        attributes=attributes,
        shareable=shareable,
        version=token.version,
        content_hash=token.content_hash,
        salts=token.salts,
        updated_at=token.updated_at,
    )
    if not updated:
        current = await Token.get_or_none(id=token.id, is_deleted=False)
        if current is None:
            raise NotFound(f"there is no token with id {token.id!r}", code="token-not-found")
        raise Conflict(
            "the token changed while this update ran; read it again and retry",
            code="version-mismatch",
            extra={"current_version": current.version},
        )
    return token


class TokenCreateInput(TextInput):
    type: str = ID
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=1000)
    parent: str | None = Field(None, min_length=1, max_length=64, description="a token to inherit values from")
    shareable: StrictBool = False


class TokenUpdateInput(TextInput):
    id: str = ID
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=1000, description="null removes a value")
    shareable: StrictBool | None = None


class TokenIdInput(TextInput):
    id: str = ID


class TokenListInput(ListInput, TextInput):
    type: str | None = Field(None, max_length=64)
    owner: str | None = Field(None, max_length=300, description="username, or user@host for a remote owner")


async def _parent_depth(parent: Token) -> int:
    depth, current = 1, parent.parent_id
    while current and depth <= MAX_PARENT_DEPTH:
        depth += 1
        row = await Token.get_or_none(id=current)
        current = row.parent_id if row else None
    return depth


@REGISTRY.operation("tokens.create", TokenCreateInput, output=TokenOut)
async def create_token(ctx: Context, params: TokenCreateInput) -> dict[str, Any]:
    """Create a token of a type you own; it is owned by you until you give it away."""
    actor = ctx.require_actor()
    token_type = await get_type(params.type)
    if token_type.owner_id != actor.id:
        # Using another owner's type needs their consent (contracts, a later feature).
        raise Forbidden("only the owner of a token type can create tokens of it", code="not-owner")
    resolver = Resolver()
    schema = await resolver.schema(token_type.id)
    parent: Token | None = None
    if params.parent is not None:
        parent = await get_visible_token(ctx, params.parent)
        if parent.owner_id != actor.id and not parent.shareable:
            raise Forbidden(
                "the parent token belongs to someone else and is not shareable", code="parent-not-shareable"
            )
        if await _parent_depth(parent) >= MAX_PARENT_DEPTH:
            raise Unprocessable(
                f"parent chains may be at most {MAX_PARENT_DEPTH} tokens long", code="parent-chain-too-deep"
            )
    given = await _validated(ctx, schema, params.attributes, {})
    token, _ = await mint_token(ctx, token_type, actor, given, resolver, parent=parent, shareable=params.shareable)
    return await token_view(token, ctx, resolver)


async def check_token_values(ctx: Context, token_type: TokenType, values: dict[str, Any]) -> dict[str, Any]:
    """The values a new token of the type would get, checked as tokens.create checks them (400
    listing every error): a pool's template is checked once, when the pool is made."""
    resolver = Resolver()
    schema = await resolver.schema(token_type.id)
    given = await _validated(ctx, schema, values, {})
    own = {name: value for name, value in given.items() if value is not None}
    probe = Token(id=new_id(), type=token_type, owner_id="", attributes=own)
    _require_values(schema, await resolver.effective(probe))
    return own


async def mint_token(
    ctx: Context, token_type: TokenType, owner: Actor, values: dict[str, Any], resolver: Resolver, *,
    parent: Token | None = None, shareable: bool = False, description: str = "",
) -> tuple[Token, dict[str, Any]]:
    """Make a token owned by `owner` from checked values (ctx's actor writes it) and, for a unique
    type, its create entry (one unit, within the supply limit): the token and that entry's view
    (empty for a fungible type). tokens.create and pools (models/operations/pools.py) mint here."""
    schema = await resolver.schema(token_type.id)
    own = {name: value for name, value in values.items() if value is not None}  # null on create: not set
    token = Token(id=new_id(), type=token_type, owner=owner, parent=parent, attributes=own, shareable=shareable)
    effective = await resolver.effective(token)
    _require_values(schema, effective)
    _rotate_salts(token, schema, {}, effective)
    token.content_hash = content_hash(token_document(token, effective, schema))
    await token.save(force_create=True)
    await ctx.emit(
        "token.created", "token", token.id,
        {"type": token_type.id, "owner": owner.id, "version": token.version, "content_hash": token.content_hash},
    )
    entry: dict[str, Any] = {}
    if not token_type.fungible:  # a unique token is one unit in the ledger, held by its owner
        await charge_mint(ctx, token_type, unit(token_type))  # a derived type: its contracts allow it
        await reserve_supply(token_type, unit(token_type))
        entry = await record_entry(ctx, EntryKind.CREATE, token_type, unit(token_type), owner, [], description, token)
    return token, entry


async def transfer_token(ctx: Context, token: Token, new_owner: Actor) -> None:
    """Make `new_owner` the owner (version + 1, fresh hash); 409 if the token changed meanwhile."""
    old_version = token.version
    token.owner, token.version = new_owner, old_version + 1
    token.content_hash = content_hash(await hashed_document(token))
    token.updated_at = datetime.now(timezone.utc)
    updated = await Token.filter(id=token.id, version=old_version, is_deleted=False).update(
        owner_id=new_owner.id, version=token.version, content_hash=token.content_hash, updated_at=token.updated_at
    )
    if not updated:
        raise Conflict("the token changed while it was being given; try again", code="version-mismatch")
    await ctx.emit(
        "token.updated", "token", token.id,
        {"owner": new_owner.id, "version": token.version, "content_hash": token.content_hash},
    )


@REGISTRY.operation("tokens.get", TokenIdInput, output=TokenOut, access=Access.PUBLIC)
async def read_token(ctx: Context, params: TokenIdInput) -> dict[str, Any]:
    """A token with its effective attribute values."""
    return await token_view(await get_visible_token(ctx, params.id), ctx)


class DisclosuresInput(TextInput):
    id: str = ID
    attribute: str | None = Field(None, pattern=NAME_PATTERN, description="one private attribute; all when left out")


async def token_disclosures(ctx: Context, token: Token, attribute: str | None = None) -> dict[str, Any]:
    """The disclosures of the token's private values (the caller checked ownership)."""
    resolver = Resolver()
    effective = await resolver.effective(token)
    schema = await resolver.schema(token.type_id)
    names = [name for name, definition in schema.definitions.items() if is_hidden(definition)]
    if attribute is not None:
        if attribute not in names:
            raise NotFound(
                f"tokens of this type have no private attribute {attribute!r}", code="attribute-not-private"
            )
        names = [attribute]
    salts = token.salts or {}
    document = token_document(token, effective, schema)
    items = []
    for name in names:
        salt = salt_for(salts, name)
        items.append({
            "attribute": name,
            "value": effective.get(name),
            "salt": salt,
            "commitment": commitment(salt, name, effective.get(name)),
            "disclosure": disclosure(salt, name, effective.get(name)),
        })
    return {"token": token.id, "version": token.version, "content_hash": content_hash(document), "disclosures": items}


@REGISTRY.operation("tokens.disclosures", DisclosuresInput, output=DisclosuresOut, access=Access.USER)
async def read_disclosures(ctx: Context, params: DisclosuresInput) -> dict[str, Any]:
    """Your token's private values with their salts, to hand a copy holder (owner only).

    A holder checks a disclosure offline: base64url(SHA-256(base64url-decoded disclosure)) must
    equal the token's `commitments[attribute]`, which its content hash covers; or asks the
    origin with POST /api/v1/verify {"token", "disclosure"}."""
    token = await get_visible_token(ctx, params.id)
    if not _is_owner(ctx, token):  # 404, not 403: others may not learn which secrets exist
        raise NotFound(f"you have no token with id {params.id!r}", code="token-not-found")
    return await token_disclosures(ctx, token, params.attribute)


@REGISTRY.operation("tokens.list", TokenListInput, output=Paged[TokenOut], access=Access.PUBLIC)
async def list_tokens(ctx: Context, params: TokenListInput) -> Any:
    """Tokens, newest first; filter by type and owner username."""
    query = Token.filter(is_deleted=False)
    if params.type:
        query = query.filter(type_id=params.type)
    if params.owner:
        query = query.filter(**owner_filter(params.owner, ctx.site.domain))
    page = await paginate(query.select_related("owner"), params)
    resolver = Resolver()
    page.items = [await token_view(token, ctx, resolver) for token in page.items]
    return page


@REGISTRY.operation("tokens.update", TokenUpdateInput, output=TokenOut)
async def update_token(ctx: Context, params: TokenUpdateInput) -> dict[str, Any]:
    """Change a token's values (null falls back to inheritance) or shareability (owner only)."""
    token = await get_visible_token(ctx, params.id)
    require_token_owner(ctx, token)
    await check_token_if_match(ctx, token)
    resolver = Resolver()
    if not params.attributes and params.shareable is None:
        return await token_view(token, ctx, resolver)
    await apply_token_update(ctx, token, params.attributes, params.shareable, resolver)
    return await token_view(token, ctx, resolver)


async def merged_own_values(
    ctx: Context, token: Token, attributes: dict[str, Any], resolver: Resolver
) -> dict[str, Any]:
    """The token's own values with `attributes` applied, validated against its type (400 otherwise)."""
    schema = await resolver.schema(token.type_id)
    own = dict(token.attributes or {})
    for name, value in (await _validated(ctx, schema, attributes, own)).items():
        if value is None:
            own.pop(name, None)
        else:
            own[name] = value
    return own


async def apply_token_update(
    ctx: Context,
    token: Token,
    attributes: dict[str, Any],
    shareable: bool | None,
    resolver: Resolver,
    event_extra: dict[str, Any] | None = None,
) -> Token:
    """Validate, save and announce a change; owners' updates, agents' reports and moderators' edits
    all go through here. The changed values, before and after, are kept for moderators' feeds."""
    own = await merged_own_values(ctx, token, attributes, resolver)
    before = dict(await resolver.effective(token))
    await save_token_change(ctx, token, own, token.shareable if shareable is None else shareable, resolver)
    after = await resolver.effective(token)
    values = {name: [before.get(name), after.get(name)] for name in sorted(attributes) if before.get(name) != after.get(name)}
    if values:
        await AttributeChange.create(
            token_id=token.id, type_id=token.type_id, changed_by_id=_changed_by(ctx, event_extra),
            version=token.version, values=values,
        )
    changed = sorted([*attributes, *(["shareable"] if shareable is not None else [])])
    await ctx.emit(
        "token.updated", "token", token.id,
        {"version": token.version, "content_hash": token.content_hash, "fields": changed, **(event_extra or {})},
    )
    return token


def _changed_by(ctx: Context, event_extra: dict[str, Any] | None) -> str | None:
    """Who made a change: the moderator or agent named in the event, else the caller."""
    extra = event_extra or {}
    return extra.get("moderator") or extra.get("agent") or (ctx.actor.id if ctx.actor else None)


@REGISTRY.operation("tokens.delete", TokenIdInput, output=None)
async def delete_token(ctx: Context, params: TokenIdInput) -> None:
    """Soft-delete a token (owner only); it is gone from reads afterwards."""
    token = await get_visible_token(ctx, params.id)
    require_token_owner(ctx, token)
    await check_token_if_match(ctx, token)
    version = token.version + 1
    updated = await Token.filter(id=token.id, version=token.version, is_deleted=False).update(
        is_deleted=True, version=version, updated_at=datetime.now(timezone.utc)
    )
    if not updated:
        raise Conflict("the token changed while it was being deleted; try again", code="version-mismatch")
    await ctx.emit("token.deleted", "token", token.id, {"version": version})
    token_type = await TokenType.get(id=token.type_id)
    if not token_type.fungible:  # deleting a unique token burns its unit
        spent = await spend_token_unit(ctx.require_actor(), token)
        await record_entry(ctx, EntryKind.BURN, token_type, unit(token_type), None, spent, "token deleted", token)
