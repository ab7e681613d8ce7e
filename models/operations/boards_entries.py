"""Board entries (issue 22, item 2): posts, replies to any depth, edits with history, tombstones,
media attachments, votes, and reviews with their aggregate per subject.

Votes are one row per (entry, voter), unique in the database; the entry's `up` and `down` move
only by conditional single-statement UPDATEs (`up = up + 1`, and a changed vote only when the
row still holds the old value), so 200 people voting at once leave an exact count on SQLite
and PostgreSQL.

Sorting threads on a discussion board: `new` (newest first), `top` (up minus down, then
newest), `hot`: (up - down + 1) / (hours since posted + 2) ** 1.5, computed over the newest
500 threads (older threads have decayed out of any hot list long before).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, model_validator
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from .. import sql
from ..actors import Actor
from ..base import Entity, column, iso
from ..boards import (
    Board,
    BoardEntry,
    BoardEntryVersion,
    BoardKind,
    BoardMember,
    BoardVote,
    SubjectKind,
    Visibility,
    entry_url,
)
from ..context import Context
from ..errors import BadInput, Conflict, Forbidden, NotFound, TooLarge
from ..ids import id_at, new_id
from ..markdown import markdown_to_html
from ..market import Lot
from ..outputs import Output, Timestamp
from ..registry import REGISTRY, Access, Input
from ..results import FileResult
from ..stores import StoreItem
from ..tokens import Media, Token, TokenType
from .boards import ID, BoardAccess, board_access, check_can_post, muted_ids, now
from .media import checked_upload, media_path, store_file

__all__ = ["count_vote", "entry_view", "insert_entry", "post_entry", "review_summary", "uncount_vote"]

HOT_WINDOW = 500
THREAD_LIMIT = 2000  # entries shown in one thread


# ---------------------------------------------------------------- views


class RemoteMediaOut(Output):
    url: str = Field(description="where the file lives (on the entry's own server; not fetched here)")
    media_type: str
    name: str


class BoardEntryOut(Output):
    id: str
    board: str
    url: str
    author: str | None = Field(description="null once deleted")
    parent: str | None
    thread: str
    depth: int
    body: str
    html: str
    media: list[str] = Field(description="media ids; GET /api/v1/boards/entries/{id}/media/{media}")
    remote_media: list[RemoteMediaOut] = Field(
        default_factory=list, description="an entry from elsewhere: its attachments, as links to its server")
    subject_kind: str | None
    subject_id: str | None
    rating: int | None
    up: int
    down: int
    score: int
    reply_count: int
    version: int
    edited_at: Timestamp
    deleted: bool
    muted: bool = Field(False, description="by you: the body is hidden")
    yours: bool = Field(False, description="you wrote it")
    your_vote: int | None = None
    refused: str | None = Field(None, description="your entry on a board of another server that its group did not "
                                                  "accept, and why (only you see it)")
    created_at: Timestamp
    replies: list[Any] | None = Field(None, description="a thread: the replies, each with its own replies")


class BoardEntriesOut(Output):
    items: list[BoardEntryOut]
    board: str
    sort: str


class BoardVersionOut(Output):
    version: int
    body: str
    rating: int | None
    created_at: Timestamp


class BoardHistoryOut(Output):
    items: list[BoardVersionOut]


def entry_view(ctx: Context, entry: BoardEntry, authors: dict[str, Actor], muted: set[str],
               votes: dict[str, int] | None = None) -> dict[str, Any]:
    deleted = entry.deleted_at is not None
    hidden = deleted or entry.author_id in muted
    author = authors.get(entry.author_id)
    return {
        "id": entry.id, "board": entry.board_id, "url": entry_url(ctx.site.base_url, entry),
        "author": None if deleted or author is None else author.handle(ctx.site.domain),
        "parent": entry.parent_id, "thread": entry.thread_id, "depth": entry.depth,
        "body": "" if hidden else entry.body, "html": "" if hidden else markdown_to_html(entry.body),
        "media": [] if hidden else list(entry.media or []),
        "remote_media": [] if hidden else list(entry.remote_media or []), "refused": entry.refused, "subject_kind": entry.subject_kind,
        "subject_id": entry.subject_id, "rating": None if deleted else entry.rating, "up": entry.up,
        "down": entry.down, "score": entry.score, "reply_count": entry.reply_count, "version": entry.version,
        "edited_at": iso(entry.edited_at), "deleted": deleted, "muted": entry.author_id in muted and not deleted,
        "your_vote": (votes or {}).get(entry.id), "created_at": iso(entry.created_at),
        "yours": ctx.actor is not None and entry.author_id == ctx.actor.id,
    }


def _shown(ctx: Context, entries: list[BoardEntry]) -> list[BoardEntry]:
    """Without the refused entries of others: a post the group did not accept is only its author's."""
    me = ctx.actor.id if ctx.actor is not None else None
    return [entry for entry in entries if entry.refused is None or entry.author_id == me]


