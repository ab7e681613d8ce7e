"""Watchers (issue 19, item 5): a saved query checked on a schedule that fires on a rule.

What a watcher watches (`kind`, with its `query`):
- `tokens`: the tokens of a set (and its child sets) whose attributes the owner may see match
  set-search filters: eq, range, regex (RE2, linear time: models/set_search.py);
- `balance`: an actor's balance of a type `above` and/or `below` an amount (the ledger's sums);
- `ledger`: gives of a type to an actor since the watcher was made;
- `lots`: open lots of a type, visible to the owner, that close within `within_minutes`.
Fire-on: `hit` (the result is not empty), `empty`, `change` (differs from the last check; the
first check only takes the baseline). A watcher fires at most once per state: it keeps the
digest of the state it fired on, and forgets it when the rule stops holding. A firing records
an event `watcher.fired` (the owner's webhooks get it) and queues the watcher's chain, if any,
as a job of the owner. Checks run on the engine (WATCHER_CHECKS); nothing here loops.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from pydantic import Field, StrictBool, model_validator
from tortoise.transactions import in_transaction

from ..actors import Actor, User
from ..base import column, iso
from ..context import Context, Site
from ..engine import Go, Lease, Outcome, move
from ..errors import BadInput, Conflict, DomainError, NotFound
from ..jobs import Job
from ..ledger import EntryKind, LedgerEntry
from ..machines import WATCHER_CHECKS
from ..market import Lot, LotState
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input
from ..set_search import Matcher, SearchFilter, check_range
from ..tokens import TokenType
from ..watchers import FIRINGS_KEPT, CheckState, FireOn, Watcher, WatcherCheck, WatcherFiring, WatchKind
from .chains import CHAIN_OPERATION, StepInput, checked_steps
from .jobs import record_job_event
from .ledger import _ledger_type, balance_of, resolve_actor
from .market import seen_by
from .sets import get_visible_set, matching_tokens

__all__ = ["run_check", "watcher_view"]

MIN_EVERY_SECONDS = 60
ITEMS_KEPT = 20  # ids kept on a firing and sent in its event
ID = Field(min_length=1, max_length=64)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class WatchQuery(Input):
    """What to watch; which fields apply depends on the kind."""

    set: str | None = Field(None, min_length=1, max_length=64, description="tokens: the set searched")
    filters: list[SearchFilter] = Field(default_factory=list, max_length=20, description="tokens: all must hold")
    include_children: StrictBool = False
    type: str | None = Field(None, min_length=1, max_length=64, description="balance, ledger, lots: the token type")
    actor: str | None = Field(None, min_length=1, max_length=200, description="balance: whose; ledger: the recipient")
    above: str | None = Field(None, max_length=60, description="balance: fires while the balance is above this")
    below: str | None = Field(None, max_length=60, description="balance: fires while the balance is below this")
    within_minutes: int | None = Field(None, ge=1, le=10_080, description="lots: closing within this many minutes")


_NEEDS = {
    WatchKind.TOKENS: {"set"},
    WatchKind.BALANCE: {"type", "actor"},
    WatchKind.LEDGER: {"type", "actor"},
    WatchKind.LOTS: {"type", "within_minutes"},
}
_ALLOWED = {
    WatchKind.TOKENS: {"set", "filters", "include_children"},
    WatchKind.BALANCE: {"type", "actor", "above", "below"},
    WatchKind.LEDGER: {"type", "actor"},
    WatchKind.LOTS: {"type", "within_minutes"},
}


class WatcherInput(Input):
    name: str = Field(min_length=1, max_length=100)
    kind: WatchKind
    query: WatchQuery
    every_seconds: int = Field(300, ge=MIN_EVERY_SECONDS, le=30 * 86_400, description="how often to check (at least 60)")
    fire_on: FireOn = FireOn.HIT
    expires_at: datetime | None = Field(None, description="no checks after this")
    chain: list[StepInput] | None = Field(None, min_length=1, description="steps queued as a job on each firing")
    enabled: StrictBool = True

    @model_validator(mode="after")
    def _fits_kind(self) -> WatcherInput:
        given = {name for name in self.query.model_fields_set if getattr(self.query, name) not in (None, [])}
        missing = sorted(_NEEDS[self.kind] - given)
        if missing:
            raise ValueError(f"a {self.kind.value} watcher needs query.{', query.'.join(missing)}")
        stray = sorted(given - _ALLOWED[self.kind])
        if stray:
            raise ValueError(f"query.{stray[0]} does not apply to a {self.kind.value} watcher")
        if self.kind is WatchKind.BALANCE:
            if self.query.above is None and self.query.below is None:
                raise ValueError("a balance watcher needs query.above, query.below or both")
            for bound in (self.query.above, self.query.below):
                if bound is not None:
                    check_range(bound, None)  # a decimal string such as "12.50"
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a time zone, such as 2027-01-01T00:00:00Z")
        return self


class WatcherIdInput(Input):
    id: str = ID


class WatcherUpdateInput(WatcherIdInput):
    enabled: StrictBool | None = None
    name: str | None = Field(None, min_length=1, max_length=100)


class FiringsInput(WatcherIdInput):
    pass


class FiringOut(Output):
    id: str
    count: int
    items: list[str]
    job: str | None
    created_at: Timestamp


class WatcherOut(Output):
    """A watcher, with its last firings (at most 10)."""

    id: str
    name: str
    kind: str
    query: dict[str, Any]
    every_seconds: int
    fire_on: str
    chain: list[dict[str, Any]] | None
    enabled: bool
    expired: bool
    expires_at: Timestamp
    last_checked_at: Timestamp
    last_count: int | None
    last_error: str | None
    fired_count: int
    last_fired_at: Timestamp
    next_check_at: Timestamp
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class FiringsOut(Output):
    items: list[FiringOut]


def firing_view(firing: WatcherFiring) -> dict[str, Any]:
    return {"id": firing.id, "count": firing.count, "items": firing.items, "job": firing.job_id,
            "created_at": iso(firing.created_at)}


async def watcher_view(watcher: Watcher) -> dict[str, Any]:
    check = await WatcherCheck.filter(watcher_id=watcher.id, state=CheckState.PENDING.value).first()
    return {
        "id": watcher.id, "name": watcher.name, "kind": watcher.kind, "query": watcher.query,
        "every_seconds": watcher.every_seconds, "fire_on": watcher.fire_on,
        "chain": [{"id": s["id"], "operation": s["operation"], "input": s["input"]} for s in watcher.chain] if watcher.chain else None,
        "enabled": watcher.enabled, "expired": _expired(watcher, _now()), "expires_at": iso(watcher.expires_at),
        "last_checked_at": iso(watcher.last_checked_at), "last_count": watcher.last_count,
        "last_error": watcher.last_error, "fired_count": watcher.fired_count,
        "last_fired_at": iso(watcher.last_fired_at), "next_check_at": iso(check.next_at) if check else None,
        "version": watcher.version, "created_at": iso(watcher.created_at), "updated_at": iso(watcher.updated_at),
    }


def _expired(watcher: Watcher, now: datetime) -> bool:
    return watcher.expires_at is not None and watcher.expires_at <= now


async def _checked_query(ctx: Context, kind: WatchKind, query: WatchQuery) -> dict[str, Any]:
    """The query as stored, after checking what it names exists and the caller may see it."""
    stored = query.model_dump(mode="json", include=_ALLOWED[kind], exclude_none=True)
    if kind is WatchKind.TOKENS:
        await get_visible_set(query.set or "")
        Matcher(query.filters)  # 400 invalid-regex / 422 unsupported-regex before saving
        return stored
    token_type = await _ledger_type(query.type or "")
    stored["type"] = token_type.id
    if kind in (WatchKind.BALANCE, WatchKind.LEDGER):
        actor = await resolve_actor(query.actor or "", ctx, field="query.actor")
        stored["actor"] = actor.id
    return stored


async def _evaluate(ctx: Context, watcher: Watcher, now: datetime) -> list[str]:
    """The watched result: the ids (or the balance) it holds, sorted, so equal states digest equal."""
    query = watcher.query
    if watcher.kind == WatchKind.TOKENS.value:
        filters = [SearchFilter.model_validate(item) for item in query.get("filters", [])]
        matches, _, _, _ = await matching_tokens(ctx, query["set"], filters, bool(query.get("include_children")))
        return sorted(view["id"] for view in matches)
    if watcher.kind == WatchKind.LOTS.value:
        horizon = now + timedelta(minutes=int(query["within_minutes"]))
        lots = Lot.filter(seen_by(ctx.actor), state=LotState.OPEN.value, item_type_id=query["type"],
                          closes_at__gt=now, closes_at__lte=horizon)
        return sorted(await column(lots.values_list("id", flat=True), str))
    if watcher.kind == WatchKind.LEDGER.value:
        gives = LedgerEntry.filter(kind=EntryKind.GIVE.value, type_id=query["type"], recipient_id=query["actor"],
                                   created_at__gte=watcher.created_at)
        return sorted(await column(gives.values_list("id", flat=True), str))
    actor = await Actor.get(id=query["actor"])
    token_type = await TokenType.get(id=query["type"])
    balance = Decimal((await balance_of(actor, token_type))["balance"])
    above, below = query.get("above"), query.get("below")
    holds = (above is not None and balance > Decimal(above)) or (below is not None and balance < Decimal(below))
    return [str(balance)] if holds else []


def _digest(items: list[str]) -> str:
    return hashlib.sha256(orjson.dumps(items)).hexdigest()


async def _fire(ctx: Context, watcher: Watcher, items: list[str], digest: str) -> WatcherFiring:
    job_id = None
    if watcher.chain:
        job = await Job.create(caller_id=watcher.owner_id, operation=CHAIN_OPERATION, input={}, steps=watcher.chain)
        await record_job_event(job, "job.queued", {"steps": [step["id"] for step in watcher.chain]})
        job_id = job.id
    firing = await WatcherFiring.create(watcher_id=watcher.id, digest=digest, count=len(items),
                                        items=items[:ITEMS_KEPT], job_id=job_id)
    old = await WatcherFiring.filter(watcher_id=watcher.id).order_by("-id").offset(FIRINGS_KEPT).values_list("id", flat=True)
    if old:
        await WatcherFiring.filter(id__in=list(old)).delete()
    await ctx.emit("watcher.fired", "watcher", watcher.id, {
        "watcher": watcher.id, "name": watcher.name, "kind": watcher.kind, "fire_on": watcher.fire_on,
        "count": len(items), "items": items[:ITEMS_KEPT], "firing": firing.id, "job": job_id,
    })
    return firing


async def _check(site: Site, watcher: Watcher, now: datetime) -> None:
    """Evaluate, maybe fire, and schedule the next check (the caller's transaction)."""
    user = await User.get(id=watcher.owner_id)
    ctx = Context(site=site, user=user, actor=await user.actor)
    changes: dict[str, Any] = {"last_checked_at": now, "updated_at": now}
    try:
        items = await _evaluate(ctx, watcher, now)
    except DomainError as error:  # the set was deleted, a regex took too long ...: say so, try next time
        changes["last_error"] = f"{error.code}: {error.detail}"[:500]
    else:
        digest = _digest(items)
        rule = {
            FireOn.HIT.value: bool(items),
            FireOn.EMPTY.value: not items,
            FireOn.CHANGE.value: watcher.last_digest is not None and digest != watcher.last_digest,
        }[watcher.fire_on]
        changes.update(last_digest=digest, last_count=len(items), last_error=None)
        if not rule:
            if watcher.fire_on != FireOn.CHANGE.value:
                changes["fired_digest"] = None  # the state left: the same state later fires again
        elif digest != watcher.fired_digest:
            await _fire(ctx, watcher, items, digest)
            changes.update(fired_digest=digest, fired_count=watcher.fired_count + 1, last_fired_at=now)
    await Watcher.filter(id=watcher.id).update(**changes)
    await _schedule(watcher, now + timedelta(seconds=watcher.every_seconds))


async def _schedule(watcher: Watcher, due: datetime) -> None:
    """The watcher's next check, unless it expires first; older finished checks are dropped."""
    await WatcherCheck.filter(watcher_id=watcher.id).exclude(state=CheckState.PENDING.value).delete()
    if watcher.expires_at is None or due < watcher.expires_at:
        await WatcherCheck.create(watcher_id=watcher.id, state=CheckState.PENDING.value, next_at=due)


@WATCHER_CHECKS.handler(may={CheckState.DONE.value})
async def run_check(site: Site, check: WatcherCheck, lease: Lease) -> Outcome:
    """The runner's handler: check the watcher and queue its next check, in one transaction."""
    async with in_transaction():
        watcher = await Watcher.get_or_none(id=check.watcher_id)
        now = lease.now()
        if watcher is not None and watcher.enabled and not _expired(watcher, now):
            await _check(site, watcher, now)
        return await lease.commit(check, Go(CheckState.DONE.value))


async def _mine(ctx: Context, watcher_id: str) -> Watcher:
    watcher = await Watcher.get_or_none(id=watcher_id, owner_id=ctx.require_user().id)
    if watcher is None:
        raise NotFound(f"there is no watcher {watcher_id!r}", code="watcher-not-found")
    return watcher


async def _stop(watcher: Watcher) -> None:
    for check_id in await WatcherCheck.filter(watcher_id=watcher.id, state=CheckState.PENDING.value).values_list("id", flat=True):
        await move(WATCHER_CHECKS, str(check_id), CheckState.PENDING.value, CheckState.DONE.value)


@REGISTRY.operation("watchers.create", WatcherInput, output=WatcherOut)
async def create_watcher(ctx: Context, params: WatcherInput) -> dict[str, Any]:
    """Save a watcher: what to watch, how often, when it fires, and an optional chain to queue."""
    user = ctx.require_user()
    limit = ctx.site.limits.max_watchers_per_user
    if await Watcher.filter(owner_id=user.id).count() >= limit:
        raise Conflict(f"you have {limit} watchers, the most allowed: delete one first", code="too-many-watchers")
    now = _now()
    if params.expires_at is not None and params.expires_at <= now:
        raise BadInput("expires_at is in the past", code="expires-in-past")
    query = await _checked_query(ctx, params.kind, params.query)
    chain = checked_steps(ctx, params.chain) if params.chain else None
    watcher = await Watcher.create(
        owner_id=user.id, name=params.name, kind=params.kind.value, query=query, every_seconds=params.every_seconds,
        fire_on=params.fire_on.value, chain=chain, enabled=params.enabled, expires_at=params.expires_at,
    )
    if watcher.enabled:
        await _schedule(watcher, now)  # the first check (a change watcher's baseline) is due now
    return await watcher_view(watcher)


@REGISTRY.operation("watchers.list", ListInput, output=Paged[WatcherOut], access=Access.USER)
async def list_watchers(ctx: Context, params: ListInput) -> Any:
    """Your watchers."""
    page = await paginate(Watcher.filter(owner_id=ctx.require_user().id), params)
    views = {item.id: await watcher_view(item) for item in page.items}
    return page.map(lambda item: views[item.id])


@REGISTRY.operation("watchers.get", WatcherIdInput, output=WatcherOut, access=Access.USER)
async def get_watcher(ctx: Context, params: WatcherIdInput) -> dict[str, Any]:
    """One of your watchers."""
    return await watcher_view(await _mine(ctx, params.id))


@REGISTRY.operation("watchers.update", WatcherUpdateInput, output=WatcherOut)
async def update_watcher(ctx: Context, params: WatcherUpdateInput) -> dict[str, Any]:
    """Turn a watcher on or off, or rename it. On again, it is checked at once."""
    watcher = await _mine(ctx, params.id)
    changes: dict[str, Any] = {}
    if params.name is not None:
        changes["name"] = params.name
    if params.enabled is not None and params.enabled != watcher.enabled:
        changes["enabled"] = params.enabled
    if changes:
        await Watcher.filter(id=watcher.id).update(**changes, version=watcher.version + 1, updated_at=_now())
        watcher = await Watcher.get(id=watcher.id)
        if changes.get("enabled") is False:
            await _stop(watcher)
        elif changes.get("enabled") is True and not _expired(watcher, _now()):
            await _schedule(watcher, _now())
    return await watcher_view(watcher)


@REGISTRY.operation("watchers.delete", WatcherIdInput, output=None)
async def delete_watcher(ctx: Context, params: WatcherIdInput) -> None:
    """Delete a watcher with its firings."""
    watcher = await _mine(ctx, params.id)
    await _stop(watcher)
    await Watcher.filter(id=watcher.id).delete()


@REGISTRY.operation("watchers.firings", FiringsInput, output=FiringsOut, access=Access.USER)
async def list_firings(ctx: Context, params: FiringsInput) -> dict[str, Any]:
    """A watcher's last firings (at most 10), newest first."""
    watcher = await _mine(ctx, params.id)
    firings = await WatcherFiring.filter(watcher_id=watcher.id).order_by("-id").limit(FIRINGS_KEPT)
    return {"items": [firing_view(firing) for firing in firings]}
