"""Moderators and admins' changes of ownership (issue 19, item 6): models/moderation.py says what
the tables hold.

Dominion and visibility: a token outside every live assignment of the caller is not theirs to
see as a moderator (404 not-under-dominion, as DESIGN.md asks for what a caller may not see);
one inside it that the assignment does not let them edit is 403 (not-moderator, or
attribute-not-permitted for an attribute the assignment does not name).

A moderator's edit is a token update in the owner's name (apply_token_update with the owner as
the context's actor, as an agent's report is): it is the same `token.updated` event and the same
federated Update the owner's followers receive, naming the moderator in its payload.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, model_validator
from tortoise.expressions import Q, Subquery

from ..actors import Actor, Role, User
from ..attributes import NAME_PATTERN, TextInput, is_hidden
from ..base import column, iso
from ..context import Context
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..ledger import EntryKind
from ..market import ESCROW_KIND
from ..moderation import ActionKind, AttributeChange, ModerationAction, ModeratorAssignment
from ..outputs import ActorOut, Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access
from ..sets import SetMember, TokenSet
from ..tokens import Token, TokenType, TypeParent
from ..views import actor_view
from .entries import record_entry, spend_token_unit, unit
from .sets import get_visible_set
from .tokens import Resolver, apply_token_update, check_token_if_match, get_visible_token, transfer_token
from .types import get_type

__all__ = ["covering_assignments", "descendant_types"]

ID = Field(min_length=1, max_length=64)
REASON = Field(min_length=1, max_length=500, description="why: kept in the audit log the owner sees")
MAX_DESCENDANT_TYPES = 10_000  # a type's dominion stops growing here (breadth-first)
MAX_ASSIGNMENTS_READ = 200  # a moderator's live assignments considered for a feed or an edit


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def descendant_types(type_id: str) -> set[str]:
    """The type and every type deriving from it (TypeParent child links), breadth-first, bounded."""
    found, frontier = {type_id}, [type_id]
    while frontier and len(found) < MAX_DESCENDANT_TYPES:
        children = await column(TypeParent.filter(parent_id__in=frontier).values_list("child_id", flat=True), str)
        frontier = [child for child in children if child not in found]
        found.update(frontier)
    return found


async def _live_assignments(actor: Actor) -> list[ModeratorAssignment]:
    query = ModeratorAssignment.filter(moderator_id=actor.id, revoked_at=None)
    return await query.order_by("id").limit(MAX_ASSIGNMENTS_READ)


async def covering_assignments(actor: Actor, token: Token) -> list[ModeratorAssignment]:
    """The caller's live assignments whose dominion holds the token."""
    covering = []
    for assignment in await _live_assignments(actor):
        if assignment.type_id is not None and token.type_id in await descendant_types(assignment.type_id):
            covering.append(assignment)
        elif assignment.set_id is not None and await SetMember.filter(set_id=assignment.set_id, token_id=token.id).exists():
            covering.append(assignment)
    return covering


def _seen_names(assignment: ModeratorAssignment, hidden: set[str], names: list[str]) -> list[str]:
    """What the assignment lets its moderator see of `names`: private values only when named."""
    return [name for name in names if (name in assignment.attributes) or (not assignment.attributes and name not in hidden)]


# --- outputs ---------------------------------------------------------------------------------


class ModeratorAssignmentOut(Output):
    id: str
    moderator: ActorOut
    type: str | None = Field(description="a token type: its tokens and those of every type deriving from it")
    set: str | None = Field(description="a set: its tokens")
    attributes: list[str] = Field(description="the attributes covered; empty: all (private ones only when named)")
    can_edit: bool
    set_up_by: str | None = Field(description="handle of who set it up")
    by_admin: bool
    revoked_at: Timestamp
    revoked_by: str | None
    created_at: Timestamp


class ValueBeforeAfterOut(Output):
    before: Any
    after: Any


class AttributeChangeOut(Output):
    """One token update's changed values the moderator may see."""

    id: str
    token: str
    type: str
    changed_by: str | None = Field(description="handle of who changed it")
    version: int
    values: dict[str, ValueBeforeAfterOut]
    created_at: Timestamp


class ModerationActionOut(Output):
    """An entry of the audit log."""

    id: str
    kind: str = Field(description="edit (a moderator's) or owner (an admin's change of ownership)")
    object_type: str
    object_id: str
    actor: str | None = Field(description="handle of the moderator or admin")
    owner: str | None = Field(description="handle of the owner (before an ownership change)")
    new_owner: str | None
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    created_at: Timestamp


