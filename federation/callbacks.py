"""Job callbacks: POST the finished job record to its callback URL, signed, with retries.

Signing follows Standard Webhooks (https://www.standardwebhooks.com): headers `webhook-id`
(the job id, the same for every retry so receivers can drop duplicates), `webhook-timestamp`
(Unix seconds) and `webhook-signature` = `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
keyed with the caller's secret `whsec_<base64>` (GET /api/v1/me/webhook-secret).

A try is claimed first by a compare-and-set on callback_attempts (so two sweepers never post
the same try), then the HTTP call runs with no transaction open, and the outcome is recorded
conditional on that claim. Failures are retried after BACKOFF (10 s, 1 min, 5 min, ...) by the
sweep in the worker pool, up to MAX_TRIES; then the callback is `failed` until redelivered.
The SSRF guard runs again right before each try, and the connection itself uses only the
addresses the guard approved (GuardedResolver), so DNS changes cannot slip past it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.context import Context, Site
from models.errors import Conflict, Unprocessable
from models.jobs import FINISHED, CallbackState, Job
from models.operations.callbacks import secret_for
from models.operations.jobs import JobIdInput, record_job_event, render_job, visible_job
from models.outputs import JobOut
from models.registry import REGISTRY, Access, Input, Transaction

from .outputs import TriedOut
from .ssrf import GuardedResolver, UrlRefused, check_callback_url

__all__ = ["BACKOFF", "MAX_TRIES", "sign", "post_signed", "deliver", "deliver_due_callbacks"]

log = logging.getLogger("tallystick.callbacks")

BACKOFF = (10, 60, 300, 1800, 3600, 3 * 3600, 6 * 3600)  # seconds after try 1, 2, ...
MAX_TRIES = len(BACKOFF) + 1
TIMEOUT_SECONDS = 10
CLAIM_SECONDS = 60  # a claimed try is not picked again by the sweep before this


def _now() -> datetime:
    return datetime.now(timezone.utc)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value for one message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def _claim(job: Job, now: datetime, *, manual: bool) -> bool:
    query = Job.filter(id=job.id, callback_attempts=job.callback_attempts, state__in=list(FINISHED))
    if not manual:
        query = query.filter(callback_state=CallbackState.PENDING.value)
    changed = await query.update(
        callback_attempts=job.callback_attempts + 1,
        callback_state=CallbackState.PENDING.value,
        callback_next_at=now + timedelta(seconds=CLAIM_SECONDS),
    )
    if changed:
        job.callback_attempts += 1
    return changed == 1


async def post_signed(site: Site, url: str, secret: str, message_id: str, body: bytes) -> tuple[int | None, str | None]:
    """POST one signed Standard Webhooks message: (HTTP status, None) or (status or None, why it failed).

    Shared by job callbacks and event webhooks. The SSRF guard runs right before the try, and
    the connection uses only the addresses it approved (GuardedResolver).
    """
    allow = site.allow_private_addresses
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


async def _post(site: Site, job: Job) -> tuple[int | None, str | None]:
    """One try of a job's callback, signed with its caller's secret."""
    secret = await secret_for(job.caller_id)  # type: ignore[attr-defined]
    return await post_signed(site, job.callback_url or "", secret.secret, job.id, orjson.dumps(await render_job(job)))


async def deliver(site: Site, job_id: str, *, now: datetime | None = None, manual: bool = False) -> Job | None:
    """Try one delivery of a finished job's callback; None when it is not due or someone else took it."""
    now = now or _now()
    job = await Job.get_or_none(id=job_id)
    if job is None or not job.finished or not job.callback_url:
        return None
    if not manual and (
        job.callback_state != CallbackState.PENDING.value or (job.callback_next_at is not None and job.callback_next_at > now)
    ):
        return None
    if not await _claim(job, now, manual=manual):
        return None
    status, problem = await _post(site, job)  # no transaction is open here
    fields: dict[str, Any] = {"callback_last_status": status, "callback_last_error": problem}
    if problem is None:
        fields.update(callback_state=CallbackState.DELIVERED.value, callback_next_at=None, callback_delivered_at=_now())
    elif job.callback_attempts >= MAX_TRIES:
        fields.update(callback_state=CallbackState.FAILED.value, callback_next_at=None)
    else:
        fields.update(callback_next_at=now + timedelta(seconds=BACKOFF[job.callback_attempts - 1]))
    async with in_transaction():
        changed = await Job.filter(id=job.id, callback_attempts=job.callback_attempts).update(**fields)
        await job.refresh_from_db()
        if changed:
            name = {"delivered": "job.callback_delivered", "failed": "job.callback_failed"}.get(
                job.callback_state or "", "job.callback_retrying"
            )
            await record_job_event(job, name, {"callback_attempts": job.callback_attempts, "status": status})
    if problem is not None:
        log.info("job %s: callback try %d failed: %s", job.id, job.callback_attempts, problem)
    return job


async def deliver_due_callbacks(site: Site, *, now: datetime | None = None, limit: int = 50) -> int:
    """The periodic sweep: try every pending callback whose next try is due; the number tried."""
    now = now or _now()
    due = await (
        Job.filter(Q(callback_next_at__isnull=True) | Q(callback_next_at__lte=now))
        .filter(callback_state=CallbackState.PENDING.value, state__in=list(FINISHED))
        .order_by("updated_at")
        .limit(limit)
        .values_list("id", flat=True)
    )
    tried = 0
    for job_id in due:
        try:
            if await deliver(site, job_id, now=now) is not None:
                tried += 1
        except Exception:
            log.exception("job %s: callback delivery failed unexpectedly", job_id)
    return tried


@REGISTRY.operation("jobs.redeliver", JobIdInput, output=JobOut, transaction=Transaction.NONE)
async def redeliver(ctx: Context, params: JobIdInput) -> dict[str, Any]:
    """Send a finished job's callback again now (also after it was delivered or gave up)."""
    job = await visible_job(ctx, params.id)
    if not job.callback_url:
        raise Unprocessable("this job has no callback URL", code="no-callback")
    if not job.finished:
        raise Conflict(f"the job is still {job.state}; its callback is sent when it finishes", code="job-not-finished")
    done = await deliver(ctx.site, job.id, manual=True)
    if done is None:
        raise Conflict("a delivery of this callback is in progress; try again shortly", code="callback-busy")
    return await render_job(done)


class NoInput(Input):
    pass


@REGISTRY.operation(
    "system.callbacks.retry", NoInput, output=TriedOut, access=Access.SYSTEM, transaction=Transaction.NONE
)
async def retry_callbacks(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Periodic: try every pending callback whose next try is due."""
    return {"tried": await deliver_due_callbacks(ctx.site)}
