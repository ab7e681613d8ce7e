"""Store promotions (issue 20, item 4): campaigns, their promoters, and counted beacons.

A campaign is a store's offer to pay promoters per verified impression and/or click of a
creative (text, image, link) promoting some of its items. Its budget is held on the ledger in
the campaign's own escrow actor (kind "escrow", as a market lot's), given there from the
store's organization when the campaign starts; payouts give from that hold to promoters, and
what is left goes back to the organization when the campaign ends. Every movement is an
ordinary ledger give, so the budget is exactly what the escrow holds.

A counted view or click is a PromoHit row. The signed beacon carries a nonce; the unique
index on (campaign, kind, nonce) makes a replay count nothing, and the hit reserves its price
by a conditional update of the campaign's `spent` (never above `budget`) in the same
transaction, so racing beacons cannot overspend. PromoRate rows count hits per promoter and
per client address per minute in the database (one row per key and minute; the payouts
machine deletes old minutes), so the limits hold across server processes.

Machines (models/machines.py): PROMO_CAMPAIGNS ends a campaign at its end time (or at once
when its budget can pay no more), PROMO_PAYOUTS pays promoters on the campaign's schedule.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor, User
    from .stores import Store
    from .tokens import TokenType

__all__ = [
    "CAMPAIGN_ESCROW_PREFIX", "CAMPAIGN_MOVES", "CampaignState", "HitKind", "PayoutState", "PromoCampaign",
    "PromoHit", "PromoPayout", "PromoRate", "Promoter", "campaign_escrow_username", "new_beacon_key",
]

CAMPAIGN_ESCROW_PREFIX = "escrow.campaign."


def campaign_escrow_username(campaign_id: str) -> str:
    """A campaign's escrow username: dots, which no user's name may have, and the campaign's id."""
    return f"{CAMPAIGN_ESCROW_PREFIX}{campaign_id}"


def new_beacon_key() -> str:
    """A campaign's beacon key: 256 random bits, hex."""
    return secrets.token_hex(32)


class CampaignState(StrEnum):
    DRAFT = "draft"  # being set up: nothing held, no beacon counts
    RUNNING = "running"  # the budget is held; beacons count between starts_at and ends_at; due at ends_at
    PAUSED = "paused"  # beacons count nothing; the store may resume it
    ENDED = "ended"  # paid out, the rest given back (end time, budget spent, or ended by hand)
    FAILED = "failed"  # the automatic end kept failing (last_error); the budget stays held


# A manager's moves (from, to). The machine adds running -> running: due now (the budget ran out).
CAMPAIGN_MOVES: dict[str, set[str]] = {
    CampaignState.DRAFT.value: {CampaignState.RUNNING.value, CampaignState.ENDED.value},
    CampaignState.RUNNING.value: {CampaignState.PAUSED.value, CampaignState.ENDED.value, CampaignState.RUNNING.value},
    CampaignState.PAUSED.value: {CampaignState.RUNNING.value, CampaignState.ENDED.value},
}


class HitKind(StrEnum):
    IMPRESSION = "impression"
    CLICK = "click"


