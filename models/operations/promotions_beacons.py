"""Promotion beacons (issue 20, item 4): signing a promoter's beacons and counting them.

A beacon is `<campaign>.<promoter>.<nonce>.<expiry>.<mac>`: the MAC is HMAC-SHA256 under the
campaign's own random key, cut to 128 bits. HMAC, not the instance's Ed25519 key, because only
this server issues and checks beacons: nobody else needs to verify them, a MAC costs about a
microsecond where an Ed25519 check costs tens, and a per-campaign key stored in the database is
shared by every server process and leaks one campaign at most. A beacon counts once (the nonce
is unique per campaign and kind), before its expiry, for an active promoter of a running
campaign, within the per-minute limits, and only if the budget can pay its price: all checked
in one transaction with the hit's insert, or nothing counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from .. import sql
from ..context import Context
from ..engine import MACHINES, move
from ..ids import new_id
from ..machines import PROMO_CAMPAIGNS
from ..outputs import Output
from ..promotions import CampaignState, HitKind, PromoCampaign, PromoHit, Promoter
from ..registry import REGISTRY, Access, Effect, Input, Transaction

__all__ = ["BEACON_SECONDS", "beacon", "count_hit", "read_beacon"]

BEACON_SECONDS = 7 * 86400  # a snippet's beacons may be counted for a week


def _now() -> datetime:
    return datetime.now(UTC)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(key: str, message: str) -> str:
    return _b64(hmac.new(bytes.fromhex(key), message.encode(), hashlib.sha256).digest()[:16])


def beacon(campaign: PromoCampaign, promoter_id: str, *, nonce: str | None = None, expires: datetime | None = None) -> str:
    """A signed beacon for one view: a fresh nonce unless given."""
    nonce = nonce or _b64(secrets.token_bytes(16))
    expiry = int((expires or _now() + timedelta(seconds=BEACON_SECONDS)).timestamp())
    message = f"{campaign.id}.{promoter_id}.{nonce}.{expiry}"
    return f"{message}.{_mac(campaign.beacon_key, message)}"


def read_beacon(signed: str) -> tuple[str, str, str, int, str] | None:
    """(campaign, promoter, nonce, expiry, mac) of a well-formed beacon; None otherwise."""
    parts = signed.split(".")
    if len(parts) != 5 or not parts[3].isdigit() or len(parts[3]) > 12:
        return None
    campaign_id, promoter_id, nonce, expiry, mac = parts
    if not (0 < len(campaign_id) <= 26 and 0 < len(promoter_id) <= 26 and 0 < len(nonce) <= 32 and len(mac) == 22):
        return None
    return campaign_id, promoter_id, nonce, int(expiry), mac


class _NotCounted(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _take_rate(key: str, minute: int, limit: int) -> None:
    """One more hit for the key this minute, in the caller's transaction; refused past the limit."""
    rows = await sql.fetch(
        "INSERT INTO promo_rates (id, key, minute, count, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?) "
        "ON CONFLICT (key, minute) DO UPDATE SET count = promo_rates.count + 1 RETURNING count",
        new_id(), key, minute, sql.now(), sql.now(),
    )
    if int(rows[0]["count"]) > limit:
        raise _NotCounted("rate-limited")


def _address_key(campaign: PromoCampaign, address: str | None) -> str:
    """The client address, hashed with the campaign's key: counted without being stored."""
    digest = hmac.new(bytes.fromhex(campaign.beacon_key), (address or "unknown").encode(), hashlib.sha256).digest()
    return f"a:{campaign.id}:{_b64(digest[:18])}"


