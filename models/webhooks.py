"""Event webhooks: a user's URL that receives the outbox events they may see, filtered.

Fan-out reads the outbox (`events`) after each subscription's cursor and records one delivery
row per matching event; federation/webhooks.py posts the rows (signed like job callbacks),
retries them with the shared backoff and disables an endpoint that keeps failing, with the
reason kept for its owner. Nothing here touches the network.

Who sees an event: the actor who caused it, and the user the object belongs to (their tokens,
types and sets, ledger entries they wrote or received, jobs they queued or that act for them);
a store order's buyer and the store's staff hear of each of its moves; a board's owner and
moderators hear of its members, invites and bans, and an entry's author and the board's owner of
the entry's edits, deletion and votes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from .actors import User
from .base import APP, Entity, iso
from .boards import BoardEntry, BoardMember, MemberRole
from .contracts import Contract, ContractOffer
from .engine import Durable
from .events import Event
from .ids import first_id_at, new_id
from .jobs import Job
from .ledger import LedgerEntry
from .organizations import OrgMember
from .sets import TokenSet
from .stores import Order, StoreStaff
from .tokens import Token, TokenType
from .watchers import Watcher

__all__ = [
    "Webhook",
    "WebhookDelivery",
    "DeliveryState",
    "OBJECT_TYPES",
    "can_see",
    "matches",
    "fan_out",
    "webhook_view",
    "delivery_view",
    "event_message",
]

OBJECT_TYPES = ("token", "type", "set", "ledger_entry", "job", "user", "group", "watcher")
FAN_OUT_BATCH = 200  # events read per subscription and pass
# Event ids are made before their transaction commits, so an event may become visible after a
# later one. Fan-out leaves the newest SETTLE_SECONDS of events for the next pass, so a cursor
# does not move past an event whose transaction is still open (transactions are short).
SETTLE_SECONDS = 2.0


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every try failed; the endpoint was disabled


class Webhook(Entity):
    """A subscription: where to POST which events. Disabled endpoints keep the reason."""

    owner_id: str
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="webhooks", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2048)
    # names or prefixes ending in .*; empty means every event
    events: fields.JSONField[list[str]] = fields.JSONField(default=list)
    object_type = fields.CharField(max_length=32, null=True)
    object_id = fields.CharField(max_length=64, null=True)
    description = fields.CharField(max_length=200, default="")
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=500, null=True)
    disabled_at = fields.DatetimeField(null=True)
    cursor = fields.CharField(max_length=26, default="")  # the last outbox event id looked at
    version = fields.IntField(default=1)

    class Meta:
        app = APP
        table = "webhooks"
        indexes = (("enabled", "cursor"),)


class WebhookDelivery(Durable, Entity):
    """One event for one subscription, with its tries."""

    # The bookkeeping columns (Durable) are the engine's; the machine that posts these rows,
    # WEBHOOK_DELIVERIES, is declared in models/machines.py.

    state = fields.CharField(max_length=16, default=DeliveryState.PENDING.value)
    webhook_id: str
    webhook: fields.ForeignKeyRelation[Webhook] = fields.ForeignKeyField(
        f"{APP}.Webhook", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_id: str
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        f"{APP}.Event", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    last_status = fields.IntField(null=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "webhook_deliveries"
        unique_together = (("webhook", "event"),)
        indexes = (("state", "next_at"),)


def matches(hook: Webhook, event: Event) -> bool:
    """The subscription's filters: event names (exact, `prefix.*` or `*`), object type and id."""
    if hook.events and not any(
        pattern == "*" or pattern == event.name or (pattern.endswith(".*") and event.name.startswith(pattern[:-1]))
        for pattern in hook.events
    ):
        return False
    if hook.object_type and hook.object_type != event.object_type:
        return False
    return not hook.object_id or hook.object_id == event.object_id


