"""A board as an ActivityPub `Group` actor (FEP-1b12), on the board's own server (the origin).

Every board has a local Group actor (models/operations/boards_actors.py). Here is what the group
does across servers (wire format: docs/boards.md "Across servers"):

- A `Follow` of the group from another server is a join (`on_follow`, called by
  federation/follows.py): public and members boards take anyone not banned, an invite board only
  those already members; the answer is an `Accept`, or a `Reject` whose `content` says why.
  `Undo` {Follow} leaves.
- A member's `Create` of a Note/Page/Article, `Update`, `Delete`, `Like`/`Dislike` and
  `Undo` {Like|Dislike} (`on_activity`) are carried out by the same operations a local user's
  request runs, as that remote actor (`Context(remote=True)`), so the same rules refuse them
  (banned, not a member, replies or votes off, too long...): a refused one is not stored and the
  inbox row's outcome says why. An accepted one is passed on to the group's followers as an
  `Announce` with the activity embedded, in the same transaction.
- What local users do on the board (events whose actor is ours) is announced by `PUBLISHERS`:
  the inner activity as its author's (a Create of the entry signed by its author, FEP-8b32), the
  Announce as the group's. A ban is a `Block` by the group, to followers and the banned actor.
  Each is made once per event: its row id is the event's id (as federation/org_votes.py does).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.base import iso
from models.boards import (
    GROUP_KIND,
    Board,
    BoardBan,
    BoardEntry,
    BoardMember,
    BoardVote,
    MemberRole,
    Visibility,
    entry_url,
)
from models.context import Context, Site
from models.errors import DomainError, Gone, NotFound
from models.events import Event
from models.federation import Follow, FollowState, OutboxActivity, RemoteActor
from models.operations.boards import active_ban, board_access
from models.operations.boards_actors import group_actor
from models.registry import REGISTRY, Access, Input
from models.operations.boards_entries import (
    BoardEditInput,
    BoardEntryIdInput,
    BoardEntryInput,
    BoardVoteInput,
    post_entry,
    delete_entry,
    edit_entry,
    unvote,
    vote,
)

from . import board_events, documents
from .actors import ActorInput, actor_document
from .as2 import as_id, as_list, as_time, domain_of, type_of
from .outbox import activity_url, follower_inboxes, publish
from .outputs import ObjectDocument

__all__ = ["PUBLISHERS", "entry_document_op", "may_read", "on_activity", "on_follow"]

log = logging.getLogger("tallystick.board_groups")

POSTS = frozenset({"Note", "Page", "Article"})
MAX_URI = 2048  # board_entries.uri
UNTITLED = "Untitled"  # the name documents.board_entry_document gives a Page without words
_ENTRY_PATH = re.compile(r"/boards/([0-9a-z]{26})/entries/([0-9a-z]{26})")
Work = Callable[[Context], Awaitable[str | None]]


# ---------------------------------------------------------------- finding our groups and entries


def group_url(site: Site, group: Actor) -> str:
    return local_actor_url(site.base_url, group)


async def _our_group(site: Site, url: Any) -> tuple[Board, Actor] | None:
    """The board whose Group actor of ours `url` names, or None."""
    prefix = documents.actor_url(site.base_url, "")
    name = url[len(prefix):] if isinstance(url, str) and url.startswith(prefix) else ""
    if not name or "/" in name:
        return None
    group = await Actor.get_or_none(username=name.lower(), domain="", kind=GROUP_KIND)
    board = await Board.get_or_none(actor_id=group.id) if group is not None else None
    return (board, group) if board is not None and group is not None else None


async def _named_group(site: Site, *holders: Mapping[str, Any]) -> tuple[Board, Actor] | None:
    """The first of our groups an activity or its object addresses (audience, to, cc)."""
    for holder in holders:
        for field in ("audience", "to", "cc"):
            for value in as_list(holder.get(field)):
                found = await _our_group(site, as_id(value))
                if found is not None:
                    return found
    return None


async def _local_group(board: Board) -> Actor | None:
    """The board's group when it is ours (a board made before groups gets its own now); None
    when the group lives elsewhere (a board we mirror: federation/board_mirrors.py)."""
    if board.actor_id is None:
        return await group_actor(board)
    group = await Actor.get(id=board.actor_id)
    return group if group.is_local else None


async def _our_entry(site: Site, url: str | None) -> tuple[BoardEntry, Board, Actor] | None:
    """An entry of one of our groups' boards, by our URL or the id it came with; None otherwise."""
    if not url:
        return None
    entry: BoardEntry | None = None
    if url.startswith(f"{site.base_url}/boards/"):
        match = _ENTRY_PATH.fullmatch(url[len(site.base_url):])
        entry = await BoardEntry.get_or_none(id=match[2], board_id=match[1]) if match else None
    else:
        entry = await BoardEntry.get_or_none(uri=url)
    if entry is None:
        return None
    board = await Board.get(id=entry.board_id)
    group = await _local_group(board)
    return (entry, board, group) if group is not None else None


