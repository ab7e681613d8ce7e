"""Job workers: claim by compare-and-set under a lease, renew it, record the outcome, reap.

Claiming is `UPDATE jobs SET state='running', lease_owner=me ... WHERE id=? AND state='queued'`;
only the worker whose update changed a row owns the job. On PostgreSQL the candidates are
picked with `SELECT ... FOR UPDATE SKIP LOCKED`, so busy workers do not all fight for the
same row. While the operation runs, the worker renews its lease every third of the lease
time; the reaper puts jobs whose lease ran out (their worker died) back in the queue, and
fails them after `max_attempts` starts.

Exactly-once effects: the operation and the `running -> succeeded` update of the job row
(conditional on this worker still holding the lease) commit in one transaction. A worker
that lost its lease (reaped, or the job was cancelled) therefore cannot commit anything:
its update matches no row and the operation's changes roll back with it.

Chains (models/operations/chains.py) run their steps in order, each in its own transaction
together with the update that records its result in `steps` (again conditional on the
lease). So each step takes effect exactly once, a worker that takes over a reaped chain
skips the steps already recorded, and a later failure does not undo earlier steps.

Callbacks (federation/callbacks.py): the worker that finishes a job queues its callback and
tries it right away, outside any transaction; the engine's callbacks machine retries the ones
that failed when due. `system.jobs.sweep` is the reaper (enqueued by server/scheduler.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from aiohttp import web
from tortoise.connection import connections
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from federation.callbacks import deliver
from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.outbox import publish_due_events
from models import sql
from models.actors import AccessToken, TokenKind, User, UserStatus
from models.context import Context, Site
from models.errors import DomainError, Unauthorized, Unprocessable
from models.ids import new_id
from models.jobs import Job, JobState, revoke_job_tokens
from models.operations.accounts import authenticate_token
from models.operations.chains import RefError, resolve_refs
from models.operations.jobs import check_job_consent, record_job_event
from models.operations.jobs_admin import reap_expired
from models.paging import Page
from models.registry import REGISTRY, Transaction
from models.results import FileResult, Rendered
from models.security import new_bearer_token, token_digest

from .scheduler import Scheduler, periodic_work
from .settings import JobSettings

__all__ = ["Worker", "WorkerPool", "WORKERS", "reap_expired", "storable", "INTERNAL_PROBLEM"]

log = logging.getLogger("tallystick.jobs")

INTERNAL_PROBLEM: dict[str, Any] = {
    "type": "https://tallystick.dev/problems/internal-error",
    "code": "internal-error",
    "title": "Internal server error",
    "status": 500,
    "detail": "the operation failed on our side; it has been logged",
}
CLAIM_CANDIDATES = 5
FEDERATION_SWEEP_SECONDS = 1.0
RELEASE_SECONDS = 5.0  # longest a stopping worker tries to hand its job back


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


class LostLease(Exception):
    """The job is no longer ours: the reaper requeued it or someone cancelled it."""


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
    user = await User.filter(id=job.runs_as_id).select_related("actor").first()
    if user is None or user.status == UserStatus.DELETED.value:
        raise Unauthorized("the account this job acts for has been deleted", code="account-deleted")
    return Context(site=site, user=user, actor=user.actor, extra={"job_id": job.id})


class Worker:
    """Runs one job at a time; several workers (tasks or processes) share the queue."""

    def __init__(self, site: Site, settings: JobSettings, *, name: str | None = None) -> None:
        self.site = site
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}"

    def _deadline(self) -> datetime:
        return _now() + timedelta(seconds=self.settings.lease_seconds)

    async def _take(self, job_id: str) -> bool:
        """The compare-and-set: true only for the one worker whose update changed the row."""
        now = _now()
        changed = await Job.filter(id=job_id, state=JobState.QUEUED.value).update(
            state=JobState.RUNNING.value,
            lease_owner=self.name,
            lease_expires_at=self._deadline(),
            attempts=F("attempts") + 1,
            started_at=now,
            updated_at=now,
        )
        return changed == 1

    async def claim(self) -> Job | None:
        """Take the oldest queued job, or None when the queue is empty."""
        if _is_postgres():
            async with in_transaction():
                ids = await (
                    Job.filter(state=JobState.QUEUED.value)
                    .order_by("id")
                    .limit(1)
                    .select_for_update(skip_locked=True)
                    .values_list("id", flat=True)
                )
                taken = [job_id for job_id in ids if await self._take(job_id)]
        else:
            candidates = await Job.filter(state=JobState.QUEUED.value).order_by("id").limit(CLAIM_CANDIDATES).values_list(
                "id", flat=True
            )
            taken = []
            for job_id in candidates:
                if await self._take(job_id):
                    taken = [job_id]
                    break
        return await Job.get(id=taken[0]) if taken else None

    async def renew(self, job: Job) -> bool:
        """Extend our lease (and the job token with it); false when the job is no longer ours."""
        deadline = self._deadline()
        changed = await Job.filter(id=job.id, state=JobState.RUNNING.value, lease_owner=self.name).update(
            lease_expires_at=deadline
        )
        if changed == 1 and job.job_token_id:
            await AccessToken.filter(id=job.job_token_id, revoked_at=None).update(expires_at=deadline)
        return changed == 1

    async def _issue_token(self, job: Job) -> str | None:
        """A bearer token for this run, as the user the job acts for; it lives as long as our lease.

        Only its hash is stored (like every AccessToken); _finish, cancel, terminate and the reaper
        revoke it, so a copy that leaks from the job is useless once the run is over. System jobs
        act for nobody and get none.
        """
        if job.is_system:
            return None
        # No transaction here: this runs right after a claim, when shutdown may cancel the task,
        # and a tortoise transaction cancelled while it begins keeps SQLite's lock for good.
        # A deleted account is refused when the token is used (authenticate_token).
        secret, token_id, moment = new_bearer_token(), new_id(), sql.now()
        await sql.insert(
            AccessToken._meta.db_table,
            id=token_id,
            user_id=job.runs_as_id,
            kind=TokenKind.JOB.value,
            token_hash=token_digest(secret),
            scopes=orjson.dumps([f"job:{job.id}"]).decode(),
            expires_at=self._deadline(),
            created_at=moment,
            updated_at=moment,
        )
        mine = Job.filter(id=job.id, state=JobState.RUNNING.value, lease_owner=self.name)
        if await mine.update(job_token_id=token_id) != 1:
            await AccessToken.filter(id=token_id).update(revoked_at=_now())
            raise LostLease
        job.job_token_id = token_id
        return secret

    async def _finish(
        self,
        job: Job,
        state: JobState,
        *,
        result: Any = None,
        error: dict[str, Any] | None = None,
        steps: list[dict[str, Any]] | None = None,
    ) -> bool:
        now = _now()
        extra: dict[str, Any] = {} if steps is None else {"steps": steps}
        changed = await Job.filter(id=job.id, state=JobState.RUNNING.value, lease_owner=self.name).update(
            state=state.value, result=result, error=error, finished_at=now, updated_at=now,
            lease_owner=None, lease_expires_at=None, **extra,
        )
        if changed != 1:
            return False
        job.state = state.value
        if job.job_token_id:  # ours: no need to look it up
            await AccessToken.filter(id=job.job_token_id, revoked_at=None).update(revoked_at=now)
        await record_job_event(job, f"job.{state.value}", {"attempts": job.attempts})
        return True

    async def _save_steps(self, job: Job, steps: list[dict[str, Any]]) -> bool:
        changed = await Job.filter(id=job.id, state=JobState.RUNNING.value, lease_owner=self.name).update(
            steps=steps, updated_at=_now()
        )
        return changed == 1

    async def _run_step(self, ctx: Context, job: Job, steps: list[dict[str, Any]], step: dict[str, Any]) -> Any:
        """Run one step and record its result in the same transaction; LostLease if not ours."""
        try:
            raw = resolve_refs(step["input"], {s["id"]: s["result"] for s in steps if s["state"] == "succeeded"})
        except RefError as error:
            raise Unprocessable(str(error), code="ref-unresolved") from None
        if REGISTRY.get(step["operation"]).transaction is not Transaction.NONE:  # commit with its recorded result
            async with in_transaction():
                result = storable(await REGISTRY.call(ctx, step["operation"], raw))
                if not await self._save_steps(job, self._recorded(steps, step, result)):
                    raise LostLease
        else:  # reads and network steps (lookups, follows, imports) hold no transaction while they wait
            result = storable(await REGISTRY.call(ctx, step["operation"], raw))
            async with in_transaction():
                if not await self._save_steps(job, self._recorded(steps, step, result)):
                    raise LostLease
        step.update(state="succeeded", result=result, error=None)
        return result

    @staticmethod
    def _recorded(steps: list[dict[str, Any]], step: dict[str, Any], result: Any) -> list[dict[str, Any]]:
        return [dict(s, state="succeeded", result=result, error=None) if s is step else s for s in steps]

    async def _execute_chain(self, job: Job) -> str:
        """Run the steps not yet done, in order; the first failure fails the rest and the job."""
        steps: list[dict[str, Any]] = [dict(step) for step in job.steps or []]
        failed: dict[str, Any] | None = None
        problem: dict[str, Any] | None = None
        try:
            ctx = await _job_context(self.site, job, await self._issue_token(job))
            for step in steps:
                if step["state"] != "succeeded":
                    failed = step
                    await self._run_step(ctx, job, steps, step)
                    failed = None
        except LostLease:
            log.warning("job %s: %s lost its lease during a step; that step was rolled back", job.id, self.name)
            return "lost"
        except DomainError as error:
            problem = error.to_problem()
        except Exception:
            log.exception("job %s: a chain step failed unexpectedly", job.id)
            problem = dict(INTERNAL_PROBLEM)
        if problem is None:
            async with in_transaction():
                results = {step["id"]: step["result"] for step in steps}
                if await self._finish(job, JobState.SUCCEEDED, result=results, steps=steps):
                    return JobState.SUCCEEDED.value
            return "lost"
        if failed is not None:
            failed.update(state="failed", error=problem)
            later = steps[steps.index(failed) + 1 :]
            for step in later:
                step.update(state="failed_dependency", error=None)
            problem = {
                **problem,
                "code": "chain-step-failed",
                "type": "https://tallystick.dev/problems/chain-step-failed",
                "detail": f"step {failed['id']!r} ({failed['operation']}) failed: {problem.get('detail')}; "
                f"{len(later)} later step(s) did not run; earlier steps were kept",
                "step": failed["id"],
                "step_problem": failed["error"],
            }
        async with in_transaction():
            if await self._finish(job, JobState.FAILED, error=problem, steps=steps):
                return JobState.FAILED.value
        return "lost"

    async def _execute(self, job: Job) -> str:
        """Run the operation; commit its changes only together with the job's success."""
        if job.steps is not None:
            return await self._execute_chain(job)
        try:
            ctx = await _job_context(self.site, job, await self._issue_token(job))
            if REGISTRY.get(job.operation).transaction is not Transaction.NONE:
                async with in_transaction():
                    result = storable(await REGISTRY.call(ctx, job.operation, job.input))
                    if not await self._finish(job, JobState.SUCCEEDED, result=result):
                        raise LostLease
            else:  # reads and network work: no transaction (SQLite's lock) held while they wait
                result = storable(await REGISTRY.call(ctx, job.operation, job.input))
                async with in_transaction():
                    if not await self._finish(job, JobState.SUCCEEDED, result=result):
                        raise LostLease
            return JobState.SUCCEEDED.value
        except LostLease:
            log.warning("job %s: %s lost its lease; its changes were rolled back", job.id, self.name)
            return "lost"
        except DomainError as error:
            problem = error.to_problem()
        except Exception:
            log.exception("job %s (%s) failed unexpectedly", job.id, job.operation)
            problem = dict(INTERNAL_PROBLEM)
        async with in_transaction():
            if await self._finish(job, JobState.FAILED, error=problem):
                return JobState.FAILED.value
        return "lost"

    async def _release(self, job: Job) -> None:
        """Give a job back on shutdown, as if this start never happened."""
        with contextlib.suppress(Exception):
            await revoke_job_tokens(job.id)
            await Job.filter(id=job.id, state=JobState.RUNNING.value, lease_owner=self.name).update(
                state=JobState.QUEUED.value, lease_owner=None, lease_expires_at=None, attempts=F("attempts") - 1
            )

    async def run_job(self, job: Job) -> str:
        """Run a claimed job while renewing its lease; the final state, or "lost"."""
        task = asyncio.create_task(self._execute(job))  # outside any transaction of ours
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.settings.lease_seconds / 3)
                if done:
                    return task.result()
                if not await self.renew(job) and not task.done():
                    log.warning("job %s: lease lost (cancelled or reaped); stopping it", job.id)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return "lost"
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            # Bounded: if the cancelled task left the database locked, the lease expires instead.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._release(job), RELEASE_SECONDS)
            raise

    async def run_once(self) -> bool:
        """Claim and run one job; false when the queue was empty."""
        job = await self.claim()
        if job is None:
            return False
        outcome = await self.run_job(job)
        if outcome != "lost":
            try:
                await deliver(self.site, job.id)  # queues the callback, if any; the engine retries failures
            except Exception:
                log.exception("job %s: callback delivery failed unexpectedly", job.id)
        return True


