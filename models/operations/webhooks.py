"""Event webhooks as their owners see them: subscribe a URL, filter, read deliveries, re-enable.

Deliveries are signed with the owner's webhook secret (the one that signs job callbacks,
GET /api/v1/me/webhook-secret). A new or re-enabled subscription receives events from that
moment on. Only the owner sees a subscription; others get 404.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field, field_validator
from tortoise.transactions import in_transaction

from ..actors import User
from ..context import Context
from ..errors import BadInput, Conflict, NotFound
from ..events import Event
from ..paging import ListInput, paginate
from ..outputs import Output, Paged, Timestamp
from ..registry import REGISTRY, Access, Input, Transaction
from ..urls import MAX_URL_LENGTH, check_saved_url
from ..webhooks import Webhook, WebhookDelivery, delivery_view, fresh_cursor, webhook_view

__all__ = ["MAX_WEBHOOKS"]

MAX_WEBHOOKS = 20  # per user
EVENT_PATTERN = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")
ObjectType = Literal["token", "type", "set", "ledger_entry", "job", "user", "group", "watcher"]  # models.webhooks.OBJECT_TYPES


def _check_patterns(patterns: list[str] | None) -> list[str] | None:
    for pattern in patterns or []:
        if not EVENT_PATTERN.match(pattern):
            raise ValueError(f"{pattern!r} is not an event name, a prefix such as ledger.* or *")
    return patterns


class WebhookInput(Input):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    events: list[str] = Field(default_factory=list, max_length=50, description="event names, prefix.* or *; empty: all")
    object_type: ObjectType | None = None
    object_id: str | None = Field(None, min_length=1, max_length=64)
    description: str = Field("", max_length=200)

    _events = field_validator("events")(_check_patterns)


class WebhookIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


class WebhookUpdateInput(WebhookIdInput):
    url: str | None = Field(None, min_length=1, max_length=MAX_URL_LENGTH)
    events: list[str] | None = Field(None, max_length=50)
    object_type: ObjectType | None = None
    object_id: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = Field(None, description="true re-enables a disabled endpoint (from now on)")

    _events = field_validator("events")(_check_patterns)


def _check_filter(object_type: str | None, object_id: str | None) -> None:
    if object_id and not object_type:
        raise BadInput("object_id needs object_type too", code="object-type-required")


async def _mine(ctx: Context, hook_id: str) -> Webhook:
    hook = await Webhook.get_or_none(id=hook_id, owner_id=ctx.require_user().id)
    if hook is None:
        raise NotFound(f"there is no webhook {hook_id!r}", code="webhook-not-found")
    return hook


# Transaction.NONE: the URL's host is resolved (DNS) before the transaction opens, not inside it.
class WebhookOut(Output):
    """A webhook (models/webhooks.py webhook_view)."""

    id: str
    url: str
    events: list[str]
    object_type: str | None
    object_id: str | None
    description: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: Timestamp
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class DeliveryCountsOut(Output):
    pending: int
    delivered: int
    failed: int


class WebhookDetailOut(WebhookOut):
    deliveries: DeliveryCountsOut


class WebhookDeliveryOut(Output):
    """One event sent (or to be sent) to a webhook."""

    id: str
    event_id: str
    event: str | None
    state: str
    attempts: int
    next_attempt_at: Timestamp
    last_status: int | None
    last_error: str | None
    delivered_at: Timestamp
    created_at: Timestamp


@REGISTRY.operation("webhooks.create", WebhookInput, output=WebhookOut, transaction=Transaction.NONE)
async def create_webhook(ctx: Context, params: WebhookInput) -> dict[str, Any]:
    """Subscribe a URL to the events you may see, optionally filtered by name and object."""
    user = ctx.require_user()
    _check_filter(params.object_type, params.object_id)
    await check_saved_url(ctx.site, params.url)
    async with in_transaction():
        return await _create_webhook(ctx, user, params)


async def _create_webhook(ctx: Context, user: User, params: WebhookInput) -> dict[str, Any]:
    if await Webhook.filter(owner_id=user.id).count() >= MAX_WEBHOOKS:
        raise Conflict(
            f"you have {MAX_WEBHOOKS} webhooks, the most allowed: delete one first", code="too-many-webhooks"
        )
    hook = await Webhook.create(
        owner=user,
        url=params.url,
        events=sorted(set(params.events)),
        object_type=params.object_type,
        object_id=params.object_id,
        description=params.description,
    )
    await ctx.emit("webhook.created", "webhook", hook.id, {"url": hook.url, "events": hook.events})
    hook.cursor = fresh_cursor()  # from now on: after its own creation event
    await hook.save(update_fields=["cursor"])
    return webhook_view(hook)


@REGISTRY.operation("webhooks.list", ListInput, output=Paged[WebhookOut], access=Access.USER)
async def list_webhooks(ctx: Context, params: ListInput) -> Any:
    """Your webhooks, enabled or not (a disabled one says why)."""
    page = await paginate(Webhook.filter(owner_id=ctx.require_user().id), params)
    return page.map(webhook_view)


@REGISTRY.operation("webhooks.get", WebhookIdInput, output=WebhookDetailOut, access=Access.USER)
async def get_webhook(ctx: Context, params: WebhookIdInput) -> dict[str, Any]:
    """One of your webhooks, with its delivery counts by state."""
    hook = await _mine(ctx, params.id)
    counts = {state: 0 for state in ("pending", "delivered", "failed")}
    for state in counts:
        counts[state] = await WebhookDelivery.filter(webhook_id=hook.id, state=state).count()
    return {**webhook_view(hook), "deliveries": counts}


@REGISTRY.operation("webhooks.update", WebhookUpdateInput, output=WebhookOut, transaction=Transaction.NONE)
async def update_webhook(ctx: Context, params: WebhookUpdateInput) -> dict[str, Any]:
    """Change a webhook's URL or filters, or re-enable it after it was disabled (If-Match: version)."""
    ctx.require_user()
    if params.url is not None:
        await check_saved_url(ctx.site, params.url)  # before the transaction: it may wait on DNS
    async with in_transaction():
        return await _update_webhook(ctx, params)