def _handle(actor: Actor | None, ctx: Context) -> str | None:
    return actor.handle(ctx.site.domain) if actor is not None else None


def assignment_view(assignment: ModeratorAssignment, ctx: Context) -> dict[str, Any]:
    return {
        "id": assignment.id,
        "moderator": actor_view(assignment.moderator, ctx.site),
        "type": assignment.type_id,
        "set": assignment.set_id,
        "attributes": list(assignment.attributes or []),
        "can_edit": assignment.can_edit,
        "set_up_by": _handle(assignment.set_up_by, ctx),
        "by_admin": assignment.by_admin,
        "revoked_at": iso(assignment.revoked_at),
        "revoked_by": _handle(assignment.revoked_by, ctx),
        "created_at": iso(assignment.created_at),
    }


def action_view(action: ModerationAction, ctx: Context) -> dict[str, Any]:
    return {
        "id": action.id,
        "kind": action.kind,
        "object_type": action.object_type,
        "object_id": action.object_id,
        "actor": _handle(action.actor, ctx),
        "owner": _handle(action.owner, ctx),
        "new_owner": _handle(action.new_owner, ctx),
        "reason": action.reason,
        "before": action.before,
        "after": action.after,
        "created_at": iso(action.created_at),
    }


_ASSIGNMENT_RELATED = ("moderator", "set_up_by", "revoked_by")
_ACTION_RELATED = ("actor", "owner", "new_owner")


# --- assignments -----------------------------------------------------------------------------


class AssignmentCreateInput(TextInput):
    moderator: str = Field(min_length=1, max_length=64, description="the local user who moderates")
    type: str | None = Field(None, min_length=1, max_length=64, description="a type: it and its descendant types")
    set: str | None = Field(None, min_length=1, max_length=64, description="a set: its tokens")
    attributes: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list, max_length=100, description="empty: every attribute"
    )
    can_edit: StrictBool = False

    @model_validator(mode="after")
    def _one_dominion(self) -> AssignmentCreateInput:
        if (self.type is None) == (self.set is None):
            raise ValueError("name exactly one of type and set")
        return self


class AssignmentIdInput(TextInput):
    id: str = ID


class AssignmentListInput(ListInput, TextInput):
    role: Literal["moderator", "set_up", "all"] = Field(
        "moderator", description="moderator: yours; set_up: those you set up; all: every one (admins)"
    )
    include_revoked: StrictBool = False


async def _moderator(username: str) -> Actor:
    user = await User.get_or_none(username=username.lower()).select_related("actor")
    if user is None:
        raise NotFound(f"there is no user named {username!r} here", code="user-not-found")
    return user.actor


@REGISTRY.operation("moderation.assignments.create", AssignmentCreateInput, output=ModeratorAssignmentOut)
async def create_assignment(ctx: Context, params: AssignmentCreateInput) -> dict[str, Any]:
    """Make a user a moderator of a type (and its descendants) or a set: an admin, or the owner."""
    actor = ctx.require_actor()
    owner_id: str
    if params.type is not None:
        token_type = await get_type(params.type)
        owner_id = token_type.owner_id
        known = {name for name in (await Resolver().schema(token_type.id)).definitions}
        unknown = [name for name in params.attributes if name not in known]
        if unknown:
            raise BadInput(
                f"tokens of this type have no attribute {unknown[0]!r}", code="invalid-attributes",
                errors=[{"field": "attributes", "message": f"{name!r} is not an attribute of the type", "type": "unknown"} for name in unknown],
            )
    else:
        assert params.set is not None
        owner_id = (await get_visible_set(params.set)).owner_id
    admin = ctx.has_role(Role.ADMIN)
    if owner_id != actor.id and not admin:
        raise Forbidden("only the owner or an admin may set up moderators of this", code="not-owner")
    moderator = await _moderator(params.moderator)
    assignment = await ModeratorAssignment.create(
        moderator=moderator, type_id=params.type, set_id=params.set, attributes=sorted(set(params.attributes)),
        can_edit=params.can_edit, set_up_by=actor, by_admin=owner_id != actor.id,
    )
    await ctx.emit("moderation.assignment.created", "moderator_assignment", assignment.id, _assignment_payload(assignment))
    await assignment.fetch_related(*_ASSIGNMENT_RELATED)
    return assignment_view(assignment, ctx)