class PromoCampaign(Durable, Entity):
    """A store's campaign: a PROMO_CAMPAIGNS row, due at ends_at while running (see the module)."""

    store_id: str
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        f"{APP}.Store", related_name="campaigns", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=200)
    items: fields.JSONField[list[str]] = fields.JSONField(default=list)  # store item ids promoted
    price_type_id: str
    price_type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="promo_campaigns", on_delete=fields.RESTRICT
    )
    impression_price = fields.BigIntField(default=0)  # minor units of the price type, per counted impression
    click_price = fields.BigIntField(default=0)  # per counted click
    budget = fields.BigIntField()  # held in the escrow while running
    spent = fields.BigIntField(default=0)  # reserved by counted hits (never above budget)
    paid = fields.BigIntField(default=0)  # given to promoters
    refunded = fields.BigIntField(default=0)  # given back to the organization at the end
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    payout_seconds = fields.IntField(default=3600)  # promoters are paid this often
    tags: fields.JSONField[list[str]] = fields.JSONField(default=list)
    regions: fields.JSONField[list[str]] = fields.JSONField(default=list)
    text = fields.TextField(default="")  # the creative's words
    image = fields.CharField(max_length=26, null=True)  # a media id
    link = fields.CharField(max_length=2000)  # where a click goes
    per_promoter_per_minute = fields.IntField(default=600)
    per_address_per_minute = fields.IntField(default=30)
    beacon_key = fields.CharField(max_length=64, default=new_beacon_key)  # HMAC key of its beacons; never shown
    escrow_id: str
    escrow: fields.OneToOneRelation[Actor] = fields.OneToOneField(
        f"{APP}.Actor", related_name="campaign_escrow", on_delete=fields.RESTRICT
    )
    budget_hold_id = fields.CharField(max_length=26, null=True)  # the escrow's output holding the budget
    ended_reason = fields.CharField(max_length=200, null=True)
    ended_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)

    class Meta:
        app = APP
        table = "promo_campaigns"
        indexes = (("store_id", "state"), ("state", "next_at"))


class Promoter(Entity):
    """A user who accepted a campaign: their beacons name this row."""

    campaign_id: str
    campaign: fields.ForeignKeyRelation[PromoCampaign] = fields.ForeignKeyField(
        f"{APP}.PromoCampaign", related_name="promoters", on_delete=fields.CASCADE
    )
    user_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="promotions", on_delete=fields.CASCADE
    )
    is_active = fields.BooleanField(default=True)  # left: their beacons count nothing
    earned = fields.BigIntField(default=0)  # paid so far

    class Meta:
        app = APP
        table = "promo_promoters"
        unique_together = (("campaign", "user"),)
        indexes = (("user_id",),)


class PromoHit(Entity):
    """One counted impression or click: its price is reserved from the budget, paid by a payout."""

    campaign_id: str
    campaign: fields.ForeignKeyRelation[PromoCampaign] = fields.ForeignKeyField(
        f"{APP}.PromoCampaign", related_name="hits", on_delete=fields.CASCADE
    )
    promoter_id: str
    promoter: fields.ForeignKeyRelation[Promoter] = fields.ForeignKeyField(
        f"{APP}.Promoter", related_name="hits", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=10)
    nonce = fields.CharField(max_length=32)  # from the signed beacon: counted once
    amount = fields.BigIntField()  # the price reserved
    payout_entry_id = fields.CharField(max_length=26, null=True)  # the give that paid it

    class Meta:
        app = APP
        table = "promo_hits"
        unique_together = (("campaign", "kind", "nonce"),)
        indexes = (("campaign_id", "created_at"), ("promoter_id", "payout_entry_id"))


class PromoRate(Entity):
    """Hits counted for one key (promoter or client address) in one minute."""

    key = fields.CharField(max_length=80)  # "p:<promoter id>" or "a:<campaign id>:<address digest>"
    minute = fields.BigIntField()  # unix time // 60
    count = fields.IntField(default=0)

    class Meta:
        app = APP
        table = "promo_rates"
        unique_together = (("key", "minute"),)
        indexes = (("minute",),)


class PayoutState(StrEnum):
    PENDING = "pending"  # due at next_at
    DONE = "done"  # paid (the next payout's row was written if the campaign goes on)
    FAILED = "failed"  # kept failing (last_error); the hits stay unpaid for the next payout or the end


class PromoPayout(Durable, Entity):
    """A campaign's next payout: a PROMO_PAYOUTS row, due at next_at."""

    campaign_id: str
    campaign: fields.ForeignKeyRelation[PromoCampaign] = fields.ForeignKeyField(
        f"{APP}.PromoCampaign", related_name="payouts", on_delete=fields.CASCADE
    )
    amount = fields.BigIntField(default=0)  # what it paid
    entries: fields.JSONField[list[str]] = fields.JSONField(default=list)  # its gives

    class Meta:
        app = APP
        table = "promo_payouts"
        indexes = (("state", "next_at"), ("campaign_id",))
