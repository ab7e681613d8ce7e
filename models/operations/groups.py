"""User groups: an owner, admins who manage plain members, and members who read and leave.

The owner is kept on the group row only (never as a GroupMember row), so "nobody can remove
the owner" holds by construction: there is no membership to delete. Views still list the
owner first with the role "owner" so a client sees everyone in one list.

Who may do what (others, including site admins, do not see the group at all: 404):
- owner: everything; the only one who deletes the group, promotes or demotes admins, and
  hands ownership to a member (the previous owner stays on as an admin);
- admin: adds and removes plain members, edits the description;
- member: reads the group and its members, leaves.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from ..actors import GroupMember, GroupRole, User, UserGroup
from ..base import iso
from ..context import Context
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..paging import ListInput, paginate
from ..names import Name
from ..outputs import Output, Paged, Timestamp
from ..registry import REGISTRY, Access, Input
from .accounts import USERNAME, find_user

__all__ = ["OWNER", "caller_role"]

OWNER = "owner"  # the role a view shows for the owner; never stored in GroupMember.role
MAX_DESCRIPTION = 2000


def _check_username(value: str) -> str:
    value = value.lower()
    if not USERNAME.match(value):
        raise ValueError("is not a username (1-30 characters: letters, digits and underscore)")
    return value


class GroupIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


class CreateGroupInput(Input):
    name: Name = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=MAX_DESCRIPTION)


class UpdateGroupInput(GroupIdInput):
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    owner: str | None = Field(None, min_length=1, max_length=30)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        return None if value is None else _check_username(value)


class AddMemberInput(GroupIdInput):
    username: str = Field(min_length=1, max_length=30)
    role: GroupRole = GroupRole.MEMBER

    @field_validator("username")
    @classmethod
    def _valid_username(cls, value: str) -> str:
        return _check_username(value)


class MemberInput(GroupIdInput):
    username: str = Field(min_length=1, max_length=30)

    @field_validator("username")
    @classmethod
    def _valid_username(cls, value: str) -> str:
        return _check_username(value)


async def caller_role(user: User, group: UserGroup) -> str | None:
    """The user's role in the group: owner, admin or member; None when not in it."""
    if group.owner_id == user.id:
        return OWNER
    membership = await GroupMember.get_or_none(group_id=group.id, user_id=user.id)
    return membership.role if membership else None


async def _load(ctx: Context, group_id: str, *, lock: bool = False) -> tuple[UserGroup, str]:
    """The group and the caller's role in it; 404 for groups the caller is not part of."""
    user = ctx.require_user()
    query = UserGroup.filter(id=group_id)
    group = await (query.select_for_update() if lock else query).first()
    role = await caller_role(user, group) if group is not None else None
    if group is None or role is None:
        raise NotFound(f"there is no group with id {group_id!r} that you belong to", code="group-not-found")
    return group, role


def _require(role: str, allowed: tuple[str, ...], action: str) -> None:
    if role not in allowed:
        who = " or ".join(allowed)
        raise Forbidden(f"only the group's {who} may {action} (your role here is {role})", code="group-role-required")


class GroupOwnerOut(Output):
    username: str
    actor_id: str


class GroupMemberOut(Output):
    username: str
    role: str
    added_at: Timestamp


class GroupSummaryOut(Output):
    """A group in a list: without its members, with their count (the owner included)."""

    id: str
    name: str
    description: str
    owner: GroupOwnerOut
    my_role: str
    member_count: int
    created_at: Timestamp
    updated_at: Timestamp


class GroupOut(GroupSummaryOut):
    members: list[GroupMemberOut]


async def _view(group: UserGroup, role: str, *, members: bool = True) -> dict[str, Any]:
    owner = await User.get(id=group.owner_id)
    view: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "owner": {"username": owner.username, "actor_id": owner.actor_id},
        "my_role": role,
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
    }
    if members:
        rows = await GroupMember.filter(group_id=group.id).select_related("user").order_by("user__username")
        listed = [{"username": owner.username, "role": OWNER, "added_at": iso(group.created_at)}]
        listed += [{"username": row.user.username, "role": row.role, "added_at": iso(row.created_at)} for row in rows]
        view["members"] = listed
        view["member_count"] = len(listed)
    return view


async def _touch(group: UserGroup) -> None:
    """Membership changes are changes to the group: bump updated_at."""
    await group.save(update_fields=["updated_at"])


@REGISTRY.operation("groups.create", CreateGroupInput, output=GroupOut)
async def create_group(ctx: Context, params: CreateGroupInput) -> dict[str, Any]:
    """Create a group; the caller becomes its owner. Names are unique, ignoring case."""
    user = ctx.require_user()
    if await UserGroup.filter(name__iexact=params.name).exists():
        raise Conflict(f"a group named {params.name!r} already exists", code="group-name-taken")
    try:
        group = await UserGroup.create(owner=user, name=params.name, description=params.description)
    except IntegrityError:  # a concurrent create took the name between the check and the insert
        raise Conflict(f"a group named {params.name!r} already exists", code="group-name-taken") from None
    await ctx.emit("group.created", "group", group.id, {"name": group.name, "owner": user.username})
    return await _view(group, OWNER)