async def _views(ctx: Context, entries: list[BoardEntry], board_id: str) -> list[dict[str, Any]]:
    ids = {entry.author_id for entry in entries}
    authors = {actor.id: actor for actor in await Actor.filter(id__in=ids)} if ids else {}
    muted = await muted_ids(board_id, ctx.actor)
    votes: dict[str, int] = {}
    if ctx.actor is not None and entries:
        rows = await BoardVote.filter(voter_id=ctx.actor.id, entry_id__in=[entry.id for entry in entries])
        votes = {row.entry_id: row.value for row in rows}
    return [entry_view(ctx, entry, authors, muted, votes) for entry in entries]


async def _entry(ctx: Context, entry_id: str) -> tuple[BoardEntry, BoardAccess]:
    entry = await BoardEntry.get_or_none(id=entry_id)
    missing = NotFound(f"there is no entry with id {entry_id!r}", code="entry-not-found")
    if entry is None or not _shown(ctx, [entry]):
        raise missing
    try:
        access = await board_access(ctx, entry.board_id)
    except NotFound:
        raise missing from None
    return entry, access


def _check_standing(entry: BoardEntry) -> None:
    """A post the board's group refused is not on the board: it takes no replies or votes."""
    if entry.refused is not None:
        raise Conflict(f"this entry is not on the board: {entry.refused}", code="entry-refused")


def _check_body(ctx: Context, body: str) -> None:
    limit = ctx.site.limits.board_markdown_max_chars
    if len(body) > limit:
        raise TooLarge(f"the text is {len(body)} characters; the limit is {limit}", code="body-too-long",
                       extra={"field": "body"})


# ---------------------------------------------------------------- posting


class BoardEntryInput(Input):
    id: str = Field(min_length=1, max_length=64, description="the board")
    body: str = Field("", max_length=100_000, description="markdown (limits.board_markdown_max_chars)")
    parent: str | None = Field(None, min_length=1, max_length=64, description="the entry replied to")
    subject_kind: SubjectKind | None = Field(None, description="reviews: token, type, item or lot")
    subject_id: str | None = Field(None, min_length=1, max_length=64)
    rating: int | None = Field(None, ge=1, le=5, description="reviews: 1 to 5 stars")

    @model_validator(mode="after")
    def _subject_whole(self) -> BoardEntryInput:
        if (self.subject_kind is None) != (self.subject_id is None):
            raise ValueError("a review names both subject_kind and subject_id")
        return self


async def _check_subject(ctx: Context, kind: SubjectKind, subject_id: str) -> None:
    models: dict[SubjectKind, type[Entity]] = {
        SubjectKind.TOKEN: Token, SubjectKind.TYPE: TokenType, SubjectKind.ITEM: StoreItem, SubjectKind.LOT: Lot,
    }
    model = models[kind]
    found = model.filter(id=subject_id)
    if kind is SubjectKind.TOKEN:
        found = found.filter(is_deleted=False)
    if not await found.exists():
        raise NotFound(f"there is no {kind.value} with id {subject_id!r} to review", code="subject-not-found",
                       extra={"field": "subject_id"})


