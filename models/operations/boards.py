"""Boards (issue 22, items 1 and 3): make and change boards; members, invites, bans and mutes.

Who may do what:
- read: anyone on a public board; members only on a members or invite board (others get 404);
- post, reply, vote: signed in, not banned, and a member when the board says members only;
- moderate (settings, bans, invites, members' roles, deleting others' entries): the owner, the
  board's moderators, and the site's admins and moderators (the site-wide moderator role of
  issue 12 applies to every board; its type/set dominion has no meaning for a board).
- join: anyone signed in and not banned on a public or members board; an invite board needs an
  invite (a link with a code; only the SHA-256 of the code is kept).
Entries, votes and reviews are in boards_entries.py.

A board of another server (a mirror: its `Group` actor lives there, federation/board_mirrors.py)
is managed there: settings, invites, bans and roles are 409 `remote-board` here. Joining one asks
its group (a pending Follow, sent by the board.member.requested event); the membership comes with
the group's Accept (`mirror_follow_answered`). Leaving sends Undo{Follow}.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, StrictBool
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from ..actors import Actor, Role, local_actor_url
from ..base import column, iso
from ..boards import Board, BoardBan, BoardInvite, BoardKind, BoardMember, BoardMute, MemberRole, Visibility
from ..bounds import Hours
from ..context import Context
from ..errors import BadInput, Conflict, Forbidden, Gone, NotFound
from ..federation import Backfill, BackfillState, Follow, FollowState, InboxActivity
from ..ids import new_id
from ..markdown import markdown_to_html
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input
from .boards_actors import group_actor
from .ledger import resolve_actor

__all__ = [
    "BoardAccess", "ID", "board_access", "can_moderate", "check_can_post", "get_board", "group_elsewhere",
    "mirror_follow_answered", "mirror_of", "now", "place_ban",
]

ID = Field(min_length=1, max_length=64)
HANDLE = Field(min_length=1, max_length=200, description="a username, or user@domain")


def now() -> datetime:
    return datetime.now(UTC)


class BoardAccess:
    """What the caller may do on one board, read once per call."""

    def __init__(self, board: Board, actor: Actor | None, member: BoardMember | None, ban: BoardBan | None,
                 site_moderator: bool, elsewhere: Actor | None = None) -> None:
        self.board, self.actor, self.member, self.ban = board, actor, member, ban
        self.site_moderator = site_moderator
        self.elsewhere = elsewhere  # the board's Group actor when it lives on another server

    @property
    def is_member(self) -> bool:
        return self.member is not None

    @property
    def can_read(self) -> bool:
        return self.board.visibility == Visibility.PUBLIC.value or self.is_member or self.site_moderator

    @property
    def can_moderate(self) -> bool:
        return self.site_moderator or (
            self.member is not None and self.member.role in (MemberRole.OWNER.value, MemberRole.MODERATOR.value)
        )

    @property
    def role(self) -> str | None:
        return self.member.role if self.member else None


def _site_moderator(ctx: Context) -> bool:
    return ctx.system or ctx.has_role(Role.ADMIN) or ctx.has_role(Role.MODERATOR)


async def active_ban(board_id: str, actor_id: str) -> BoardBan | None:
    ban = await BoardBan.get_or_none(board_id=board_id, actor_id=actor_id)
    if ban is not None and ban.expires_at is not None and ban.expires_at <= now():
        return None
    return ban


async def group_elsewhere(board: Board) -> Actor | None:
    """The Group actor of a board that lives on another server (our mirror of it); None for ours."""
    if board.actor_id is None:
        return None
    group = await Actor.get_or_none(id=board.actor_id)
    return group if group is not None and not group.is_local else None


def origin_only(access: BoardAccess) -> None:
    """Settings, invites, bans and roles of a board of another server are changed there."""
    if access.elsewhere is not None:
        raise Conflict(f"this board lives on {access.elsewhere.domain}: manage this board on its own server",
                       code="remote-board")


async def board_access(ctx: Context, board_id: str) -> BoardAccess:
    """The board and the caller's standing on it; 404 board-not-found when the caller may not read it."""
    board = await Board.get_or_none(id=board_id)
    missing = NotFound(f"there is no board with id {board_id!r}", code="board-not-found")
    if board is None:
        raise missing
    actor = ctx.actor
    member = await BoardMember.get_or_none(board_id=board.id, actor_id=actor.id) if actor else None
    ban = await active_ban(board.id, actor.id) if actor else None
    access = BoardAccess(board, actor, member, ban, _site_moderator(ctx), await group_elsewhere(board))
    if not access.can_read:
        raise missing
    return access


