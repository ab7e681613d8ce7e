"""Inbox: verify, store and acknowledge incoming activities; process them later.

`receive` is all the HTTP handler calls (per-user and shared inbox alike). In order: the body
size; the JSON shape; a Delete from an actor we never met is answered 202 and dropped without
fetching anything (refetch storms after account deletions are the most reported federation
bug); blocked domains; the HTTP signature and body digest (federation/httpsig.py, which
refetches the key once on failure); the origin rules: the key's owner is the activity's
actor and the objects it creates or changes live on the actor's host; the FEP-8b32 proof of
a created or updated object, when it carries one. Then the activity is stored once by its id
and the caller answers 202.

Processing is the engine's machine INBOX (declared in models/machines.py): the runner claims stored activities
under a lease and `process` dispatches on their type in one place. A worker that dies leaves
an expired lease: the row is reaped and claimed again. Unknown types are stored and marked
ignored. A handler that fails (the origin of a give we must confirm is down, say) is retried
with delivery's backoff and attempt limit (n**4 + 15 s: minutes, then hours, over about 2.6
days), not at once; the reason is kept in `last_error`, and `outcome` says what was done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from models import sql
from models.actors import Actor, Role
from models.base import iso
from models.context import Context, Site
from models.engine import Go, Lease, Outcome, Retry, run_due
from models.errors import BadInput, Forbidden, NotFound, TooLarge
from models.federation import Backfill, Follow, FollowState, InboxActivity, InboxState, RemoteActor, RemoteObject
from models.ids import new_id
from models.machines import INBOX
from models.outputs import Paged
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access

from .actor_changes import on_actor_delete, on_actor_update
from .actors import local_actor_named
from .agent_reports import agent_update_token, on_agent_update, on_report_answer
from .as2 import OBJECT_TYPES, as_id, domain_of, type_of
from .board_events import on_board_activity
from .board_groups import on_follow as on_group_follow
from .fetch import FetchError, blocked_actors, closed_domains, mark_available
from .follows import on_accept, on_follow, on_reject, on_undo
from .httpsig_core import IncomingRequest
from .memo import PerLoop
from .org_votes import on_question, on_vote
from .outputs import InboxActivityOut, RemoteObjectOut
from .remote_actors import signing_actor
from .remote_gives import concerns_us, settle_remote_entry
from .signed_objects import ObjectRefused, verify_remote_object

__all__ = ["Received", "drain", "process_due", "receive"]

log = logging.getLogger("tallystick.inbox")

MAX_URI = 2048
GROUP_MAX = 200  # rows per INSERT (12 parameters each, far below the databases' limits)
GATHER_SECONDS = 0.002  # the longest a batch waits for more rows under load
DRAIN_SECONDS = 10.0  # the longest shutdown waits for a group insert under way
_CHANGES = {"Create", "Update", "Delete"}

Received = str  # "accepted", "duplicate" or "dropped"


def parse_activity(body: bytes, limit: int) -> dict[str, Any]:
    """An activity as received: JSON, an object with an id, a type and an actor (http(s) URLs),
    within `limit` bytes; BadInput or TooLarge otherwise."""
    if len(body) > limit:
        raise TooLarge(f"the activity is {len(body)} bytes; the limit is {limit}")
    if b"\\u0000" in body:
        raise BadInput("NUL characters are not allowed in text", code="nul-character")
    try:
        activity = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadInput("the body is not JSON", code="malformed-activity") from None
    if not isinstance(activity, dict):
        raise BadInput("an activity is a JSON object", code="malformed-activity")
    kind = type_of(activity)
    if kind is None or not isinstance(activity.get("id"), str) or not as_id(activity.get("actor")):
        raise BadInput("an activity needs an id, a type and an actor", code="malformed-activity")
    activity["type"] = kind  # one type from here on (the stored payload keeps what was sent)
    for name, value in (("id", activity["id"]), ("actor", as_id(activity["actor"]))):
        if not str(value).startswith(("https://", "http://")) or len(str(value)) > MAX_URI:
            raise BadInput(f"the activity {name} must be an http(s) URL of at most {MAX_URI} characters",
                           code="malformed-activity")
    return activity


async def _recipient(username: str | None) -> Actor | None:
    if username is None:
        return None
    actor = await local_actor_named(username)  # a user's, an organization's or a board's group
    if actor is None:
        raise NotFound(f"there is no user named {username!r} here", code="actor-not-found")
    return actor


def _check_origin(activity: Mapping[str, Any], actor_uri: str) -> None:
    """Actor, key owner and changed objects share one origin (DESIGN.md "Federation")."""
    origin = domain_of(actor_uri)
    if activity["type"] in _CHANGES:
        obj = activity.get("object")
        object_id = as_id(obj)
        if not object_id or domain_of(object_id) != origin:
            raise Forbidden("the object of this activity lives on another server than its actor", code="origin-mismatch")
        if isinstance(obj, Mapping) and activity["type"] != "Delete":
            owner = as_id(obj.get("attributedTo"))
            # a ledger entry is the origin's record of what someone did with its units: its
            # author may live anywhere (a give onward); the entry, and its type, live here
            if owner is not None and owner != actor_uri and type_of(obj) != "LedgerEntry":
                raise Forbidden("only the owner of an object may create or change it", code="origin-mismatch")


async def _check_embedded_proof(site: Site, activity: Mapping[str, Any]) -> None:
    """An object created or updated with its FEP-8b32 proof must carry a proof that checks out.

    Objects without a proof are still taken (most servers sign none); a proof that is there
    but wrong means the object was changed on the way or forged, so the activity is refused.
    """
    obj = activity.get("object")
    if activity["type"] not in ("Create", "Update") or not isinstance(obj, Mapping) or "proof" not in obj:
        return
    try:
        await verify_remote_object(site, obj)
    except ObjectRefused as error:
        raise Forbidden(f"the embedded object's proof was refused: {error.reason}", code="bad-proof") from None


async def checked_sender(
    site: Site, request: IncomingRequest, actor_uri: str, *, accept_gone: bool = False
) -> RemoteActor:
    """The remote actor whose key signed a request, which must be `actor_uri`'s; blocked domains
    and actors are refused first (403), a signature that does not check is 401. The inbox and
    the ledger endpoint (federation/onward.py) take their senders through here."""
    if (await closed_domains()).get(domain_of(actor_uri)) == "blocked":
        raise Forbidden("this server does not accept activities from your domain", code="domain-blocked")
    if actor_uri in await blocked_actors():
        raise Forbidden("this server does not accept activities from this actor", code="actor-blocked")
    signer = await signing_actor(site, request, accept_gone=accept_gone)
    if signer.uri != actor_uri:
        raise Forbidden("the activity's actor is not the owner of the key that signed it", code="origin-mismatch")
    return signer


async def receive(site: Site, username: str | None, request: IncomingRequest) -> Received:
    """Check and store one inbox POST; raises a DomainError (400/401/403/404/413) to refuse it."""
    row = await _checked_row(site, username, request)
    if row is None:
        return "dropped"  # a Delete from an actor we do not know, or one already gone
    if not await _GROUPS.get().add(row):
        return "duplicate"
    await mark_available(domain_of(row["actor_uri"]))  # it speaks to us, so it is reachable again
    return "accepted"


async def _checked_row(site: Site, username: str | None, request: IncomingRequest) -> dict[str, Any] | None:
    """The inbox row for an activity that passed every check; None to drop it unseen."""
    recipient = await _recipient(username)
    activity = parse_activity(request.body, site.federation.inbox_max_bytes)
    actor_uri = str(as_id(activity["actor"]))
    if activity["type"] == "Delete" and not await RemoteActor.filter(uri=actor_uri, gone_at=None).exists():
        return None  # unknown, or already gone (a repeated Delete of itself)
    deletes_itself = activity["type"] == "Delete" and as_id(activity.get("object")) == actor_uri
    await checked_sender(site, request, actor_uri, accept_gone=deletes_itself)
    if await agent_update_token(site, activity, actor_uri) is None:  # an agent's report is checked when processed
        _check_origin(activity, actor_uri)
        await _check_embedded_proof(site, activity)
    moment = sql.now()
    return {
        "id": new_id(), "created_at": moment, "updated_at": moment, "activity_uri": activity["id"],
        "type": str(activity["type"])[:64], "actor_uri": actor_uri, "recipient_id": recipient.id if recipient else None,
        "payload": request.body.decode("utf-8"),  # the JSON as received: orjson already proved it valid
        "state": InboxState.QUEUED.value, "attempts": 0,
        "lease_expires_at": None, "outcome": None,  # lease_owner, next_at, last_error: NULL by default
    }


class _GroupInsert:
    """Store concurrent inbox POSTs with one INSERT (and one commit) per batch.

    Each accepted activity must be durable before we answer 202, and a commit costs an fsync
    and a trip to the database thread (on a VM, waking that thread costs more CPU than
    checking a signature). So one commit serves many requests (group commit): requests that
    arrive while a batch is written wait for the next one. Under load (the last batch had
    several rows) a batch also waits up to GATHER_SECONDS for as many rows as the last one
    had, like PostgreSQL's commit_delay; a quiet server writes each row at once. Duplicates
    are skipped by the unique activity id (ON CONFLICT DO NOTHING); _insert_rows says which
    rows were new, and so each caller whether its activity was.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self.task: asyncio.Task[None] | None = None  # the flush under way (kept: see drain)
        self.last_size = 0  # rows in the last batch written
        self._gathered: asyncio.Future[None] | None = None

    async def add(self, row: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append((row, future))
        if len(self.pending) >= self.last_size:
            self._release()
        if self.task is None:
            self.task = asyncio.create_task(self._flush(), name="inbox-group-insert")
        return await future

    async def drain(self, timeout: float) -> None:
        """Wait until the rows handed in are written (at most `timeout` s, then the flush is cancelled).

        A request cancelled while its row is written (the sender hung up, or the server stops)
        leaves the flush running: the server's shutdown waits for it before the database closes.
        """
        task = self.task
        if task is None:
            return
        await asyncio.wait({task}, timeout=timeout)
        if not task.done():
            log.warning("inbox: a group insert still running after %g s at shutdown; cancelled", timeout)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _release(self) -> None:
        if self._gathered is not None and not self._gathered.done():
            self._gathered.set_result(None)

    async def _gather(self) -> None:
        """Under load, wait (at most GATHER_SECONDS) until as many rows wait as the last batch had."""
        if self.last_size < 2 or len(self.pending) >= self.last_size:
            return
        loop = asyncio.get_running_loop()
        self._gathered = loop.create_future()
        timer = loop.call_later(GATHER_SECONDS, self._release)
        try:
            await self._gathered
        finally:
            timer.cancel()
            self._gathered = None

    async def _flush(self) -> None:
        try:
            while self.pending:
                await self._gather()
                batch, self.pending = self.pending[:GROUP_MAX], self.pending[GROUP_MAX:]
                self.last_size = len(batch)
                try:
                    inserted = await _insert_rows([row for row, _ in batch])
                except Exception as error:  # noqa: BLE001  each waiting request reports it (a 500 the sender retries)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for row, future in batch:  # two copies in one batch: the first is the new one
                    new = row["activity_uri"] in inserted
                    inserted.discard(row["activity_uri"])
                    if not future.done():
                        future.set_result(new)
        finally:
            self.task = None


async def _insert_rows(rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose activity is new; the activity ids of those inserted.

    On SQLite the INSERT returns nothing: the count of rows it added says whether all were new
    (nearly always), and only when not are they read back by our ids. Handing 16 rows back
    through RETURNING cost about 6% of the inbox's throughput (bench/inbox.py at 16 concurrent
    senders: 0.33-0.35 -> 0.35-0.37, in alternating runs).
    """
    names = list(rows[0])
    one = "(" + ", ".join("?" for _ in names) + ")"
    insert = (f'INSERT INTO "{InboxActivity._meta.db_table}" ({", ".join(names)}) VALUES {", ".join(one for _ in rows)} '
              "ON CONFLICT (activity_uri) DO NOTHING")
    values = [row[name] for row in rows for name in names]
    if not sql.is_sqlite():
        return {item["activity_uri"] for item in await sql.fetch(f"{insert} RETURNING activity_uri", *values)}
    if await sql.execute(insert, *values) == len(rows):
        return {row["activity_uri"] for row in rows}
    found = await sql.fetch(
        f'SELECT activity_uri FROM "{InboxActivity._meta.db_table}" WHERE id IN ({", ".join("?" for _ in rows)})',
        *[row["id"] for row in rows],
    )
    return {item["activity_uri"] for item in found}


_GROUPS: PerLoop[_GroupInsert] = PerLoop(_GroupInsert)  # futures belong to one loop


async def drain(timeout: float = DRAIN_SECONDS) -> None:
    """Let the inbox rows being written reach the database; the server calls it before closing it."""
    await _GROUPS.get().drain(timeout)


# ---------------------------------------------------------------- processing


async def _on_change(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    """Create/Update/Delete of a remote token, type or set: keep (or drop) our copy."""
    obj = activity.get("object")
    object_id = as_id(obj) or ""
    if object_id == sender.uri and activity["type"] == "Delete":  # the account itself is gone
        return await on_actor_delete(site, sender)
    copy = await RemoteObject.get_or_none(uri=object_id)
    if copy is not None and copy.owner_id != sender.actor_id:
        return "ignored: not the owner"
    handled = await on_vote(site, activity, sender) or await on_question(site, activity, sender, copy)
    if handled is not None:  # an organization's proposal, or a vote on one of ours (federation/org_votes.py)
        return handled
    if activity["type"] == "Delete":
        if copy is None:
            return "ignored: unknown object"
        await RemoteObject.filter(id=copy.id).update(is_deleted=True)
        return "deleted"
    kind = type_of(obj)
    if not isinstance(obj, Mapping) or kind not in OBJECT_TYPES:
        return "ignored: not a token, type, set or ledger entry"
    credited = await settle_remote_entry(site, obj, sender) if concerns_us(site, obj) else ""
    if credited.startswith("ignored"):
        return credited
    if copy is None:
        try:
            await RemoteObject.create(uri=object_id, type=kind, owner_id=sender.actor_id, document=dict(obj))
        except IntegrityError:
            return "duplicate"
        return "stored"
    await RemoteObject.filter(id=copy.id).update(document=dict(obj), type=kind, is_deleted=False)
    return "updated"


async def _on_undo(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    obj = activity.get("object")
    if isinstance(obj, Mapping) and type_of(obj) not in (None, "Follow"):
        return f"ignored: Undo of {type_of(obj)}"
    return await on_undo(site, activity, sender)


async def _on_update(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    """A remote actor's new profile, an agent's report on one of our tokens, or a change to a remote copy."""
    return (
        await on_actor_update(site, activity, sender)
        or await on_agent_update(site, activity, sender)
        or await _on_change(site, activity, sender)
    )


async def _on_accept(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    """The answer to a report one of our agents sent, or to one of our Follows."""
    return await on_report_answer(site, activity, sender) or await on_accept(site, activity, sender)


async def _on_reject(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    return await on_report_answer(site, activity, sender) or await on_reject(site, activity, sender)


async def _on_follow(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    """A Follow of one of our boards' groups is a join (federation/board_groups.py); any other, a follow."""
    return await on_group_follow(site, activity, sender) or await on_follow(site, activity, sender)


Handler = Callable[[Site, Mapping[str, Any], RemoteActor], Awaitable[str]]
HANDLERS: dict[str, Handler] = {
    "Follow": _on_follow,
    "Accept": _on_accept,
    "Reject": _on_reject,
    "Undo": _on_undo,
    "Create": _on_change,
    "Update": _on_update,
    "Delete": _on_change,
}


# what a board's group or its mirror may take (federation/board_events.py); the rest go to HANDLERS
BOARD_TYPES = frozenset({"Create", "Update", "Delete", "Like", "Dislike", "Undo", "Announce", "Block", "Reject"})


def _done(outcome: str) -> Outcome:
    """Where processing that returned `outcome` leaves the row; the text is what the inbox list shows."""
    state = InboxState.IGNORED if outcome.startswith("ignored") else InboxState.DONE
    return Go(state.value, values={"outcome": outcome[:500]})


@INBOX.handler(may={InboxState.DONE.value, InboxState.IGNORED.value})
async def process(site: Site, row: InboxActivity, lease: Lease) -> Outcome:
    """Dispatch one claimed activity on its type; a server we must ask being down is retried later."""
    handler = HANDLERS.get(row.type)
    if handler is None and row.type not in BOARD_TYPES:
        return _done(f"ignored: {row.type} is not handled")
    sender = await RemoteActor.get_or_none(uri=row.actor_uri)
    if sender is None:  # it was verified with this actor's key, so it was cached: only a purge removes it
        return _done("ignored: the actor is no longer known")
    activity = {**row.payload, "type": row.type}  # the type as parse_activity chose it (AS2 allows a list)
    try:
        outcome = await on_board_activity(site, activity, sender) if row.type in BOARD_TYPES else None
        if outcome is None:
            if handler is None:
                return _done(f"ignored: {row.type} is not handled")
            outcome = await handler(site, activity, sender)
        return _done(outcome)
    except FetchError as error:  # expected: a server we must ask is down; not a bug to trace
        log.info("inbox: %s %s, try %d: %s", row.type, row.activity_uri, row.attempts, error.detail)
        return Retry(error=error.detail)


async def process_due(site: Site, *, now: datetime | None = None, limit: int | None = None) -> int:
    """Process one batch of due activities (and those of a worker that died); the number processed."""
    return await run_due(site, INBOX, now=now, limit=limit)


# ---------------------------------------------------------------- reading what arrived


async def _followed(me: Actor) -> Q:
    """Which copies are of what `me` follows (accepted follows only)."""
    rows = await Follow.filter(follower_id=me.id, state=FollowState.ACCEPTED.value).values_list(
        "id", "target_id", "object_uri"
    )
    owners = [target for _, target, uri in rows if not uri]
    subscribed = [uri for _, _, uri in rows if uri]
    members: list[str] = []
    if subscribed:  # the tokens and entries of a followed type, the tokens of a followed set
        for listed in await Backfill.filter(follow_id__in=[row for row, _, uri in rows if uri]).values_list(
            "members", flat=True
        ):
            members.extend(listed)
    return Q(owner_id__in=owners) | Q(uri__in=[*subscribed, *members])


class RemoteObjectsInput(ListInput):
    actor: str | None = Field(None, max_length=2048, description="only objects of this actor (its URL)")
    type: str | None = Field(None, max_length=64)


@REGISTRY.operation("federation.remote_objects", RemoteObjectsInput, output=Paged[RemoteObjectOut], access=Access.USER)
async def remote_objects(ctx: Context, params: RemoteObjectsInput) -> Page:
    """Copies of tokens, types, sets, ledger entries and market lots you follow: those of the actors you follow,
    the objects you subscribed to, and what those types and sets held when you subscribed."""
    query = RemoteObject.filter(await _followed(ctx.require_actor()), is_deleted=False)
    if params.actor:
        query = query.filter(owner__uri=params.actor)
    if params.type:
        query = query.filter(type=params.type)
    page = await paginate(query, params)
    owners = {a.id: a for a in await Actor.filter(id__in=[row.owner_id for row in page.items])}
    return page.map(lambda row: {
        "id": row.id,
        "uri": row.uri,
        "type": row.type,
        "owner": owners[row.owner_id].handle(ctx.site.domain) if row.owner_id in owners else None,
        "document": row.document,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    })


class InboxListInput(ListInput):
    state: InboxState | None = None


@REGISTRY.operation("federation.inbox", InboxListInput, output=Paged[InboxActivityOut], access=Access.USER)
async def inbox_list(ctx: Context, params: InboxListInput) -> Page:
    """Activities received for you (or for everyone, through the shared inbox, if you are an admin)."""
    query = InboxActivity.all() if ctx.has_role(Role.ADMIN) else InboxActivity.filter(recipient_id=ctx.require_actor().id)
    if params.state is not None:
        query = query.filter(state=params.state.value)
    page = await paginate(query, params)
    return page.map(lambda row: {
        "id": row.id, "activity": row.activity_uri, "type": row.type, "actor": row.actor_uri,
        "state": row.state, "outcome": row.outcome, "last_error": row.last_error, "payload": row.payload,
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    })