async def insert_entry(
    board: Board, author_id: str, parent: BoardEntry | None, body: str, *, subject_kind: str | None = None,
    subject_id: str | None = None, rating: int | None = None, review_key: str | None = None, uri: str | None = None,
    published: datetime | None = None, remote_media: list[dict[str, str]] | None = None,
) -> BoardEntry:
    """Store an entry and move its parent's and board's counts: every post here, and every copy of
    one from elsewhere. IntegrityError for a second review of a subject (in a savepoint, so the
    caller's transaction stays usable).

    An entry from elsewhere (`uri`, its id there) is placed at its `published` time (not later
    than now) with an id every server that copies it derives alike (ids.id_at), so the board's
    copies on several servers list it in one order however their deliveries raced."""
    moment = now()
    posted = published if uri and published is not None and published.tzinfo is not None and published <= moment else moment
    micros = int(posted.timestamp()) * 1_000_000 + posted.microsecond
    entry_id = id_at(micros, uri or new_id())  # ours too: placed by the same clock its copies use
    extra: dict[str, Any] = {"created_at": posted}
    if uri is not None:
        extra |= {"uri": uri, "remote_media": remote_media}
    async with in_transaction():
        entry = await BoardEntry.create(
            id=entry_id, board_id=board.id, author_id=author_id, parent_id=parent.id if parent else None,
            thread_id=parent.thread_id if parent else entry_id, depth=parent.depth + 1 if parent else 0, body=body,
            subject_kind=subject_kind, subject_id=subject_id, rating=rating, review_key=review_key, **extra,
        )
    if parent is not None:
        await BoardEntry.filter(id=parent.id).update(reply_count=F("reply_count") + 1)
    await Board.filter(id=board.id).update(entry_count=F("entry_count") + 1)
    return entry


@REGISTRY.operation("boards.entries.create", BoardEntryInput, output=BoardEntryOut)
async def create_entry(ctx: Context, params: BoardEntryInput) -> dict[str, Any]:
    """Post on a board, reply to an entry, or review a subject (review boards)."""
    return await post_entry(ctx, params)


async def post_entry(ctx: Context, params: BoardEntryInput, *, uri: str | None = None,
                     published: datetime | None = None, remote_media: list[dict[str, str]] | None = None
                     ) -> dict[str, Any]:
    """boards.entries.create's rules and work; a group takes a member's post from another server
    through here with the post's id (`uri`), `published` time and attachments (kept as links)."""
    access = await board_access(ctx, params.id)
    actor = check_can_post(ctx, access)
    board = access.board
    _check_body(ctx, params.body)
    parent = None
    review_key = None
    if params.parent is not None:
        if not board.replies_allowed:
            raise Forbidden("replies are off on this board", code="replies-off")
        parent = await BoardEntry.get_or_none(id=params.parent, board_id=board.id)
        if parent is None:
            raise NotFound(f"this board has no entry {params.parent!r}", code="entry-not-found", extra={"field": "parent"})
        if parent.deleted_at is not None:
            raise Conflict("that entry was deleted: it takes no new replies", code="entry-deleted")
        _check_standing(parent)
        if params.subject_kind is not None or params.rating is not None:
            raise BadInput("a reply has no subject or rating", code="reply-not-a-review", extra={"field": "rating"})
    elif board.kind == BoardKind.REVIEW.value:
        if params.subject_kind is None or params.subject_id is None or params.rating is None:
            raise BadInput("a review names its subject (subject_kind, subject_id) and a rating of 1 to 5",
                           code="review-incomplete", extra={"field": "rating"})
        if access.elsewhere is None:  # on a board of another server, the subject is one of that server's
            await _check_subject(ctx, params.subject_kind, params.subject_id)
        review_key = f"{params.subject_kind.value}:{params.subject_id}"
    elif params.subject_kind is not None or params.rating is not None:
        raise BadInput("only review boards take a subject and a rating", code="not-a-review-board", extra={"field": "rating"})
    if not params.body.strip() and review_key is None:
        raise BadInput("write something first", code="empty-entry", extra={"field": "body"})
    try:
        entry = await insert_entry(
            board, actor.id, parent, params.body, subject_kind=params.subject_kind.value if params.subject_kind else None,
            subject_id=params.subject_id, rating=params.rating, review_key=review_key, uri=uri, published=published,
            remote_media=remote_media,
        )
    except IntegrityError:
        raise Conflict("you have already reviewed this on this board: edit your review instead",
                       code="already-reviewed") from None
    await ctx.emit("board.entry.created", "board_entry", entry.id,
                   {"board": board.id, "entry": entry.id, "parent": entry.parent_id, "author": actor.id})
    return (await _views(ctx, [entry], board.id))[0]


