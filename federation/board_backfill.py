"""A board's history across servers (issue 22): what a new member's server copies when it joins.

Group side: the outbox of a board's `Group` (`federation.collection`, /users/{handle}/outbox) is
a paged OrderedCollection of the board's entries as a new member needs them: newest threads first,
THREADS_PER_PAGE threads a page, each thread's replies after it (parents first). Each item is
`Announce` {`Create` {the entry}}: ours embedded as the Note or Page signed by its author
(FEP-8b32), an entry from elsewhere by its `uri` (the reader fetches it from its own server). The
Announce carries `context` (the thread's top entry) and our term `votes` {up, down}, so a copy's
counts start right. A members or invite board's outbox is served only to a member here or a fetch
signed by an actor of a server where a member lives (as its entries are); others get an empty
collection. `totalItems` is the number of threads.

Member side: when the group's Accept makes the first member of our copy (federation/follows.py),
a row of the machine federation.backfills starts for that follow (one machine for "copy what
was there before the follow", whatever was followed: its rows already carry the page reached,
the counts and the note, and its retry and lease handling). `run_board` reads the outbox page by
page (signed GETs, the fetch guard), takes each item as the group's Announce of it would be taken
(board_mirrors.take_announced: the same checks, proofs and fetches, parents first), sets the
counts the group gave on an entry it has just stored (a starting figure: the copy then follows
the group's Like and Dislike announcements), and commits the page reached with the counts, so a
killed worker repeats at most one page (entries are stored once by their uri). A group that is
down is retried with backoff from that page. At most `board_backfill_max_threads` threads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from models.actors import Actor, local_actor_url
from models.base import iso
from models.boards import GROUP_KIND, Board, BoardEntry, entry_url
from models.context import Context, Site
from models.engine import GiveUp, Go, Lease, Outcome, Retry
from models.errors import DomainError
from models.federation import Backfill, BackfillState, Follow, RemoteActor
from models.operations.boards import mirror_of

from . import board_events, documents
from .as2 import as_id, domain_of, type_of
from .backfill import RUNNERS
from .board_groups import may_read
from .board_mirrors import ENTRY_TYPES, take_announced
from .fetch import FetchError, fetch_json
from .outbox import OUTBOXES

__all__ = ["group_outbox", "run_board"]

log = logging.getLogger("tallystick.board_backfill")

THREADS_PER_PAGE = 20
REPLIES_PER_THREAD = 200  # a longer thread's later replies reach a new member only as they change
MAX_VOTES = 1_000_000_000


# ---------------------------------------------------------------- the group's outbox


def _author_url(site: Site, author: Actor | None) -> str | None:
    if author is None:
        return None
    return local_actor_url(site.base_url, author) if author.is_local else author.uri


def _entry_id(site: Site, entry: BoardEntry) -> str:
    """The entry's ActivityPub id: its own server's for one from elsewhere, ours otherwise."""
    return entry.uri or entry_url(site.base_url, entry)


async def _items(site: Site, group: str, board: Board, entries: list[BoardEntry], thread: str) -> list[dict[str, Any]]:
    authors = {actor.id: actor for actor in await Actor.filter(id__in=list({e.author_id for e in entries if e.author_id}))}
    items = []
    for entry in entries:
        author = _author_url(site, authors.get(entry.author_id or ""))
        if author is None:
            continue
        obj: Any = entry.uri if entry.uri else await board_events.entry_document(site, entry)
        if isinstance(obj, dict):
            obj = {key: value for key, value in obj.items() if key != "@context"}
        create = {"type": "Create", "actor": author, "object": obj, "audience": group}
        items.append({
            "id": f"{group}/outbox#entry-{entry.id}", "type": "Announce", "actor": group, "object": create,
            "audience": group, "context": thread, "published": iso(entry.created_at),
            "votes": {"up": entry.up, "down": entry.down},
        })
    return items


async def group_outbox(ctx: Context, group: Actor, page: int | None) -> dict[str, Any]:
    """A board's threads and their replies, newest threads first, as Announces a new member's
    server copies; empty to whoever may not read the board."""
    site = ctx.site
    group_url = local_actor_url(site.base_url, group)
    collection_id = f"{group_url}/outbox"
    board = await Board.get_or_none(actor_id=group.id)
    if board is None or not await may_read(ctx, board):
        return documents.ordered_collection(collection_id, 0, paged=False)
    threads = BoardEntry.filter(board_id=board.id, parent_id=None, deleted_at=None)
    if page is None:
        return documents.ordered_collection(collection_id, await threads.count(), paged=True)
    tops = await threads.order_by("-id").offset((page - 1) * THREADS_PER_PAGE).limit(THREADS_PER_PAGE + 1)
    has_next = len(tops) > THREADS_PER_PAGE
    items: list[dict[str, Any]] = []
    for top in tops[:THREADS_PER_PAGE]:
        replies = await BoardEntry.filter(thread_id=top.id, parent_id__isnull=False, deleted_at=None).order_by(
            "depth", "id").limit(REPLIES_PER_THREAD)
        items.extend(await _items(site, group_url, board, [top, *replies], _entry_id(site, top)))
    document = documents.collection_page(collection_id, page, items, has_next=has_next)
    document["@context"] = [documents.AS_CONTEXT, documents.vocabulary_url(site.base_url)]
    return document


OUTBOXES[GROUP_KIND] = group_outbox


# ---------------------------------------------------------------- the member's copy


def _votes(item: Mapping[str, Any]) -> tuple[int, int] | None:
    votes = item.get("votes")
    if not isinstance(votes, Mapping):
        return None
    up, down = votes.get("up"), votes.get("down")
    if not (_count_of(up) and _count_of(down)):
        return None
    assert isinstance(up, int) and isinstance(down, int)
    return up, down


def _count_of(value: Any) -> bool:
    """A vote total as the group writes it: a whole number (not a boolean) within MAX_VOTES."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_VOTES