async def get_board(ctx: Context, board_id: str) -> Board:
    return (await board_access(ctx, board_id)).board


def can_moderate(access: BoardAccess) -> None:
    if not access.can_moderate:
        raise Forbidden("only the board's owner and moderators may do this", code="not-a-board-moderator")


def check_can_post(ctx: Context, access: BoardAccess) -> Actor:
    """The caller, if they may post here: signed in, not banned, a member where members only post."""
    actor = ctx.require_actor()
    if access.ban is not None:
        until = f" until {iso(access.ban.expires_at)}" if access.ban.expires_at else ""
        raise Forbidden(f"you are banned from this board{until}: {access.ban.reason}", code="banned-from-board")
    if access.board.members_only and not access.is_member and not access.site_moderator:
        raise Forbidden("only members post on this board: join it first", code="not-a-board-member")
    return actor


# ---------------------------------------------------------------- views


class HistoryOut(Output):
    """A board of another server whose past threads are being copied here (federation/board_backfill.py)."""

    copied: int = Field(description="threads copied so far")
    of: int | None = Field(description="threads the board's server lists (at most this server's limit); null before it said")


class BoardOut(Output):
    id: str
    name: str
    description: str
    description_html: str
    kind: str
    visibility: str
    members_only: bool
    replies_allowed: bool
    media_allowed: bool
    votes_allowed: bool
    owner: str
    member_count: int
    entry_count: int
    version: int
    created_at: Timestamp
    your_role: str | None = Field(None, description="owner, moderator or member; null when not a member")
    can_moderate: bool = False
    banned: bool = False
    handle: str | None = Field(None, description="the board's Group actor across servers, handle@host")
    home: str | None = Field(None, description="the server the board lives on; null when it is ours")
    actor_url: str | None = Field(None, description="the board's Group actor (its ActivityPub id)")
    joining: Literal["pending", "refused"] | None = Field(
        None, description="on a board of another server: your request to join awaits its answer, or was refused")
    refused_because: str | None = Field(None, description="what the board's server said when it refused")
    history: HistoryOut | None = Field(None, description="on a board of another server: its past threads being copied here")


_COPYING = [BackfillState.PENDING.value, BackfillState.RUNNING.value]


async def board_view(ctx: Context, board: Board, access: BoardAccess | None = None) -> dict[str, Any]:
    owner = await Actor.get(id=board.owner_id)
    view = {
        "id": board.id, "name": board.name, "description": board.description,
        "description_html": markdown_to_html(board.description), "kind": board.kind, "visibility": board.visibility,
        "members_only": board.members_only, "replies_allowed": board.replies_allowed,
        "media_allowed": board.media_allowed, "votes_allowed": board.votes_allowed,
        "owner": owner.handle(ctx.site.domain), "member_count": board.member_count, "entry_count": board.entry_count,
        "version": board.version, "created_at": iso(board.created_at),
    }
    group = await Actor.get_or_none(id=board.actor_id) if board.actor_id else None
    if group is not None:
        view |= {"handle": group.handle(ctx.site.domain),
                 "actor_url": local_actor_url(ctx.site.base_url, group) if group.is_local else group.uri}
    if not owner.is_local:  # a board of another server: its owner is its Group actor
        view["home"] = owner.domain
        copying = await Backfill.filter(follow__target_id=board.id, state__in=_COPYING).order_by("-id").first()
        if copying is not None:
            view["history"] = {"copied": copying.threads, "of": copying.total}
    if access is not None:
        view |= {"your_role": access.role, "can_moderate": access.can_moderate and access.elsewhere is None,
                 "banned": access.ban is not None}
        if access.elsewhere is not None and access.actor is not None and access.member is None:
            view |= await _joining(access.elsewhere, access.actor)
    return view


