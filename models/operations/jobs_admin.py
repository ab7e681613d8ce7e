"""Jobs as operators see them: stuck jobs and their termination (admin), metrics (job-read),
status updates along the declared transitions (job-write), and the lease reaper.

A terminated or re-stated running job is taken from its worker by the same compare-and-set the
worker's heartbeat checks: its next renewal changes no row, so the worker stops the task and
the operation's uncommitted changes roll back. The job token is revoked at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, cast

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from ..actors import AccessToken, Role, TokenKind
from ..bounds import Days, Hours, Seconds
from ..context import Context
from ..engine import move, reap, reap_all
from ..errors import Conflict, Forbidden, NotFound
from ..job_callbacks import callbacks_of, queue_callback, rewind_callback
from ..jobs import FINISHED, Job, JobState, job_view, revoke_job_tokens
from ..machines import JOBS
from ..outputs import JobOut, Output, Paged
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input, Transaction
from ..webhooks import DeliveryState, WebhookDelivery
from .jobs import _usernames, record_job_event, render_job

__all__ = ["reap_expired", "percentiles", "change_state", "enqueue_periodic"]

log = logging.getLogger("tallystick.jobs")

METRIC_SAMPLE = 10_000  # finished jobs read for the latency percentiles, newest first


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _require_any(ctx: Context, *roles: Role) -> None:
    if ctx.system:
        return
    user = ctx.require_user()
    if not any(user.has_role(role) for role in roles):
        names = " or ".join(role.value for role in roles)
        raise Forbidden(f"this action needs the {names} role", code="role-required")


def _problem(code: str, title: str, status: int, detail: str) -> dict[str, Any]:
    return {
        "type": f"https://tallystick.dev/problems/{code}",
        "code": code,
        "title": title,
        "status": status,
        "detail": detail,
    }


async def reap_expired(now: datetime | None = None) -> int:
    """Requeue running jobs whose lease ran out, or fail them after max_attempts starts."""
    return await reap(JOBS, None, now=now)


async def change_state(job: Job, target: str, *, reason: str, by: str, event: str) -> Job:
    """Move a job along MANUAL_TRANSITIONS with a compare-and-set on its current state; 409 otherwise."""
    allowed = JOBS.manual.get(job.state, frozenset())
    if target not in allowed:
        raise Conflict(
            f"a {job.state} job cannot become {target}"
            + (f"; it may become {', '.join(sorted(allowed))}" if allowed else "; it is final"),
            code="invalid-transition",
            extra={"state": job.state, "allowed": sorted(allowed)},
        )
    now = _now()
    changes: dict[str, Any] = {"updated_at": now}
    if target == JobState.QUEUED.value:  # a fresh start: as if it had just been queued
        changes.update(result=None, error=None, finished_at=None, started_at=None, attempts=0, last_error=None)
    else:
        title = "Job cancelled" if target == JobState.CANCELLED.value else "Job terminated"
        changes.update(finished_at=now, error=_problem("job-terminated", title, 409, f"{by}: {reason}"))
    async with in_transaction():
        if not await move(JOBS, job.id, job.state, target, **changes):
            await job.refresh_from_db()
            raise Conflict(f"the job changed meanwhile; it is now {job.state}", code="job-changed")
        await revoke_job_tokens(job.id)
        if target == JobState.QUEUED.value:
            await rewind_callback(job)
        else:
            await queue_callback(job)
        previous = job.state
        await job.refresh_from_db()
        await record_job_event(job, event, {"from": previous, "reason": reason, "by": by})
    return job


async def _any_job(job_id: str) -> Job:
    job = await Job.get_or_none(id=job_id)
    if job is None:
        raise NotFound(f"there is no job {job_id!r}", code="job-not-found")
    return job


class StuckInput(ListInput):
    operation: str | None = Field(None, min_length=1, max_length=100)
    running_longer_than: Seconds | None = Field(None, description="seconds; the stuck_after_seconds setting if absent")


class StuckJobOut(JobOut):
    lease_owner: str | None
    stuck_because: Literal["lease-expired", "running-too-long"]
    running_seconds: float | None


@REGISTRY.operation("admin.jobs.stuck", StuckInput, output=Paged[StuckJobOut], access=Access.USER, role=Role.ADMIN)
async def stuck_jobs(ctx: Context, params: StuckInput) -> Any:
    """Running jobs past their lease (their worker died) or running longer than the limit."""
    now = _now()
    limit = params.running_longer_than or ctx.site.jobs.stuck_after_seconds
    too_long = now - timedelta(seconds=limit)
    query = Job.filter(Q(lease_expires_at__lt=now) | Q(started_at__lt=too_long), state=JobState.RUNNING.value)
    if params.operation:
        query = query.filter(operation=params.operation)
    page = await paginate(query, params)
    usernames = await _usernames(page.items)
    callbacks = await callbacks_of(job.id for job in page.items)

    def render(job: Job) -> dict[str, Any]:
        expired = job.lease_expires_at is not None and job.lease_expires_at < now
        running = (now - job.started_at).total_seconds() if job.started_at else None
        return {
            **job_view(job, usernames, callbacks.get(job.id)),
            "lease_owner": job.lease_owner,
            "stuck_because": "lease-expired" if expired else "running-too-long",
            "running_seconds": running,
        }

    return page.map(render)


class TerminateInput(Input):
    id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)
    state: Literal["failed", "cancelled"] = "failed"


@REGISTRY.operation(
    "admin.jobs.terminate", TerminateInput, output=JobOut, role=Role.ADMIN, transaction=Transaction.NONE
)
async def terminate_job(ctx: Context, params: TerminateInput) -> dict[str, Any]:
    """End a queued or running job with a reason; its worker notices at its next heartbeat and stops."""
    job = await _any_job(params.id)
    if job.finished:
        raise Conflict(f"the job has already {job.state}", code="job-finished", extra={"state": job.state})
    by = f"terminated by {ctx.require_user().username}"
    return await render_job(await change_state(job, params.state, reason=params.reason, by=by, event="job.terminated"))


class StatusInput(Input):
    id: str = Field(min_length=1, max_length=64)
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    reason: str = Field(min_length=1, max_length=500)


@REGISTRY.operation("admin.jobs.set_state", StatusInput, output=JobOut, transaction=Transaction.NONE)
async def set_job_state(ctx: Context, params: StatusInput) -> dict[str, Any]:
    """Change a job's state (job-write role): fail or cancel it, or queue a stopped one again."""
    _require_any(ctx, Role.JOB_WRITE, Role.ADMIN)
    job = await _any_job(params.id)
    if job.state == params.state:
        return await render_job(job)  # already there: repeating the request changes nothing
    by = f"set by {ctx.require_user().username}"
    return await render_job(await change_state(job, params.state, reason=params.reason, by=by, event="job.state_set"))


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float | None]:
    """Nearest-rank percentiles (the smallest value with at least p% of values at or below it)."""
    ordered = sorted(values)
    found: dict[str, float | None] = {}
    for point in points:
        if not ordered:
            found[f"p{point}"] = None
            continue
        rank = max(1, -(-point * len(ordered) // 100))  # ceil(p/100 * n)
        found[f"p{point}"] = round(ordered[rank - 1], 6)
    return found


class MetricsInput(Input):
    operation: str | None = Field(None, min_length=1, max_length=100)
    hours: float = Field(24, gt=0, le=24 * 90, description="latency window: jobs finished in the last N hours")


class PercentilesOut(Output):
    p50: float | None
    p95: float | None
    p99: float | None


class LatencyOut(Output):
    total: PercentilesOut = Field(description="queued -> finished")
    wait: PercentilesOut = Field(description="queued -> last start")
    run: PercentilesOut = Field(description="last start -> finished")


class JobMetricsOut(Output):
    by_state: dict[str, int]
    by_operation: dict[str, dict[str, int]]
    queue_depth: int
    running: int
    oldest_queued_seconds: float | None
    window_hours: float
    finished_in_window: int
    latency_seconds: LatencyOut


@REGISTRY.operation("admin.jobs.metrics", MetricsInput, output=JobMetricsOut, access=Access.USER)
async def job_metrics(ctx: Context, params: MetricsInput) -> dict[str, Any]:
    """Counts by state and operation, queue depth, and latency percentiles of finished jobs (job-read role)."""
    _require_any(ctx, Role.JOB_READ, Role.ADMIN)
    base = Job.all() if params.operation is None else Job.filter(operation=params.operation)
    rows = await base.annotate(n=Count("id")).group_by("operation", "state").values("operation", "state", "n")
    by_state = {state.value: 0 for state in JobState}
    by_operation: dict[str, dict[str, int]] = {}
    for row in rows:
        by_state[row["state"]] += row["n"]
        by_operation.setdefault(row["operation"], {})[row["state"]] = row["n"]
    now = _now()
    first_queued = base.filter(state=JobState.QUEUED.value).order_by("created_at").first()
    oldest = cast(datetime | None, await first_queued.values_list("created_at", flat=True))  # flat: one value
    finished = await (
        base.filter(state__in=list(FINISHED), finished_at__gte=now - timedelta(hours=params.hours))
        .order_by("-finished_at")
        .limit(METRIC_SAMPLE)
        .values_list("created_at", "started_at", "finished_at")
    )
    total = [(done - created).total_seconds() for created, _, done in finished]
    waits = [(started - created).total_seconds() for created, started, _ in finished if started is not None]
    runs = [(done - started).total_seconds() for _, started, done in finished if started is not None]
    return {
        "by_state": by_state,
        "by_operation": by_operation,
        "queue_depth": by_state[JobState.QUEUED.value],
        "running": by_state[JobState.RUNNING.value],
        "oldest_queued_seconds": (now - oldest).total_seconds() if oldest else None,
        "window_hours": params.hours,
        "finished_in_window": len(finished),
        "latency_seconds": {
            "total": percentiles(total),  # queued -> finished
            "wait": percentiles(waits),  # queued -> last start
            "run": percentiles(runs),  # last start -> finished
        },
    }


# Periodic work. The scheduler (server/scheduler.py) only enqueues these as system jobs, one per
# operation and time slot (Job.periodic_key is unique), and workers run them like any job.


async def enqueue_periodic(operation: str, raw: dict[str, Any], slot: str) -> Job | None:
    """Queue one system job for this slot; None when another process already queued it."""
    try:
        return await Job.create(
            caller=None, operation=operation, input=raw, max_attempts=1, periodic_key=f"{operation}@{slot}"
        )
    except IntegrityError:
        return None


class NoInput(Input):
    pass


class SweepOut(Output):
    reaped: int


@REGISTRY.operation("system.jobs.sweep", NoInput, output=SweepOut, access=Access.SYSTEM, transaction=Transaction.NONE)
async def sweep_stuck_jobs(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Requeue (or fail) work whose runner died: rows of every machine whose lease ran out."""
    return {"reaped": await reap_all(ctx.site)}


class PurgeInput(Input):
    retention_days: Days = 30
    system_retention_hours: Hours = 1


class PurgeOut(Output):
    purged: int
    purged_system: int
    job_tokens: int
    webhook_deliveries: int


@REGISTRY.operation(
    "system.jobs.purge", PurgeInput, output=PurgeOut, access=Access.SYSTEM, transaction=Transaction.NONE
)
async def purge_jobs(ctx: Context, params: PurgeInput) -> dict[str, Any]:
    """Forget finished jobs and webhook deliveries older than the retention; finished periodic jobs
    and dead job tokens (each run leaves one) go after an hour."""
    now = _now()
    kept_since = now - timedelta(days=params.retention_days)
    short = now - timedelta(hours=params.system_retention_hours)
    finished = Job.filter(state__in=list(FINISHED))
    users = await finished.filter(caller_id__not_isnull=True, finished_at__lt=kept_since).delete()
    system = await finished.filter(caller_id__isnull=True, finished_at__lt=short).delete()
    tokens = await AccessToken.filter(
        Q(revoked_at__lt=short) | Q(expires_at__lt=short), kind=TokenKind.JOB.value
    ).delete()
    deliveries = await WebhookDelivery.filter(
        state__in=[DeliveryState.DELIVERED.value, DeliveryState.FAILED.value], updated_at__lt=kept_since
    ).delete()
    return {"purged": users, "purged_system": system, "job_tokens": tokens, "webhook_deliveries": deliveries}
