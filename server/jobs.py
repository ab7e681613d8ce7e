"""Jobs on the engine: the handler that runs a queued operation, and the process's runner.

The jobs machine is declared in models/machines.py; the engine (models/engine/) claims a queued
job by compare-and-set under a lease, renews it while the operation runs and reaps jobs whose
worker died. This module is the handler and the worker pool that runs every machine.

Exactly-once effects: the operation and the `running -> succeeded` record of the job (written
by `lease.commit`, conditional on this worker still holding the lease) commit in one
transaction. A worker that lost its lease (reaped, or the job was cancelled) therefore cannot
commit anything: its record matches no row and the operation's changes roll back with it.

Chains (models/operations/chains.py) run their steps in order, each in its own transaction
together with the `lease.save` that records its result in `steps`. So each step takes effect
exactly once, a worker that takes over a reaped chain skips the steps already recorded, and a
later failure does not undo earlier steps.

Callbacks: the transaction that records a job's end also makes its callback due
(models/job_callbacks.py queue_callback); the engine's callbacks machine posts it
(federation/callbacks.py) and retries failures when due.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import orjson
from aiohttp import web
from tortoise.transactions import in_transaction

from models.actors import AccessToken, User, UserStatus
from models.context import Context, Site
from models.engine import GiveUp, Go, Lease, LostLease, Outcome, Runner, claim, run_claimed, run_due
from models.engine.runner import renew, runner_name
from models.errors import DomainError, Unauthorized, Unprocessable
from models.ids import new_id
from models.job_callbacks import queue_callback
from models.jobs import Job, JobState
from models.machines import JOBS
from models.operations.accounts import authenticate_token
from models.operations.chains import RefError, resolve_refs
from models.operations.jobs import check_job_consent, record_job_event
from models.operations.jobs_admin import reap_expired
from models.paging import Page
from models.registry import REGISTRY, Transaction
from models.results import FileResult, Rendered

from .scheduler import Scheduler, periodic_work
from .settings import JobSettings

__all__ = ["LostLease", "Worker", "WorkerPool", "WORKERS", "reap_expired", "storable", "INTERNAL_PROBLEM"]

log = logging.getLogger("tallystick.jobs")

T = TypeVar("T")

INTERNAL_PROBLEM: dict[str, Any] = {
    "type": "https://tallystick.dev/problems/internal-error",
    "code": "internal-error",
    "title": "Internal server error",
    "status": 500,
    "detail": "the operation failed on our side; it has been logged",
}


def _now() -> datetime:
    return datetime.now(timezone.utc)




def storable(result: Any) -> Any:
    """The operation's result as a JSON value for the job record."""
    if isinstance(result, Page):
        return {
            "items": result.items,
            "page": result.page,
            "page_size": result.page_size,
            "next_cursor": result.next_cursor,
            "sort": result.sort,
        }
    if isinstance(result, Rendered):
        return {"content_type": result.content_type, "body": result.body}
    if isinstance(result, FileResult):
        raise Unprocessable("this operation answers with a file: call it directly", code="file-result")
    return orjson.loads(orjson.dumps(result))


async def _job_context(site: Site, job: Job, token: str | None = None) -> Context:
    """The job's caller: authenticated by its job token when it has one, as an HTTP request would be."""
    if job.is_system:
        return Context(site=site, system=True, extra={"job_id": job.id})
    await check_job_consent(job)  # a delegation revoked or expired since it was queued stops it here
    if token is not None:
        user, access = await authenticate_token(token)
        extra = {"job_id": job.id, "job_token": token, "access_token": access}
        return Context(site=site, user=user, actor=user.actor, extra=extra)
    runs_as = await User.filter(id=job.runs_as_id).select_related("actor").first()
    if runs_as is None or runs_as.status == UserStatus.DELETED.value:
        raise Unauthorized("the account this job acts for has been deleted", code="account-deleted")
    return Context(site=site, user=runs_as, actor=runs_as.actor, extra={"job_id": job.id})