@REGISTRY.operation("groups.list", ListInput, output=Paged[GroupSummaryOut], access=Access.USER)
async def list_groups(ctx: Context, params: ListInput) -> Any:
    """Groups the caller owns or belongs to, with the caller's role in each."""
    user = ctx.require_user()
    joined = GroupMember.filter(user_id=user.id).values("group_id")
    page = await paginate(UserGroup.filter(Q(owner_id=user.id) | Q(id__in=Subquery(joined))), params)
    ids = [group.id for group in page.items]
    roles = {
        row["group_id"]: row["role"]
        for row in await GroupMember.filter(user_id=user.id, group_id__in=ids).values("group_id", "role")
    }
    counts = {
        row["group_id"]: row["count"]
        for row in await GroupMember.filter(group_id__in=ids)
        .annotate(count=Count("id"))
        .group_by("group_id")
        .values("group_id", "count")
    }
    items = []
    for group in page.items:
        role = OWNER if group.owner_id == user.id else roles.get(group.id, GroupRole.MEMBER.value)
        view = await _view(group, role, members=False)
        view["member_count"] = counts.get(group.id, 0) + 1  # + the owner
        items.append(view)
    page.items = items
    return page


@REGISTRY.operation("groups.get", GroupIdInput, output=GroupOut, access=Access.USER)
async def get_group(ctx: Context, params: GroupIdInput) -> dict[str, Any]:
    """A group with every member and their role (owner, admin, member)."""
    group, role = await _load(ctx, params.id)
    return await _view(group, role)


@REGISTRY.operation("groups.update", UpdateGroupInput, output=GroupOut)
async def update_group(ctx: Context, params: UpdateGroupInput) -> dict[str, Any]:
    """Edit the description (owner, admin) or hand ownership to a member (owner only)."""
    if params.description is None and params.owner is None:
        raise BadInput("send description and/or owner to change", code="nothing-to-update")
    group, role = await _load(ctx, params.id, lock=True)
    if params.owner is not None:
        _require(role, (OWNER,), "transfer ownership")
    if params.description is not None:
        _require(role, (OWNER, GroupRole.ADMIN.value), "edit the description")
    changes: dict[str, Any] = {}
    old_owner = await User.get(id=group.owner_id)
    if params.owner is not None and params.owner != old_owner.username:
        new_owner = await find_user(params.owner)
        membership = await GroupMember.get_or_none(group_id=group.id, user_id=new_owner.id)
        if membership is None:
            raise Unprocessable(
                f"{new_owner.username} is not a member of this group: add them first", code="new-owner-not-member"
            )
        await membership.delete()  # the owner is never a membership row
        await GroupMember.create(group=group, user=old_owner, role=GroupRole.ADMIN.value)
        group.owner = new_owner
        changes["owner"] = {"from": old_owner.username, "to": new_owner.username}
        role = GroupRole.ADMIN.value
    if params.description is not None and params.description != group.description:
        group.description = params.description
        changes["description"] = params.description
    if changes:
        await group.save()
        await ctx.emit("group.updated", "group", group.id, {"name": group.name, "changes": changes})
    return await _view(group, role)


@REGISTRY.operation("groups.delete", GroupIdInput, output=None)
async def delete_group(ctx: Context, params: GroupIdInput) -> None:
    """Delete a group and all its memberships (owner only)."""
    group, role = await _load(ctx, params.id, lock=True)
    _require(role, (OWNER,), "delete the group")
    members = await GroupMember.filter(group_id=group.id).count()
    await GroupMember.filter(group_id=group.id).delete()
    await group.delete()
    await ctx.emit("group.deleted", "group", params.id, {"name": group.name, "members_removed": members})


@REGISTRY.operation("groups.add_member", AddMemberInput, output=GroupOut)
async def add_member(ctx: Context, params: AddMemberInput) -> dict[str, Any]:
    """Add a user (owner, admin), or change an existing member's role (owner only)."""
    group, role = await _load(ctx, params.id, lock=True)
    _require(role, (OWNER, GroupRole.ADMIN.value), "add members")
    if params.role is GroupRole.ADMIN:
        _require(role, (OWNER,), "make someone an admin")
    user = await find_user(params.username)
    if user.id == group.owner_id:
        raise Conflict(f"{user.username} owns this group already", code="already-owner")
    membership = await GroupMember.get_or_none(group_id=group.id, user_id=user.id)
    if membership is not None and membership.role == params.role.value:
        raise Conflict(f"{user.username} is already a {membership.role} of this group", code="already-member")
    if membership is not None:
        _require(role, (OWNER,), "change a member's role")
        previous = membership.role
        membership.role = params.role.value
        await membership.save(update_fields=["role", "updated_at"])
        payload = {"username": user.username, "role": params.role.value, "previous_role": previous}
        await ctx.emit("group.member_role_changed", "group", group.id, payload)
    else:
        await GroupMember.create(group=group, user=user, role=params.role.value)
        payload = {"username": user.username, "role": params.role.value}
        await ctx.emit("group.member_added", "group", group.id, payload)
    await _touch(group)
    return await _view(group, role)


@REGISTRY.operation("groups.remove_member", MemberInput, output=None)
async def remove_member(ctx: Context, params: MemberInput) -> None:
    """Remove a member (owner: anyone, admin: plain members) or leave the group yourself."""
    group, role = await _load(ctx, params.id, lock=True)
    caller = ctx.require_user()
    target = await User.get_or_none(username=params.username)  # deleted users can still be removed
    if target is not None and target.id == group.owner_id:
        raise Conflict(
            "nobody can remove the owner; transfer ownership to a member first, or delete the group",
            code="cannot-remove-owner",
        )
    membership = None
    if target is not None:
        membership = await GroupMember.get_or_none(group_id=group.id, user_id=target.id)
    if target is None or membership is None:
        raise NotFound(f"{params.username} is not a member of this group", code="member-not-found")
    leaving = target.id == caller.id
    if not leaving:
        _require(role, (OWNER, GroupRole.ADMIN.value), "remove members")
        if membership.role == GroupRole.ADMIN.value:
            _require(role, (OWNER,), "remove an admin")
    await membership.delete()
    await _touch(group)
    payload = {"username": target.username, "role": membership.role, "left": leaving}
    await ctx.emit("group.member_removed", "group", group.id, payload)