async def _joining(group: Actor, actor: Actor) -> dict[str, Any]:
    """Where our user's request to join a board of another server stands, and the group's reason
    when it refused (the Reject's content or summary, as the inbox kept it)."""
    row = await Follow.get_or_none(follower_id=actor.id, target_id=group.id, object_uri="")
    if row is None or row.state == FollowState.ACCEPTED.value:
        return {}
    if row.state == FollowState.PENDING.value:
        return {"joining": "pending"}
    reason = ""
    for answer in await InboxActivity.filter(type="Reject", actor_uri=group.uri or "").order_by("-id").limit(20):
        obj = answer.payload.get("object")
        if (obj.get("id") if isinstance(obj, dict) else obj) == row.activity_uri:
            said = answer.payload.get("content") or answer.payload.get("summary")
            reason = _TAGS.sub("", said).strip()[:500] if isinstance(said, str) else ""
            break
    return {"joining": "refused", "refused_because": reason or None}


# ---------------------------------------------------------------- boards


class BoardInput(Input):
    name: str = Field(min_length=1, max_length=100)
    kind: BoardKind
    description: str = Field("", max_length=5000, description="markdown")
    visibility: Visibility = Visibility.PUBLIC
    members_only: StrictBool = Field(True, description="only members post (else anyone signed in)")
    replies_allowed: StrictBool = True
    media_allowed: StrictBool = True
    votes_allowed: StrictBool = Field(False, description="up and down votes (chat and discussion boards)")
    handle: str | None = Field(None, min_length=1, max_length=30, pattern=r"^[a-z0-9_]{1,30}$",
                               description="its Group actor's name (handle@host); default: made from the name")


class BoardIdInput(Input):
    id: str = ID


class BoardUpdateInput(BoardIdInput):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)
    visibility: Visibility | None = None
    members_only: StrictBool | None = None
    replies_allowed: StrictBool | None = None
    media_allowed: StrictBool | None = None
    votes_allowed: StrictBool | None = None


class BoardListInput(ListInput):
    kind: BoardKind | None = None
    mine: bool = Field(False, description="only boards you are a member of (a query string says true or false)")


_TAGS = re.compile(r"<[^>]*>")


def _check_votes(kind: str, votes: bool) -> None:
    if votes and kind == BoardKind.REVIEW.value:
        raise BadInput("a review board has ratings, not votes", code="votes-not-on-reviews", extra={"field": "votes_allowed"})


@REGISTRY.operation("boards.create", BoardInput, output=BoardOut)
async def create_board(ctx: Context, params: BoardInput) -> dict[str, Any]:
    """Make a board (a chat room, a discussion board or a review board); you own it."""
    actor = ctx.require_actor()
    _check_votes(params.kind.value, params.votes_allowed)
    board = await Board.create(
        owner_id=actor.id, name=params.name, description=params.description, kind=params.kind.value,
        visibility=params.visibility.value, members_only=params.members_only, replies_allowed=params.replies_allowed,
        media_allowed=params.media_allowed, votes_allowed=params.votes_allowed, member_count=1,
    )
    await group_actor(board, params.handle)  # 409 name-taken, and nothing stored, when the handle is taken
    await BoardMember.create(board_id=board.id, actor_id=actor.id, role=MemberRole.OWNER.value)
    await ctx.emit("board.created", "board", board.id, {"board": board.id, "kind": board.kind, "visibility": board.visibility})
    return await board_view(ctx, board, await board_access(ctx, board.id))


@REGISTRY.operation("boards.list", BoardListInput, output=Paged[BoardOut], access=Access.PUBLIC)
async def list_boards(ctx: Context, params: BoardListInput) -> Any:
    """Boards you may read: every public one, and those you are a member of."""
    mine = Subquery(BoardMember.filter(actor_id=ctx.actor.id).values("board_id")) if ctx.actor else None
    query = Board.all()
    if params.mine:
        query = query.filter(id__in=mine) if mine is not None else query.filter(id="")
    elif not _site_moderator(ctx):
        visible = Q(visibility=Visibility.PUBLIC.value)
        query = query.filter(visible | Q(id__in=mine) if mine is not None else visible)
    if params.kind is not None:
        query = query.filter(kind=params.kind.value)
    page = await paginate(query, params)
    views = {board.id: await board_view(ctx, board) for board in page.items}
    return page.map(lambda board: views[board.id])


@REGISTRY.operation("boards.get", BoardIdInput, output=BoardOut, access=Access.PUBLIC)
async def get_board_op(ctx: Context, params: BoardIdInput) -> dict[str, Any]:
    """A board: its rules and your standing on it."""
    access = await board_access(ctx, params.id)
    await group_actor(access.board)  # a board made before groups gets its own now
    return await board_view(ctx, access.board, access)


