"""Pruning: finished inbox activities and deliveries are forgotten after their retention.

Both tables grow with every activity received or sent; once a row is finished it is only
history. The periodic system job `system.federation.prune` (server/scheduler.py) deletes rows
older than `federation.inbox_retention_days` and `federation.delivery_retention_days`,
counted from when they were received or queued, a bounded batch per statement so no
transaction holds the database for long, and a bounded number of batches per run (the next
run goes on). Queued, running and pending rows are never touched, however old.

Idempotency after pruning: the inbox stores each activity once by its id, and a pruned id is
no longer known. It still cannot be applied twice, because
- a replay of the request we received carries the same signature, and the signature date
  window (federation.httpsig_core.MAX_AGE, 12 hours) refuses it once it is older than that; the
  retention is at least one day (the settings refuse less), so every pruned activity is far
  outside the window;
- a fresh signature over an old activity needs the sender's own key, and the handlers that
  create state are keyed on ids of their own (follows by activity id and by pair, remote
  credits by entry id, remote copies by object id), so even the sender re-posting an old
  activity finds its effect already there (an old Update re-sent rewrites the sender's own
  copy, which it could do with a new Update anyway). Senders retry only until we answer 202,
  and give up after a few days (Mastodon: about 2.6), well inside the default 30.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from tortoise.models import Model

from models.bounds import WholeDays
from models.context import Context
from models.federation import Delivery, DeliveryState, InboxActivity, InboxState
from models.registry import REGISTRY, Access, Input, Transaction

from .outputs import PruneOut

__all__ = ["FINISHED_DELIVERIES", "FINISHED_INBOX", "prune_rows"]

FINISHED_INBOX = (InboxState.DONE.value, InboxState.IGNORED.value, InboxState.FAILED.value)
# Skipped deliveries are finished too: they are never tried again.
FINISHED_DELIVERIES = (DeliveryState.DELIVERED.value, DeliveryState.FAILED.value, DeliveryState.SKIPPED.value)


async def prune_rows(
    model: type[Model], states: tuple[str, ...], before: datetime, *, batch_size: int, max_batches: int
) -> tuple[int, bool]:
    """Delete finished rows created before `before`, oldest first, a batch per statement;
    the number deleted and whether some were left for the next run."""
    removed = 0
    for _ in range(max_batches):
        ids = await (
            model.filter(state__in=states, created_at__lt=before)
            .order_by("created_at")
            .limit(batch_size)
            .values_list("id", flat=True)
        )
        if not ids:
            return removed, False
        removed += await model.filter(id__in=list(ids), state__in=states).delete()
        if len(ids) < batch_size:
            return removed, False
    return removed, True


class PruneInput(Input):
    inbox_retention_days: WholeDays | None = Field(None, description="default: federation.inbox_retention_days")
    delivery_retention_days: WholeDays | None = Field(None, description="default: federation.delivery_retention_days")
    batch_size: int = Field(500, ge=1, le=10_000)
    max_batches: int = Field(100, ge=1, le=10_000)


@REGISTRY.operation(
    "system.federation.prune", PruneInput, output=PruneOut, access=Access.SYSTEM, transaction=Transaction.NONE
)
async def prune(ctx: Context, params: PruneInput) -> dict[str, Any]:
    """Forget finished inbox activities and deliveries older than their retention."""
    now = datetime.now(UTC)
    limits = ctx.site.federation
    inbox_days = params.inbox_retention_days or limits.inbox_retention_days
    delivery_days = params.delivery_retention_days or limits.delivery_retention_days
    bounds = {"batch_size": params.batch_size, "max_batches": params.max_batches}
    inbox, more_inbox = await prune_rows(InboxActivity, FINISHED_INBOX, now - timedelta(days=inbox_days), **bounds)
    sent, more_sent = await prune_rows(Delivery, FINISHED_DELIVERIES, now - timedelta(days=delivery_days), **bounds)
    return {"inbox_activities": inbox, "deliveries": sent, "more": more_inbox or more_sent}