# ---------------------------------------------------------------- joining: Follow and Undo{Follow}


async def _answer(site: Site, group: Actor, activity: Mapping[str, Any], sender: RemoteActor, kind: str,
                  reason: str | None = None) -> None:
    original = {"id": activity["id"], "type": "Follow", "actor": sender.uri, "object": group_url(site, group)}
    await publish(site, group, kind, original, inboxes=[sender.inbox], to=[sender.uri],
                  extra={"content": reason} if reason else None)


async def on_follow(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """A remote actor follows one of our groups: a join, answered Accept (now a member) or Reject
    (banned; an invite-only board they are not a member of). None when the Follow is of no group."""
    prefix = documents.actor_url(site.base_url, "")
    target = as_id(activity.get("object")) or ""
    name = target[len(prefix):].lower() if target.startswith(prefix) else ""
    group = await Actor.get_or_none(username=name, domain="", kind=GROUP_KIND) if name and "/" not in name else None
    if group is None:
        return None
    board = await Board.get_or_none(actor_id=group.id)
    actor = await Actor.get(id=sender.actor_id)
    async with in_transaction():
        if board is None:
            await _answer(site, group, activity, sender, "Reject", "this board no longer exists")
            return "rejected: the board no longer exists"
        ban = await active_ban(board.id, actor.id)
        member = await BoardMember.get_or_none(board_id=board.id, actor_id=actor.id)
        reason = None
        if ban is not None:
            until = f" until {iso(ban.expires_at)}" if ban.expires_at else ""
            reason = f"you are banned from this board{until}: {ban.reason}"
        elif board.visibility == Visibility.INVITE.value and member is None:
            reason = "this board is invite only: ask a moderator for an invite"
        if reason is not None:
            await Follow.filter(follower_id=actor.id, target_id=group.id).delete()
            await _answer(site, group, activity, sender, "Reject", reason)
            return f"rejected: {reason}"
        row = await Follow.get_or_none(follower_id=actor.id, target_id=group.id, object_uri="")
        if row is None:
            await Follow.create(follower_id=actor.id, target_id=group.id, state=FollowState.ACCEPTED.value,
                                activity_uri=str(activity["id"]))
        else:  # a repeated Follow: answered again (its server may have lost our Accept), one row
            await Follow.filter(id=row.id).update(activity_uri=str(activity["id"]), state=FollowState.ACCEPTED.value)
        if member is None:
            try:
                async with in_transaction():  # a savepoint: the same Follow processed twice at once joins once
                    await BoardMember.create(board_id=board.id, actor_id=actor.id, role=MemberRole.MEMBER.value)
            except IntegrityError:
                member = await BoardMember.get(board_id=board.id, actor_id=actor.id)
            else:
                await Board.filter(id=board.id).update(member_count=F("member_count") + 1)
                await Context(site=site, actor=actor, remote=True).emit(
                    "board.member.joined", "board", board.id,
                    {"board": board.id, "username": actor.handle(site.domain), "how": "followed"})
        await _answer(site, group, activity, sender, "Accept")
    return "accepted: a member" if member is None else "accepted: already a member"


async def _leave(site: Site, sender: RemoteActor, board: Board, group: Actor) -> str:
    """Undo{Follow} of our group: no longer a follower, nor a member (the owner stays)."""
    actor = await Actor.get(id=sender.actor_id)
    async with in_transaction():
        unfollowed = await Follow.filter(follower_id=actor.id, target_id=group.id).delete()
        left = await BoardMember.filter(board_id=board.id, actor_id=actor.id, role__not=MemberRole.OWNER.value).delete()
        if left:
            await Board.filter(id=board.id).update(member_count=F("member_count") - left)
            await Context(site=site, actor=actor, remote=True).emit(
                "board.member.left", "board", board.id,
                {"board": board.id, "username": actor.handle(site.domain), "how": "unfollowed"})
    return "left the board" if left else "unfollowed" if unfollowed else "ignored: not a follower of the group"


# ---------------------------------------------------------------- members' activities


def _body(obj: Mapping[str, Any]) -> str:
    """The entry's words: the markdown `source` when given (ours, Lemmy's), else the HTML `content`
    (Mastodon's; sanitised when shown). A Lemmy post's `name` (its title) leads, unless the body
    already starts with it (our own Pages are named by their first words)."""
    source = obj.get("source")
    if isinstance(source, Mapping) and source.get("mediaType") == "text/markdown" and isinstance(source.get("content"), str):
        body = str(source["content"])
    else:
        content = obj.get("content")
        body = content if isinstance(content, str) else ""
    name = obj.get("name")
    if name == UNTITLED and not body.strip():
        return ""  # a review without words, as our documents name it
    if type_of(obj) in ("Page", "Article") and isinstance(name, str) and name.strip():
        title = " ".join(name.split()).rstrip("…").strip()
        if title and not " ".join(body.split()).startswith(title):
            body = f"**{' '.join(name.split())}**\n\n{body}" if body.strip() else " ".join(name.split())
    return str(body)


def _attachments(site: Site, board: Board, obj: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """The post's attachments, kept as links (none on a board with media off)."""
    if not board.media_allowed:
        return None
    return documents.board_entry_attachments(obj, site.limits.board_media_per_entry) or None


def _review(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A review's rating and subject, when the object carries them (our terms)."""
    subject = obj.get("subject")
    found: dict[str, Any] = {}
    if obj.get("rating") is not None:
        found["rating"] = obj.get("rating")
    if isinstance(subject, Mapping):
        found |= {"subject_kind": subject.get("kind"), "subject_id": subject.get("id")}
    return found


async def _announce(site: Site, board: Board, group: Actor, obj: Any, *, row_id: str | None = None) -> None:
    """The group passes `obj` on to its followers: public on a public board, else to followers only."""
    followers = await follower_inboxes(group)
    url = group_url(site, group)
    extra = {"audience": url}
    if board.visibility == Visibility.PUBLIC.value:
        await publish(site, group, "Announce", obj, followers=followers, row_id=row_id, extra=extra)
    else:
        await publish(site, group, "Announce", obj, inboxes=followers, to=[f"{url}/followers"], row_id=row_id,
                      extra=extra)


# what the board's rules refuse: answered with a Reject to the sender (their copy shows it refused);
# a vote that already stood so, a bad id or malformed input are not: nothing to take back there
ANSWERED = frozenset({"Create", "Update", "Like", "Dislike"})
NOT_ANSWERED = frozenset({"already-voted", "version-mismatch"})


async def _reject(site: Site, group: Actor, activity: Mapping[str, Any], sender: RemoteActor,
                  error: DomainError) -> None:
    """`Reject` {actor: the group, object: the refused activity (its id, type, actor and object's id),
    summary/content: why} to the sender, so their server marks their post refused (or takes the vote back)."""
    refused = {"id": activity.get("id"), "type": activity["type"], "actor": sender.uri,
               "object": as_id(activity.get("object"))}
    reason = error.detail
    async with in_transaction():
        await publish(site, group, "Reject", refused, inboxes=[sender.inbox], to=[sender.uri],
                      extra={"summary": reason, "content": reason})


def _refusal(error: Exception) -> str:
    if isinstance(error, DomainError):
        return f"{error.code}: {error.detail}"
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"invalid {where or 'input'}: {first['msg']}"
    return str(error)


async def _carry_out(site: Site, sender: RemoteActor, board: Board, group: Actor, activity: Mapping[str, Any],
                     work: Work) -> str:
    """Run `work` as the sender; if it did something, announce the activity, all in one transaction.
    A refusal stores nothing and is the row's outcome ("ignored: ...")."""
    ctx = Context(site=site, actor=await Actor.get(id=sender.actor_id), remote=True)
    try:
        async with in_transaction():
            outcome = await work(ctx)
            if outcome is None:
                return "ignored: nothing changed"
            embedded = {key: value for key, value in activity.items() if key != "@context"}
            await _announce(site, board, group, embedded)
    except (DomainError, ValidationError) as error:
        why = _refusal(error)
        log.info("board_groups: %s %s from %s refused: %s", activity["type"], activity.get("id"), sender.uri, why)
        if isinstance(error, DomainError) and activity["type"] in ANSWERED and error.code not in NOT_ANSWERED:
            await _reject(site, group, activity, sender, error)
            return f"ignored: {why} (answered Reject)"
        return f"ignored: {why}"
    except IntegrityError:  # the same post, received twice at once
        return "duplicate"
    return outcome


async def _on_create(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    obj = activity.get("object")
    if not isinstance(obj, Mapping) or type_of(obj) not in POSTS:
        return None
    parent_url = as_id(obj.get("inReplyTo"))
    parent = await _our_entry(site, parent_url)
    named = await _named_group(site, obj, activity)
    if parent is None and named is None:
        return None  # not for one of our groups
    if parent is not None:
        parent_entry, board, group = parent
        if named is not None and named[0].id != board.id:
            return "ignored: the reply names another group than its entry's"
    else:
        assert named is not None
        if parent_url:
            return "ignored: a reply to something this group does not hold"
        parent_entry, (board, group) = None, named
    note_id = as_id(obj)
    if not note_id or not note_id.startswith(("https://", "http://")) or len(note_id) > MAX_URI:
        return f"ignored: a post's id must be an http(s) URL of at most {MAX_URI} characters"
    if await BoardEntry.filter(uri=note_id).exists():
        return "duplicate"

    async def work(ctx: Context) -> str:
        params = BoardEntryInput(id=board.id, body=_body(obj), parent=parent_entry.id if parent_entry else None,
                                 **_review(obj))
        made = await post_entry(ctx, params, uri=note_id, published=as_time(obj.get("published")),
                                remote_media=_attachments(site, board, obj))
        return f"posted: entry {made['id']}"

    return await _carry_out(site, sender, board, group, activity, work)


async def _on_update(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    obj = activity.get("object")
    if not isinstance(obj, Mapping) or type_of(obj) not in POSTS:
        return None
    found = await _our_entry(site, as_id(obj))
    if found is None:
        return None
    entry, board, group = found

    async def work(ctx: Context) -> str | None:
        rating = _review(obj).get("rating") if entry.review_key is not None else None
        await edit_entry(ctx, BoardEditInput(id=entry.id, body=_body(obj), rating=rating))
        media = _attachments(site, board, obj)
        if media != (entry.remote_media or None):
            await BoardEntry.filter(id=entry.id).update(remote_media=media)
        return f"edited: entry {entry.id}" if "board.entry.edited" in ctx.emitted else None

    return await _carry_out(site, sender, board, group, activity, work)


async def _on_delete(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    found = await _our_entry(site, as_id(activity.get("object")))
    if found is None:
        return None
    entry, board, group = found
    if entry.deleted_at is not None:
        return "ignored: already deleted"

    async def work(ctx: Context) -> str:
        await delete_entry(ctx, BoardEntryIdInput(id=entry.id))
        return f"deleted: entry {entry.id}"

    return await _carry_out(site, sender, board, group, activity, work)


async def _on_vote(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    found = await _our_entry(site, as_id(activity.get("object")))
    if found is None:
        return None
    entry, board, group = found
    value: Literal["up", "down"] = "up" if activity["type"] == "Like" else "down"

    async def work(ctx: Context) -> str:
        await vote(ctx, BoardVoteInput(id=entry.id, value=value))
        return f"voted {value}: entry {entry.id}"

    return await _carry_out(site, sender, board, group, activity, work)


async def _on_undo(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    obj = activity.get("object")
    inner = type_of(obj) if isinstance(obj, Mapping) else None
    if inner == "Follow" or not isinstance(obj, Mapping):
        return await _undo_follow(site, obj, sender)
    if inner not in ("Like", "Dislike"):
        return None
    found = await _our_entry(site, as_id(obj.get("object")))
    if found is None:
        return None
    if as_id(obj.get("actor")) not in (None, sender.uri):
        return "ignored: an Undo of someone else's vote"
    entry, board, group = found
    held = await BoardVote.get_or_none(entry_id=entry.id, voter_id=sender.actor_id)
    if held is None or held.value != (1 if inner == "Like" else -1):
        return f"ignored: no {inner} to take back"

    async def work(ctx: Context) -> str:
        await unvote(ctx, BoardEntryIdInput(id=entry.id))
        return f"vote taken back: entry {entry.id}"

    return await _carry_out(site, sender, board, group, activity, work)


async def _undo_follow(site: Site, obj: Any, sender: RemoteActor) -> str | None:
    """Undo{Follow} of one of our groups (the Follow embedded, or named by its id); None when the
    follow is of something else (federation/follows.py takes it)."""
    found = await _our_group(site, as_id(obj.get("object"))) if isinstance(obj, Mapping) else None
    if found is not None and isinstance(obj, Mapping) and as_id(obj.get("actor")) not in (None, sender.uri):
        return "ignored: an Undo of someone else's follow"
    if found is None:
        row = await Follow.get_or_none(activity_uri=as_id(obj) or "", follower_id=sender.actor_id)
        target = await Actor.get_or_none(id=row.target_id, kind=GROUP_KIND, domain="") if row is not None else None
        board = await Board.get_or_none(actor_id=target.id) if target is not None else None
        found = (board, target) if board is not None and target is not None else None
    if found is None:
        return None
    return await _leave(site, sender, *found)


async def on_activity(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """An activity for one of our groups (a member's post, vote, edit, deletion, leaving); None when not."""
    kind = activity["type"]
    if kind == "Create":
        return await _on_create(site, activity, sender)
    if kind == "Update":
        return await _on_update(site, activity, sender)
    if kind == "Delete":
        if as_id(activity.get("object")) == sender.uri:
            return None  # an account deleting itself
        return await _on_delete(site, activity, sender)
    if kind in ("Like", "Dislike"):
        return await _on_vote(site, activity, sender)
    if kind == "Undo":
        return await _on_undo(site, activity, sender)
    return None  # Announce and Block come from groups elsewhere: the mirror's


# ---------------------------------------------------------------- publishers: what local actors do


async def _local_actor(event: Event) -> Actor | None:
    """Who caused the event, when ours; a remote member's doings were announced as they arrived."""
    actor = await Actor.get_or_none(id=event.actor_id) if event.actor_id else None
    return actor if actor is not None and actor.is_local else None


async def _unheard(event: Event, group: Actor) -> bool:
    """Nothing to send: made before, or the group has no followers elsewhere (then nothing is
    signed either, which would make the author's keys)."""
    return await OutboxActivity.filter(id=event.id).exists() or not await follower_inboxes(group)


async def _once(site: Site, event: Event, board: Board, group: Actor, obj: Any) -> bool:
    """The group's Announce of `obj` for this event, made once (its row id is the event's id)."""
    if await OutboxActivity.filter(id=event.id).exists():
        return False
    try:
        async with in_transaction():
            await _announce(site, board, group, obj, row_id=event.id)
    except IntegrityError:  # another sweeper made it first
        return False
    return True


def _inner(site: Site, event: Event, kind: str, actor: Actor, obj: Any, board: Board, group: Actor) -> dict[str, Any]:
    """The activity the group announces, as its actor's, with a stable id beside the Announce's."""
    url = group_url(site, group)
    to = [url, documents.PUBLIC] if board.visibility == Visibility.PUBLIC.value else [url]
    return {"id": f"{activity_url(site.base_url, event.id)}#inner", "type": kind,
            "actor": local_actor_url(site.base_url, actor), "object": obj, "to": to, "cc": [f"{url}/followers"],
            "audience": url}


def _payload(event: Event) -> Mapping[str, Any]:
    return event.payload if isinstance(event.payload, Mapping) else {}


async def _entry_changed(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """Announce{Create|Update {the entry, signed by its author}} for a local member's post or edit."""
    actor = await _local_actor(event)
    entry = await BoardEntry.get_or_none(id=event.object_id)
    if actor is None or entry is None or entry.deleted_at is not None or await _unheard(event, group):
        return False
    document = await board_events.entry_document(site, entry)
    kind = "Create" if event.name == "board.entry.created" else "Update"
    return await _once(site, event, board, group, _inner(site, event, kind, actor, document, board, group))


async def _entry_deleted(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """Announce{Delete {entry}} by whoever deleted it here: its author, or a moderator (also of a
    remote member's entry)."""
    actor = await _local_actor(event)
    entry = await BoardEntry.get_or_none(id=event.object_id)
    if actor is None or entry is None or await _unheard(event, group):
        return False
    target = entry_url(site.base_url, entry)
    return await _once(site, event, board, group, _inner(site, event, "Delete", actor, target, board, group))


async def _entry_voted(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """Announce{Like|Dislike {entry}}; a vote taken back: Announce{Undo{the Like or Dislike}}."""
    actor = await _local_actor(event)
    entry = await BoardEntry.get_or_none(id=event.object_id)
    if actor is None or entry is None or await _unheard(event, group):
        return False
    target = entry_url(site.base_url, entry)
    value = _payload(event).get("value")
    if value in (1, -1):
        kind = "Like" if value == 1 else "Dislike"
        return await _once(site, event, board, group, _inner(site, event, kind, actor, target, board, group))
    earlier = [row for row in await Event.filter(
        name="board.entry.voted", object_id=entry.id, actor_id=actor.id, id__lt=event.id).order_by("-id").limit(20)
        if _payload(row).get("value") in (1, -1)]
    if not earlier:
        return False
    kind = "Like" if _payload(earlier[0]).get("value") == 1 else "Dislike"
    undone = _inner(site, earlier[0], kind, actor, target, board, group)
    return await _once(site, event, board, group, _inner(site, event, "Undo", actor, undone, board, group))


async def _actor_by_handle(site: Site, handle: str) -> Actor | None:
    username, _, domain = handle.rpartition("@")
    return await Actor.get_or_none(username=username, domain="" if domain.lower() == site.domain.lower() else domain)


def _block(site: Site, group: Actor, banned: str, reason: str, expires: str | None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "Block", "actor": group_url(site, group), "object": banned,
                             "target": group_url(site, group), "summary": reason}
    return block | ({"endTime": expires} if expires else {})


async def _ban_changed(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """A ban here: `Block` {actor: the group, object: the banned actor, target: the group} to the
    group's followers and the banned actor's inbox; lifted: `Undo` {that Block}."""
    payload = _payload(event)
    banned = await _actor_by_handle(site, str(payload.get("username") or ""))
    if banned is None or await _local_actor(event) is None or await OutboxActivity.filter(id=event.id).exists():
        return False
    banned_url = banned.uri or local_actor_url(site.base_url, banned)
    url = group_url(site, group)
    inboxes = await follower_inboxes(group)
    remote = await RemoteActor.get_or_none(actor_id=banned.id) if not banned.is_local else None
    if remote is not None and remote.inbox not in inboxes and (remote.shared_inbox or "") not in inboxes:
        inboxes.append(remote.inbox)
    if not inboxes:
        return False
    if event.name == "board.ban.created":
        ban = await BoardBan.get_or_none(board_id=board.id, actor_id=banned.id)
        expires = iso(ban.expires_at) if ban is not None and ban.expires_at is not None else None
        block = _block(site, group, banned_url, str(payload.get("how") or ""), expires)
        kind, obj = "Block", block.pop("object")
        extra = {key: value for key, value in block.items() if key not in ("type", "actor")}
    else:
        earlier = [row for row in await Event.filter(name="board.ban.created", object_id=board.id, id__lt=event.id
                                                     ).order_by("-id").limit(200)
                   if _payload(row).get("username") == payload.get("username")]
        kind, obj, extra = "Undo", _block(site, group, banned_url, "", None), {}
        if earlier:
            obj |= {"id": activity_url(site.base_url, earlier[0].id), "summary": str(_payload(earlier[0]).get("how") or "")}
    extra["cc"] = [f"{url}/followers"]
    try:
        async with in_transaction():
            await publish(site, group, kind, obj, inboxes=inboxes, to=[banned_url], row_id=event.id, extra=extra)
    except IntegrityError:
        return False
    return True


async def _board_updated(site: Site, event: Event, board: Board, group: Actor) -> bool:
    """The group's new actor document (name, rules) to its followers: `Update` {the Group}."""
    if await _unheard(event, group):
        return False
    document: dict[str, Any] = await actor_document(Context(site=site), ActorInput(username=group.username))
    url = group_url(site, group)
    public = board.visibility == Visibility.PUBLIC.value
    try:
        async with in_transaction():
            await publish(site, group, "Update", document, row_id=event.id,
                          inboxes=None if public else await follower_inboxes(group), to=[f"{url}/followers"])
    except IntegrityError:
        return False
    return True


# event name -> publisher, for boards whose Group actor is ours (federation/board_events.py routes)
PUBLISHERS: dict[str, Callable[[Site, Event, Board, Actor], Awaitable[bool]]] = {
    "board.entry.created": _entry_changed,
    "board.entry.edited": _entry_changed,
    "board.entry.deleted": _entry_deleted,
    "board.entry.voted": _entry_voted,
    "board.ban.created": _ban_changed,
    "board.ban.lifted": _ban_changed,
    "board.updated": _board_updated,
}


# ---------------------------------------------------------------- our entries as documents


class EntryDocumentInput(Input):
    board: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=64)


async def may_read(ctx: Context, board: Board) -> bool:
    """Anyone reads a public board's entries; others: its members signed in here, or a fetch signed
    by an actor of a server where a member lives (it shows the entry to them)."""
    if board.visibility == Visibility.PUBLIC.value:
        return True
    try:
        access = await board_access(ctx, board.id)
    except NotFound:
        access = None
    if access is not None and ctx.actor is not None:
        return True
    signer = str(ctx.extra.get("signed_by") or "")
    if not signer:
        return False
    return await BoardMember.filter(board_id=board.id, actor__domain=domain_of(signer)).exists()


@REGISTRY.operation("federation.board_entry", EntryDocumentInput, output=ObjectDocument, access=Access.PUBLIC)
async def entry_document_op(ctx: Context, params: EntryDocumentInput) -> dict[str, Any]:
    """One of our board entries as a Note or Page, signed by its author (docs/boards.md "Across
    servers"): anyone's on a public board; else a member's here, or a fetch signed from a server
    where a member lives (404 to anyone else). A deleted entry is 410."""
    entry = await BoardEntry.get_or_none(id=params.id, board_id=params.board, uri=None)
    board = await Board.get_or_none(id=params.board)
    if entry is None or board is None or not await may_read(ctx, board):
        raise NotFound(f"there is no entry {params.id!r} on this board", code="entry-not-found")
    if entry.deleted_at is not None:
        raise Gone("this entry was deleted", code="entry-deleted")
    if board.actor_id is None:
        await group_actor(board)  # its document is addressed to the board's group
    return await board_events.entry_document(ctx.site, entry)