def _created(item: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """(what the group passed on, the entry in it) of an item that brings an entry; None otherwise
    (an outbox may hold votes or deletions too: they are no history a copy needs)."""
    obj = item.get("object") if type_of(item) == "Announce" else item
    if isinstance(obj, Mapping) and type_of(obj) == "Create":
        return obj, obj.get("object")
    if isinstance(obj, Mapping) and type_of(obj) in ENTRY_TYPES:
        return obj, obj
    return None


def _starts_thread(item: Mapping[str, Any], entry: Any) -> bool:
    """Whether the item is a thread's top entry: `context` names the thread (ours); else an entry
    that answers nothing (a Lemmy outbox lists posts only, and a post by its id counts as one)."""
    context = as_id(item.get("context"))
    if context:
        return context == as_id(entry)
    return not (isinstance(entry, Mapping) and entry.get("inReplyTo"))


async def _take(site: Site, board: Board, group: RemoteActor, item: Mapping[str, Any], passed: Any, entry: Any) -> bool:
    """Store one entry of the history as the group's Announce of it would be; whether it is held now."""
    try:
        outcome = await take_announced(site, board, group, passed)
    except (FetchError, DomainError) as error:  # its server is down, its parent did not come: not taken
        log.info("board backfill of %s: %s not taken: %s", group.uri, as_id(entry), error)
        return False
    if outcome == "stored board entry":
        votes = _votes(item)
        uri = as_id(entry) or ""
        if votes is not None and votes != (0, 0):  # a starting figure, only on what was stored just now
            await BoardEntry.filter(board_id=board.id, uri=uri, up=0, down=0).update(up=votes[0], down=votes[1])
        return True
    return outcome in ("ignored: no change", "ignored: ours (already here)", "updated board entry")


async def run_board(site: Site, row: Backfill, follow: Follow, lease: Lease) -> Outcome | None:
    """Copy the history of a board we mirror from its group's outbox; None when the follow is not of one."""
    board = await mirror_of(follow.target_id)
    if board is None or follow.object_uri:
        return None
    group = await RemoteActor.get_or_none(actor_id=follow.target_id)
    if group is None:
        return GiveUp("the group is not known here")
    limit = site.federation.board_backfill_max_threads
    if limit == 0:
        return Go(BackfillState.DONE.value, values={"note": "this server copies no board history (limit 0)"})
    most_items = site.federation.backfill_max_objects
    origin = domain_of(group.uri)
    url = row.next_url
    try:
        if url is None and row.pages == 0:
            outbox = as_id((await fetch_json(site, group.uri)).get("outbox"))
            if not outbox or domain_of(outbox) != origin:
                return Go(BackfillState.DONE.value, values={"note": f"{origin} lists no history of the board"})
            collection = await fetch_json(site, outbox)
            total = collection.get("totalItems")
            row.total = min(total, limit) if isinstance(total, int) and not isinstance(total, bool) else None
            await lease.save(row, total=row.total)
            url = as_id(collection.get("first")) if type_of(collection) == "OrderedCollection" else outbox
        while url:
            if domain_of(url) != origin:
                return GiveUp(f"the next page {url} is not on {origin}")
            if row.threads >= limit or row.pages >= limit or row.copied + row.refused >= most_items:
                return Go(BackfillState.DONE.value, values={"note": f"stopped at the limit of {limit} threads"})
            page = await fetch_json(site, url)
            items = list(page.get("orderedItems") or page.get("items") or [])[: max(0, most_items - row.copied - row.refused)]
            threads = copied = refused = 0
            full = False
            for item in items:
                found = _created(item) if isinstance(item, Mapping) else None
                if found is None:
                    continue
                passed, entry = found
                if _starts_thread(item, entry):
                    if row.threads + threads >= limit:
                        full = True
                        break
                    threads += 1
                if await _take(site, board, group, item, passed, entry):
                    copied += 1
                else:
                    refused += 1
            following = as_id(page.get("next"))
            following = None if following == url or full else following
            values: dict[str, Any] = {"next_url": following, "pages": row.pages + 1, "threads": row.threads + threads,
                                      "copied": row.copied + copied, "refused": row.refused + refused}
            await lease.save(row, **values)  # the page reached, with what it brought
            for name, value in values.items():
                setattr(row, name, value)
            url = following
            if full:
                return Go(BackfillState.DONE.value, values={"note": f"stopped at the limit of {limit} threads"})
    except FetchError as error:
        if error.kind == "unreachable":
            return Retry(error=error.detail)
        return GiveUp(f"cannot read the history of {group.uri}: {error.detail}")
    return Go(BackfillState.DONE.value)


RUNNERS.append(run_board)

