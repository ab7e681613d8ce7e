"""Paying promoters (issue 20, item 4): the PROMO_PAYOUTS and PROMO_CAMPAIGNS handlers.

A payout gives each promoter the sum of their counted, unpaid hits out of the campaign's
escrow (one give per promoter, from the output holding the budget) and marks those hits paid
by that give, conditional on them being unpaid still: a payout and the campaign's end racing
cannot pay a hit twice (the loser rolls back and retries). Amounts are exact minor units.
The end pays what is unpaid and gives the rest of the budget back to the organization.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from .. import sql
from ..actors import Actor, User
from ..context import Context, Site
from ..engine import Go, Lease, Outcome
from ..errors import Conflict
from ..machines import PROMO_CAMPAIGNS, PROMO_PAYOUTS
from ..organizations import Organization
from ..promotions import CampaignState, PayoutState, PromoCampaign, PromoHit, PromoPayout, Promoter
from ..stores import Store
from ..tokens import TokenType
from .market_escrow import as_escrow, pay_out

__all__ = ["end_campaign", "pay_promoters", "pay_unpaid", "settle"]

MARK_CHUNK = 500  # hit ids per UPDATE
OLD_RATES = 10  # minutes of rate counts kept


async def _lock(campaign_id: str) -> None:
    """The campaign's row lock: payouts, the end and counting hits queue here on PostgreSQL."""
    await PromoCampaign.filter(id=campaign_id).update(updated_at=datetime.now(UTC))


async def pay_unpaid(ctx: Context, campaign: PromoCampaign) -> tuple[int, list[str]]:
    """Give every promoter their counted, unpaid hits; (total paid, the gives' entry ids)."""
    if campaign.budget_hold_id is None:
        return 0, []
    rows = await PromoHit.filter(campaign_id=campaign.id, payout_entry_id=None).order_by("id").values_list(
        "id", "promoter_id", "amount")
    owed: dict[str, tuple[int, list[str]]] = {}
    for hit_id, promoter_id, amount in rows:
        total, ids = owed.get(promoter_id, (0, []))
        owed[promoter_id] = (total + int(amount), [*ids, hit_id])
    if not owed:
        return 0, []
    price_type = await TokenType.get(id=campaign.price_type_id)
    ectx = as_escrow(ctx, await Actor.get(id=campaign.escrow_id))
    entries, paid = [], 0
    for promoter_id in sorted(owed):
        total, ids = owed[promoter_id]
        promoter = await Promoter.get(id=promoter_id)
        user = await User.get(id=promoter.user_id).select_related("actor")
        entry = await pay_out(ectx, price_type, total, campaign.budget_hold_id, user.actor,
                              f"promotion of the campaign {campaign.id}: {len(ids)} counted")
        marked = 0
        for start in range(0, len(ids), MARK_CHUNK):
            part = ids[start:start + MARK_CHUNK]
            marked += await PromoHit.filter(id__in=part, payout_entry_id=None).update(payout_entry_id=entry)
        if marked != len(ids):
            raise Conflict("hits were paid meanwhile; try again", code="concurrent-change")
        await sql.execute("UPDATE promo_promoters SET earned = earned + ? WHERE id = ?", total, promoter_id)
        entries.append(entry)
        paid += total
    await sql.execute("UPDATE promo_campaigns SET paid = paid + ? WHERE id = ?", paid, campaign.id)
    return paid, entries


async def settle(ctx: Context, campaign: PromoCampaign, store: Store) -> dict[str, Any]:
    """The end's books: pay what is unpaid, give the rest of the budget back; the columns to write."""
    await _lock(campaign.id)
    campaign = await PromoCampaign.get(id=campaign.id)
    await pay_unpaid(ctx, campaign)
    campaign = await PromoCampaign.get(id=campaign.id)
    rest = campaign.budget - campaign.paid if campaign.budget_hold_id else 0
    if rest:
        price_type = await TokenType.get(id=campaign.price_type_id)
        organization = await Organization.get(id=store.organization_id)
        await pay_out(as_escrow(ctx, await Actor.get(id=campaign.escrow_id)), price_type, rest, campaign.budget_hold_id or "",
                      await Actor.get(id=organization.actor_id), f"rest of the budget of the campaign {campaign.id}")
    return {"refunded": rest}


async def _emit_end(ctx: Context, campaign: PromoCampaign, store: Store, reason: str) -> None:
    await ctx.emit("promotion.campaign.ended", "promo_campaign", campaign.id, {
        "store": store.id, "campaign": campaign.id, "state": CampaignState.ENDED.value, "by": None, "reason": reason,
    })


@PROMO_CAMPAIGNS.handler(may={CampaignState.ENDED.value})
async def end_campaign(site: Site, campaign: PromoCampaign, lease: Lease) -> Outcome:
    """The end time came, or the budget can pay no more: settle and end, with the row's move in one
    transaction (a manager's move meanwhile drops this claim and it rolls back)."""
    ctx = Context(site=site)
    store = await Store.get(id=campaign.store_id)
    now = lease.now()
    reason = "the end time came" if campaign.ends_at <= now else campaign.ended_reason or "the budget is spent"
    async with in_transaction():
        await lease.save(campaign, ended_at=now, ended_reason=reason)  # the row's lock; LostLease if moved meanwhile
        values = await settle(ctx, campaign, store)
        campaign.state = CampaignState.ENDED.value
        await _emit_end(ctx, campaign, store, reason)
        return await lease.commit(campaign, Go(CampaignState.ENDED.value, values=values))


@PROMO_PAYOUTS.handler(may={PayoutState.DONE.value})
async def pay_promoters(site: Site, payout: PromoPayout, lease: Lease) -> Outcome:
    """Pay each promoter their counted, unpaid hits; queue the next payout while the campaign goes on."""
    ctx = Context(site=site)
    now = lease.now()
    async with in_transaction():
        await lease.save(payout)  # LostLease if another runner took it meanwhile
        await _lock(payout.campaign_id)
        campaign = await PromoCampaign.get(id=payout.campaign_id)
        paid, entries = 0, list[str]()
        if campaign.state in (CampaignState.RUNNING.value, CampaignState.PAUSED.value):
            paid, entries = await pay_unpaid(ctx, campaign)
            if now < campaign.ends_at:  # past it, the campaign's end pays the rest
                following = min(now + timedelta(seconds=campaign.payout_seconds), campaign.ends_at)
                await PromoPayout.create(campaign_id=campaign.id, state=PayoutState.PENDING.value, next_at=following)
        await _prune_rates(now)
        return await lease.commit(payout, Go(PayoutState.DONE.value, values={"amount": paid, "entries": entries}))


async def _prune_rates(now: datetime) -> None:  # noqa: N802
    """Rate counts older than a few minutes count nothing: delete them, so the table stays small."""
    await sql.execute("DELETE FROM promo_rates WHERE minute < ?", int(now.timestamp()) // 60 - OLD_RATES)