@REGISTRY.operation("boards.update", BoardUpdateInput, output=BoardOut)
async def update_board(ctx: Context, params: BoardUpdateInput) -> dict[str, Any]:
    """Change a board's name, description, visibility or posting rules (owner and moderators)."""
    access = await board_access(ctx, params.id)
    origin_only(access)
    can_moderate(access)
    board = access.board
    ctx.check_version(board.version, "board")
    changes = {name: getattr(params, name) for name in params.model_fields_set - {"id"} if getattr(params, name) is not None}
    changes = {name: value.value if isinstance(value, Visibility) else value for name, value in changes.items()}
    _check_votes(board.kind, bool(changes.get("votes_allowed", False)))
    if changes:
        updated = await Board.filter(id=board.id, version=board.version).update(
            **changes, version=board.version + 1, updated_at=now()
        )
        if not updated:
            raise Conflict("the board changed meanwhile: load it again", code="version-mismatch")
        await ctx.emit("board.updated", "board", board.id, {"board": board.id, "fields": sorted(changes)})
    return await board_view(ctx, await Board.get(id=board.id), await board_access(ctx, board.id))


# ---------------------------------------------------------------- members


class BoardMemberOut(Output):
    username: str
    role: str
    joined_at: Timestamp


class BoardMembersOut(Output):
    items: list[BoardMemberOut]


class BoardMemberInput(BoardIdInput):
    username: str = HANDLE


class BoardRoleInput(BoardMemberInput):
    role: Literal["moderator", "member"]


async def _add_member(ctx: Context, board: Board, actor: Actor, how: str) -> None:
    try:
        await BoardMember.create(board_id=board.id, actor_id=actor.id, role=MemberRole.MEMBER.value)
    except IntegrityError:
        raise Conflict("you are already a member of this board", code="already-a-member") from None
    await Board.filter(id=board.id).update(member_count=F("member_count") + 1)
    await ctx.emit("board.member.joined", "board", board.id,
                   {"board": board.id, "username": actor.handle(ctx.site.domain), "how": how})


@REGISTRY.operation("boards.join", BoardIdInput, output=BoardOut)
async def join_board(ctx: Context, params: BoardIdInput) -> dict[str, Any]:
    """Join a public or members-only board (an invite-only one needs an invite)."""
    actor = ctx.require_actor()
    access = await _joinable(ctx, params.id)
    if access.ban is not None:
        raise Forbidden(f"you are banned from this board: {access.ban.reason}", code="banned-from-board")
    if access.elsewhere is not None:
        await _ask_group(ctx, access, actor)
        access.member = await BoardMember.get_or_none(board_id=access.board.id, actor_id=actor.id)
        return await board_view(ctx, await Board.get(id=access.board.id), access)
    if access.board.visibility == Visibility.INVITE.value and not access.site_moderator:
        raise Forbidden("this board is invite only: ask a moderator for an invite", code="invite-required")
    await _add_member(ctx, access.board, actor, "joined")
    return await board_view(ctx, access.board, await board_access(ctx, params.id))


async def _joinable(ctx: Context, board_id: str) -> BoardAccess:
    """A board one may join without reading it yet (members-only boards are listed to nobody, but
    their id is enough to join one); invite-only boards stay 404 to non-members."""
    board = await Board.get_or_none(id=board_id)
    elsewhere = await group_elsewhere(board) if board is not None else None
    invite_only = board is not None and board.visibility == Visibility.INVITE.value and elsewhere is None
    if board is None or (invite_only and not _site_moderator(ctx)):
        raise NotFound(f"there is no board with id {board_id!r}", code="board-not-found")
    actor = ctx.require_actor()
    member = await BoardMember.get_or_none(board_id=board.id, actor_id=actor.id)
    return BoardAccess(board, actor, member, await active_ban(board.id, actor.id), _site_moderator(ctx), elsewhere)


