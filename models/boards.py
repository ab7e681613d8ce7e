"""Boards (issue 22): chat rooms, discussion threads and review boards, their entries and members.

Shaped for federation as FEP-1b12 groups (next step): a board may later get a `Group` actor
(`actor`, null while it is only local), every entry's author is an Actor (local or remote) and
every entry has a stable URL (`uri`, set for entries received from other servers; a local
entry's URL is derived from its id), and votes are keyed by the voting Actor.

Counts that many people change at once (an entry's up and down votes, its replies) are kept on
the entry and moved only by single conditional UPDATEs (`up = up + 1`), one vote row per
(entry, voter): exact on SQLite and PostgreSQL alike (models/operations/boards_entries.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor

__all__ = [
    "GROUP_KIND", "Board", "BoardBan", "BoardEntry", "BoardEntryVersion", "BoardInvite", "BoardKind", "BoardMember", "BoardMute",
    "BoardVote", "MemberRole", "SubjectKind", "Visibility", "entry_url",
]


GROUP_KIND = "Group"  # Actor.kind of a board's own actor, and its ActivityPub type (FEP-1b12)


class BoardKind(StrEnum):
    CHAT = "chat"  # a room: flat, newest last
    DISCUSSION = "discussion"  # threads with replies to any depth, optional votes, hot/top/new
    REVIEW = "review"  # entries rate a subject 1-5, one per user per subject


class Visibility(StrEnum):
    PUBLIC = "public"  # anyone reads; anyone signed in may join
    MEMBERS = "members"  # only members read; anyone signed in may join
    INVITE = "invite"  # only members read; joining needs an invite


class MemberRole(StrEnum):
    OWNER = "owner"
    MODERATOR = "moderator"
    MEMBER = "member"


class SubjectKind(StrEnum):
    TOKEN = "token"
    TYPE = "type"
    ITEM = "item"  # a store item
    LOT = "lot"  # a market lot


class Board(Entity):
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="boards", on_delete=fields.RESTRICT
    )
    # The board's own Group actor once it federates (FEP-1b12); null while it is local only.
    actor_id: str | None
    actor: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_groups", null=True, on_delete=fields.SET_NULL
    )
    name = fields.CharField(max_length=100)
    description = fields.TextField(default="")  # markdown
    kind = fields.CharField(max_length=12)  # BoardKind
    visibility = fields.CharField(max_length=8, default=Visibility.PUBLIC.value)
    members_only = fields.BooleanField(default=True)  # only members post (else anyone signed in)
    replies_allowed = fields.BooleanField(default=True)
    media_allowed = fields.BooleanField(default=True)
    votes_allowed = fields.BooleanField(default=False)
    member_count = fields.IntField(default=0)
    entry_count = fields.IntField(default=0)
    version = fields.IntField(default=1)

    class Meta:
        app = APP
        table = "boards"
        indexes = (("visibility", "id"), ("owner_id",))


class BoardEntry(Entity):
    """A post, a reply or a review. A deleted one keeps its row (a tombstone) and its place."""

    board_id: str
    board: fields.ForeignKeyRelation[Board] = fields.ForeignKeyField(
        f"{APP}.Board", related_name="entries", on_delete=fields.CASCADE
    )
    author_id: str
    author: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_entries", on_delete=fields.RESTRICT
    )
    parent_id: str | None
    parent: fields.ForeignKeyNullableRelation[BoardEntry] = fields.ForeignKeyField(
        f"{APP}.BoardEntry", related_name="replies", null=True, on_delete=fields.CASCADE
    )
    thread_id = fields.CharField(max_length=26)  # the top entry of the thread (itself for a top entry)
    depth = fields.IntField(default=0)
    uri = fields.CharField(max_length=2048, null=True, unique=True)  # the URL of an entry from elsewhere
    body = fields.TextField(default="")  # markdown, rendered and sanitised when shown
    media: fields.JSONField[list[str]] = fields.JSONField(default=list)  # Media ids, in order
    # an entry from elsewhere: its attachments as links [{url, media_type, name}] (never fetched)
    remote_media: fields.JSONField[list[dict[str, str]] | None] = fields.JSONField(null=True)
    subject_kind = fields.CharField(max_length=8, null=True)  # reviews: SubjectKind
    subject_id = fields.CharField(max_length=64, null=True)
    rating = fields.IntField(null=True)  # reviews: 1-5
    # "<kind>:<id>" on a standing review, null otherwise: unique per (board, author), so a second
    # review of one subject is refused by the database itself; a deleted review frees it.
    review_key = fields.CharField(max_length=80, null=True)
    up = fields.IntField(default=0)
    down = fields.IntField(default=0)
    reply_count = fields.IntField(default=0)
    version = fields.IntField(default=1)
    edited_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)
    deleted_by_id: str | None
    deleted_by: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_entries_deleted", null=True, on_delete=fields.SET_NULL
    )
    # our user's entry on a board of another server that the group refused: what the author sees
    # ("Not accepted by cafe@a.example: <reason>"); null for an entry that stands
    refused = fields.TextField(null=True)

    class Meta:
        app = APP
        table = "board_entries"
        unique_together = (("board_id", "author_id", "review_key"),)
        indexes = (("board_id", "parent_id", "id"), ("thread_id", "id"), ("subject_kind", "subject_id"))

    @property
    def score(self) -> int:
        return self.up - self.down


def entry_url(base_url: str, entry: BoardEntry) -> str:
    """The entry's stable URL: its `uri` when it came from elsewhere, else ours."""
    return entry.uri or f"{base_url}/boards/{entry.board_id}/entries/{entry.id}"