async def _update_webhook(ctx: Context, params: WebhookUpdateInput) -> dict[str, Any]:
    hook = await _mine(ctx, params.id)
    ctx.check_version(hook.version, "webhook")
    given = params.model_fields_set - {"id"}
    if "url" in given and params.url is not None:
        hook.url = params.url
    if "events" in given:
        hook.events = sorted(set(params.events or []))
    if "object_type" in given:
        hook.object_type = params.object_type
    if "object_id" in given:
        hook.object_id = params.object_id or None
    if "description" in given and params.description is not None:
        hook.description = params.description
    _check_filter(hook.object_type, hook.object_id)
    if params.enabled is True and not hook.enabled:
        hook.enabled, hook.disabled_reason, hook.disabled_at, hook.cursor = True, None, None, fresh_cursor()
    elif params.enabled is False and hook.enabled:
        hook.enabled, hook.disabled_reason, hook.disabled_at = (
            False,
            "disabled by its owner",
            datetime.now(timezone.utc),
        )
    hook.version += 1
    await hook.save()
    await ctx.emit("webhook.updated", "webhook", hook.id, {"fields": sorted(given), "enabled": hook.enabled})
    return webhook_view(hook)


@REGISTRY.operation("webhooks.delete", WebhookIdInput, output=None)
async def delete_webhook(ctx: Context, params: WebhookIdInput) -> None:
    """Unsubscribe: no more deliveries, pending ones are dropped."""
    hook = await _mine(ctx, params.id)
    await hook.delete()
    await ctx.emit("webhook.deleted", "webhook", params.id, {"url": hook.url})


class DeliveryListInput(ListInput):
    id: str = Field(min_length=1, max_length=64)
    state: Literal["pending", "delivered", "failed"] | None = None


@REGISTRY.operation("webhooks.deliveries", DeliveryListInput, output=Paged[WebhookDeliveryOut], access=Access.USER)
async def list_deliveries(ctx: Context, params: DeliveryListInput) -> Any:
    """A webhook's deliveries, newest first: state, tries, last status and error."""
    hook = await _mine(ctx, params.id)
    query = WebhookDelivery.filter(webhook_id=hook.id)
    if params.state:
        query = query.filter(state=params.state)
    page = await paginate(query, params)
    names = dict(await Event.filter(id__in=[d.event_id for d in page.items]).values_list("id", "name"))
    return page.map(lambda delivery: delivery_view(delivery, names.get(delivery.event_id)))