class BoardEntryIdInput(Input):
    id: str = ID


class BoardListEntriesInput(Input):
    id: str = Field(min_length=1, max_length=64, description="the board")
    sort: Literal["hot", "top", "new", "old"] | None = Field(
        None, description="threads: hot, top or new (discussion boards: hot; others: new; chat rooms list oldest first)"
    )
    after: str | None = Field(None, min_length=1, max_length=64, description="only entries after this id (oldest first)")
    changed_since: datetime | None = Field(
        None, description="only entries that arrived here or changed since then, the least recent first: how a chat "
                          "room follows a board whose entries from other servers take their place by when they were posted")
    limit: int = Field(50, ge=1, le=200)
    subject_kind: SubjectKind | None = None
    subject_id: str | None = Field(None, min_length=1, max_length=64)


@REGISTRY.operation("boards.entries.list", BoardListEntriesInput, output=BoardEntriesOut, access=Access.PUBLIC)
async def list_entries(ctx: Context, params: BoardListEntriesInput) -> dict[str, Any]:
    """A board's entries: a chat room's last ones (oldest first), a board's threads, or reviews.

    With `after`, only what came after that entry, oldest first (how a chat room catches up)."""
    access = await board_access(ctx, params.id)
    board = access.board
    query = BoardEntry.filter(board_id=board.id)
    if board.kind != BoardKind.CHAT.value:
        query = query.filter(parent_id=None)
    if params.subject_kind is not None:
        query = query.filter(subject_kind=params.subject_kind.value)
    if params.subject_id is not None:
        query = query.filter(subject_id=params.subject_id)
    sort: str = params.sort or ("hot" if board.kind == BoardKind.DISCUSSION.value and board.votes_allowed else "new")
    if params.changed_since is not None:
        sort = "changed"
        since = params.changed_since if params.changed_since.tzinfo else params.changed_since.replace(tzinfo=UTC)
        rows = await query.filter(updated_at__gt=since).order_by("updated_at", "id").limit(params.limit)
    elif params.after is not None:
        sort = "old"
        rows = await query.filter(id__gt=params.after).order_by("id").limit(params.limit)
    elif board.kind == BoardKind.CHAT.value and params.sort is None:
        sort = "old"
        rows = list(reversed(await query.order_by("-id").limit(params.limit)))
    elif sort == "old":
        rows = await query.order_by("id").limit(params.limit)
    elif sort == "top":
        rows = await query.annotate(net=F("up") - F("down")).order_by("-net", "-id").limit(params.limit)
    elif sort == "hot":
        recent = await query.order_by("-id").limit(HOT_WINDOW)
        moment = now()
        recent.sort(key=lambda entry: -_hot(entry, moment))
        rows = recent[: params.limit]
    else:
        rows = await query.order_by("-id").limit(params.limit)
    muted = await muted_ids(board.id, ctx.actor)
    rows = _shown(ctx, rows)
    if muted:
        rows = [row for row in rows if row.author_id not in muted]
    return {"items": await _views(ctx, rows, board.id), "board": board.id, "sort": sort}