async def _ask_group(ctx: Context, access: BoardAccess, actor: Actor) -> None:
    """Join a board of another server: a Follow of its group (sent by the board.member.requested
    event's publisher, federation/board_mirrors.py); the membership comes with its Accept."""
    group, board = access.elsewhere, access.board
    assert group is not None
    if access.member is not None:
        raise Conflict("you are already a member of this board", code="already-a-member")
    row = await Follow.get_or_none(follower_id=actor.id, target_id=group.id, object_uri="")
    if row is not None and row.state == FollowState.ACCEPTED.value:  # following the group already: accepted
        await _add_member(ctx, board, actor, "joined")
        return
    if row is not None and row.state == FollowState.PENDING.value:
        return  # asked already: the answer is awaited
    if row is not None:  # refused before: ask again
        await Follow.filter(id=row.id).delete()
    row_id = new_id()
    # the Follow activity goes out with this row's id, at federation/outbox.py activity_url()
    await Follow.create(id=row_id, follower_id=actor.id, target_id=group.id, state=FollowState.PENDING.value,
                        activity_uri=f"{ctx.site.base_url}/activities/{row_id}")
    await ctx.emit("board.member.requested", "board", board.id,
                   {"board": board.id, "username": actor.handle(ctx.site.domain), "follow": row_id})


async def mirror_of(group_id: str) -> Board | None:
    """Our copy of the board of a Group actor of another server (its owner is the group: the
    owner index finds it), or None."""
    return await Board.filter(owner_id=group_id, actor_id=group_id).first()


async def mirror_follow_answered(follow: Follow, accepted: bool) -> str | None:
    """A group of another server answered one of our users' Follow: on Accept they become a member
    of our copy of its board (no event: nothing goes back). None when the group is no board we copy."""
    board = await mirror_of(follow.target_id)
    if board is None or follow.object_uri:
        return None
    if not accepted:
        return "refused: not a member of the board"
    if await active_ban(board.id, follow.follower_id) is not None:
        return "ignored: banned from the board"
    try:
        async with in_transaction():
            await BoardMember.create(board_id=board.id, actor_id=follow.follower_id, role=MemberRole.MEMBER.value)
    except IntegrityError:
        return "accepted: already a member"
    await Board.filter(id=board.id).update(member_count=F("member_count") + 1)
    return "accepted: member of the board"


@REGISTRY.operation("boards.leave", BoardIdInput, output=None)
async def leave_board(ctx: Context, params: BoardIdInput) -> None:
    """Leave a board (its owner cannot: the board needs an owner)."""
    actor = ctx.require_actor()
    access = await board_access(ctx, params.id)
    if access.elsewhere is not None:
        await _leave_group(ctx, access, actor)
        return
    if access.member is None:
        raise Conflict("you are not a member of this board", code="not-a-board-member")
    if access.member.role == MemberRole.OWNER.value:
        raise Conflict("the owner cannot leave their board", code="owner-cannot-leave")
    await BoardMember.filter(id=access.member.id).delete()
    await Board.filter(id=access.board.id).update(member_count=F("member_count") - 1)
    await ctx.emit("board.member.left", "board", access.board.id,
                   {"board": access.board.id, "username": actor.handle(ctx.site.domain), "how": "left"})


async def _leave_group(ctx: Context, access: BoardAccess, actor: Actor) -> None:
    """Leave a board of another server, or take back a request to join it: Undo{Follow} (sent by
    the board.member.left event's publisher)."""
    assert access.elsewhere is not None
    row = await Follow.get_or_none(follower_id=actor.id, target_id=access.elsewhere.id, object_uri="")
    if access.member is None and row is None:
        raise Conflict("you are not a member of this board", code="not-a-board-member")
    if access.member is not None:
        await BoardMember.filter(id=access.member.id).delete()
        await Board.filter(id=access.board.id).update(member_count=F("member_count") - 1)
    payload = {"board": access.board.id, "username": actor.handle(ctx.site.domain), "how": "left"}
    if row is not None:
        await Follow.filter(id=row.id).delete()
        payload["follow"] = row.id
    await ctx.emit("board.member.left", "board", access.board.id, payload)


@REGISTRY.operation("boards.members.list", BoardIdInput, output=BoardMembersOut, access=Access.PUBLIC)
async def list_members(ctx: Context, params: BoardIdInput) -> dict[str, Any]:
    """A board's members with their roles, owner and moderators first."""
    access = await board_access(ctx, params.id)
    rows = await BoardMember.filter(board_id=access.board.id).select_related("actor").order_by("id").limit(1000)
    order = {MemberRole.OWNER.value: 0, MemberRole.MODERATOR.value: 1}
    rows.sort(key=lambda row: order.get(row.role, 2))
    return {"items": [{"username": row.actor.handle(ctx.site.domain), "role": row.role, "joined_at": iso(row.created_at)}
                      for row in rows]}


