"""Store promotions (issue 20, item 4): campaigns a store runs, the promoters who join them and
their snippets, and the dashboard's figures (models/promotions.py says how value is held; the
beacons: promotions_beacons.py; the payouts and the end: promotions_payouts.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..actors import Actor, User
from ..amounts import to_decimal_string, to_minor
from ..base import iso
from ..context import Context
from ..engine import MACHINES, move
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..machines import PROMO_CAMPAIGNS
from ..market import ESCROW_KIND
from ..outputs import Output, Paged
from ..paging import ListInput, paginate
from ..promotions import (
    CampaignState,
    HitKind,
    PayoutState,
    PromoCampaign,
    PromoHit,
    PromoPayout,
    Promoter,
    campaign_escrow_username,
)
from ..registry import REGISTRY, Access, Input
from ..stores import StaffRole, Store, StoreItem
from ..tokens import TokenType
from .market_escrow import hold
from .promotions_beacons import BEACON_SECONDS, beacon
from .promotions_payouts import settle
from .stores import SLUG, staff_role, store_context, visible_store

__all__ = ["campaign_for", "campaign_view", "snippet"]

ID = Field(min_length=1, max_length=26)
TAGS: Any = Field(default_factory=list, max_length=20, description="free words: what it is about, where")
MAX_SPAN = timedelta(days=366)
MAX_SNIPPETS = 100


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- views


class CampaignOut(Output):
    id: str
    store: str
    store_title: str
    title: str
    state: str
    items: list[str]
    price_type: str
    price_symbol: str
    impression_price: str
    click_price: str
    budget: str
    remaining: str = Field(description="what the budget can still pay")
    starts_at: str
    ends_at: str
    payout_seconds: int
    tags: list[str]
    regions: list[str]
    text: str
    image: str | None
    link: str
    promoters: int
    spent: str | None = Field(None, description="the store's staff: reserved by counted hits")
    paid: str | None = Field(None, description="the store's staff: given to promoters")
    refunded: str | None = Field(None, description="the store's staff: given back at the end")
    impressions: int | None = None
    clicks: int | None = None
    per_promoter_per_minute: int | None = None
    per_address_per_minute: int | None = None
    ended_reason: str | None
    last_error: str | None = None
    joined: bool = Field(description="the caller promotes it")
    version: int
    created_at: str


async def campaign_view(campaign: PromoCampaign, role: str | None, user: User | None) -> dict[str, Any]:
    store = await Store.get(id=campaign.store_id)
    price_type = await TokenType.get(id=campaign.price_type_id)

    def amount(value: int) -> str:
        return to_decimal_string(value, price_type.smallest_unit)

    view: dict[str, Any] = {
        "id": campaign.id, "store": store.slug, "store_title": store.title, "title": campaign.title,
        "state": campaign.state, "items": campaign.items, "price_type": price_type.id, "price_symbol": price_type.symbol,
        "impression_price": amount(campaign.impression_price), "click_price": amount(campaign.click_price),
        "budget": amount(campaign.budget), "remaining": amount(campaign.budget - campaign.spent),
        "starts_at": iso(campaign.starts_at) or "", "ends_at": iso(campaign.ends_at) or "",
        "payout_seconds": campaign.payout_seconds, "tags": campaign.tags, "regions": campaign.regions,
        "text": campaign.text, "image": campaign.image, "link": campaign.link,
        "promoters": await Promoter.filter(campaign_id=campaign.id, is_active=True).count(),
        "ended_reason": campaign.ended_reason, "version": campaign.version,
        "joined": user is not None and await Promoter.filter(campaign_id=campaign.id, user_id=user.id,
                                                             is_active=True).exists(),
        "created_at": iso(campaign.created_at) or "",
    }
    if role is not None:
        view.update(
            spent=amount(campaign.spent), paid=amount(campaign.paid), refunded=amount(campaign.refunded),
            impressions=await PromoHit.filter(campaign_id=campaign.id, kind=HitKind.IMPRESSION.value).count(),
            clicks=await PromoHit.filter(campaign_id=campaign.id, kind=HitKind.CLICK.value).count(),
            per_promoter_per_minute=campaign.per_promoter_per_minute,
            per_address_per_minute=campaign.per_address_per_minute, last_error=campaign.last_error,
        )
    return view


async def campaign_for(ctx: Context, campaign_id: str) -> tuple[PromoCampaign, Store, str | None]:
    """The campaign, its store and the caller's role there; a draft is 404 to all but the store's staff."""
    campaign = await PromoCampaign.get_or_none(id=campaign_id)
    if campaign is None:
        raise NotFound(f"there is no campaign {campaign_id!r}", code="campaign-not-found")
    store = await Store.get(id=campaign.store_id)
    role = await staff_role(store, ctx.user)
    if role is None and campaign.state == CampaignState.DRAFT.value:
        raise NotFound(f"there is no campaign {campaign_id!r}", code="campaign-not-found")
    return campaign, store, role


async def _as_manager(ctx: Context, campaign_id: str) -> tuple[PromoCampaign, Store]:
    ctx.require_user()
    campaign, store, role = await campaign_for(ctx, campaign_id)
    if role != StaffRole.MANAGER.value:
        raise Forbidden("this needs the manager role in the campaign's store", code="store-role-required")
    return campaign, store


# ---------------------------------------------------------------- campaigns


def _words(values: list[str], field: str) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        text = value.strip()
        if not 1 <= len(text) <= 40:
            raise BadInput(f"each of {field} is 1 to 40 characters", code="invalid-tag",
                           errors=[{"field": field, "message": "1 to 40 characters"}])
        if text.lower() not in (known.lower() for known in cleaned):
            cleaned.append(text)
    return cleaned


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class CampaignCreateInput(Input):
    slug: str = SLUG
    title: str = Field(min_length=1, max_length=200)
    items: list[str] = Field(min_length=1, max_length=50, description="the store's items it promotes")
    price_type: str = Field(min_length=1, max_length=26, description="the token type promoters are paid in")
    impression_price: str = Field("0", min_length=1, max_length=60, description="per counted impression")
    click_price: str = Field("0", min_length=1, max_length=60, description="per counted click")
    budget: str = Field(min_length=1, max_length=60, description="held from the organization when it starts")
    starts_at: datetime | None = Field(None, description="beacons count from then (default: now)")
    ends_at: datetime = Field(description="the campaign ends then; at most a year after it starts")
    payout_seconds: int = Field(3600, ge=60, le=30 * 86400, description="promoters are paid this often")
    tags: list[str] = TAGS
    regions: list[str] = TAGS
    text: str = Field(min_length=1, max_length=500, description="the creative's words")
    image: str | None = Field(None, min_length=1, max_length=26, pattern=r"^[0-9A-Za-z]+$", description="a media id")
    link: str = Field(min_length=1, max_length=2000, description="where a click goes (http or https)")
    per_promoter_per_minute: int = Field(600, ge=1, le=100_000)
    per_address_per_minute: int = Field(30, ge=1, le=100_000)


def _price(text: str, decimals: int, field: str) -> int:
    """A price in minor units; "0" (the default) pays nothing for that kind."""
    return 0 if text.strip() in ("0", "0.0", "0.00") else to_minor(text, decimals, field=field)


def _link(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput("the link is an http or https address", code="invalid-link",
                       errors=[{"field": "link", "message": "an http or https URL"}])
    return url


@REGISTRY.operation("promotions.campaigns.create", CampaignCreateInput, output=CampaignOut)
async def create_campaign(ctx: Context, params: CampaignCreateInput) -> dict[str, Any]:
    """Draft a campaign for a store (its managers): items, prices per impression and click, budget, schedule, creative."""
    store, role = await visible_store(ctx, params.slug)
    user = ctx.require_user()
    if role != StaffRole.MANAGER.value:
        raise Forbidden(f"this needs the manager role in the store {params.slug!r}", code="store-role-required")
    items = list(dict.fromkeys(params.items))
    found = await StoreItem.filter(id__in=items, store_id=store.id).count()
    if found != len(items):
        raise NotFound("some items are not in this store", code="item-not-found",
                       errors=[{"field": "items", "message": "not all are the store's items"}])
    price_type = await TokenType.get_or_none(id=params.price_type, is_deleted=False)
    if price_type is None:
        raise NotFound(f"there is no token type with id {params.price_type!r}", code="type-not-found",
                       errors=[{"field": "price_type", "message": "unknown type"}])
    decimals = price_type.smallest_unit
    impression_price = _price(params.impression_price, decimals, "impression_price")
    click_price = _price(params.click_price, decimals, "click_price")
    if not impression_price and not click_price:
        raise BadInput("pay for impressions, clicks or both: a price above 0", code="no-price",
                       errors=[{"field": "impression_price", "message": "above 0, or a click price"}])
    budget = to_minor(params.budget, decimals, field="budget")
    if budget < max(impression_price, click_price):
        raise Unprocessable("the budget cannot pay even one hit", code="budget-too-small",
                            errors=[{"field": "budget", "message": "at least one price"}])
    now = _now()
    starts_at = _aware(params.starts_at) if params.starts_at else now
    ends_at = _aware(params.ends_at)
    if ends_at <= max(starts_at, now):
        raise BadInput("the campaign ends after it starts, in the future", code="invalid-schedule",
                       errors=[{"field": "ends_at", "message": "after starts_at and now"}])
    if ends_at - starts_at > MAX_SPAN:
        raise BadInput("a campaign runs at most a year", code="invalid-schedule",
                       errors=[{"field": "ends_at", "message": "at most 366 days after starts_at"}])
    campaign = PromoCampaign(
        store=store, title=params.title, items=items, price_type=price_type, impression_price=impression_price,
        click_price=click_price, budget=budget, starts_at=starts_at, ends_at=ends_at,
        payout_seconds=params.payout_seconds, tags=_words(params.tags, "tags"), regions=_words(params.regions, "regions"),
        text=params.text, image=params.image, link=_link(params.link),
        per_promoter_per_minute=params.per_promoter_per_minute, per_address_per_minute=params.per_address_per_minute,
        state=CampaignState.DRAFT.value,
    )
    campaign.escrow = await Actor.create(kind=ESCROW_KIND, username=campaign_escrow_username(campaign.id),
                                         display_name=f"Escrow of the campaign {params.title[:100]}")
    await campaign.save()
    await _emit(ctx, campaign, store, "created", by=user.username)
    return await campaign_view(campaign, role, user)


async def _emit(ctx: Context, campaign: PromoCampaign, store: Store, name: str, **extra: Any) -> None:
    await ctx.emit(f"promotion.campaign.{name}", "promo_campaign", campaign.id, {
        "store": store.id, "campaign": campaign.id, "state": campaign.state, **extra,
    })


class CampaignRefInput(Input):
    id: str = ID


@REGISTRY.operation("promotions.campaigns.get", CampaignRefInput, output=CampaignOut, access=Access.USER)
async def get_campaign(ctx: Context, params: CampaignRefInput) -> dict[str, Any]:
    """A campaign: its terms and creative (the store's staff also see its figures)."""
    campaign, _, role = await campaign_for(ctx, params.id)
    return await campaign_view(campaign, role, ctx.user)


class CampaignListInput(ListInput):
    store: str | None = Field(None, min_length=2, max_length=40, description="a store's campaigns (its staff)")
    joined: bool = Field(False, description="only the campaigns you promote")


@REGISTRY.operation("promotions.campaigns.list", CampaignListInput, output=Paged[CampaignOut], access=Access.USER)
async def list_campaigns(ctx: Context, params: CampaignListInput) -> Any:
    """Running campaigns anyone may promote, newest first; a store's every campaign (its staff); yours (joined)."""
    user = ctx.require_user()
    role = None
    if params.store is not None:
        store, role = await visible_store(ctx, params.store)
        if role is None:
            raise Forbidden("a store's campaigns are for its staff", code="store-role-required")
        query = PromoCampaign.filter(store_id=store.id)
    elif params.joined:
        query = PromoCampaign.filter(promoters__user_id=user.id)
    else:
        query = PromoCampaign.filter(state=CampaignState.RUNNING.value)
    page = await paginate(query, params)
    views = {}
    for row in page.items:
        row_role = role if params.store is not None else await staff_role(await Store.get(id=row.store_id), user)
        views[row.id] = await campaign_view(row, row_role, user)
    return page.map(lambda row: views[row.id])


class MoveInput(Input):
    id: str = ID


async def _move(ctx: Context, campaign: PromoCampaign, target: str, **values: Any) -> PromoCampaign:
    if target not in PROMO_CAMPAIGNS.manual.get(campaign.state, set()) or target == campaign.state:
        raise Conflict(f"a campaign that is {campaign.state} cannot become {target}", code="campaign-state",
                       extra={"state": campaign.state})
    if not await move(PROMO_CAMPAIGNS, campaign.id, campaign.state, target, version=campaign.version + 1, **values):
        raise Conflict("the campaign changed meanwhile; read it again", code="campaign-state")
    return await PromoCampaign.get(id=campaign.id)


@REGISTRY.operation("promotions.campaigns.start", MoveInput, output=CampaignOut)
async def start_campaign(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Start a draft (its store's managers): the budget is held from the organization until the campaign ends."""
    campaign, store = await _as_manager(ctx, params.id)
    if campaign.state != CampaignState.DRAFT.value:
        raise Conflict(f"a campaign that is {campaign.state} cannot start", code="campaign-state",
                       extra={"state": campaign.state})
    now = _now()
    if campaign.ends_at <= now:
        raise Conflict("the campaign's end time has passed", code="campaign-over")
    price_type = await TokenType.get(id=campaign.price_type_id)
    octx = await store_context(ctx, store)
    try:
        hold_id = await hold(octx, octx.require_actor(), price_type, campaign.budget, await Actor.get(id=campaign.escrow_id),
                             f"budget of the campaign {campaign.id}")
    except Conflict as error:
        if error.code != "insufficient":
            raise
        raise Conflict(f"the organization does not hold {to_decimal_string(campaign.budget, price_type.smallest_unit)} "
                       f"{price_type.symbol} unreserved", code="insufficient") from None
    campaign = await _move(ctx, campaign, CampaignState.RUNNING.value, budget_hold_id=hold_id, next_at=campaign.ends_at)
    await PromoPayout.create(campaign=campaign, state=PayoutState.PENDING.value,
                             next_at=min(now + timedelta(seconds=campaign.payout_seconds), campaign.ends_at))
    await _emit(ctx, campaign, store, "started", by=ctx.require_user().username)
    return await campaign_view(campaign, StaffRole.MANAGER.value, ctx.user)


@REGISTRY.operation("promotions.campaigns.pause", MoveInput, output=CampaignOut)
async def pause_campaign(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Pause a running campaign (its store's managers): beacons count nothing until it resumes."""
    campaign, store = await _as_manager(ctx, params.id)
    if campaign.state != CampaignState.RUNNING.value:
        raise Conflict(f"a campaign that is {campaign.state} cannot pause", code="campaign-state",
                       extra={"state": campaign.state})
    campaign = await _move(ctx, campaign, CampaignState.PAUSED.value)
    await _emit(ctx, campaign, store, "paused", by=ctx.require_user().username)
    return await campaign_view(campaign, StaffRole.MANAGER.value, ctx.user)


@REGISTRY.operation("promotions.campaigns.resume", MoveInput, output=CampaignOut)
async def resume_campaign(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Resume a paused campaign (its store's managers); past its end time, it ends at once."""
    campaign, store = await _as_manager(ctx, params.id)
    if campaign.state != CampaignState.PAUSED.value:
        raise Conflict(f"a campaign that is {campaign.state} cannot resume", code="campaign-state",
                       extra={"state": campaign.state})
    campaign = await _move(ctx, campaign, CampaignState.RUNNING.value, next_at=campaign.ends_at)
    await _emit(ctx, campaign, store, "resumed", by=ctx.require_user().username)
    MACHINES.wake(PROMO_CAMPAIGNS.name)
    return await campaign_view(campaign, StaffRole.MANAGER.value, ctx.user)


@REGISTRY.operation("promotions.campaigns.end", MoveInput, output=CampaignOut)
async def end_campaign_now(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """End a campaign now (its store's managers): promoters are paid what they earned, the rest goes back."""
    campaign, store = await _as_manager(ctx, params.id)
    if campaign.state not in (CampaignState.DRAFT.value, CampaignState.RUNNING.value, CampaignState.PAUSED.value):
        raise Conflict(f"a campaign that is {campaign.state} cannot end", code="campaign-state",
                       extra={"state": campaign.state})
    reason = "ended by the store"
    campaign = await _move(ctx, campaign, CampaignState.ENDED.value, ended_reason=reason, ended_at=_now(), next_at=None)
    values = await settle(ctx, campaign, store)
    await PromoCampaign.filter(id=campaign.id).update(**values)
    campaign = await PromoCampaign.get(id=campaign.id)
    await _emit(ctx, campaign, store, "ended", by=ctx.require_user().username, reason=reason)
    return await campaign_view(campaign, StaffRole.MANAGER.value, ctx.user)


# ---------------------------------------------------------------- promoters


class SnippetOut(Output):
    impression_url: str = Field(description="an <img> source: each view counts once")
    click_url: str = Field(description="where the creative's link points: redirects to the campaign's link")
    html: str = Field(description="the snippet to paste: the creative, its link and the beacon")
    expires_at: str


class PromotionOut(Output):
    campaign: CampaignOut
    promoter: str = Field(description="the promoter's id, named in their beacons")
    active: bool
    earned: str = Field(description="paid to you so far")
    unpaid: str = Field(description="counted, paid at the next payout")
    impressions: int
    clicks: int
    snippets: list[SnippetOut]


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#x27;"))


def snippet(ctx: Context, campaign: PromoCampaign, promoter_id: str) -> dict[str, Any]:
    """One view's snippet: a fresh nonce for its beacon and its click."""
    expires = _now() + timedelta(seconds=BEACON_SECONDS)
    signed = beacon(campaign, promoter_id, expires=expires)
    base = ctx.site.base_url.rstrip("/")
    impression_url, click_url = f"{base}/promo/i/{signed}", f"{base}/promo/c/{signed}"
    picture = (f'<img src="{base}/api/v1/media/{_escape(campaign.image)}" alt="" width="120">'
               if campaign.image else "")
    html = (f'<a href="{_escape(click_url)}" rel="sponsored noopener">{picture}{_escape(campaign.text)}</a>'
            f'<img src="{_escape(impression_url)}" alt="" width="1" height="1">')
    return {"impression_url": impression_url, "click_url": click_url, "html": html, "expires_at": iso(expires) or ""}


async def promotion_view(ctx: Context, campaign: PromoCampaign, promoter: Promoter, snippets: int) -> dict[str, Any]:
    price_type = await TokenType.get(id=campaign.price_type_id)
    amounts = await PromoHit.filter(promoter_id=promoter.id, payout_entry_id=None).values_list("amount", flat=True)
    unpaid = sum(int(str(amount)) for amount in amounts)
    return {
        "campaign": await campaign_view(campaign, None, ctx.user), "promoter": promoter.id, "active": promoter.is_active,
        "earned": to_decimal_string(promoter.earned, price_type.smallest_unit),
        "unpaid": to_decimal_string(int(unpaid), price_type.smallest_unit),
        "impressions": await PromoHit.filter(promoter_id=promoter.id, kind=HitKind.IMPRESSION.value).count(),
        "clicks": await PromoHit.filter(promoter_id=promoter.id, kind=HitKind.CLICK.value).count(),
        "snippets": [snippet(ctx, campaign, promoter.id) for _ in range(snippets)] if promoter.is_active else [],
    }


@REGISTRY.operation("promotions.join", CampaignRefInput, output=PromotionOut)
async def join(ctx: Context, params: CampaignRefInput) -> dict[str, Any]:
    """Promote a running campaign: you get a snippet whose views and clicks earn its prices."""
    user = ctx.require_user()
    campaign, store, _ = await campaign_for(ctx, params.id)
    if campaign.state not in (CampaignState.RUNNING.value, CampaignState.PAUSED.value):
        raise Conflict(f"a campaign that is {campaign.state} takes no promoters", code="campaign-state",
                       extra={"state": campaign.state})
    promoter = await Promoter.get_or_none(campaign_id=campaign.id, user_id=user.id)
    if promoter is None:
        try:
            async with in_transaction():
                promoter = await Promoter.create(campaign=campaign, user=user)
        except IntegrityError:
            promoter = await Promoter.get(campaign_id=campaign.id, user_id=user.id)
    elif promoter.is_active:
        raise Conflict("you promote this campaign already", code="already-promoting")
    else:
        await Promoter.filter(id=promoter.id).update(is_active=True, updated_at=_now())
        promoter.is_active = True
    await _emit(ctx, campaign, store, "joined", by=user.username)
    return await promotion_view(ctx, campaign, promoter, 1)


async def _my_promotion(ctx: Context, campaign_id: str) -> tuple[PromoCampaign, Store, Promoter]:
    user = ctx.require_user()
    campaign, store, _ = await campaign_for(ctx, campaign_id)
    promoter = await Promoter.get_or_none(campaign_id=campaign.id, user_id=user.id)
    if promoter is None:
        raise NotFound("you do not promote this campaign", code="not-promoting")
    return campaign, store, promoter


@REGISTRY.operation("promotions.leave", CampaignRefInput, output=PromotionOut)
async def leave(ctx: Context, params: CampaignRefInput) -> dict[str, Any]:
    """Stop promoting a campaign: your beacons count nothing from now; what you earned is still paid."""
    campaign, store, promoter = await _my_promotion(ctx, params.id)
    if not promoter.is_active:
        raise Conflict("you left this campaign already", code="not-promoting")
    await Promoter.filter(id=promoter.id).update(is_active=False, updated_at=_now())
    promoter.is_active = False
    await _emit(ctx, campaign, store, "left", by=ctx.require_user().username)
    return await promotion_view(ctx, campaign, promoter, 0)


class SnippetsInput(Input):
    id: str = ID
    count: int = Field(1, ge=1, le=MAX_SNIPPETS, description="fresh snippets, one per view you will show")


@REGISTRY.operation("promotions.snippets", SnippetsInput, output=PromotionOut, access=Access.USER)
async def snippets(ctx: Context, params: SnippetsInput) -> dict[str, Any]:
    """Your promotion of a campaign: earnings, counts and fresh snippets (each view needs its own)."""
    campaign, _, promoter = await _my_promotion(ctx, params.id)
    return await promotion_view(ctx, campaign, promoter, params.count)


class MineInput(ListInput):
    pass


@REGISTRY.operation("promotions.mine", MineInput, output=Paged[PromotionOut], access=Access.USER)
async def my_promotions(ctx: Context, params: MineInput) -> Any:
    """The campaigns you promote (or did), newest first, with what each earned you."""
    user = ctx.require_user()
    page = await paginate(Promoter.filter(user_id=user.id), params)
    views = {}
    for row in page.items:
        views[row.id] = await promotion_view(ctx, await PromoCampaign.get(id=row.campaign_id), row, 0)
    return page.map(lambda row: views[row.id])


# ---------------------------------------------------------------- the dashboard's chart


class StatsInput(Input):
    id: str = ID
    bucket: Literal["hour", "day"] = "hour"


class StatsBucketOut(Output):
    start: str
    impressions: int
    clicks: int
    amount: str


class CampaignStatsOut(Output):
    campaign: str
    bucket: str
    price_symbol: str
    buckets: list[StatsBucketOut] = Field(description="oldest first: the last 24 hours or 30 days of the campaign")


BUCKETS = {"hour": (3600, 24), "day": (86400, 30)}


@REGISTRY.operation("promotions.campaigns.stats", StatsInput, output=CampaignStatsOut, access=Access.USER)
async def campaign_stats(ctx: Context, params: StatsInput) -> dict[str, Any]:
    """Counted impressions and clicks over time (the store's staff): the dashboard's chart."""
    campaign, _, role = await campaign_for(ctx, params.id)
    if role is None:
        raise Forbidden("a campaign's figures are for its store's staff", code="store-role-required")
    size, count = BUCKETS[params.bucket]
    end = min(_now(), campaign.ends_at) if campaign.state != CampaignState.DRAFT.value else _now()
    last = int(end.timestamp()) // size * size
    first = last - (count - 1) * size
    start = datetime.fromtimestamp(first, UTC)
    rows = await PromoHit.filter(campaign_id=campaign.id, created_at__gte=start).values_list("created_at", "kind", "amount")
    tally = {first + index * size: [0, 0, 0] for index in range(count)}
    for created_at, kind, amount in rows:
        slot = int(_aware(created_at).timestamp()) // size * size
        if slot in tally:
            tally[slot][0 if kind == HitKind.IMPRESSION.value else 1] += 1
            tally[slot][2] += int(amount)
    price_type = await TokenType.get(id=campaign.price_type_id)
    return {
        "campaign": campaign.id, "bucket": params.bucket, "price_symbol": price_type.symbol,
        "buckets": [
            {"start": iso(datetime.fromtimestamp(slot, UTC)) or "", "impressions": figures[0], "clicks": figures[1],
             "amount": to_decimal_string(figures[2], price_type.smallest_unit)}
            for slot, figures in sorted(tally.items())
        ],
    }

