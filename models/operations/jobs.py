"""Jobs as their users see them: queue any operation, then read, list, cancel or forget it.

`enqueue` is not an HTTP route of its own: the generic handler calls it when a request asks
to run asynchronously. It refuses bad input and missing rights at once (the same checks a
direct call makes), so a queued job can only fail for reasons found while it runs.

On behalf of: a caller may send `X-On-Behalf-Of: username` when that user has granted them
an active delegation covering the operation's scope, or when the caller is an admin (see
models/operations/delegations.py); the job then runs with that user's rights and records
both users. Both may see the job. The worker checks the consent again when the job starts,
so a delegation revoked (or expired) meanwhile stops it. The caller must also pass the
operation's own checks (its role, not frozen), so acting for an admin does not lend
admin-only operations to an agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ..actors import TokenKind, User
from ..context import Context
from ..engine import move
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..job_callbacks import JobCallback, callback_of, callbacks_of, queue_callback
from ..jobs import FINISHED, Job, JobState, job_location, job_view, record_job_event, revoke_job_tokens
from ..machines import JOBS
from ..outputs import JobOut, Paged
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input
from ..urls import check_callback_syntax
from .accounts import find_user
from .delegations import require_consent

__all__ = [
    "JobRequest", "enqueue", "acting_context", "check_job_consent", "record_job_event", "refuse_job_token", "render_job",
]

# Operations that take a password, hand out a bearer token or act on the caller's own session:
# a job record would keep the secret (or lose the session), so they only run directly.
NOT_QUEUEABLE = frozenset(
    {"auth.register", "auth.login", "auth.logout", "admin.users.create", "admin.users.regenerate_token"}
)
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as HTTP header values are


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class JobRequest:
    """One call to queue: the operation, its raw input, and the request's job options."""

    operation: str
    input: dict[str, Any] = field(default_factory=dict)
    on_behalf_of: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None  # hash of method, path and input, for Idempotency-Key
    max_attempts: int = 3
    callback_url: str | None = None  # POST the finished job there (SSRF-checked here and before each try)


async def acting_context(ctx: Context, behalf_username: str | None, operation: str) -> Context:
    """The Context the job will run with: the caller's, or the behalf user's if they consented."""
    caller = ctx.require_user()
    if behalf_username is None:
        return ctx
    if not behalf_username.strip() or len(behalf_username) > 64:
        raise BadInput("X-On-Behalf-Of must be a username", code="invalid-on-behalf-of")
    target = await find_user(behalf_username.strip())
    await require_consent(caller, target, operation)
    return Context(site=ctx.site, user=target, actor=await target.actor)


async def check_job_consent(job: Job) -> None:
    """Before a run: the behalf user's consent still holds (not revoked or expired since queueing)."""
    if job.on_behalf_of_id is None or job.caller_id is None:
        return
    users = {user.id: user for user in await User.filter(id__in=[job.caller_id, job.on_behalf_of_id])}
    caller, grantor = users.get(job.caller_id), users.get(job.on_behalf_of_id)
    if caller is None or grantor is None:
        raise Forbidden("the account that queued this job or the one it acts for is gone", code="on-behalf-of-forbidden")
    await require_consent(caller, grantor, job.operation)


def _repeat(job: Job, request: JobRequest) -> Job:
    """A second request with the same Idempotency-Key: the same job, or why not."""
    if job.request_fingerprint != request.fingerprint:
        raise Unprocessable(
            "this Idempotency-Key was already used for a different request; use a new key",
            code="idempotency-key-reused",
            extra={"job": job.id},
        )
    if not job.finished:
        raise Conflict(
            f"the job for this Idempotency-Key is still {job.state}; poll {job_location(job.id)}",
            code="idempotency-key-in-flight",
            extra={"job": job.id, "location": job_location(job.id)},
        )
    return job


def refuse_job_token(ctx: Context) -> None:
    """A job's own token, sent back to us from outside the job (it leaked), cannot queue work
    that would outlive it: new jobs run with fresh tokens after this one is revoked."""
    token = ctx.extra.get("access_token")
    if getattr(token, "kind", None) == TokenKind.JOB.value and "job_id" not in ctx.extra:
        raise Forbidden("a job's own token cannot queue jobs", code="job-token-cannot-queue")