@REGISTRY.operation("boards.members.role", BoardRoleInput, output=BoardMemberOut)
async def set_member_role(ctx: Context, params: BoardRoleInput) -> dict[str, Any]:
    """Make a member a moderator of the board, or a member again (the owner only)."""
    access = await board_access(ctx, params.id)
    origin_only(access)
    if access.role != MemberRole.OWNER.value and not access.site_moderator:
        raise Forbidden("only the board's owner names its moderators", code="not-the-board-owner")
    target = await resolve_actor(params.username, ctx, field="username")
    member = await BoardMember.get_or_none(board_id=access.board.id, actor_id=target.id)
    if member is None:
        raise NotFound(f"{params.username} is not a member of this board", code="member-not-found")
    if member.role == MemberRole.OWNER.value:
        raise Conflict("the owner's role does not change", code="owner-role-fixed")
    await BoardMember.filter(id=member.id).update(role=params.role, updated_at=now())
    await ctx.emit("board.member.role", "board", access.board.id,
                   {"board": access.board.id, "username": target.handle(ctx.site.domain), "how": params.role})
    return {"username": target.handle(ctx.site.domain), "role": params.role, "joined_at": iso(member.created_at)}


# ---------------------------------------------------------------- invites


class BoardInviteInput(BoardIdInput):
    max_uses: int | None = Field(1, ge=1, le=100_000, description="1: single use; null: any number until it expires")
    expires_in_hours: Hours | None = Field(168, description="null: no expiry")


class BoardInviteOut(Output):
    id: str
    max_uses: int | None
    uses: int
    expires_at: Timestamp
    revoked: bool
    usable: bool
    code: str | None = Field(None, description="only in the answer that makes it: it is not kept")
    link: str | None = None


class BoardInvitesOut(Output):
    items: list[BoardInviteOut]


class BoardInviteIdInput(BoardIdInput):
    invite: str = ID


class BoardAcceptInput(Input):
    code: str = Field(min_length=10, max_length=100)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _invite_view(invite: BoardInvite) -> dict[str, Any]:
    moment = now()
    usable = (invite.revoked_at is None and (invite.expires_at is None or invite.expires_at > moment)
              and (invite.max_uses is None or invite.uses < invite.max_uses))
    return {"id": invite.id, "max_uses": invite.max_uses, "uses": invite.uses, "expires_at": iso(invite.expires_at),
            "revoked": invite.revoked_at is not None, "usable": usable}


@REGISTRY.operation("boards.invites.create", BoardInviteInput, output=BoardInviteOut)
async def create_invite(ctx: Context, params: BoardInviteInput) -> dict[str, Any]:
    """Make an invite link (moderators): single use or many, with an expiry. The code is shown once."""
    access = await board_access(ctx, params.id)
    origin_only(access)
    can_moderate(access)
    code = secrets.token_urlsafe(24)
    expires = now() + timedelta(hours=params.expires_in_hours) if params.expires_in_hours is not None else None
    invite = await BoardInvite.create(board_id=access.board.id, code_hash=_hash(code), created_by_id=ctx.require_actor().id,
                                      max_uses=params.max_uses, expires_at=expires)
    await ctx.emit("board.invite.created", "board", access.board.id, {"board": access.board.id, "invite": invite.id})
    return {**_invite_view(invite), "code": code, "link": f"{ctx.site.base_url}/app/boards/invite/{code}"}


@REGISTRY.operation("boards.invites.list", BoardIdInput, output=BoardInvitesOut, access=Access.USER)
async def list_invites(ctx: Context, params: BoardIdInput) -> dict[str, Any]:
    """A board's invites, newest first (moderators); their codes are not kept."""
    access = await board_access(ctx, params.id)
    origin_only(access)
    can_moderate(access)
    rows = await BoardInvite.filter(board_id=access.board.id).order_by("-id").limit(200)
    return {"items": [_invite_view(row) for row in rows]}


