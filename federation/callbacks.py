"""Job callbacks: POST the finished job record to its callback URL, signed, with retries.

Signing follows Standard Webhooks (https://www.standardwebhooks.com): headers `webhook-id`
(the job id, the same for every retry so receivers can drop duplicates), `webhook-timestamp`
(Unix seconds) and `webhook-signature` = `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
keyed with the caller's secret `whsec_<base64>` (GET /api/v1/me/webhook-secret).

The rows (`job_callbacks`, models/job_callbacks.py) belong to the CALLBACKS machine
(models/machines.py): the transaction that finishes a job makes its callback due
(`queue_callback`), and the engine's runner claims due rows, calls `send` below with no transaction open, and retries failures after
BACKOFF (10 s, 1 min, 5 min, ...) up to MAX_TRIES; then the callback is `failed` until
redelivered. The outcome and the job's callback event commit together. The SSRF guard runs
again right before each try, and the connection itself uses only the addresses the guard
approved (GuardedResolver), so DNS changes cannot slip past it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from datetime import datetime, timezone
from typing import Any

import aiohttp
import orjson
from tortoise.transactions import in_transaction

from models.context import Context, Site
from models.engine import GiveUp, Go, Lease, Outcome, Retry, move, run_due
from models.errors import Conflict, Unprocessable
from models.job_callbacks import BACKOFF, CLAIM_SECONDS, MAX_TRIES, CallbackState, JobCallback, queue_callback
from models.jobs import Job
from models.machines import CALLBACKS
from models.operations.callbacks import secret_for
from models.operations.jobs import JobIdInput, record_job_event, render_job, visible_job
from models.outputs import JobOut
from models.registry import REGISTRY, Transaction

from .ssrf import GuardedResolver, UrlRefused, check_callback_url

__all__ = [
    "BACKOFF", "CLAIM_SECONDS", "MAX_TRIES", "sign", "post_signed", "send", "deliver", "deliver_due_callbacks",
    "queue_callback",
]

log = logging.getLogger("tallystick.callbacks")

TIMEOUT_SECONDS = 10


def _now() -> datetime:
    return datetime.now(timezone.utc)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value for one message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def post_signed(site: Site, url: str, secret: str, message_id: str, body: bytes) -> tuple[int | None, str | None]:
    """POST one signed Standard Webhooks message: (HTTP status, None) or (status or None, why it failed).

    Shared by job callbacks and event webhooks. The SSRF guard runs right before the try, and
    the connection uses only the addresses it approved (GuardedResolver).
    """
    allow = site.federation.allow_private_addresses
    try:
        await check_callback_url(url, allow_private=allow)
    except UrlRefused as error:
        return None, error.detail
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "tallystick-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, message_id, stamp, body),
    }
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=allow), force_close=True)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        ) as session, session.post(url, data=body, headers=headers, allow_redirects=False) as reply:
            if 200 <= reply.status < 300:
                return reply.status, None
            return reply.status, f"the receiver answered {reply.status}"
    except TimeoutError:
        return None, f"no answer within {TIMEOUT_SECONDS} seconds"
    except (aiohttp.ClientError, OSError) as error:
        return None, f"cannot reach the receiver: {error}"[:500]


@CALLBACKS.handler(may={CallbackState.DELIVERED.value})
async def send(site: Site, row: JobCallback, lease: Lease) -> Outcome:
    """One try of a finished job's callback, signed with its caller's secret; the job's callback
    event (delivered, retrying, failed) commits with the outcome."""
    job = await Job.get(id=row.id)
    secret = await secret_for(job.caller_id or "")  # system jobs have no callback
    body = orjson.dumps(await render_job(job))
    status, problem = await post_signed(site, row.url, secret.secret, job.id, body)  # no transaction open
    outcome: Outcome
    if problem is None:
        values = {"last_status": status, "delivered_at": _now()}
        outcome, name = Go(CallbackState.DELIVERED.value, values=values), "job.callback_delivered"
    elif lease.is_last_try(row):
        outcome, name = GiveUp(problem, values={"last_status": status}), "job.callback_failed"
    else:
        outcome, name = Retry(problem, values={"last_status": status}), "job.callback_retrying"
    async with in_transaction():
        await lease.commit(row, outcome)
        await record_job_event(job, name, {"callback_attempts": row.attempts, "status": status})
    if problem is not None:
        log.info("job %s: callback try %d failed: %s", job.id, row.attempts, problem)
    return outcome


async def deliver(site: Site, job_id: str, *, now: datetime | None = None) -> JobCallback | None:
    """Queue a finished job's callback if it waits, and try it now if it is due; the row after the
    try, or None when there was nothing to try (no callback, not finished, not due, or being sent)."""
    if not await JobCallback.exists(id=job_id):
        return None
    job = await Job.get_or_none(id=job_id)
    if job is None or not job.finished:
        return None
    await queue_callback(job)
    if not await run_due(site, CALLBACKS, now=now, ids=[job_id]):
        return None
    return await JobCallback.get(id=job_id)


async def deliver_due_callbacks(site: Site, *, now: datetime | None = None) -> int:
    """One batch of the callbacks machine: every due callback tried once; the number tried."""
    return await run_due(site, CALLBACKS, now=now)


@REGISTRY.operation("jobs.redeliver", JobIdInput, output=JobOut, transaction=Transaction.NONE)
async def redeliver(ctx: Context, params: JobIdInput) -> dict[str, Any]:
    """Send a finished job's callback again now (also after it was delivered or gave up)."""
    job = await visible_job(ctx, params.id)
    row = await JobCallback.get_or_none(id=job.id)
    if row is None:
        raise Unprocessable("this job has no callback URL", code="no-callback")
    if not job.finished:
        raise Conflict(f"the job is still {job.state}; its callback is sent when it finishes", code="job-not-finished")
    busy = Conflict("a delivery of this callback is in progress; try again shortly", code="callback-busy")
    if row.lease_owner is not None and row.lease_expires_at is not None and row.lease_expires_at > _now():
        raise busy
    if row.state != CallbackState.PENDING.value or row.next_at is not None:
        await move(CALLBACKS, row.id, row.state, CallbackState.PENDING.value)  # due now, whatever it was
    if not await run_due(ctx.site, CALLBACKS, ids=[row.id]):
        raise busy
    return await render_job(job)