class BoardEntryVersion(Entity):
    """What an entry said before an edit: one row per earlier version."""

    entry_id: str
    entry: fields.ForeignKeyRelation[BoardEntry] = fields.ForeignKeyField(
        f"{APP}.BoardEntry", related_name="versions", on_delete=fields.CASCADE
    )
    version = fields.IntField()
    body = fields.TextField(default="")
    rating = fields.IntField(null=True)

    class Meta:
        app = APP
        table = "board_entry_versions"
        unique_together = (("entry_id", "version"),)


class BoardVote(Entity):
    entry_id: str
    entry: fields.ForeignKeyRelation[BoardEntry] = fields.ForeignKeyField(
        f"{APP}.BoardEntry", related_name="votes", on_delete=fields.CASCADE
    )
    voter_id: str
    voter: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_votes", on_delete=fields.CASCADE
    )
    value = fields.SmallIntField()  # 1 up, -1 down

    class Meta:
        app = APP
        table = "board_votes"
        unique_together = (("entry_id", "voter_id"),)


class BoardMember(Entity):
    board_id: str
    board: fields.ForeignKeyRelation[Board] = fields.ForeignKeyField(
        f"{APP}.Board", related_name="members", on_delete=fields.CASCADE
    )
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_memberships", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=12, default=MemberRole.MEMBER.value)

    class Meta:
        app = APP
        table = "board_members"
        unique_together = (("board_id", "actor_id"),)
        indexes = (("actor_id",),)


class BoardInvite(Entity):
    """A link to join, single use (max_uses 1) or many. Only the SHA-256 of its code is kept."""

    board_id: str
    board: fields.ForeignKeyRelation[Board] = fields.ForeignKeyField(
        f"{APP}.Board", related_name="invites", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    created_by_id: str
    created_by: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_invites", on_delete=fields.CASCADE
    )
    max_uses = fields.IntField(null=True)  # null: any number until it expires
    uses = fields.IntField(default=0)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "board_invites"
        indexes = (("board_id", "id"),)


class BoardBan(Entity):
    """A banned actor reads what is public but cannot post, vote or join, until `expires_at` if set."""

    board_id: str
    board: fields.ForeignKeyRelation[Board] = fields.ForeignKeyField(
        f"{APP}.Board", related_name="bans", on_delete=fields.CASCADE
    )
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_bans", on_delete=fields.CASCADE
    )
    reason = fields.CharField(max_length=500)
    expires_at = fields.DatetimeField(null=True)
    banned_by_id: str | None
    banned_by: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_bans_given", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        app = APP
        table = "board_bans"
        unique_together = (("board_id", "actor_id"),)


class BoardMute(Entity):
    """Someone no longer sees a member's entries on a board (only for themselves)."""

    board_id: str
    board: fields.ForeignKeyRelation[Board] = fields.ForeignKeyField(
        f"{APP}.Board", related_name="mutes", on_delete=fields.CASCADE
    )
    muter_id: str
    muter: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_mutes", on_delete=fields.CASCADE
    )
    muted_id: str
    muted: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="board_muted_by", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "board_mutes"
        unique_together = (("board_id", "muter_id", "muted_id"),)