def _assignment_payload(assignment: ModeratorAssignment) -> dict[str, Any]:
    return {
        "moderator": assignment.moderator_id, "type": assignment.type_id, "set": assignment.set_id,
        "attributes": list(assignment.attributes or []), "can_edit": assignment.can_edit,
    }


@REGISTRY.operation("moderation.assignments.list", AssignmentListInput, output=Paged[ModeratorAssignmentOut], access=Access.USER)
async def list_assignments(ctx: Context, params: AssignmentListInput) -> Any:
    """Your moderator assignments, those you set up, or (admins) every one; newest first."""
    actor = ctx.require_actor()
    query = ModeratorAssignment.all()
    if params.role == "moderator":
        query = query.filter(moderator_id=actor.id)
    elif params.role == "set_up":
        query = query.filter(set_up_by_id=actor.id)
    else:
        ctx.require_role(Role.ADMIN)
    if not params.include_revoked:
        query = query.filter(revoked_at=None)
    page = await paginate(query.select_related(*_ASSIGNMENT_RELATED), params)
    return page.map(lambda assignment: assignment_view(assignment, ctx))


@REGISTRY.operation("moderation.assignments.revoke", AssignmentIdInput, output=ModeratorAssignmentOut)
async def revoke_assignment(ctx: Context, params: AssignmentIdInput) -> dict[str, Any]:
    """End an assignment: who set it up, or an admin (the moderator may also give it up)."""
    actor = ctx.require_actor()
    assignment = await ModeratorAssignment.get_or_none(id=params.id).select_related(*_ASSIGNMENT_RELATED)
    allowed = assignment is not None and (
        ctx.has_role(Role.ADMIN) or actor.id in (assignment.set_up_by_id, assignment.moderator_id)
    )
    if assignment is None or not allowed:
        raise NotFound(f"there is no assignment with id {params.id!r} you set up", code="assignment-not-found")
    if assignment.revoked_at is not None:
        raise Conflict("this assignment is already revoked", code="already-revoked")
    assignment.revoked_at, assignment.revoked_by = _now(), actor
    await assignment.save(update_fields=["revoked_at", "revoked_by_id", "updated_at"])
    await ctx.emit("moderation.assignment.revoked", "moderator_assignment", assignment.id, _assignment_payload(assignment))
    return assignment_view(assignment, ctx)


# --- the feed --------------------------------------------------------------------------------


class FeedInput(ListInput, TextInput):
    token: str | None = Field(None, min_length=1, max_length=64, description="only this token's changes")


@REGISTRY.operation("moderation.feed", FeedInput, output=Paged[AttributeChangeOut], access=Access.USER)
async def feed(ctx: Context, params: FeedInput) -> Any:
    """Changed attribute values under your dominion, newest first (the values your assignments cover)."""
    actor = ctx.require_actor()
    assignments = await _live_assignments(actor)
    by_type: dict[str, list[ModeratorAssignment]] = {}
    for assignment in assignments:
        if assignment.type_id is not None:
            for type_id in await descendant_types(assignment.type_id):
                by_type.setdefault(type_id, []).append(assignment)
    set_ids = [assignment.set_id for assignment in assignments if assignment.set_id is not None]
    condition = Q(type_id__in=list(by_type))
    if set_ids:
        condition |= Q(token_id__in=Subquery(SetMember.filter(set_id__in=set_ids).values("token_id")))
    query = AttributeChange.filter(condition) if assignments else AttributeChange.filter(id="")
    if params.token:
        query = query.filter(token_id=params.token)
    page = await paginate(query.select_related("changed_by"), params)
    resolver, items = Resolver(), []
    for change in page.items:
        covering = list(by_type.get(change.type_id, []))
        if set_ids:
            in_sets = SetMember.filter(set_id__in=set_ids, token_id=change.token_id).values_list("set_id", flat=True)
            members = set(await column(in_sets, str))
            covering += [a for a in assignments if a.set_id in members]
        schema = await resolver.schema(change.type_id)
        hidden = {name for name, definition in schema.definitions.items() if is_hidden(definition)}
        names = list(change.values)
        seen = {name for assignment in covering for name in _seen_names(assignment, hidden, names)}
        items.append({
            "id": change.id, "token": change.token_id, "type": change.type_id,
            "changed_by": _handle(change.changed_by, ctx), "version": change.version,
            "values": {name: {"before": value[0], "after": value[1]} for name, value in change.values.items() if name in seen},
            "created_at": iso(change.created_at),
        })
    page.items = items
    return page


