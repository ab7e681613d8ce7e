"""Callback secrets and manual redelivery, as their users see them.

Each user has one webhook secret (`whsec_<base64>`, Standard Webhooks) that signs the
callbacks of their jobs; receivers verify with it. Rotating it makes the old one useless at
once (callbacks retried later are signed with the new one).
"""

from __future__ import annotations

from typing import Any

from ..base import iso
from ..callbacks import deliver, new_secret, secret_for
from ..context import Context
from ..errors import Conflict, Unprocessable
from ..jobs import WebhookSecret
from ..registry import REGISTRY, Access, Input
from .jobs import JobIdInput, render_job, visible_job

__all__ = ["secret_view"]


class NoInput(Input):
    pass


def secret_view(secret: WebhookSecret) -> dict[str, Any]:
    return {"secret": secret.secret, "algorithm": "Standard Webhooks v1 (HMAC-SHA256)", "updated_at": iso(secret.updated_at)}


@REGISTRY.operation("webhooks.secret.get", NoInput, access=Access.USER)
async def get_secret(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Your webhook secret, which signs your job callbacks (created on first use)."""
    return secret_view(await secret_for(ctx.require_user().id))


@REGISTRY.operation("webhooks.secret.rotate", NoInput)
async def rotate_secret(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Replace your webhook secret with a new one; the old one stops working at once."""
    user = ctx.require_user()
    secret = await secret_for(user.id)
    secret.secret = new_secret()
    await secret.save(update_fields=["secret", "updated_at"])
    await ctx.emit("webhook_secret.rotated", "user", user.id, {})
    return secret_view(secret)


@REGISTRY.operation("jobs.redeliver", JobIdInput, access=Access.WRITE, writes=False)
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
