"""The one runner: claim due rows of any machine under a lease, run its handler, record the outcome.

Claiming is one conditional UPDATE that marks the due rows with a lease token unique to this
claim (`lease_owner`), counts the try and sets the lease deadline; only rows that UPDATE
changed are ours. On PostgreSQL the candidates are first locked with `FOR UPDATE SKIP LOCKED`
so busy runners do not fight over the same rows. While a handler runs, the runner renews the
lease every third of its length and cancels the handler when the row stopped being ours
(cancelled by a person, or reaped after this process stalled). Outcomes are written
conditional on the lease, so a runner that lost its claim cannot record anything; a handler
that must commit its own writes and its outcome together calls `lease.commit` inside its
transaction. Rows left in a machine's running state by a dead process are reaped: back to
ready, or failed after the last attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from tortoise.connection import connections
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from ..ids import new_id
from .machine import MACHINES, EngineError, GiveUp, Go, Machine, Machines, Outcome, Retry

if TYPE_CHECKING:
    from ..context import Site

__all__ = [
    "Lease", "LostLease", "Runner", "claim", "move", "reap", "reap_all", "record", "release", "run_claimed", "run_due",
    "runner_name",
]

log = logging.getLogger("tallystick.engine")

INTERNAL_ERROR = "internal error: see the server log"
RELEASE_SECONDS = 5.0  # longest a stopping runner tries to hand its rows back


class LostLease(Exception):
    """The row is no longer ours: reaped, or moved by a person, while we worked on it."""


def _now() -> datetime:
    return datetime.now(UTC)


def _is_postgres() -> bool:
    return bool(connections.get("default").capabilities.dialect == "postgres")


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Lease:
    """One claim: the token marking its rows, and what the handler already committed."""

    machine: Machine[Any]
    owner: str
    site: Site | None
    expires_at: datetime
    committed: set[str] = field(default_factory=set)
    current: str | None = None  # the row a one-row handler is working on
    claimed_at: datetime = field(default_factory=_now)  # the claim's clock (run_due's `now` in tests)
    clock_given: bool = False  # run_due was given `now`: outcomes are dated by it too (tests step through time)

    def now(self) -> datetime:
        """When an outcome happens: the clock run_due was given, else the real time."""
        return self.claimed_at if self.clock_given else _now()

    def mine(self, *ids: str) -> Any:
        return self.machine.model.filter(id__in=list(ids), lease_owner=self.owner, state=self.machine.source)

    def is_last_try(self, row: Any) -> bool:
        """A Retry now would give up: the handler may settle what hangs on the row."""
        return bool(row.attempts >= max_attempts_of(self.machine, self.site, row))

    async def commit(self, row: Any, outcome: Outcome) -> Outcome:
        """Record `outcome` now, in the caller's open transaction; LostLease if the row is not ours.

        Returns the outcome, for the handler to return (the runner sees it is recorded)."""
        if await _write(self.machine, self.site, self.owner, [row], {row.id: outcome}, self.now()) != 1:
            raise LostLease
        self.committed.add(row.id)
        return outcome

    async def save(self, row: Any, **values: Any) -> None:
        """Write domain columns of a claimed row (a chain's finished step); LostLease if not ours."""
        if not values.keys().isdisjoint(BOOKKEEPING):
            raise EngineError(f"machine {self.machine.name}: handlers do not write {sorted(BOOKKEEPING & values.keys())}")
        if _has_updated_at(self.machine):
            values = {**values, "updated_at": _now()}
        if await self.mine(row.id).update(**values) != 1:
            raise LostLease


BOOKKEEPING = frozenset({"state", "attempts", "next_at", "lease_owner", "lease_expires_at", "last_error"})


def _has_updated_at(machine: Machine[Any]) -> bool:
    return "updated_at" in machine.model._meta.fields_map


def max_attempts_of(machine: Machine[Any], site: Site | None, row: Any) -> int:
    """The machine's attempt limit; a row may carry its own (a job queued with max_attempts)."""
    if machine.attempts_column is not None:
        return int(getattr(row, machine.attempts_column))
    return machine.max_attempts(site)


def _columns(machine: Machine[Any], site: Site | None, row: Any, outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The row's new bookkeeping (and the outcome's domain values) for this outcome."""
    target = machine.check_outcome(outcome)
    if not outcome.values.keys().isdisjoint(BOOKKEEPING):
        raise EngineError(f"machine {machine.name}: outcomes do not write {sorted(BOOKKEEPING & outcome.values.keys())}")
    columns: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "next_at": None, "state": target}
    if isinstance(outcome, Go):
        columns["last_error"] = None
    elif isinstance(outcome, GiveUp):
        columns["last_error"] = outcome.reason[:500]
    elif row.attempts >= max_attempts_of(machine, site, row):
        columns.update(state=machine.failed, last_error=f"gave up after {row.attempts} tries: {outcome.error}"[:500])
    else:
        wait = outcome.after if outcome.after is not None else machine.retry.delay(row.attempts, outcome.retry_after)
        columns.update(next_at=now + timedelta(seconds=wait), last_error=outcome.error[:500])
    if _has_updated_at(machine):
        columns["updated_at"] = now
    columns.update(outcome.values)
    return columns


async def _write(
    machine: Machine[Any], site: Site | None, owner: str, rows: Iterable[Any], outcomes: Mapping[str, Outcome],
    now: datetime | None = None,
) -> int:
    """Record outcomes conditional on the lease; rows with the same new columns share one UPDATE."""
    now = now or _now()
    groups: dict[bytes, tuple[dict[str, Any], list[str]]] = {}
    for row in rows:
        columns = _columns(machine, site, row, outcomes[row.id], now)
        key = orjson.dumps(columns, default=str, option=orjson.OPT_SORT_KEYS)
        groups.setdefault(key, (columns, []))[1].append(row.id)
    changed = 0
    for columns, ids in groups.values():
        query = machine.model.filter(id__in=ids, lease_owner=owner, state=machine.source)
        changed += await query.update(**columns)
    return changed


async def record(lease: Lease, rows: list[Any], outcomes: Mapping[str, Outcome]) -> int:
    """Record the outcomes the handler did not commit itself; the number of rows still ours."""
    todo = [row for row in rows if row.id not in lease.committed]
    for row in todo:
        if row.id not in outcomes:
            log.error("machine %s: the handler gave no outcome for %s", lease.machine.name, row.id)
    full = {row.id: outcomes.get(row.id) or Retry(error=INTERNAL_ERROR) for row in todo}
    return await _write(lease.machine, lease.site, lease.owner, todo, full, lease.now())


def _due(machine: Machine[Any], now: datetime) -> Q:
    return (
        Q(state=machine.ready)
        & (Q(next_at__isnull=True) | Q(next_at__lte=now))
        & (Q(lease_owner__isnull=True) | Q(lease_expires_at__lt=now))
    )


async def claim(
    machine: Machine[Any], site: Site | None, *, owner: str | None = None, limit: int | None = None,
    now: datetime | None = None, ids: Iterable[str] | None = None,
) -> tuple[Lease, list[Any]]:
    """Take up to `limit` due rows no other runner took (only among `ids` if given: a person's
    "send it now"); the lease and the rows (possibly none)."""
    given, now = now is not None, now or _now()
    due = _due(machine, now) if ids is None else _due(machine, now) & Q(id__in=list(ids))
    # The lease token names who holds the rows (admins see it). An owner runs one claim at a time
    # (a worker, a runner's task); a caller without a name gets a fresh one for this claim.
    token = (owner or f"{runner_name()}:{new_id()[-10:]}")[-100:]
    deadline = now + timedelta(seconds=machine.lease_seconds(site))
    lease = Lease(machine, token, site, deadline, claimed_at=now, clock_given=given)
    limit = limit or machine.batch(site)
    model = machine.model
    columns: dict[str, Any] = {
        "lease_owner": token, "lease_expires_at": deadline, "attempts": F("attempts") + 1,
        "state": machine.source,
    }
    if _has_updated_at(machine):
        columns["updated_at"] = now
    if machine.claim_values is not None:
        columns.update(machine.claim_values(_now()))  # after `now`: a row queued meanwhile may be taken
    if _is_postgres():
        async with in_transaction():
            ids = await (
                model.filter(due).order_by(*machine.order).limit(limit)
                .select_for_update(skip_locked=True).values_list("id", flat=True)
            )
            if ids:  # still the compare-and-set: the lock spares a fight, the condition decides
                await model.filter(due, id__in=list(ids)).update(**columns)
    else:
        ids = await model.filter(due).order_by(*machine.order).limit(limit).values_list("id", flat=True)
        if ids:  # the compare-and-set: rows another runner took meanwhile no longer match
            await model.filter(due, id__in=list(ids)).update(**columns)
    if not ids:
        return lease, []
    query = model.filter(lease_owner=token).order_by(*machine.order)
    if machine.only:
        query = query.only(*machine.only, *sorted(BOOKKEEPING), "id")
    return lease, list(await query)


def claimed_at_birth(machine: Machine[Any], site: Site | None) -> tuple[Lease, dict[str, Any]]:
    """A lease for a row about to be created, and the columns that create it claimed.

    For work a person waits on (a give asked of another server): the caller runs the row at
    once with run_claimed, and no runner can take it meanwhile; if the caller dies, the lease
    expires and a runner takes the row as it would any other.
    """
    now = _now()
    token = f"{runner_name()}:{new_id()[-10:]}"[-100:]
    lease = Lease(machine, token, site, now + timedelta(seconds=machine.lease_seconds(site)), claimed_at=now)
    columns = {"state": machine.source, "attempts": 1, "lease_owner": token, "lease_expires_at": lease.expires_at}
    if machine.claim_values is not None:
        columns.update(machine.claim_values(now))
    return lease, columns


async def renew(lease: Lease) -> bool:
    """Extend the claim; False when the row being worked on (or every row) is no longer ours."""
    deadline = _now() + timedelta(seconds=lease.machine.lease_seconds(lease.site))
    model = lease.machine.model
    changed = await model.filter(lease_owner=lease.owner, state=lease.machine.source).update(lease_expires_at=deadline)
    lease.expires_at = deadline
    if changed and lease.machine.on_renew is not None:
        rows = await model.filter(lease_owner=lease.owner)
        await lease.machine.on_renew(rows, deadline)
    if lease.current is not None:
        return bool(await lease.mine(lease.current).exists())
    return bool(changed > 0)


async def release(lease: Lease) -> int:
    """Hand the rows of a claim back on shutdown, as if this try never started."""
    model = lease.machine.model
    rows = await model.filter(lease_owner=lease.owner, state=lease.machine.source)
    if not rows:
        return 0
    if lease.machine.on_release is not None:
        await lease.machine.on_release(rows, _now())
    return int(await model.filter(lease_owner=lease.owner, state=lease.machine.source).update(
        state=lease.machine.ready, lease_owner=None, lease_expires_at=None, attempts=F("attempts") - 1
    ))


async def reap(machine: Machine[Any], site: Site | None, *, now: datetime | None = None, limit: int = 100) -> int:
    """Rows left running by a dead runner: back to ready, or failed after their last attempt."""
    if machine.running is None:
        return 0  # their claim simply expires: an expired lease is due again
    now = now or _now()
    model = machine.model
    expired = await model.filter(state=machine.running, lease_expires_at__lt=now).limit(limit)
    reaped = 0
    for row in expired:
        give_up = row.attempts >= max_attempts_of(machine, site, row)
        columns: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "next_at": None}
        if give_up:
            columns.update(
                state=machine.failed,
                last_error=f"its runner stopped {row.attempts} times; it will not be tried again"[:500],
            )
        else:
            columns["state"] = machine.ready
        if _has_updated_at(machine):
            columns["updated_at"] = now
        async with in_transaction():
            same = model.filter(id=row.id, state=machine.running, lease_owner=row.lease_owner)
            if await same.update(**columns) == 1:
                reaped += 1
                if machine.on_reaped is not None:
                    await machine.on_reaped(row, give_up, now)
    if reaped:
        log.warning("machine %s: %d row(s) with an expired lease requeued or failed", machine.name, reaped)
    return reaped


async def reap_all(site: Site | None, registry: Machines = MACHINES) -> int:
    return sum([await reap(machine, site) for machine in registry])


async def move(machine: Machine[Any], row_id: str, source: str | Iterable[str], target: str, **values: Any) -> bool:
    """A person's move (cancel, requeue ...): declared as manual, conditional on the row's state."""
    sources = [source] if isinstance(source, str) else list(source)
    for state in sources:
        if not machine.allows_manual(state, target):
            raise EngineError(f"machine {machine.name}: {state!r} -> {target!r} is not a declared manual move")
    columns: dict[str, Any] = {"state": target, "lease_owner": None, "lease_expires_at": None, **values}
    if target == machine.ready:
        columns.setdefault("next_at", None)
    if _has_updated_at(machine):
        columns.setdefault("updated_at", _now())
    changed: int = await machine.model.filter(id=row_id, state__in=sources).update(**columns)
    return changed == 1


def _checked(machine: Machine[Any], row_id: str, outcome: Outcome) -> Outcome:
    """The outcome, or a retry when it names a move the handler did not declare (a bug: logged)."""
    try:
        machine.check_outcome(outcome)
    except EngineError:
        log.exception("machine %s: %s: refused outcome %r", machine.name, row_id, outcome)
        return Retry(error=INTERNAL_ERROR)
    return outcome


async def _handle(site: Site | None, lease: Lease, rows: list[Any]) -> dict[str, Outcome]:
    machine = lease.machine
    if machine.prepare is not None:
        try:
            await machine.prepare(site, rows, lease)
        except Exception:
            log.exception("machine %s: preparing %d row(s) failed", machine.name, len(rows))
            return {row.id: Retry(error=INTERNAL_ERROR) for row in rows}
    if machine.run_batch is not None:
        try:
            answered = await machine.run_batch(site, rows, lease)
            return {row_id: _checked(machine, row_id, outcome) for row_id, outcome in answered.items()}
        except LostLease:
            return {}
        except Exception:
            log.exception("machine %s: the batch handler failed", machine.name)
            return {row.id: Retry(error=INTERNAL_ERROR) for row in rows}
    if machine.run_one is None:
        raise EngineError(f"machine {machine.name} has no handler")
    outcomes: dict[str, Outcome] = {}
    for row in rows:
        lease.current = row.id
        try:
            outcome = _checked(machine, row.id, await machine.run_one(site, row, lease))
            if row.id not in lease.committed:  # recorded as each row ends: a crash repeats one row, not the claim
                await record(lease, [row], {row.id: outcome})
                lease.committed.add(row.id)
            outcomes[row.id] = outcome
        except LostLease:
            log.warning("machine %s: %s was taken from us while it ran; its changes rolled back", machine.name, row.id)
            lease.committed.add(row.id)  # nothing to record: it is not ours
        except Exception:
            log.exception("machine %s: %s failed unexpectedly", machine.name, row.id)
            outcomes[row.id] = Retry(error=INTERNAL_ERROR)
    lease.current = None
    return outcomes


_last_reap: dict[tuple[int, str], float] = {}


async def run_due(
    site: Site | None, machine: Machine[Any], *, owner: str | None = None, now: datetime | None = None,
    limit: int | None = None, ids: Iterable[str] | None = None,
) -> int:
    """Claim one batch of due rows of `machine` (only among `ids` if given), run it under a
    renewed lease; rows handled."""
    if machine.running is not None:  # reap now and then, so a dead runner's rows come back soon
        key, moment = (id(site), machine.name), time.monotonic()
        if moment - _last_reap.get(key, 0.0) >= machine.lease_seconds(site) / 3:
            _last_reap[key] = moment
            await reap(machine, site, now=now)
    lease, rows = await claim(machine, site, owner=owner, limit=limit, now=now, ids=ids)
    if rows:
        await run_claimed(lease, rows)
    return len(rows)


async def run_claimed(lease: Lease, rows: list[Any]) -> dict[str, Outcome | None]:
    """Run claimed rows' handler while renewing the lease, and record what it answered.

    The outcome per row id, None where the row was taken from us (a person's move, a reap).
    """
    machine, site = lease.machine, lease.site
    task = asyncio.create_task(_handle(site, lease, rows))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=machine.lease_seconds(site) / 3)
            if done:
                break
            if not await renew(lease) and not task.done():
                log.warning("machine %s: lease %s lost; stopping its handler", machine.name, lease.owner)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                with contextlib.suppress(Exception):
                    await release(lease)  # rows not started yet are still ours: hand them back
                return {row.id: None for row in rows}
        outcomes = task.result()
        await record(lease, rows, outcomes)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(asyncio.TimeoutError, Exception):  # bounded: else the lease expires
            await asyncio.wait_for(release(lease), RELEASE_SECONDS)
        raise
    return {row.id: outcomes.get(row.id) for row in rows}


class Runner:
    """Every machine's loop in this process (`serve` with embedded workers, `tallystick worker`)."""

    def __init__(
        self, site: Site | None, *, name: str | None = None, machines: Iterable[Machine[Any]] | None = None,
        poll_seconds: float = 1.0, pumps: bool = True, registry: Machines = MACHINES,
        concurrency: Mapping[str, int] | None = None,
    ) -> None:
        self.site = site
        self.name = name or f"{runner_name()}:{new_id()[-8:]}"
        self.registry = registry
        self.machines = list(machines) if machines is not None else list(registry)
        self.poll_seconds = poll_seconds
        self.pumps = pumps
        self.concurrency = dict(concurrency or {})
        self._wake: dict[str, asyncio.Event] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self, name: str | None = None) -> None:
        for machine_name, event in self._wake.items():
            if name is None or name == machine_name:
                event.set()

    async def _idle(self, name: str) -> None:
        event = self._wake[name]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=self.poll_seconds)
        event.clear()

    async def _loop(self, machine: Machine[Any], owner: str) -> None:
        while not self._stop.is_set():
            try:
                if await run_due(self.site, machine, owner=owner):
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runner %s: machine %s cannot reach its rows; retrying", self.name, machine.name)
            await self._idle(machine.name)

    async def pump_once(self) -> int:
        done = 0
        for pump in list(self.registry.pumps.values()):
            try:
                done += await pump.run(self.site)  # type: ignore[arg-type]  # pumps get the runner's site
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runner %s: pump %s failed; retrying", self.name, pump.name)
        return done

    async def _pump_loop(self) -> None:
        while not self._stop.is_set():
            if await self.pump_once():
                self.wake()  # pumped work (new deliveries, say) is due now
                continue
            await self._idle("")

    def start(self) -> None:
        """Start the loops; they use the ORM context of the caller."""
        if self._tasks:
            return
        missing = [machine.name for machine in self.machines if machine.run_one is None and machine.run_batch is None]
        if missing:  # its handler's module was never imported: say so at start, not in every poll
            raise EngineError(f"machine(s) without a handler: {', '.join(missing)}")
        self._stop.clear()
        self.registry.listen(self.wake)
        for machine in self.machines:
            self._wake[machine.name] = asyncio.Event()
            count = self.concurrency.get(machine.name, machine.concurrency(self.site))
            for index in range(count):
                owner = f"{self.name}:{machine.name}#{index}"  # one claim at a time each
                self._tasks.append(asyncio.create_task(self._loop(machine, owner), name=owner))
        if self.pumps:
            self._wake[""] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._pump_loop(), name="pumps"))

    async def stop(self) -> None:
        """Stop at once: work in progress is rolled back and its rows handed back."""
        self._stop.set()
        self.registry.unlisten(self.wake)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
