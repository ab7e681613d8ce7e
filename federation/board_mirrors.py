"""A board of another server (an ActivityPub `Group`, FEP-1b12) copied on a server whose users joined it (a mirror).

The mirror is an ordinary `Board` row whose `actor_id` (and `owner_id`) is the remote group's
Actor: one per group, shared by all our users. Its entries are `BoardEntry` rows whose `uri` is
the entry's id on its own server; our own users' entries on it have no `uri` and are served by us
at entry_url(). Wire format: docs/boards.md "Across servers".

- Joining: `boards.remote.join` finds the group (WebFinger, its document), makes or refreshes the
  mirror from the group's terms, then joins it as `boards.join` does on any mirror: a pending
  Follow (models/operations/boards.py), sent by this module's publisher of board.member.requested.
  The group's Accept makes the membership (federation/follows.py on_accept); a Reject keeps its reason.
- What the group passes on (`on_activity`): an `Announce` of a member's Create/Update of a Note,
  Page or Article, a Delete, a Like/Dislike or its Undo, a Block or its Undo. An entry is taken
  on the group's word when it lives on the group's server (the Announce is signed by it); one from
  a third server is taken when its FEP-8b32 proof checks out against its author, and otherwise as
  its own server serves it. Nothing stored here emits an event: only our users' doings go out.
- What our users do on a mirror (`PUBLISHERS`): posts, edits, deletions and votes go to the
  group's inbox as Create/Update/Delete/Like/Dislike/Undo, signed by the user.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.boards import (
    Board,
    BoardBan,
    BoardEntry,
    BoardEntryVersion,
    BoardKind,
    BoardVote,
    Visibility,
    entry_url,
)
from models.context import Context, Site
from models.errors import Unprocessable
from models.events import Event
from models.federation import Follow, OutboxActivity, RemoteActor
from models.operations.boards import BoardIdInput, BoardOut, join_board, mirror_of, place_ban
from models.operations.boards_entries import count_vote, insert_entry, uncount_vote
from models.registry import REGISTRY, Input, Transaction

from . import board_events, documents
from .as2 import as_id, as_list, as_time, domain_of, type_of
from .fetch import FetchError, fetch_json
from .follows import local_actor_of, resolve_target
from .outbox import activity_url, publish
from .remote_actors import remote_actor
from .signed_objects import ObjectRefused, verify_remote_object

__all__ = ["PUBLISHERS", "on_activity", "take_announced"]

log = logging.getLogger("tallystick.board_mirrors")

GROUP = "Group"
ENTRY_TYPES = frozenset({"Note", "Page", "Article"})
VOTES = {"Like": 1, "Dislike": -1}
REFUSABLE = frozenset({"Create", "Update", *VOTES})  # what of ours a group answers with a Reject
MAX_BODY = 100_000  # characters of a remote entry kept (the group applied its own limit)
_TAGS = re.compile(r"<[^>]*>")
_BREAKS = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.IGNORECASE)


# ---------------------------------------------------------------- the group's terms


def _text(value: Any) -> str:
    """Plain text of remote HTML (paragraphs and breaks kept as line breaks); pages escape it again."""
    if not isinstance(value, str):
        return ""
    return html.unescape(_TAGS.sub("", _BREAKS.sub("\n\n", value))).strip()


def _markdown_of(document: Mapping[str, Any], field: str = "content") -> str:
    """The markdown a document was written in (`source`, as we and Lemmy send it), else its HTML as text."""
    source = document.get("source")
    markdown = isinstance(source, Mapping) and source.get("mediaType") == "text/markdown"
    if isinstance(source, Mapping) and markdown and isinstance(source.get("content"), str):
        return str(source["content"])
    return _text(document.get(field))


def _flag(document: Mapping[str, Any], name: str, default: bool) -> bool:
    value = document.get(name)
    return value if isinstance(value, bool) else default


def group_settings(document: Mapping[str, Any]) -> dict[str, Any]:
    """A mirror's name, description, kind and rules from its Group document (our terms, docs/boards.md);
    a group without them (a Lemmy community) is a public discussion board anyone may post to."""
    kinds = {kind.value for kind in BoardKind}
    kind = document.get("boardKind") if document.get("boardKind") in kinds else BoardKind.DISCUSSION.value
    visibilities = {visibility.value for visibility in Visibility}
    visibility = document.get("boardVisibility")
    name = document.get("name") or document.get("preferredUsername") or domain_of(str(as_id(document) or ""))
    votes = _flag(document, "votesAllowed", kind == BoardKind.DISCUSSION.value) and kind != BoardKind.REVIEW.value
    return {
        "name": str(name)[:100], "description": _markdown_of(document, "summary")[:5000], "kind": kind,
        "visibility": visibility if visibility in visibilities else Visibility.PUBLIC.value,
        "members_only": _flag(document, "membersOnly", False),
        "replies_allowed": _flag(document, "repliesAllowed", True),
        "media_allowed": _flag(document, "mediaAllowed", True), "votes_allowed": votes,
    }


async def _mirror(group: Actor, document: Mapping[str, Any]) -> Board:
    """The mirror of this group, made or brought up to date (inside the caller's transaction).

    One per group even when two of our users join at once: the mirror's id is its group actor's
    id (both are ids of ours, unique), so the second insert fails on the primary key."""
    settings = group_settings(document)
    board = await mirror_of(group.id)
    if board is None:
        try:
            async with in_transaction():  # a savepoint: a lost race leaves the caller's transaction usable
                return await Board.create(id=group.id, owner_id=group.id, actor_id=group.id, member_count=0, **settings)
        except IntegrityError:
            board = await Board.get(id=group.id)
    await Board.filter(id=board.id).update(**settings, updated_at=datetime.now(UTC))
    return await Board.get(id=board.id)


# ---------------------------------------------------------------- joining


class RemoteJoinInput(Input):
    group: str = Field(min_length=3, max_length=2048,
                       description="the board's group: handle@host, !handle@host or its URL")


@REGISTRY.operation("boards.remote.join", RemoteJoinInput, output=BoardOut, transaction=Transaction.NONE)
async def join_remote(ctx: Context, params: RemoteJoinInput) -> dict[str, Any]:
    """Join a board of another server (an ActivityPub Group, such as a Lemmy community): it is copied
    here, and you become a member when its server accepts."""
    ctx.require_actor()
    target = params.group.strip().removeprefix("!")
    group = await resolve_target(ctx, target)  # WebFinger and the actor's document, before any transaction
    if group.is_local:
        ours = await Board.filter(actor_id=group.id).first()
        if ours is None:
            raise Unprocessable(f"{target} is not a board: it is an account of this server", code="not-a-group")
        joined: dict[str, Any] = await join_board(ctx, BoardIdInput(id=ours.id))
        return joined
    if group.kind != GROUP:
        raise Unprocessable(f"{target} is not a board (a Group): it is a {group.kind}", code="not-a-group")
    try:
        document = await fetch_json(ctx.site, group.uri or "")
    except FetchError as error:
        raise Unprocessable(f"cannot fetch {group.uri}: {error.detail}", code="remote-actor-unavailable") from None
    async with in_transaction():
        board = await _mirror(group, document)
        made: dict[str, Any] = await join_board(ctx, BoardIdInput(id=board.id))
    return made


# ---------------------------------------------------------------- what the group passes on


async def on_activity(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """An activity a group we mirror sent (an Announce of what it accepted, a Block, an Update of
    itself); None when the sender is no group we mirror, or when the inbox's own handler should
    also see it (an Update of the group's profile)."""
    board = await mirror_of(sender.actor_id)
    if board is None:
        return None
    kind, obj = activity["type"], activity.get("object")
    if kind == "Update" and as_id(obj) == sender.uri and isinstance(obj, Mapping):
        await Board.filter(id=board.id).update(**group_settings(obj), updated_at=datetime.now(UTC))
        return None  # the actor cache is refreshed by the inbox's Update handler
    if kind == "Announce":
        return await _announced(site, board, sender, obj)
    if kind == "Reject":
        return await _refused(site, board, sender, activity)  # None: a Reject of a Follow (federation/follows.py)
    if kind == "Block" or (kind == "Undo" and isinstance(obj, Mapping) and type_of(obj) == "Block"):
        return await _inner(site, board, sender, activity)  # a ban sent straight to one of our users
    return None


async def _announced(site: Site, board: Board, group: RemoteActor, obj: Any) -> str:
    if isinstance(obj, str):  # the activity by its URL: as its own server serves it
        url, obj = obj, await fetch_json(site, obj)
        by = as_id(obj.get("actor") or obj.get("attributedTo")) or ""
        if as_id(obj) != url or domain_of(url) not in (domain_of(group.uri), domain_of(by)):
            return f"ignored: {url} serves what neither its server nor the group's vouches for"
    if not isinstance(obj, Mapping):
        return "ignored: an Announce of nothing"
    if type_of(obj) in ENTRY_TYPES:  # an object announced by itself (as Mastodon-shaped groups do)
        return await _entry_in(site, board, group, "Create", obj)
    return await _inner(site, board, group, obj)


async def take_announced(site: Site, board: Board, group: RemoteActor, obj: Any) -> str:
    """What the group passed on (an Announce's object), taken as its Announce would be: the
    board's history (federation/board_backfill.py) goes through the same checks."""
    return await _announced(site, board, group, obj)


async def _inner(site: Site, board: Board, group: RemoteActor, activity: Mapping[str, Any]) -> str:
    """One activity the group passed on (or sent itself), by type."""
    kind, obj = type_of(activity), activity.get("object")
    actor = as_id(activity.get("actor")) or ""
    if await local_actor_of(site, actor) is not None:
        return "ignored: ours (already here)"
    if kind in ("Create", "Update"):
        return await _entry_in(site, board, group, kind, obj)
    if kind == "Delete":
        return await _delete(site, board, group, actor, obj)
    if kind in VOTES:
        return await _vote(site, board, actor, obj, VOTES[kind])
    if kind == "Block":
        return await _block(site, board, group, actor, activity)
    if kind == "Undo" and isinstance(obj, Mapping) and type_of(obj) in VOTES:
        return await _vote(site, board, actor, obj.get("object"), 0)
    if kind == "Undo" and isinstance(obj, Mapping) and type_of(obj) == "Block":
        return await _unblock(site, board, group, actor, obj)
    return f"ignored: the group passed on a {kind} this board does not take"


async def _our_entry(site: Site, board: Board, url: str) -> BoardEntry | None:
    """The entry of this mirror at `url`: one from elsewhere by its uri, one of ours by our URL."""
    prefix = f"{site.base_url}/boards/{board.id}/entries/"
    if url.startswith(prefix):
        return await BoardEntry.get_or_none(id=url[len(prefix):], board_id=board.id)
    return await BoardEntry.get_or_none(uri=url, board_id=board.id)


async def _trusted(site: Site, group: RemoteActor, obj: Any) -> Mapping[str, Any] | str:
    """The entry document to take, or why not: the group's server vouches for its own; a third
    server's is taken when its proof checks out, otherwise as its own server serves it."""
    uri = as_id(obj) or ""
    if not uri.startswith(("https://", "http://")):
        return "ignored: an entry without an id"
    if isinstance(obj, Mapping) and domain_of(uri) == domain_of(group.uri):
        return obj
    if isinstance(obj, Mapping) and "proof" in obj:
        try:
            await verify_remote_object(site, obj)
        except ObjectRefused as refused:
            log.info("board_mirrors: %s refused: %s", uri, refused.reason)
            return f"ignored: refused: {refused.reason}"[:500]
        return obj
    fetched = await fetch_json(site, uri)
    if as_id(fetched) != uri:
        return f"ignored: {uri} serves another object"
    return fetched


async def _entry_in(site: Site, board: Board, group: RemoteActor, kind: str, obj: Any) -> str:
    """A member's post, reply or review (or its new version) passed on by the group: stored or updated."""
    uri = as_id(obj) or ""
    if uri.startswith(f"{site.base_url}/"):
        return "ignored: ours (already here)"
    document = await _trusted(site, group, obj)
    if isinstance(document, str):
        return document
    if type_of(document) not in ENTRY_TYPES:
        return f"ignored: a {type_of(document)} is no board entry"
    author_uri = next((a for a in (as_id(item) for item in as_list(document.get("attributedTo"))) if a), "")
    if not author_uri or domain_of(author_uri) != domain_of(uri):
        return "ignored: the entry's author does not live where the entry does"
    author = await remote_actor(site, author_uri)
    parent: BoardEntry | None = None
    replied = as_id(document.get("inReplyTo"))
    if replied:
        parent = await _our_entry(site, board, replied)
        if parent is None:  # deliveries race: the reply may come before what it answers
            raise FetchError("unreachable", f"the entry {uri} replies to {replied}, which has not reached us yet")
    body = _with_title(document.get("name"), _markdown_of(document))
    rating = document.get("rating")
    subject = document.get("subject")
    subject = subject if isinstance(subject, Mapping) and parent is None else {}  # a reply reviews nothing
    subject_kind = str(subject.get("kind"))[:8] if subject.get("kind") else None
    subject_id = str(subject.get("id"))[:64] if subject.get("id") else None
    rating = rating if isinstance(rating, int) and 1 <= rating <= 5 and subject_kind and subject_id else None
    async with in_transaction():
        existing = await BoardEntry.get_or_none(uri=uri)
        if existing is not None:
            media = _attachments(site, board, document)
            return await _update(existing, board, author.actor_id, body[:MAX_BODY], rating, media)
        try:
            await insert_entry(
                board, author.actor_id, parent, body[:MAX_BODY], subject_kind=subject_kind, subject_id=subject_id,
                rating=rating, review_key=f"{subject_kind}:{subject_id}" if rating else None, uri=uri,
                published=as_time(document.get("published")), remote_media=_attachments(site, board, document),
            )
        except IntegrityError:
            return "ignored: a second review of one subject by one author"
    return "stored board entry" if kind == "Create" else "stored board entry (first seen in an Update)"


def _attachments(site: Site, board: Board, document: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """The entry's attachments as links (docs/boards.md); none where the group has media off, as
    the group itself keeps none then."""
    if not board.media_allowed:
        return None
    return documents.board_entry_attachments(document, site.limits.board_media_per_entry) or None


def _with_title(name: Any, body: str) -> str:
    """The body with the Page's title on top (a Lemmy post's), unless the title is just the body's
    first words (as our Pages name themselves, documents.board_entry_document)."""
    title = _text(name) if isinstance(name, str) else ""
    if not title or " ".join(body.split()).startswith(title.removesuffix("…")) or (title == "Untitled" and not body):
        return body
    return f"**{title}**\n\n{body}"


async def _update(entry: BoardEntry, board: Board, author_id: str, body: str, rating: int | None,
                  media: list[dict[str, str]] | None) -> str:
    if entry.board_id != board.id or entry.author_id != author_id:
        return "ignored: the entry is not this board's or not this author's"
    if entry.deleted_at is not None:
        return "ignored: the entry was deleted"
    rating = rating if entry.review_key is not None else entry.rating
    if media != entry.remote_media:
        await BoardEntry.filter(id=entry.id).update(remote_media=media)
    if body == entry.body and rating == entry.rating:
        return "ignored: no change" if media == entry.remote_media else "updated board entry's attachments"
    await BoardEntryVersion.create(entry_id=entry.id, version=entry.version, body=entry.body, rating=entry.rating)
    moment = datetime.now(UTC)
    await BoardEntry.filter(id=entry.id).update(body=body, rating=rating, version=F("version") + 1, edited_at=moment,
                                                updated_at=moment)
    return "updated board entry"


async def _moderators(site: Site, group: RemoteActor) -> set[str]:
    """Whom the group names as its owner and moderators (`attributedTo`, `moderators`: actors or a collection)."""
    document = await fetch_json(site, group.uri)
    found: set[str] = set()
    for field in ("attributedTo", "moderators"):
        value = document.get(field)
        if isinstance(value, str) and value == as_id(value) and field == "moderators":
            try:
                collection = await fetch_json(site, value)
                value = collection.get("orderedItems") or collection.get("items") or []
            except FetchError:
                value = []
        found.update(url for url in (as_id(item) for item in as_list(value)) if url)
    return found


async def _moderates(site: Site, group: RemoteActor, actor: str) -> bool:
    """Whether `actor` may moderate the group: the group itself, an account of its own server (that
    server let them, or it would not pass it on; a non-public group names no moderators), or one
    of the moderators it names."""
    if actor == group.uri or domain_of(actor) == domain_of(group.uri):
        return True
    return actor in await _moderators(site, group)


async def _delete(site: Site, board: Board, group: RemoteActor, actor: str, obj: Any) -> str:
    """An entry deleted by its author, the group, or a moderator the group names: a tombstone."""
    entry = await _our_entry(site, board, as_id(obj) or "")
    if entry is None:
        return "ignored: no such entry here"
    if entry.deleted_at is not None:
        return "ignored: already deleted"
    author = await Actor.get(id=entry.author_id)
    author_url = author.uri if not author.is_local else local_actor_url(site.base_url, author)
    if actor != author_url and not await _moderates(site, group, actor):
        return "ignored: deleted by someone who is neither its author nor a moderator"
    by = await RemoteActor.get_or_none(uri=actor)
    moment = datetime.now(UTC)
    async with in_transaction():
        await BoardEntry.filter(id=entry.id).update(deleted_at=moment, deleted_by_id=by.actor_id if by else None,
                                                    body="", media=[], review_key=None, updated_at=moment)
        await BoardEntryVersion.filter(entry_id=entry.id).delete()
    return "deleted board entry"


async def _vote(site: Site, board: Board, actor: str, obj: Any, value: int) -> str:
    """A vote (1 up, -1 down) or its taking back (0), counted as ours are (exactly once)."""
    entry = await _our_entry(site, board, as_id(obj) or "")
    if entry is None:
        return "ignored: a vote on no entry here"
    if not actor:
        return "ignored: a vote by nobody"
    voter = await remote_actor(site, actor)
    async with in_transaction():
        if value == 0:
            return "vote taken back" if await uncount_vote(entry.id, voter.actor_id) else "ignored: no such vote"
        return "vote counted" if await count_vote(entry.id, voter.actor_id, value) else "ignored: the vote stood so"


async def _refused(site: Site, board: Board, group: RemoteActor, reject: Mapping[str, Any]) -> str | None:
    """The group refused one of our users' activities (`Reject` {object: it, by id or embedded}): a post
    is marked refused (only its author sees it, with the reason; it leaves the board's counts), a vote
    is taken back. None when the Reject is not of such an activity (a Follow's: federation/follows.py).
    The activity is looked up in our own outbox: the Reject is believed only about what we sent it."""
    activity_id = as_id(reject.get("object")) or ""
    prefix = activity_url(site.base_url, "")
    row = await OutboxActivity.get_or_none(id=activity_id[len(prefix):]) if activity_id.startswith(prefix) else None
    if row is None or row.type not in REFUSABLE:
        return None
    if group.uri not in [as_id(value) for value in as_list(row.document.get("to"))]:
        return "ignored: a Reject of an activity not sent to this group"
    entry = await _our_entry(site, board, as_id(row.document.get("object")) or "")
    if entry is None or (entry.uri is not None and row.type not in VOTES):
        return "ignored: a Reject about no entry of ours on this board"
    reason = _text(reject.get("summary") or reject.get("content"))[:500] or "no reason given"
    if row.type in VOTES:
        held = await BoardVote.get_or_none(entry_id=entry.id, voter_id=row.actor_id)
        if held is None or held.value != VOTES[row.type]:
            return "ignored: a refused vote that no longer stands"
        async with in_transaction():
            await uncount_vote(entry.id, row.actor_id)
        return f"vote taken back: the group refused it: {reason}"
    if row.type == "Update":
        return f"edit not taken by the group: {reason}"
    if entry.author_id != row.actor_id or entry.refused is not None:
        return "ignored: already refused"
    words = f"Not accepted by {(await Actor.get(id=group.actor_id)).handle(site.domain)}: {reason}"
    async with in_transaction():
        if await BoardEntry.filter(id=entry.id, refused=None).update(refused=words, updated_at=datetime.now(UTC)):
            await Board.filter(id=board.id).update(entry_count=F("entry_count") - 1)
            if entry.parent_id is not None:
                await BoardEntry.filter(id=entry.parent_id).update(reply_count=F("reply_count") - 1)
    return f"entry refused by the group: {reason}"


async def _banned(site: Site, group: RemoteActor, block: Mapping[str, Any]) -> Actor | str:
    """Whom a Block of the group bans (one of ours, or an actor of another server), or why none."""
    if as_id(block.get("target")) not in (None, group.uri) or not as_id(block.get("object")):
        return "ignored: a Block of something else than a member of this group"
    target = as_id(block.get("object")) or ""
    ours = await local_actor_of(site, target)
    if ours is not None:
        return ours
    if target.startswith(f"{site.base_url}/"):
        return "ignored: a Block of nobody here"
    return await Actor.get(id=(await remote_actor(site, target)).actor_id)


async def _block(site: Site, board: Board, group: RemoteActor, actor: str, block: Mapping[str, Any]) -> str:
    """The group banned someone: they stop being a member here and cannot post or vote (403)."""
    if actor and not await _moderates(site, group, actor):
        return "ignored: a Block by someone who is no moderator of the group"
    banned = await _banned(site, group, block)
    if isinstance(banned, str):
        return banned
    reason = _text(block.get("summary") or block.get("content"))[:500] or f"banned on {domain_of(group.uri)}"
    expires = as_time(block.get("endTime"))
    async with in_transaction():
        await place_ban(board.id, banned.id, reason, expires, None)
        # a join after the ban is lifted asks the group again
        await Follow.filter(follower_id=banned.id, target_id=group.actor_id, object_uri="").delete()
    return "banned from board"


async def _unblock(site: Site, board: Board, group: RemoteActor, actor: str, block: Mapping[str, Any]) -> str:
    if actor and not await _moderates(site, group, actor):
        return "ignored: an Undo of a Block by someone who is no moderator of the group"
    banned = await _banned(site, group, block)
    if isinstance(banned, str):
        return banned
    lifted = await BoardBan.filter(board_id=board.id, actor_id=banned.id).delete()
    return "ban lifted" if lifted else "ignored: no such ban"


# ---------------------------------------------------------------- what our users do on a mirror


def _payload(event: Event) -> Mapping[str, Any]:
    return event.payload if isinstance(event.payload, Mapping) else {}


async def _send(site: Site, event: Event, actor: Actor, kind: str, obj: Any, group: Actor, board: Board,
                *, row_id: str | None = None, public: bool = True) -> bool:
    """One activity of our user to the group's inbox (at most once: stored under the event's id)."""
    row_id = row_id or event.id
    remote = await RemoteActor.get_or_none(actor_id=group.id, gone_at=None)
    if remote is None or not actor.is_local or await OutboxActivity.filter(id=row_id).exists():
        return False
    to = [remote.uri, *([documents.PUBLIC] if public and board.visibility == Visibility.PUBLIC.value else [])]
    try:
        async with in_transaction():
            await publish(site, actor, kind, obj, inboxes=[remote.inbox], to=to, row_id=row_id,
                          extra={"audience": remote.uri})
    except IntegrityError:  # another sweeper made it first
        return False
    return True


async def _author_entry(event: Event) -> tuple[BoardEntry, Actor] | None:
    """The entry an event is about and our user who did it, when that user is its author."""
    entry = await BoardEntry.get_or_none(id=str(_payload(event).get("entry") or event.object_id))
    actor = await Actor.get_or_none(id=str(_payload(event).get("author") or ""))
    if entry is None or actor is None or not actor.is_local:
        return None
    return entry, actor


async def _written(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """Our user's post (a Create) or edit (an Update) of their entry, as its signed Note or Page."""
    found = await _author_entry(event)
    if found is None or found[0].author_id != found[1].id:
        return False
    entry, author = found
    created = event.name == "board.entry.created"
    if (entry.uri is not None) if created else (entry.deleted_at is not None):
        return False  # a copy of an entry from elsewhere is not ours to send; a deleted one has no new words
    document = await board_events.entry_document(site, entry)
    return await _send(site, event, author, "Create" if created else "Update", document, group, board)


async def _deleted(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """Only a deletion by its author goes out: a moderator of ours moderates our copy only."""
    found = await _author_entry(event)
    if found is None or found[0].author_id != found[1].id:
        return False
    entry, author = found
    return await _send(site, event, author, "Delete", entry_url(site.base_url, entry), group, board)


async def _last_vote(site: Site, author: Actor, url: str) -> dict[str, Any] | None:
    """The user's last Like or Dislike of the entry at `url`, as sent (for its Undo)."""
    rows = await OutboxActivity.filter(actor_id=author.id, type__in=list(VOTES)).order_by("-id").limit(200)
    for row in rows:
        if row.document.get("object") == url:
            return {key: value for key, value in row.document.items() if key != "@context"}
    return None


async def _voted(site: Site, event: Event, board: Board, group: Actor) -> bool:
    found = await _author_entry(event)
    if found is None:
        return False
    entry, voter = found
    url = entry_url(site.base_url, entry)
    value = _payload(event).get("value")
    if value in (1, -1):
        return await _send(site, event, voter, "Like" if value == 1 else "Dislike", url, group, board)
    last = await _last_vote(site, voter, url)
    return last is not None and await _send(site, event, voter, "Undo", last, group, board)


async def _requested(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """Our user asks to join: a Follow of the group, stored under the Follow row's id (its activity_uri)."""
    follow = await Follow.get_or_none(id=str(_payload(event).get("follow") or ""))
    actor = await Actor.get_or_none(id=follow.follower_id) if follow is not None else None
    if follow is None or actor is None or follow.state != "pending":
        return False
    return await _send(site, event, actor, "Follow", group.uri, group, board, row_id=follow.id, public=False)


async def _left(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """Our user left (or took back a request): Undo of their Follow."""
    follow_id = _payload(event).get("follow")
    actor = await Actor.get_or_none(id=event.actor_id) if event.actor_id else None
    if not follow_id or actor is None:
        return False
    undo = {"id": activity_url(site.base_url, str(follow_id)), "type": "Follow",
            "actor": local_actor_url(site.base_url, actor), "object": group.uri}
    return await _send(site, event, actor, "Undo", undo, group, board, public=False)


# event name -> publisher, for boards whose Group actor is elsewhere (federation/board_events.py routes)
PUBLISHERS: dict[str, Callable[[Site, Event, Board, Actor], Awaitable[bool]]] = {
    "board.entry.created": _written,
    "board.entry.edited": _written,
    "board.entry.deleted": _deleted,
    "board.entry.voted": _voted,
    "board.member.requested": _requested,
    "board.member.left": _left,
}
