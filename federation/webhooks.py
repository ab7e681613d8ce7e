"""Event webhook delivery: fan out the outbox, POST each delivery signed, retry, disable.

Each delivery is POSTed with the shared Standard Webhooks poster (federation/callbacks.py:
one signer, one SSRF guard), `webhook-id` = the delivery id (the same on every retry, so
receivers drop duplicates), signed with the owner's webhook secret. A try is claimed by a
compare-and-set on `attempts`, the HTTP call runs with no transaction open, and the outcome is
recorded conditional on that claim. Failed tries are retried after the callbacks' BACKOFF; when
a delivery has failed MAX_TRIES times, or the endpoint answers 410 Gone, the endpoint is
disabled with the reason, and its owner re-enables it with PATCH {"enabled": true}.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.context import Context, Site
from models.events import Event
from models.operations.callbacks import secret_for
from models.registry import REGISTRY, Access, Input, Transaction
from models.webhooks import DeliveryState, Webhook, WebhookDelivery, event_message, fan_out

from .callbacks import BACKOFF, CLAIM_SECONDS, MAX_TRIES, post_signed
from .outputs import WebhookRunOut

__all__ = ["deliver_webhook", "deliver_due_webhooks", "run_webhooks"]

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
            actor_id=owner.actor_id,  # type: ignore[attr-defined]
            object_type="webhook",
            object_id=hook.id,
            payload={"url": hook.url, "reason": reason[:500]},
        )
        log.warning("webhook %s disabled: %s", hook.id, reason)


async def deliver_webhook(site: Site, delivery_id: str, *, now: datetime | None = None) -> WebhookDelivery | None:
    """One try of a due delivery; None when it is not due, its endpoint is off, or another process took it."""
    now = now or _now()
    delivery = await WebhookDelivery.get_or_none(id=delivery_id).select_related("webhook", "event")
    if delivery is None or delivery.state != DeliveryState.PENDING.value or not delivery.webhook.enabled:
        return None
    if delivery.next_at is not None and delivery.next_at > now:
        return None
    claimed = await WebhookDelivery.filter(
        id=delivery.id, attempts=delivery.attempts, state=DeliveryState.PENDING.value
    ).update(attempts=delivery.attempts + 1, next_at=now + timedelta(seconds=CLAIM_SECONDS))
    if not claimed:
        return None
    delivery.attempts += 1
    hook = delivery.webhook
    secret = await secret_for(hook.owner_id)  # type: ignore[attr-defined]
    body = orjson.dumps(event_message(delivery.event))
    status, problem = await post_signed(site, hook.url, secret.secret, delivery.id, body)  # no transaction open
    fields: dict[str, Any] = {"last_status": status, "last_error": problem}
    disable: str | None = None
    if problem is None:
        fields.update(state=DeliveryState.DELIVERED.value, next_at=None, delivered_at=_now())
    elif status == 410 or delivery.attempts >= MAX_TRIES:
        fields.update(state=DeliveryState.FAILED.value, next_at=None)
        disable = (
            f"the endpoint answered 410 Gone to {delivery.event.name}"
            if status == 410
            else f"{delivery.event.name} could not be delivered in {MAX_TRIES} tries; the last: {problem}"
        )
    else:
        fields.update(next_at=now + timedelta(seconds=BACKOFF[delivery.attempts - 1]))
    async with in_transaction():
        changed = await WebhookDelivery.filter(id=delivery.id, attempts=delivery.attempts).update(**fields)
        if changed and disable is not None:
            await _disable(hook, disable)
    await delivery.refresh_from_db()
    return delivery


async def deliver_due_webhooks(site: Site, *, now: datetime | None = None, limit: int = 100) -> int:
    """Try every pending delivery that is due, oldest first, for enabled endpoints; the number tried."""
    now = now or _now()
    due = await (
        WebhookDelivery.filter(Q(next_at__isnull=True) | Q(next_at__lte=now))
        .filter(state=DeliveryState.PENDING.value, webhook__enabled=True)
        .order_by("id")
        .limit(limit)
        .values_list("id", flat=True)
    )
    tried = 0
    for delivery_id in due:
        try:
            if await deliver_webhook(site, delivery_id, now=now) is not None:
                tried += 1
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery_id)
    return tried


async def run_webhooks(site: Site, *, now: datetime | None = None) -> dict[str, int]:
    """One pass: new events become deliveries, then the due ones are posted."""
    return {"queued": await fan_out(), "tried": await deliver_due_webhooks(site, now=now)}


class NoInput(Input):
    pass


@REGISTRY.operation(
    "system.webhooks.deliver", NoInput, output=WebhookRunOut, access=Access.SYSTEM, transaction=Transaction.NONE
)
async def deliver_webhooks(ctx: Context, params: NoInput) -> dict[str, int]:
    """Periodic: fan out new outbox events to subscriptions and post the due deliveries."""
    return await run_webhooks(ctx.site)