# --- edits -----------------------------------------------------------------------------------


class EditInput(TextInput):
    token: str = ID
    attributes: dict[str, Any] = Field(min_length=1, max_length=1000, description="null removes the token's own value")
    reason: str = REASON


class ModeratorEditOut(Output):
    token: str
    version: int
    action: ModerationActionOut


@REGISTRY.operation("moderation.tokens.edit", EditInput, output=ModeratorEditOut)
async def edit_token(ctx: Context, params: EditInput) -> dict[str, Any]:
    """Edit a token's values as its moderator, with a reason (audited, and federated like the owner's update)."""
    actor = ctx.require_actor()
    token = await get_visible_token(ctx, params.token)
    covering = await covering_assignments(actor, token)
    if not covering:
        raise NotFound(f"token {params.token!r} is not under your dominion", code="not-under-dominion")
    editing = [assignment for assignment in covering if assignment.can_edit]
    if not editing:
        raise Forbidden("your assignment lets you see this token's values, not edit them", code="not-moderator")
    names = sorted(params.attributes)
    permitted = next((a for a in editing if all(a.covers(name) for name in names)), None)
    if permitted is None:
        outside = [name for name in names if not any(a.covers(name) for a in editing)]
        raise Forbidden(
            f"your assignment does not cover the attribute {(outside or names)[0]!r}", code="attribute-not-permitted",
        )
    if token.owner.domain:  # its owner's server keeps its values now
        raise Unprocessable("this token's owner is on another server; it is edited there", code="remote-owner")
    await check_token_if_match(ctx, token)
    resolver = Resolver()
    before = dict(await resolver.effective(token))
    on_behalf = dataclasses.replace(ctx, actor=token.owner)  # the owner's update, as an agent's report is
    await apply_token_update(
        on_behalf, token, params.attributes, None, resolver,
        {"moderator": actor.id, "moderator_handle": actor.handle(ctx.site.domain)},
    )
    after = await resolver.effective(token)
    action = await ModerationAction.create(
        actor=actor, kind=ActionKind.EDIT.value, object_type="token", object_id=token.id, owner_id=token.owner_id,
        assignment=permitted, reason=params.reason,
        before={name: before.get(name) for name in names}, after={name: after.get(name) for name in names},
    )
    await ctx.emit("moderation.token_edited", "token", token.id, {
        "moderator": actor.id, "owner": token.owner_id, "fields": names, "version": token.version, "reason": params.reason,
    })
    await action.fetch_related(*_ACTION_RELATED)
    return {"token": token.id, "version": token.version, "action": action_view(action, ctx)}


# --- the audit log ---------------------------------------------------------------------------


class AuditInput(ListInput, TextInput):
    role: Literal["owner", "actor", "all"] = Field(
        "owner", description="owner: about your things; actor: what you did; all: every entry (admins)"
    )
    object: str | None = Field(None, min_length=1, max_length=64, description="only this token, type or set")


@REGISTRY.operation("moderation.audit", AuditInput, output=Paged[ModerationActionOut], access=Access.USER)
async def audit(ctx: Context, params: AuditInput) -> Any:
    """The audit log: moderators' edits and admins' changes of ownership, newest first."""
    actor = ctx.require_actor()
    query = ModerationAction.all()
    if params.role == "owner":
        query = query.filter(Q(owner_id=actor.id) | Q(new_owner_id=actor.id))
    elif params.role == "actor":
        query = query.filter(actor_id=actor.id)
    else:
        ctx.require_role(Role.ADMIN)
    if params.object:
        query = query.filter(object_id=params.object)
    page = await paginate(query.select_related(*_ACTION_RELATED), params)
    return page.map(lambda action: action_view(action, ctx))


# --- admin: change of ownership --------------------------------------------------------------


class OwnershipInput(TextInput):
    object_type: Literal["token", "type", "set"]
    id: str = ID
    owner: str = Field(min_length=1, max_length=64, description="the local user who will own it")
    reason: str = REASON