def _hot(entry: BoardEntry, moment: datetime) -> float:
    hours = max((moment - entry.created_at).total_seconds() / 3600, 0.0)
    score = float(entry.up - entry.down + 1)
    decay = float((hours + 2) ** 1.5)
    return score / decay


@REGISTRY.operation("boards.entries.get", BoardEntryIdInput, output=BoardEntryOut, access=Access.PUBLIC)
async def get_entry(ctx: Context, params: BoardEntryIdInput) -> dict[str, Any]:
    """An entry with its replies, each with its own, to any depth (oldest first)."""
    entry, access = await _entry(ctx, params.id)
    rows = await BoardEntry.filter(thread_id=entry.thread_id, id__gt=entry.id, depth__gt=entry.depth
                                   ).order_by("id").limit(THREAD_LIMIT)
    views = await _views(ctx, [entry, *_shown(ctx, rows)], access.board.id)
    by_id = {view["id"]: {**view, "replies": []} for view in views}
    for view in views[1:]:
        parent = by_id.get(view["parent"])
        if parent is not None:
            parent["replies"].append(by_id[view["id"]])
    return by_id[entry.id]


class BoardEditInput(BoardEntryIdInput):
    body: str | None = Field(None, max_length=100_000)
    rating: int | None = Field(None, ge=1, le=5)


@REGISTRY.operation("boards.entries.update", BoardEditInput, output=BoardEntryOut)
async def edit_entry(ctx: Context, params: BoardEditInput) -> dict[str, Any]:
    """Edit your entry (its earlier versions are kept and listed in its history)."""
    entry, access = await _entry(ctx, params.id)
    actor = ctx.require_actor()
    if entry.author_id != actor.id:
        raise Forbidden("only its author edits an entry", code="not-the-author")
    check_can_post(ctx, access)
    if entry.deleted_at is not None:
        raise Conflict("this entry was deleted", code="entry-deleted")
    ctx.check_version(entry.version, "entry")
    if params.rating is not None and entry.review_key is None:
        raise BadInput("only a review has a rating", code="not-a-review", extra={"field": "rating"})
    body = entry.body if params.body is None else params.body
    _check_body(ctx, body)
    rating = entry.rating if params.rating is None else params.rating
    if body == entry.body and rating == entry.rating:
        return (await _views(ctx, [entry], entry.board_id))[0]
    await BoardEntryVersion.create(entry_id=entry.id, version=entry.version, body=entry.body, rating=entry.rating)
    moment = now()
    changed = await BoardEntry.filter(id=entry.id, version=entry.version).update(
        body=body, rating=rating, version=entry.version + 1, edited_at=moment, updated_at=moment
    )
    if not changed:
        raise Conflict("the entry changed meanwhile: load it again", code="version-mismatch")
    await ctx.emit("board.entry.edited", "board_entry", entry.id,
                   {"board": entry.board_id, "entry": entry.id, "parent": entry.parent_id, "author": actor.id,
                    "version": entry.version + 1})
    return (await _views(ctx, [await BoardEntry.get(id=entry.id)], entry.board_id))[0]


@REGISTRY.operation("boards.entries.history", BoardEntryIdInput, output=BoardHistoryOut, access=Access.PUBLIC)
async def entry_history(ctx: Context, params: BoardEntryIdInput) -> dict[str, Any]:
    """An entry's earlier versions, newest first (none once it is deleted)."""
    entry, _ = await _entry(ctx, params.id)
    if entry.deleted_at is not None:
        return {"items": []}
    rows = await BoardEntryVersion.filter(entry_id=entry.id).order_by("-version")
    return {"items": [{"version": row.version, "body": row.body, "rating": row.rating, "created_at": iso(row.created_at)}
                      for row in rows]}