async def count_hit(ctx: Context, signed: str, kind: HitKind) -> tuple[str, PromoCampaign | None]:
    """Check a beacon and count it: ("counted", campaign) or (why not, campaign if known)."""
    now = _now()
    parsed = read_beacon(signed)
    if parsed is None:
        return "malformed", None
    campaign_id, promoter_id, nonce, expiry, mac = parsed
    campaign = await PromoCampaign.get_or_none(id=campaign_id)
    if campaign is None:
        return "forged", None
    if not hmac.compare_digest(mac, _mac(campaign.beacon_key, f"{campaign_id}.{promoter_id}.{nonce}.{expiry}")):
        return "forged", None
    if expiry < now.timestamp():
        return "expired", campaign
    promoter = await Promoter.get_or_none(id=promoter_id, campaign_id=campaign.id)
    if promoter is None or not promoter.is_active:
        return "not-a-promoter", campaign
    if campaign.state != CampaignState.RUNNING.value or not campaign.starts_at <= now < campaign.ends_at:
        return "not-running", campaign
    price = campaign.impression_price if kind is HitKind.IMPRESSION else campaign.click_price
    if price <= 0:
        return "not-paid-for", campaign
    minute = int(now.timestamp()) // 60
    try:
        async with in_transaction():
            try:
                async with in_transaction():  # a savepoint: a replay's unique violation ends only this
                    await PromoHit.create(campaign_id=campaign.id, promoter_id=promoter.id, kind=kind.value,
                                          nonce=nonce, amount=price)
            except IntegrityError:
                raise _NotCounted("replayed") from None
            await _take_rate(f"p:{promoter.id}", minute, campaign.per_promoter_per_minute)
            await _take_rate(_address_key(campaign, ctx.client_address), minute, campaign.per_address_per_minute)
            paid = await sql.execute(
                "UPDATE promo_campaigns SET spent = spent + ? WHERE id = ? AND state = ? AND spent + ? <= budget",
                price, campaign.id, CampaignState.RUNNING.value, price,
            )
            if paid != 1:
                raise _NotCounted("budget-spent")
    except _NotCounted as refused:
        if refused.reason == "budget-spent":
            await _due_now(campaign)
        return refused.reason, campaign
    return "counted", campaign


async def _due_now(campaign: PromoCampaign) -> None:
    """The budget cannot pay a beacon: if it cannot pay the cheaper kind either, the campaign's end
    is due now (it pays out and gives the rest back)."""
    spent = await PromoCampaign.filter(id=campaign.id).values_list("spent", flat=True)
    cheapest = min(price for price in (campaign.impression_price, campaign.click_price) if price > 0)
    if spent and campaign.budget - int(str(spent[0])) >= cheapest:
        return
    if await move(PROMO_CAMPAIGNS, campaign.id, CampaignState.RUNNING.value, CampaignState.RUNNING.value,
                  next_at=None, ended_reason="the budget is spent"):
        MACHINES.wake(PROMO_CAMPAIGNS.name)


class BeaconInput(Input):
    signed: str = Field(min_length=1, max_length=200, description="the beacon from the promoter's snippet")


class HitOut(Output):
    counted: bool
    reason: str = Field(description="counted, or why not: malformed, forged, expired, replayed, rate-limited, ...")
    link: str | None = Field(None, description="a click: where the creative leads")


@REGISTRY.operation("promotions.impression", BeaconInput, output=HitOut, access=Access.PUBLIC, effect=Effect.WRITE,
                    transaction=Transaction.OWN)
async def impression(ctx: Context, params: BeaconInput) -> dict[str, Any]:
    """Count a view of a promoter's snippet (GET /promo/i/{signed} answers a picture either way)."""
    reason, _ = await count_hit(ctx, params.signed, HitKind.IMPRESSION)
    return {"counted": reason == "counted", "reason": reason, "link": None}


@REGISTRY.operation("promotions.click", BeaconInput, output=HitOut, access=Access.PUBLIC, effect=Effect.WRITE,
                    transaction=Transaction.OWN)
async def click(ctx: Context, params: BeaconInput) -> dict[str, Any]:
    """Count a click on a promoter's snippet and give the creative's link (GET /promo/c/{signed} redirects)."""
    reason, campaign = await count_hit(ctx, params.signed, HitKind.CLICK)
    link = campaign.link if campaign is not None and reason not in ("malformed", "forged") else None
    return {"counted": reason == "counted", "reason": reason, "link": link}
