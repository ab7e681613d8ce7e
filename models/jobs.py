"""Durable jobs: any operation queued in the database and run by a worker under a lease.

A worker claims a queued job with a compare-and-set update (state queued -> running plus its
own name and a lease deadline), renews the lease while it runs, and records the result or
the problem. A reaper puts running jobs whose lease ran out back in the queue.

A chain is a job whose `steps` hold the ordered steps with their per-step state, result or
problem (see models/operations/chains.py). A job with a callback URL (its `job_callbacks` row,
models/job_callbacks.py) has its record POSTed there when it finishes, signed with the caller's
webhook secret (federation/callbacks.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from tortoise import fields

from .actors import AccessToken, User
from .base import APP, Entity, iso
from .engine import Durable
from .events import Event

__all__ = [
    "Job", "JobState", "FINISHED", "MANUAL_TRANSITIONS", "WebhookSecret",
    "job_view", "job_location", "record_job_event", "revoke_job_tokens",
]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.CANCELLED.value)

# The moves a person (admin terminate, job-write status update) may make; workers make the rest
# (queued -> running -> succeeded/failed). A job that succeeded is final: its effects are committed.
MANUAL_TRANSITIONS: dict[str, frozenset[str]] = {
    JobState.QUEUED.value: frozenset({JobState.FAILED.value, JobState.CANCELLED.value}),
    JobState.RUNNING.value: frozenset({JobState.QUEUED.value, JobState.FAILED.value, JobState.CANCELLED.value}),
    JobState.FAILED.value: frozenset({JobState.QUEUED.value}),
    JobState.CANCELLED.value: frozenset({JobState.QUEUED.value}),
    JobState.SUCCEEDED.value: frozenset(),
}


class Job(Durable, Entity):
    """One queued call of an operation, with who asked, who it acts for, and how it ended.

    Its bookkeeping (state, attempts, next_at, lease, last_error) is the engine's: models/machines.py
    declares the machine, server/jobs.py its handler.
    """

    # null for system jobs: periodic work enqueued by the scheduler, run with a system context
    caller_id: str | None
    caller: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="jobs_called", null=True, on_delete=fields.CASCADE
    )
    on_behalf_of_id: str | None
    on_behalf_of: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="jobs_for", null=True, on_delete=fields.CASCADE
    )
    operation = fields.CharField(max_length=100)
    input: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    # chains: ordered steps with per-step state and result
    steps: fields.JSONField[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    state = fields.CharField(max_length=16, default=JobState.QUEUED.value)
    result: fields.JSONField[Any] = fields.JSONField(null=True)
    error: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)  # a problem document
    max_attempts = fields.IntField(default=3)
    idempotency_key = fields.CharField(max_length=255, null=True)
    request_fingerprint = fields.CharField(max_length=64, null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    # The bearer token the current run acts with (an AccessToken of kind job), revoked when the run ends.
    job_token_id = fields.CharField(max_length=26, null=True)
    # periodic work: operation and time slot, unique so several schedulers enqueue a slot once
    periodic_key = fields.CharField(max_length=150, null=True, unique=True)

    class Meta:
        app = APP
        table = "jobs"
        unique_together = (("caller", "idempotency_key"),)
        indexes = (("state", "lease_expires_at"), ("on_behalf_of_id",))

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def is_system(self) -> bool:
        return self.caller_id is None

    @property
    def runs_as_id(self) -> str | None:
        """The user whose rights the operation uses: the on-behalf-of user if set; None for system jobs."""
        return self.on_behalf_of_id or self.caller_id


class WebhookSecret(Entity):
    """The secret a user signs job callbacks with (Standard Webhooks whsec_ form), rotatable."""

    user_id: str
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        f"{APP}.User", related_name="webhook_secret", on_delete=fields.CASCADE
    )
    secret = fields.CharField(max_length=100)

    class Meta:
        app = APP
        table = "webhook_secrets"


async def revoke_job_tokens(*job_ids: str) -> int:
    """End the job tokens of these jobs' runs, so a leaked one is useless from now on."""
    token_ids = await Job.filter(id__in=job_ids, job_token_id__not_isnull=True).values_list("job_token_id", flat=True)
    if not token_ids:
        return 0
    now = datetime.now(timezone.utc)
    return await AccessToken.filter(id__in=list(token_ids), revoked_at=None).update(revoked_at=now)


def job_location(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


def job_view(job: Job, usernames: dict[str, str], callback: dict[str, Any] | None = None) -> dict[str, Any]:
    """The public job record; `usernames` maps the caller and behalf user ids to names, `callback`
    is the view of the job's callback if it has one (models/job_callbacks.py callback_view)."""
    behalf_id = job.on_behalf_of_id
    return {
        "id": job.id,
        "url": job_location(job.id),
        "state": job.state,
        "operation": job.operation,
        "input": job.input,
        "result": job.result,
        "error": job.error,
        "caller": usernames.get(job.caller_id or ""),
        "on_behalf_of": usernames.get(behalf_id) if behalf_id else None,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "idempotency_key": job.idempotency_key,
        "steps": job.steps,
        "callback": callback,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


async def record_job_event(job: Job, name: str, payload: dict[str, Any] | None = None) -> None:
    """Outbox event for a job state change, attributed to the job's caller (none for system jobs)."""
    if job.caller_id is None:
        return  # periodic housekeeping is not news to anyone
    actor_ids = await User.filter(id=job.caller_id).values_list("actor_id", flat=True)
    await Event.create(
        name=name,
        actor_id=actor_ids[0] if actor_ids else None,
        object_type="job",
        object_id=job.id,
        payload={"operation": job.operation, "state": job.state, **(payload or {})},
    )
