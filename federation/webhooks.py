"""Event webhook delivery: fan out the outbox, POST each delivery signed, retry, disable.

Each delivery is POSTed with the shared Standard Webhooks poster (federation/callbacks.py:
one signer, one SSRF guard), `webhook-id` = the delivery id (the same on every retry, so
receivers drop duplicates), signed with the owner's webhook secret. Deliveries are rows of the
WEBHOOK_DELIVERIES machine (models/machines.py): the engine's runner claims the due ones under a lease, `send` posts
one with no transaction open and answers what happens next, and failed tries are retried after
the callbacks' BACKOFF. When a delivery fails its last try (MAX_TRIES), or the endpoint answers
410 Gone, the endpoint is disabled with the reason in the transaction that records the outcome,
and its owner re-enables it with PATCH {"enabled": true} (from then on: deliveries of a
disabled endpoint are not sent). `fan_out_webhooks` is the runner's pump that turns new outbox
events into deliveries.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import orjson
from tortoise.transactions import in_transaction

from models.context import Site
from models.engine import MACHINES, GiveUp, Go, Lease, Outcome, Retry, run_due
from models.events import Event
from models.machines import WEBHOOK_DELIVERIES
from models.operations.callbacks import secret_for
from models.webhooks import DeliveryState, Webhook, WebhookDelivery, event_message, fan_out

from .callbacks import post_signed

__all__ = ["WEBHOOK_DELIVERIES", "send", "fan_out_webhooks", "deliver_due_webhooks", "run_webhooks"]

log = logging.getLogger("tallystick.webhooks")

def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _disable(hook: Webhook, reason: str) -> None:
    """Switch the endpoint off, keep why, and tell its owner through the outbox."""
    now = _now()
    changed = await Webhook.filter(id=hook.id, enabled=True).update(
        enabled=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now
    )
    if changed:
        owner = await hook.owner
        await Event.create(
            name="webhook.disabled",
            actor_id=owner.actor_id,
            object_type="webhook",
            object_id=hook.id,
            payload={"url": hook.url, "reason": reason[:500]},
        )
        log.warning("webhook %s disabled: %s", hook.id, reason)


@WEBHOOK_DELIVERIES.handler(may={DeliveryState.DELIVERED.value})
async def send(site: Site, delivery: WebhookDelivery, lease: Lease) -> Outcome:
    """One try of a claimed delivery; a 410 or a failed last try disables its endpoint."""
    await delivery.fetch_related("webhook", "event")
    hook, event = delivery.webhook, delivery.event
    if not hook.enabled:
        return GiveUp("not sent: the endpoint was disabled")
    secret = await secret_for(hook.owner_id)
    body = orjson.dumps(event_message(event))
    status, problem = await post_signed(site, hook.url, secret.secret, delivery.id, body)  # no transaction open
    if problem is None:
        return Go(DeliveryState.DELIVERED.value, values={"last_status": status, "delivered_at": _now()})
    if status != 410 and not lease.is_last_try(delivery):
        return Retry(problem, values={"last_status": status})
    outcome = GiveUp(problem, values={"last_status": status})
    reason = (
        f"the endpoint answered 410 Gone to {event.name}"
        if status == 410
        else f"{event.name} could not be delivered in {delivery.attempts} tries; the last: {problem}"
    )
    async with in_transaction():
        await lease.commit(delivery, outcome)
        await _disable(hook, reason)
    return outcome


@MACHINES.pump("webhooks.fan_out")
async def fan_out_webhooks(site: Site) -> int:
    """The runner's pump: new outbox events become deliveries for the subscriptions that want them."""
    created = await fan_out()
    if created:
        MACHINES.wake(WEBHOOK_DELIVERIES.name)
    return created


async def deliver_due_webhooks(site: Site, *, now: datetime | None = None) -> int:
    """One batch of the deliveries machine: every due delivery tried once, oldest first; the number tried."""
    return await run_due(site, WEBHOOK_DELIVERIES, now=now)


async def run_webhooks(site: Site, *, now: datetime | None = None) -> dict[str, int]:
    """One pass: new events become deliveries, then the due ones are posted."""
    return {"queued": await fan_out_webhooks(site), "tried": await deliver_due_webhooks(site, now=now)}