@REGISTRY.operation("boards.entries.delete", BoardEntryIdInput, output=BoardEntryOut)
async def delete_entry(ctx: Context, params: BoardEntryIdInput) -> dict[str, Any]:
    """Delete an entry (its author or a moderator): a tombstone keeps its place and its replies."""
    entry, access = await _entry(ctx, params.id)
    actor = ctx.require_actor()
    if entry.author_id != actor.id and not access.can_moderate:
        raise Forbidden("only its author or the board's moderators delete an entry", code="not-the-author")
    if entry.deleted_at is None:
        moment = now()
        await BoardEntry.filter(id=entry.id).update(deleted_at=moment, deleted_by_id=actor.id, body="", media=[],
                                                    review_key=None, updated_at=moment)
        await BoardEntryVersion.filter(entry_id=entry.id).delete()  # what was said goes with it
        await ctx.emit("board.entry.deleted", "board_entry", entry.id,
                       {"board": entry.board_id, "entry": entry.id, "parent": entry.parent_id, "author": actor.id})
    return (await _views(ctx, [await BoardEntry.get(id=entry.id)], entry.board_id))[0]


# ---------------------------------------------------------------- media


class BoardAttachInput(Input):
    id: str = ID
    content: bytes
    content_type: str = Field(max_length=200)


class BoardEntryMediaInput(BoardEntryIdInput):
    media: str = ID


@REGISTRY.operation("boards.entries.attach", BoardAttachInput, output=BoardEntryOut)
async def attach_media(ctx: Context, params: BoardAttachInput) -> dict[str, Any]:
    """Attach a file (the raw body) to your entry: images or PDF, within the media limits."""
    entry, access = await _entry(ctx, params.id)
    actor = ctx.require_actor()
    if entry.author_id != actor.id:
        raise Forbidden("only its author adds media to an entry", code="not-the-author")
    check_can_post(ctx, access)
    if not access.board.media_allowed:
        raise Forbidden("media are off on this board", code="media-off")
    if entry.deleted_at is not None:
        raise Conflict("this entry was deleted", code="entry-deleted")
    most = ctx.site.limits.board_media_per_entry
    if len(entry.media or []) >= most:
        raise Conflict(f"an entry holds at most {most} files", code="too-many-media")
    content_type = checked_upload(ctx, params.content_type, params.content)
    size = len(params.content)
    digest = hashlib.sha256(params.content).hexdigest()
    await asyncio.to_thread(store_file, media_path(ctx, digest), params.content)
    media = await Media.create(owner_id=actor.id, token=None, attribute="board-entry", content_type=content_type, size=size,
                               sha256=digest)
    changed = await BoardEntry.filter(id=entry.id, version=entry.version).update(
        media=[*(entry.media or []), media.id], version=entry.version + 1, updated_at=now()
    )
    if not changed:
        raise Conflict("the entry changed meanwhile: try again", code="version-mismatch")
    return (await _views(ctx, [await BoardEntry.get(id=entry.id)], entry.board_id))[0]


@REGISTRY.operation("boards.entries.media", BoardEntryMediaInput, output=FileResult, access=Access.PUBLIC)
async def entry_media(ctx: Context, params: BoardEntryMediaInput) -> FileResult:
    """A file attached to an entry, to whoever may read the entry."""
    entry, _ = await _entry(ctx, params.id)
    if params.media not in (entry.media or []):
        raise NotFound(f"this entry has no media {params.media!r}", code="media-not-found")
    media = await Media.get(id=params.media)
    path = media_path(ctx, media.sha256)
    if not path.is_file():
        raise NotFound("the file of this media is missing from storage", code="media-file-missing")
    return FileResult(path=path, content_type=media.content_type)


# ---------------------------------------------------------------- votes


class BoardVoteInput(BoardEntryIdInput):
    value: Literal["up", "down"]


class BoardVoteOut(Output):
    entry: str
    up: int
    down: int
    score: int
    your_vote: int | None


async def _vote_view(entry_id: str, value: int | None) -> dict[str, Any]:
    entry = await BoardEntry.get(id=entry_id)
    return {"entry": entry.id, "up": entry.up, "down": entry.down, "score": entry.score, "your_vote": value}


def _count(value: int) -> str:
    return "up" if value > 0 else "down"