async def can_see(owner: User, event: Event) -> bool:
    """Whether the event concerns something the owner may see (see the module docstring)."""
    actor_id = owner.actor_id
    if event.actor_id is not None and event.actor_id == actor_id:
        return True
    kind, object_id = event.object_type, event.object_id
    if kind == "job":
        return await Job.filter(Q(caller_id=owner.id) | Q(on_behalf_of_id=owner.id), id=object_id).exists()
    if kind == "ledger_entry":
        return await LedgerEntry.filter(Q(author_id=actor_id) | Q(recipient_id=actor_id), id=object_id).exists()
    if kind == "token":
        return await Token.filter(id=object_id, owner_id=actor_id).exists()
    if kind == "type":
        return await TokenType.filter(id=object_id, owner_id=actor_id).exists()
    if kind == "set":
        return await TokenSet.filter(id=object_id, owner_id=actor_id).exists()
    if kind == "user":
        return object_id == owner.id
    if kind == "contract":  # both parties hear of every step of a contract's life
        return await Contract.filter(Q(licensor_id=actor_id) | Q(licensee_id=actor_id), id=object_id).exists()
    if kind == "watcher":  # only the watcher's owner hears it fire
        return await Watcher.filter(id=object_id, owner_id=owner.id).exists()
    if kind == "contract_offer":
        return await ContractOffer.filter(id=object_id, licensor_id=actor_id).exists()
    if kind == "store_order":  # its buyer and the store's staff, the organization's owner and admins among them
        order = await Order.get_or_none(id=object_id).select_related("store")
        return order is not None and (
            order.buyer_id == actor_id
            or await StoreStaff.filter(store_id=order.store_id, user_id=owner.id).exists()
            or await OrgMember.filter(
                organization_id=order.store.organization_id, user_id=owner.id, role__in=("owner", "admin")
            ).exists()
        )
    if kind == "board":  # a board's owner and moderators hear of its members, invites and bans
        return await BoardMember.filter(board_id=object_id, actor_id=actor_id,
                                        role__in=(MemberRole.OWNER.value, MemberRole.MODERATOR.value)).exists()
    if kind == "board_entry":  # an entry's author, and the owner of its board
        entry = await BoardEntry.get_or_none(id=object_id).select_related("board")
        return entry is not None and actor_id in (entry.author_id, entry.board.owner_id)
    return False


async def fan_out(limit: int = FAN_OUT_BATCH, *, settle_seconds: float | None = None) -> int:
    """Turn new outbox events into delivery rows for every enabled subscription; the number created.

    The cursor moves by compare-and-set in the same transaction as the rows, so two processes
    fanning out at once never record an event twice (the unique (webhook, event) pair backs it).
    """
    created = 0
    settle = SETTLE_SECONDS if settle_seconds is None else settle_seconds
    settled = datetime.now(timezone.utc) - timedelta(seconds=settle)
    window = {"id__lt": first_id_at(int(settled.timestamp() * 1000))} if settle > 0 else {}
    for hook in await Webhook.filter(enabled=True).select_related("owner"):
        events = await Event.filter(id__gt=hook.cursor, **window).order_by("id").limit(limit)
        if not events:
            continue
        wanted = [event for event in events if matches(hook, event) and await can_see(hook.owner, event)]
        async with in_transaction():
            moved = await Webhook.filter(id=hook.id, cursor=hook.cursor, enabled=True).update(cursor=events[-1].id)
            if moved:
                await WebhookDelivery.bulk_create([WebhookDelivery(webhook_id=hook.id, event_id=e.id) for e in wanted])
                created += len(wanted)
    return created


def fresh_cursor() -> str:
    """A cursor after every event committed so far: a new or re-enabled endpoint starts from now."""
    return new_id()


def event_message(event: Event) -> dict[str, Any]:
    """The body POSTed for an event (Standard Webhooks shape: type, timestamp, data)."""
    return {
        "type": event.name,
        "timestamp": iso(event.created_at),
        "data": {
            "event_id": event.id,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "actor_id": event.actor_id,
            "payload": event.payload,
        },
    }


def webhook_view(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "object_type": hook.object_type,
        "object_id": hook.object_id,
        "description": hook.description,
        "enabled": hook.enabled,
        "disabled_reason": hook.disabled_reason,
        "disabled_at": iso(hook.disabled_at),
        "version": hook.version,
        "created_at": iso(hook.created_at),
        "updated_at": iso(hook.updated_at),
    }


def delivery_view(delivery: WebhookDelivery, event_name: str | None = None) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event": event_name,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_at) if delivery.state == DeliveryState.PENDING.value else None,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": iso(delivery.delivered_at),
        "created_at": iso(delivery.created_at),
    }