async def enqueue(ctx: Context, request: JobRequest) -> tuple[Job, bool]:
    """Check and queue a call: (new job, True), or (the earlier job, False) for a repeated key."""
    operation = REGISTRY.get(request.operation)
    if operation.name in NOT_QUEUEABLE or "password" in operation.input.model_fields:
        raise Unprocessable(
            f"{operation.name} handles passwords or tokens and cannot run as a job: call it directly",
            code="async-not-supported",
        )
    caller = ctx.require_user()
    if request.idempotency_key is not None and not IDEMPOTENCY_KEY.match(request.idempotency_key):
        raise BadInput("Idempotency-Key must be 1-255 visible ASCII characters", code="invalid-idempotency-key")
    REGISTRY.authorize(ctx, operation)  # the caller needs the kind of right too (role, not frozen)
    run_ctx = await acting_context(ctx, request.on_behalf_of, operation.name)
    REGISTRY.authorize(run_ctx, operation)
    refuse_job_token(ctx)
    REGISTRY.parse(request.operation, request.input, ctx)
    if request.callback_url is not None:
        check_callback_syntax(request.callback_url, allow_private=ctx.site.federation.allow_private_addresses)
    key = request.idempotency_key
    if key is not None:
        existing = await Job.get_or_none(caller_id=caller.id, idempotency_key=key)
        if existing is not None:
            return _repeat(existing, request), False
    behalf = run_ctx.user if run_ctx.user is not None and run_ctx.user.id != caller.id else None
    try:
        async with in_transaction():
            job = await Job.create(
                caller=caller,
                on_behalf_of=behalf,
                operation=request.operation,
                input=request.input,
                max_attempts=request.max_attempts,
                idempotency_key=key,
                request_fingerprint=request.fingerprint if key is not None else None,
            )
            if request.callback_url:
                await JobCallback.create(id=job.id, job=job, url=request.callback_url)
            await record_job_event(job, "job.queued", {"on_behalf_of": behalf.username if behalf else None})
    except IntegrityError:
        if key is None:
            raise
        # Two requests with one key raced; the other one created the job.
        return _repeat(await Job.get(caller_id=caller.id, idempotency_key=key), request), False
    return job, True


async def _usernames(jobs: list[Job]) -> dict[str, str]:
    ids = {job.caller_id for job in jobs} | {job.on_behalf_of_id for job in jobs if job.on_behalf_of_id}
    rows = await User.filter(id__in=list(ids)).values_list("id", "username")
    return {user_id: username for user_id, username in rows}


async def render_job(job: Job) -> dict[str, Any]:
    return job_view(job, await _usernames([job]), await callback_of(job.id))


def _mine(user: User) -> Q:
    return Q(caller_id=user.id) | Q(on_behalf_of_id=user.id)


async def visible_job(ctx: Context, job_id: str) -> Job:
    """The job if the caller asked for it or it acts for them; 404 otherwise."""
    job = await Job.filter(_mine(ctx.require_user()), id=job_id).first()
    if job is None:
        raise NotFound(f"there is no job {job_id!r}", code="job-not-found")
    return job


class JobIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


@REGISTRY.operation("jobs.get", JobIdInput, output=JobOut, access=Access.USER)
async def get_job(ctx: Context, params: JobIdInput) -> dict[str, Any]:
    """A job you queued or that acts for you: state, result or problem, timestamps."""
    return await render_job(await visible_job(ctx, params.id))


class JobListInput(ListInput):
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None
    operation: str | None = Field(None, min_length=1, max_length=100)


@REGISTRY.operation("jobs.list", JobListInput, output=Paged[JobOut], access=Access.USER)
async def list_jobs(ctx: Context, params: JobListInput) -> Any:
    """Your jobs (queued by you or acting for you), newest first, filterable by state and operation."""
    query = Job.filter(_mine(ctx.require_user()))
    if params.state:
        query = query.filter(state=params.state)
    if params.operation:
        query = query.filter(operation=params.operation)
    page = await paginate(query, params)
    usernames = await _usernames(page.items)
    callbacks = await callbacks_of(job.id for job in page.items)
    return page.map(lambda job: job_view(job, usernames, callbacks.get(job.id)))


@REGISTRY.operation("jobs.cancel", JobIdInput, output=JobOut)
async def cancel_job(ctx: Context, params: JobIdInput) -> dict[str, Any]:
    """Cancel a queued or running job; a running one is stopped and its changes are not kept."""
    job = await visible_job(ctx, params.id)
    now = _now()
    running = [JobState.QUEUED.value, JobState.RUNNING.value]
    changed = await move(JOBS, job.id, running, JobState.CANCELLED.value, finished_at=now)
    await job.refresh_from_db()
    if not changed:
        raise Conflict(f"the job has already {job.state}", code="job-finished", extra={"state": job.state})
    await revoke_job_tokens(job.id)
    await queue_callback(job)
    await record_job_event(job, "job.cancelled", {"by": ctx.require_user().username})
    return await render_job(job)


@REGISTRY.operation("jobs.delete", JobIdInput, output=None)
async def delete_job(ctx: Context, params: JobIdInput) -> None:
    """Forget a finished job (succeeded, failed or cancelled)."""
    job = await visible_job(ctx, params.id)
    deleted = await Job.filter(id=job.id, state__in=list(FINISHED)).delete()
    if not deleted:
        raise Conflict(
            f"the job is still {job.state}; cancel it first or wait for it to finish", code="job-not-finished"
        )
    await record_job_event(job, "job.deleted")