@REGISTRY.operation("admin.ownership.change", OwnershipInput, output=ModerationActionOut, role=Role.ADMIN)
async def change_ownership(ctx: Context, params: OwnershipInput) -> dict[str, Any]:
    """Give a token, type or set to another local user (admin), with a reason kept in the audit log.

    A unique token's ownership is its unit on the ledger: the change is a give entry from the old
    owner to the new one (as a market escrow hands a token over), so balances stay the sum of
    unspent outputs. A type's or set's change is their normal `*.updated` event."""
    admin = ctx.require_actor()
    new_owner = await _moderator(params.owner)
    if params.object_type == "token":
        token = await get_visible_token(ctx, params.id)
        old_owner = token.owner
        await _refuse_same(old_owner, new_owner)
        if old_owner.kind == ESCROW_KIND:
            raise Conflict("this token is held in a market lot's escrow; close the lot first", code="token-in-escrow")
        if old_owner.domain:
            raise Unprocessable("this token's owner is on another server", code="remote-owner")
        ctx.check_version(token.version, "token")
        token_type = await TokenType.get(id=token.type_id)
        as_old = dataclasses.replace(ctx, actor=old_owner, user=None, remote=True)  # a give in the old owner's name
        description = f"ownership changed by an admin: {params.reason}"[:500]
        if not token_type.fungible:
            spent = await spend_token_unit(old_owner, token)
            await record_entry(as_old, EntryKind.GIVE, token_type, unit(token_type), new_owner, spent, description, token)
        await transfer_token(as_old, token, new_owner)
        before, after = {"owner": old_owner.id, "version": token.version - 1}, {"owner": new_owner.id, "version": token.version}
    elif params.object_type == "type":
        token_type = await get_type(params.id)
        old_owner = token_type.owner
        await _refuse_same(old_owner, new_owner)
        ctx.check_version(token_type.version, "type")
        version = token_type.version + 1
        updated = await TokenType.filter(id=token_type.id, version=token_type.version, is_deleted=False).update(
            owner_id=new_owner.id, version=version, updated_at=_now(),
        )
        if not updated:
            raise Conflict("the type changed while this ran; try again", code="version-mismatch")
        as_new = dataclasses.replace(ctx, actor=new_owner, user=None, remote=True)  # its owner publishes it
        await as_new.emit("type.updated", "type", token_type.id, {"fields": ["owner"], "version": version})
        before, after = {"owner": old_owner.id, "version": version - 1}, {"owner": new_owner.id, "version": version}
    else:
        token_set = await get_visible_set(params.id)
        old_owner = token_set.owner
        await _refuse_same(old_owner, new_owner)
        ctx.check_version(token_set.version, "set")
        if await TokenSet.filter(owner_id=new_owner.id, name=token_set.name).exists():
            raise Conflict(f"{params.owner!r} already has a set named {token_set.name!r}", code="set-name-taken")
        if token_set.parent_id is not None or await TokenSet.filter(parent_id=token_set.id, is_deleted=False).exists():
            raise Unprocessable("a set inside another or with child sets moves with them only; "
                                "take it out of its parent and children first", code="set-nested")
        version = token_set.version + 1
        updated = await TokenSet.filter(id=token_set.id, version=token_set.version, is_deleted=False).update(
            owner_id=new_owner.id, version=version, updated_at=_now(),
        )
        if not updated:
            raise Conflict("the set changed while this ran; try again", code="version-mismatch")
        as_new = dataclasses.replace(ctx, actor=new_owner, user=None, remote=True)
        await as_new.emit("set.updated", "set", token_set.id, {"fields": ["owner"], "version": version})
        before, after = {"owner": old_owner.id, "version": version - 1}, {"owner": new_owner.id, "version": version}
    action = await ModerationAction.create(
        actor=admin, kind=ActionKind.OWNER.value, object_type=params.object_type, object_id=params.id,
        owner=old_owner, new_owner=new_owner, reason=params.reason, before=before, after=after,
    )
    await ctx.emit("admin.ownership_changed", params.object_type, params.id, {
        "object_type": params.object_type, "owner": old_owner.id, "new_owner": new_owner.id, "reason": params.reason,
    })
    await action.fetch_related(*_ACTION_RELATED)
    return action_view(action, ctx)


async def _refuse_same(old_owner: Actor, new_owner: Actor) -> None:
    if old_owner.id == new_owner.id:
        raise Unprocessable("it already belongs to that user", code="same-owner")