class WorkerPool:
    """N workers as tasks of this process, and the scheduler of periodic work; `wake` skips the poll wait."""

    def __init__(self, site: Site, settings: JobSettings, *, count: int | None = None) -> None:
        self.site = site
        self.settings = settings
        self.count = settings.workers if count is None else count
        self.workers = [Worker(site, settings) for _ in range(self.count)]
        self._wake = asyncio.Event()
        self._federation_wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Periodic work (lease sweep, callback retries, purge) is enqueued here as system jobs.
        self.scheduler = Scheduler(periodic_work(settings), self.wake) if settings.scheduler else None

    def wake(self) -> None:
        self._wake.set()

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _work(self, worker: Worker) -> None:
        while not self._stop.is_set():
            try:
                if await worker.run_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s: cannot reach the job queue; retrying", worker.name)
            await self._idle(self.settings.poll_interval_seconds)

    def wake_federation(self) -> None:
        self._federation_wake.set()

    async def federation_sweep(self) -> int:
        """One round: inbox activities, new events into activities, due deliveries; work done."""
        done = await process_due(self.site)
        done += await publish_due_events(self.site)
        done += await deliver_due(self.site)
        return done

    async def _sweep_federation(self) -> None:
        while not self._stop.is_set():
            busy = 0
            try:
                busy = await self.federation_sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("federation sweep failed; retrying")
            if busy:
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._federation_wake.wait(), timeout=self.settings.poll_interval_seconds)
            self._federation_wake.clear()

    def start(self) -> None:
        """Start the tasks; they use the ORM context of the caller (see open_database)."""
        if self._tasks or not self.workers:
            return
        self._tasks = [asyncio.create_task(self._work(worker), name=worker.name) for worker in self.workers]
        self._tasks.append(asyncio.create_task(self._sweep_federation(), name="federation-sweeper"))
        if self.scheduler is not None:
            self.scheduler.start()

    async def stop(self) -> None:
        """Stop at once: a job in progress is rolled back and handed back to the queue."""
        self._stop.set()
        if self.scheduler is not None:
            await self.scheduler.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []


WORKERS = web.AppKey("job_workers", WorkerPool)