async def _votable(ctx: Context, entry_id: str) -> tuple[BoardEntry, Actor]:
    entry, access = await _entry(ctx, entry_id)
    actor = check_can_post(ctx, access)
    if not access.board.votes_allowed:
        raise Forbidden("votes are off on this board", code="votes-off")
    if entry.deleted_at is not None:
        raise Conflict("this entry was deleted", code="entry-deleted")
    _check_standing(entry)
    return entry, actor


async def count_vote(entry_id: str, voter_id: str, value: int) -> bool:
    """Record a vote (1 up, -1 down) and move the entry's counts exactly once; False when the voter's
    vote already stood so (or a concurrent duplicate won). Ours and those a group passes on alike."""
    existing = await BoardVote.get_or_none(entry_id=entry_id, voter_id=voter_id)
    if existing is None:
        try:
            async with in_transaction():  # a savepoint: a concurrent duplicate leaves this transaction usable
                await BoardVote.create(entry_id=entry_id, voter_id=voter_id, value=value)
        except IntegrityError:
            return False
        await BoardEntry.filter(id=entry_id).update(**{_count(value): F(_count(value)) + 1})
        return True
    if existing.value == value:
        return False
    # Only if the row still holds the old value: two changes at once move the counts once.
    if await BoardVote.filter(id=existing.id, value=existing.value).update(value=value):
        await BoardEntry.filter(id=entry_id).update(
            **{_count(value): F(_count(value)) + 1, _count(existing.value): F(_count(existing.value)) - 1}
        )
    return True


async def uncount_vote(entry_id: str, voter_id: str) -> bool | None:
    """Take a vote back, moving the counts once; None when there was none, False when a concurrent
    call took it first."""
    existing = await BoardVote.get_or_none(entry_id=entry_id, voter_id=voter_id)
    if existing is None:
        return None
    if await BoardVote.filter(id=existing.id, value=existing.value).delete():
        await BoardEntry.filter(id=entry_id).update(**{_count(existing.value): F(_count(existing.value)) - 1})
        return True
    return False


@REGISTRY.operation("boards.entries.vote", BoardVoteInput, output=BoardVoteOut)
async def vote(ctx: Context, params: BoardVoteInput) -> dict[str, Any]:
    """Vote an entry up or down: one vote per person, which they may change."""
    entry, actor = await _votable(ctx, params.id)
    value = 1 if params.value == "up" else -1
    if not await count_vote(entry.id, actor.id, value):
        raise Conflict(f"you have already voted this entry {params.value}", code="already-voted")
    await ctx.emit("board.entry.voted", "board_entry", entry.id,
                   {"board": entry.board_id, "entry": entry.id, "parent": entry.parent_id, "author": actor.id,
                    "value": value})
    return await _vote_view(entry.id, value)


@REGISTRY.operation("boards.entries.unvote", BoardEntryIdInput, output=BoardVoteOut)
async def unvote(ctx: Context, params: BoardEntryIdInput) -> dict[str, Any]:
    """Take your vote on an entry back."""
    entry, actor = await _votable(ctx, params.id)
    taken = await uncount_vote(entry.id, actor.id)
    if taken is None:
        raise NotFound("you have not voted on this entry", code="vote-not-found")
    if taken:
        await ctx.emit("board.entry.voted", "board_entry", entry.id,
                       {"board": entry.board_id, "entry": entry.id, "parent": entry.parent_id, "author": actor.id,
                        "value": 0})
    return await _vote_view(entry.id, None)


# ---------------------------------------------------------------- reviews of a subject


class BoardSubjectInput(Input):
    subject_kind: SubjectKind
    subject_id: str = Field(min_length=1, max_length=64)


class BoardSummaryOut(Output):
    subject_kind: str
    subject_id: str
    count: int
    mean: float | None = Field(description="the mean rating, to two places; null without reviews")
    stars: dict[str, int] = Field(description="how many reviews gave 1, 2, 3, 4 and 5 stars")