async def _token_for(site: Site, job: Job, lease: Lease) -> str | None:
    """The run's bearer token, issued for the whole claim by the machine's prepare step."""
    if job.is_system:
        return None
    if getattr(job, "job_token", None) is None and JOBS.prepare is not None:  # run outside the runner
        await JOBS.prepare(site, [job], lease)
    token: str | None = getattr(job, "job_token", None)
    return token


async def _finish(job: Job, lease: Lease, outcome: Outcome) -> Outcome:
    """Record the job's end with its lease (in the caller's transaction), end its token, tell its caller."""
    await lease.commit(job, outcome)
    job.state = JobState.SUCCEEDED.value if isinstance(outcome, Go) else JobState.FAILED.value
    if job.job_token_id:  # ours: no need to look it up
        await AccessToken.filter(id=job.job_token_id, revoked_at=None).update(revoked_at=_now())
    await record_job_event(job, f"job.{job.state}", {"attempts": job.attempts})
    await queue_callback(job)  # one conditional UPDATE; the callbacks machine posts it
    return outcome


def _succeeded(result: Any, **values: Any) -> Go:
    return Go(JobState.SUCCEEDED.value, values={"result": result, "error": None, "finished_at": _now(), **values})


def _failed(problem: dict[str, Any], **values: Any) -> GiveUp:
    return GiveUp(str(problem.get("detail") or problem.get("title") or "failed"),
                  values={"result": None, "error": problem, "finished_at": _now(), **values})


def _recorded(steps: list[dict[str, Any]], step: dict[str, Any], result: Any) -> list[dict[str, Any]]:
    return [dict(s, state="succeeded", result=result, error=None) if s is step else s for s in steps]


async def _call_and_record(ctx: Context, operation: str, raw: Any, record: Callable[[Any], Awaitable[T]]) -> T:
    """Run an operation and record its result conditional on the lease: in ONE transaction when
    the operation writes (exactly once: a lost lease rolls both back); reads and network work
    (lookups, follows, imports) hold no transaction, and so no SQLite lock, while they wait."""
    if REGISTRY.get(operation).transaction is not Transaction.NONE:
        async with in_transaction():
            return await record(storable(await REGISTRY.call(ctx, operation, raw)))
    result = storable(await REGISTRY.call(ctx, operation, raw))
    async with in_transaction():
        return await record(result)


async def _run_step(ctx: Context, job: Job, lease: Lease, steps: list[dict[str, Any]], step: dict[str, Any]) -> Any:
    """Run one chain step and record its result with it (lease.save); LostLease if not ours."""
    try:
        raw = resolve_refs(step["input"], {s["id"]: s["result"] for s in steps if s["state"] == "succeeded"})
    except RefError as error:
        raise Unprocessable(str(error), code="ref-unresolved") from None

    async def record(result: Any) -> Any:
        await lease.save(job, steps=_recorded(steps, step, result))
        return result

    result = await _call_and_record(ctx, step["operation"], raw, record)
    step.update(state="succeeded", result=result, error=None)
    return result


def _chain_problem(problem: dict[str, Any], steps: list[dict[str, Any]], failed: dict[str, Any]) -> dict[str, Any]:
    """The failed step keeps its problem, later ones did not run; the job's problem says so."""
    failed.update(state="failed", error=problem)
    later = steps[steps.index(failed) + 1 :]
    for step in later:
        step.update(state="failed_dependency", error=None)
    return {
        **problem,
        "code": "chain-step-failed",
        "type": "https://tallystick.dev/problems/chain-step-failed",
        "detail": f"step {failed['id']!r} ({failed['operation']}) failed: {problem.get('detail')}; "
        f"{len(later)} later step(s) did not run; earlier steps were kept",
        "step": failed["id"],
        "step_problem": failed["error"],
    }


