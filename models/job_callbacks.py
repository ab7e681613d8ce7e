"""Job callbacks: one row per job that asked for one (`job_callbacks`), delivered by a machine.

A job's callback is `waiting` while the job has not finished (shown as `pending` in the job
view, as before), becomes `pending` and due at once in the transaction that finishes the job
(`queue_callback`), and is then posted by federation/callbacks.py until `delivered`, or `failed`
after the last try (POST /jobs/{id}/callback sends it again). The bookkeeping columns (state,
attempts, next_at, lease, last_error) belong to the engine; the row keeps the URL, the last
HTTP status and when it was delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity, iso

if TYPE_CHECKING:
    from .jobs import Job

__all__ = ["JobCallback", "CallbackState", "callback_view", "callbacks_of", "queue_callback", "rewind_callback"]

MACHINE_NAME = "jobs.callbacks"  # the engine machine that posts these rows (federation/callbacks.py)


class CallbackState(StrEnum):
    WAITING = "waiting"  # the job has not finished yet
    PENDING = "pending"  # to be delivered (or retried later)
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last try; POST /jobs/{id}/callback tries again


class JobCallback(Entity):
    """Where to POST a finished job's record, and how that went."""

    job = fields.OneToOneField(f"{APP}.Job", related_name="callback", on_delete=fields.CASCADE)
    url = fields.CharField(max_length=2048)
    state = fields.CharField(max_length=16, default=CallbackState.WAITING.value)
    attempts = fields.IntField(default=0)
    next_at = fields.DatetimeField(null=True)  # earliest next try, null means now
    lease_owner = fields.CharField(max_length=100, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    last_status = fields.IntField(null=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "job_callbacks"
        indexes = (("state", "next_at"),)


def callback_view(callback: JobCallback | None) -> dict[str, Any] | None:
    """The `callback` block of the job view (a waiting callback reads as pending, as it always did)."""
    if callback is None:
        return None
    state = CallbackState.PENDING.value if callback.state == CallbackState.WAITING.value else callback.state
    return {
        "url": callback.url,
        "state": state,
        "attempts": callback.attempts,
        "last_status": callback.last_status,
        "last_error": callback.last_error,
        "next_attempt_at": iso(callback.next_at) if state == CallbackState.PENDING.value else None,
        "delivered_at": iso(callback.delivered_at),
    }


async def callbacks_of(job_ids: Iterable[str]) -> dict[str, JobCallback]:
    """The callback rows of these jobs, by job id (one query, for lists)."""
    ids = list(job_ids)
    if not ids:
        return {}
    return {row.job_id: row for row in await JobCallback.filter(job_id__in=ids)}  # type: ignore[attr-defined]


async def queue_callback(job: Job) -> bool:
    """Make a finishing job's callback due now; call it in the transaction that finishes the job.

    False when the job has no callback or it is already queued. Wake the machine after the commit
    (`wake_callbacks()`), so it does not wait for its next poll.
    """
    changed = await JobCallback.filter(job_id=job.id, state=CallbackState.WAITING.value).update(
        state=CallbackState.PENDING.value, next_at=None
    )
    return bool(changed)


async def rewind_callback(job: Job) -> None:
    """A job queued again: its callback waits for the new run's end (tries so far are kept)."""
    await JobCallback.filter(job_id=job.id).update(state=CallbackState.WAITING.value, next_at=None)