class BoardReviewsOut(Output):
    items: list[BoardEntryOut]
    summary: BoardSummaryOut


async def _readable_board_ids(ctx: Context) -> list[str] | None:
    """Boards whose reviews count for the caller: None means public boards only."""
    if ctx.actor is None:
        return None
    return await column(BoardMember.filter(actor_id=ctx.actor.id).values_list("board_id", flat=True), str)


async def review_summary(ctx: Context, kind: str, subject_id: str) -> dict[str, Any]:
    """Count and mean of the standing reviews of a subject on public boards and the caller's boards."""
    mine = await _readable_board_ids(ctx) or []
    marks = ", ".join("?" for _ in mine)
    member = f" OR b.id IN ({marks})" if mine else ""
    rows = await sql.fetch(
        "SELECT e.rating AS rating, COUNT(*) AS n FROM board_entries e JOIN boards b ON b.id = e.board_id"
        " WHERE e.subject_kind = ? AND e.subject_id = ? AND e.review_key IS NOT NULL AND e.deleted_at IS NULL"
        " AND e.refused IS NULL"
        f" AND (b.visibility = ?{member}) GROUP BY e.rating",
        kind, subject_id, Visibility.PUBLIC.value, *mine,
    )
    stars = {str(n): 0 for n in range(1, 6)}
    for row in rows:
        stars[str(row["rating"])] = int(row["n"])
    count = sum(stars.values())
    mean = round(sum(int(n) * c for n, c in stars.items()) / count, 2) if count else None
    return {"subject_kind": kind, "subject_id": subject_id, "count": count, "mean": mean, "stars": stars}


@REGISTRY.operation("boards.reviews.list", BoardSubjectInput, output=BoardReviewsOut, access=Access.PUBLIC)
async def list_reviews(ctx: Context, params: BoardSubjectInput) -> dict[str, Any]:
    """Reviews of a token, type, store item or lot on every board you may read, newest first,
    with their count and mean rating."""
    mine = await _readable_board_ids(ctx) or []
    boards = await Board.filter(kind=BoardKind.REVIEW.value).filter(
        id__in=mine
    ).values_list("id", flat=True) if mine else []
    public = await Board.filter(kind=BoardKind.REVIEW.value, visibility=Visibility.PUBLIC.value).values_list("id", flat=True)
    readable = {*boards, *public}
    rows = await BoardEntry.filter(subject_kind=params.subject_kind.value, subject_id=params.subject_id,
                                   review_key__not_isnull=True, board_id__in=list(readable), refused=None
                                   ).order_by("-id").limit(200)
    items: list[dict[str, Any]] = []
    for board_id in {row.board_id for row in rows}:
        items.extend(await _views(ctx, [row for row in rows if row.board_id == board_id], board_id))
    items.sort(key=lambda view: view["id"], reverse=True)
    summary = await review_summary(ctx, params.subject_kind.value, params.subject_id)
    return {"items": items, "summary": summary}


@REGISTRY.operation("boards.reviews.summary", BoardSubjectInput, output=BoardSummaryOut, access=Access.PUBLIC)
async def summarise_reviews(ctx: Context, params: BoardSubjectInput) -> dict[str, Any]:
    """The count and mean rating of a subject's reviews (as shown on its page)."""
    return await review_summary(ctx, params.subject_kind.value, params.subject_id)


class BoardReplyInput(Input):
    id: str = Field(min_length=1, max_length=64, description="the entry replied to")
    body: str = Field("", max_length=100_000, description="markdown (limits.board_markdown_max_chars)")


@REGISTRY.operation("boards.entries.reply", BoardReplyInput, output=BoardEntryOut)
async def reply(ctx: Context, params: BoardReplyInput) -> dict[str, Any]:
    """Reply to an entry (as boards.entries.create with `parent`)."""
    parent, _ = await _entry(ctx, params.id)
    made: dict[str, Any] = await create_entry(ctx, BoardEntryInput(id=parent.board_id, body=params.body, parent=parent.id))
    return made
