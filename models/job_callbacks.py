"""Job callbacks: one row per job that asked for one (`job_callbacks`), run by the engine.

A job's callback is `waiting` while the job has not finished (shown as `pending` in the job
view, as before), becomes `pending` and due at once in the transaction that finishes the job
(`queue_callback`), and is then posted by the CALLBACKS machine's handler (federation/callbacks.py)
until `delivered`, or `failed` after the last try (POST /jobs/{id}/callback sends it again).
The bookkeeping columns (state, attempts, next_at, lease, last_error) are the engine's (the
machine, CALLBACKS, is declared in models/machines.py); the row keeps the URL, the last HTTP
status and when it was delivered. A callback's id is its job's id, so finishing a job queues its
callback with one conditional UPDATE, which changes nothing for the jobs that have none.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity, iso
from .engine import MACHINES, Durable, move

if TYPE_CHECKING:
    from .jobs import Job

__all__ = [
    "BACKOFF",
    "CLAIM_SECONDS",
    "MAX_TRIES",
    "CallbackState",
    "JobCallback",
    "callback_of",
    "callback_view",
    "callbacks_of",
    "queue_callback",
    "rewind_callback",
]

BACKOFF = (10, 60, 300, 1800, 3600, 3 * 3600, 6 * 3600)  # seconds after try 1, 2, ... (webhooks too)
MAX_TRIES = len(BACKOFF) + 1
CLAIM_SECONDS = 60  # a claimed try is not picked again before this (the runner renews it meanwhile)


class CallbackState(StrEnum):
    WAITING = "waiting"  # the job has not finished yet
    PENDING = "pending"  # to be delivered (or retried later)
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last try; POST /jobs/{id}/callback tries again


class JobCallback(Durable, Entity):
    """Where to POST a finished job's record, and how that went."""

    # id: the job's id (see the module docstring)
    state = fields.CharField(max_length=16, default=CallbackState.WAITING.value)
    job: fields.OneToOneRelation[Job] = fields.OneToOneField(f"{APP}.Job", related_name="callback", on_delete=fields.CASCADE)
    url = fields.CharField(max_length=2048)
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


async def callback_of(job_id: str) -> dict[str, Any] | None:
    """The `callback` block of one job's view."""
    return callback_view(await JobCallback.get_or_none(id=job_id))


async def callbacks_of(job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The `callback` blocks of these jobs' views, by job id (one query, for lists)."""
    ids = list(job_ids)
    if not ids:
        return {}
    return {row.id: view for row in await JobCallback.filter(id__in=ids) if (view := callback_view(row))}


async def queue_callback(job: Job) -> bool:
    """Make a finishing job's callback due now: call it in the transaction that finishes the job.

    One conditional UPDATE; False when the job has no callback or it was queued already. It
    wakes the callbacks machine (a runner woken before the commit finds the row at its next poll).
    """
    from .machines import CALLBACKS  # the machines module imports this one's model

    moved = await move(CALLBACKS, job.id, CallbackState.WAITING.value, CallbackState.PENDING.value)
    if moved:
        MACHINES.wake(CALLBACKS.name)
    return moved


async def rewind_callback(job: Job) -> bool:
    """A job queued again: its callback waits for the new run's end (the tries so far are kept)."""
    from .machines import CALLBACKS

    sent = (CallbackState.PENDING.value, CallbackState.DELIVERED.value, CallbackState.FAILED.value)
    return await move(CALLBACKS, job.id, sent, CallbackState.WAITING.value)