@REGISTRY.operation("boards.invites.revoke", BoardInviteIdInput, output=BoardInviteOut)
async def revoke_invite(ctx: Context, params: BoardInviteIdInput) -> dict[str, Any]:
    """Stop an invite link from working (moderators)."""
    access = await board_access(ctx, params.id)
    origin_only(access)
    can_moderate(access)
    invite = await BoardInvite.get_or_none(id=params.invite, board_id=access.board.id)
    if invite is None:
        raise NotFound(f"this board has no invite {params.invite!r}", code="invite-not-found")
    if invite.revoked_at is None:
        invite.revoked_at = now()
        await invite.save(update_fields=["revoked_at", "updated_at"])
        await ctx.emit("board.invite.revoked", "board", access.board.id, {"board": access.board.id, "invite": invite.id})
    return _invite_view(invite)


@REGISTRY.operation("boards.invites.accept", BoardAcceptInput, output=BoardOut)
async def accept_invite(ctx: Context, params: BoardAcceptInput) -> dict[str, Any]:
    """Join a board with an invite code."""
    actor = ctx.require_actor()
    invite = await BoardInvite.get_or_none(code_hash=_hash(params.code))
    if invite is None:
        raise NotFound("this invite does not exist: check the link", code="invite-not-found")
    if invite.revoked_at is not None or (invite.expires_at is not None and invite.expires_at <= now()):
        raise Gone("this invite has expired or was withdrawn: ask for a new one", code="invite-expired")
    board = await Board.get(id=invite.board_id)
    if await active_ban(board.id, actor.id) is not None:
        raise Forbidden("you are banned from this board", code="banned-from-board")
    if await BoardMember.exists(board_id=board.id, actor_id=actor.id):
        raise Conflict("you are already a member of this board", code="already-a-member")
    # Counted only if a use is left, in one conditional UPDATE: a single-use code admits one person.
    used = await BoardInvite.filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")), id=invite.id).update(
        uses=F("uses") + 1
    )
    if not used:
        raise Gone("this invite has been used up: ask for a new one", code="invite-used-up")
    await _add_member(ctx, board, actor, "invite")
    return await board_view(ctx, board, await board_access(ctx, board.id))


# ---------------------------------------------------------------- bans


class BoardBanInput(BoardMemberInput):
    reason: str = Field(min_length=1, max_length=500)
    expires_in_hours: Hours | None = Field(None, description="null: until lifted")


class BoardBanOut(Output):
    username: str
    reason: str
    expires_at: Timestamp
    banned_by: str | None
    created_at: Timestamp


class BoardBansOut(Output):
    items: list[BoardBanOut]


async def _ban_view(ctx: Context, ban: BoardBan) -> dict[str, Any]:
    actor = await Actor.get(id=ban.actor_id)
    by = await Actor.get_or_none(id=ban.banned_by_id) if ban.banned_by_id else None
    return {"username": actor.handle(ctx.site.domain), "reason": ban.reason, "expires_at": iso(ban.expires_at),
            "banned_by": by.handle(ctx.site.domain) if by else None, "created_at": iso(ban.created_at)}


async def place_ban(board_id: str, actor_id: str, reason: str, expires: datetime | None, by: str | None) -> BoardBan:
    """Ban an actor on a board (a new ban replaces an old, perhaps expired, one) and end their
    membership: a moderator's ban here, or a group's Block copied onto a mirror."""
    ban = await BoardBan.get_or_none(board_id=board_id, actor_id=actor_id)
    if ban is None:
        ban = await BoardBan.create(board_id=board_id, actor_id=actor_id, reason=reason, expires_at=expires,
                                    banned_by_id=by)
    else:
        ban.reason, ban.expires_at, ban.banned_by_id = reason, expires, by
        await ban.save()
    removed = await BoardMember.filter(board_id=board_id, actor_id=actor_id).delete()
    if removed:
        await Board.filter(id=board_id).update(member_count=F("member_count") - removed)
    return ban