async def _run(site: Site, job: Job, lease: Lease) -> Outcome:
    """Run the job's steps not yet done, in order. A single job is a chain of one step whose
    record IS the job's success (one transaction); a chain records each step, then finishes.
    The first failure fails the rest and the job; earlier steps are kept."""
    chain = job.steps is not None
    steps: list[dict[str, Any]] = [dict(step) for step in job.steps or []]
    failed: dict[str, Any] | None = None
    try:
        ctx = await _job_context(site, job, await _token_for(site, job, lease))
        if not chain:
            return await _call_and_record(
                ctx, job.operation, job.input, lambda result: _finish(job, lease, _succeeded(result))
            )
        for step in steps:
            if step["state"] != "succeeded":
                failed = step
                await _run_step(ctx, job, lease, steps, step)
                failed = None
        async with in_transaction():
            results = {step["id"]: step["result"] for step in steps}
            return await _finish(job, lease, _succeeded(results, steps=steps))
    except LostLease:
        raise
    except DomainError as error:
        problem = error.to_problem()
    except Exception:
        log.exception("job %s (%s) failed unexpectedly", job.id, job.operation)
        problem = dict(INTERNAL_PROBLEM)
    if failed is not None:
        problem = _chain_problem(problem, steps, failed)
    async with in_transaction():
        return await _finish(job, lease, _failed(problem, steps=steps) if chain else _failed(problem))


@JOBS.handler(may={JobState.SUCCEEDED.value, JobState.FAILED.value})
async def run_job(site: Site, job: Job, lease: Lease) -> Outcome:
    """The jobs machine's handler: run the job (its end queues its callback)."""
    return await _run(site, job, lease)


class Worker:
    """One job at a time, by name: what tests and `tallystick worker --once` drive directly."""

    def __init__(self, site: Site, settings: JobSettings, *, name: str | None = None) -> None:
        self.site = dataclasses.replace(site, jobs=settings)
        self.settings = settings
        self.name = name or f"{runner_name()}:{new_id()[-8:]}"
        self._leases: dict[str, Lease] = {}

    async def claim(self) -> Job | None:
        """Take the oldest queued job, or None when the queue is empty."""
        lease, rows = await claim(JOBS, self.site, owner=self.name, limit=1)
        if not rows:
            return None
        self._leases[rows[0].id] = lease
        return rows[0]  # type: ignore[no-any-return]  # the jobs machine's rows are jobs

    async def renew(self, job: Job) -> bool:
        """Extend the lease of a claimed job; False when it is no longer ours."""
        return await renew(self._leases[job.id])

    async def run_job(self, job: Job) -> str:
        """Run a claimed job while renewing its lease; the final state, or "lost"."""
        lease = self._leases.pop(job.id)
        outcome = (await run_claimed(lease, [job]))[job.id]
        if outcome is None:
            return "lost"
        return JobState.SUCCEEDED.value if isinstance(outcome, Go) else JobState.FAILED.value

    async def run_once(self) -> bool:
        """Claim and run one job; false when the queue was empty."""
        return await run_due(self.site, JOBS, owner=self.name, limit=1) > 0


class WorkerPool:
    """This process's runner of every machine (jobs on `count` tasks), and the periodic scheduler."""

    def __init__(self, site: Site, settings: JobSettings, *, count: int | None = None) -> None:
        self.site = dataclasses.replace(site, jobs=settings)
        self.settings = settings
        self.count = settings.workers if count is None else count
        self.runner = Runner(
            self.site, poll_seconds=settings.poll_interval_seconds, concurrency={JOBS.name: self.count}
        )
        # Periodic work (engine reap, purge, prune) is enqueued here as system jobs.
        self.scheduler = Scheduler(periodic_work(settings), self.wake) if settings.scheduler else None
        self._started = False

    def wake(self) -> None:
        self.runner.wake(JOBS.name)

    def wake_federation(self) -> None:
        """New events or activities: every machine and pump of this process looks now."""
        self.runner.wake()

    def start(self) -> None:
        """Start the tasks; they use the ORM context of the caller (see open_database)."""
        if self._started or not self.count:
            return
        self._started = True
        self.runner.start()
        if self.scheduler is not None:
            self.scheduler.start()

    async def stop(self) -> None:
        """Stop at once: a job in progress is rolled back and handed back to the queue."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.runner.stop()
        self._started = False


WORKERS = web.AppKey("job_workers", WorkerPool)