@REGISTRY.operation("boards.bans.create", BoardBanInput, output=BoardBanOut)
async def ban_member(ctx: Context, params: BoardBanInput) -> dict[str, Any]:
    """Ban someone from posting on a board, with a reason and an optional expiry (moderators).
    They stop being a member; on a public board they can still read."""
    access = await board_access(ctx, params.id)
    origin_only(access)
    can_moderate(access)
    target = await resolve_actor(params.username, ctx, field="username")
    if target.id == access.board.owner_id:
        raise Conflict("the board's owner cannot be banned from it", code="owner-cannot-be-banned")
    expires = now() + timedelta(hours=params.expires_in_hours) if params.expires_in_hours else None
    by = ctx.actor.id if ctx.actor else None
    ban = await place_ban(access.board.id, target.id, params.reason, expires, by)
    if access.board.actor_id and access.board.visibility != Visibility.PUBLIC.value:  # no more of what members read
        await Follow.filter(follower_id=target.id, target_id=access.board.actor_id).delete()
    await ctx.emit("board.ban.created", "board", access.board.id,
                   {"board": access.board.id, "username": target.handle(ctx.site.domain), "how": params.reason})
    return await _ban_view(ctx, ban)


@REGISTRY.operation("boards.bans.list", BoardIdInput, output=BoardBansOut, access=Access.USER)
async def list_bans(ctx: Context, params: BoardIdInput) -> dict[str, Any]:
    """A board's standing bans, newest first (moderators)."""
    access = await board_access(ctx, params.id)
    can_moderate(access)
    rows = await BoardBan.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now()), board_id=access.board.id
                                 ).order_by("-id").limit(500)
    return {"items": [await _ban_view(ctx, row) for row in rows]}


@REGISTRY.operation("boards.bans.lift", BoardMemberInput, output=None)
async def lift_ban(ctx: Context, params: BoardMemberInput) -> None:
    """Lift a ban (moderators); they may join again."""
    access = await board_access(ctx, params.id)
    origin_only(access)
    can_moderate(access)
    target = await resolve_actor(params.username, ctx, field="username")
    if not await BoardBan.filter(board_id=access.board.id, actor_id=target.id).delete():
        raise NotFound(f"{params.username} is not banned from this board", code="ban-not-found")
    await ctx.emit("board.ban.lifted", "board", access.board.id,
                   {"board": access.board.id, "username": target.handle(ctx.site.domain), "how": "lifted"})


# ---------------------------------------------------------------- mutes


class BoardMutesOut(Output):
    items: list[str] = Field(description="the handles you muted on this board")


@REGISTRY.operation("boards.mutes.create", BoardMemberInput, output=BoardMutesOut)
async def mute_member(ctx: Context, params: BoardMemberInput) -> dict[str, Any]:
    """Hide someone's entries on this board from yourself (they are not told)."""
    actor = ctx.require_actor()
    access = await board_access(ctx, params.id)
    target = await resolve_actor(params.username, ctx, field="username")
    if target.id == actor.id:
        raise BadInput("you cannot mute yourself", code="cannot-mute-self", extra={"field": "username"})
    if not await BoardMute.exists(board_id=access.board.id, muter_id=actor.id, muted_id=target.id):
        await BoardMute.create(board_id=access.board.id, muter_id=actor.id, muted_id=target.id)
    return await _mutes(ctx, access.board.id, actor)


@REGISTRY.operation("boards.mutes.delete", BoardMemberInput, output=BoardMutesOut)
async def unmute_member(ctx: Context, params: BoardMemberInput) -> dict[str, Any]:
    """Show someone's entries on this board to yourself again."""
    actor = ctx.require_actor()
    access = await board_access(ctx, params.id)
    target = await resolve_actor(params.username, ctx, field="username")
    await BoardMute.filter(board_id=access.board.id, muter_id=actor.id, muted_id=target.id).delete()
    return await _mutes(ctx, access.board.id, actor)


@REGISTRY.operation("boards.mutes.list", BoardIdInput, output=BoardMutesOut, access=Access.USER)
async def list_mutes(ctx: Context, params: BoardIdInput) -> dict[str, Any]:
    """Whom you muted on this board."""
    actor = ctx.require_actor()
    access = await board_access(ctx, params.id)
    return await _mutes(ctx, access.board.id, actor)


async def _mutes(ctx: Context, board_id: str, actor: Actor) -> dict[str, Any]:
    rows = await BoardMute.filter(board_id=board_id, muter_id=actor.id).select_related("muted").order_by("id")
    return {"items": [row.muted.handle(ctx.site.domain) for row in rows]}


async def muted_ids(board_id: str, actor: Actor | None) -> set[str]:
    if actor is None:
        return set()
    return set(await column(BoardMute.filter(board_id=board_id, muter_id=actor.id).values_list("muted_id", flat=True), str))

