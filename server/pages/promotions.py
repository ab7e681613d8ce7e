"""Promotion pages (issue 20, item 4): a store's campaigns (list and "New campaign", for its
managers), a campaign's page (its terms for promoters; for the store's staff a dashboard with
impressions and clicks over time as an SVG chart and a table, and the start, pause, resume and
end buttons), and /app/promotions: campaigns I can promote, mine, and what each earned me.

They call the promotions operations as the API does (models/operations/promotions.py), which
check who may do what. Plain forms, no JavaScript.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web
from markupsafe import Markup

from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Bucket, price_volume_chart
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .wording import moment

__all__ = ["act", "campaign_chart", "campaign_page", "create_campaign", "promotion_page", "promotions_page",
           "store_campaigns_page"]

FIELDS = ("title", "items", "price_type", "impression_price", "click_price", "budget", "days", "payout_hours", "tags",
          "regions", "text", "image", "link")
LABELS = {"start": "Start: hold the budget", "pause": "Pause", "resume": "Resume", "end": "End now",
          "join": "Promote this campaign", "leave": "Stop promoting it"}
OPERATIONS = {
    "start": "promotions.campaigns.start", "pause": "promotions.campaigns.pause", "resume": "promotions.campaigns.resume",
    "end": "promotions.campaigns.end", "join": "promotions.join", "leave": "promotions.leave",
}
DONE = {"start": "The campaign runs: its budget is held.", "pause": "Paused: views and clicks count nothing now.",
        "resume": "The campaign runs again.", "end": "The campaign ended: promoters were paid, the rest went back.",
        "join": "You promote this campaign. Put a snippet on your page.", "leave": "You stopped promoting it."}


def _words(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


# ---------------------------------------------------------------- a store's campaigns


async def _store_campaigns(request: web.Request, *, values: dict[str, str] | None = None,
                           errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    slug = request.match_info["slug"]
    store = await REGISTRY.call(ctx, "stores.get", {"slug": slug})
    campaigns = (await REGISTRY.call(ctx, "promotions.campaigns.list", {"store": slug,
                                                                       "page_size": page_size(ctx)})).items
    items = (await REGISTRY.call(ctx, "stores.items.list", {"slug": slug, "page_size": page_size(ctx)})).items
    price_types = {item["price_type"]: item["price_symbol"] for item in items}
    defaults = {"days": "30", "payout_hours": "24", "impression_price": "0", "click_price": "0",
                "price_type": next(iter(price_types), "")}
    return render(request, "store_campaigns.html.j2", status=status, store=store, campaigns=campaigns, items=items,
                  price_types=price_types, values=values or defaults, errors=errors or {}, error=error, moment=moment)


@page
async def store_campaigns_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _store_campaigns(request)


@page
async def create_campaign(request: web.Request) -> web.StreamResponse:
    """Draft a campaign: what it promotes, what it pays, for how long, and its creative."""
    require_signed_in(request)
    data = await request.post()
    form = await read_form(request)
    values = {key: form.get(key, "").strip() for key in FIELDS}
    chosen = [str(value) for value in data.getall("items", []) if isinstance(value, str)]
    errors: dict[str, str] = {}
    days = values["days"] or "30"
    hours = values["payout_hours"] or "24"
    if not days.isdigit() or not 1 <= int(days) <= 366:
        errors["days"] = "a whole number of days, 1 to 366"
    if not hours.isdigit() or not 1 <= int(hours) <= 720:
        errors["payout_hours"] = "a whole number of hours, 1 to 720"
    if errors:
        return await _store_campaigns(request, values=values, errors=errors, status=400,
                                      error="Please correct the fields marked below.")
    body: dict[str, Any] = {
        "slug": request.match_info["slug"], "title": values["title"], "items": chosen, "price_type": values["price_type"],
        "impression_price": values["impression_price"] or "0", "click_price": values["click_price"] or "0",
        "budget": values["budget"], "ends_at": (datetime.now(UTC) + timedelta(days=int(days))).isoformat(),
        "payout_seconds": int(hours) * 3600, "tags": _words(values["tags"]), "regions": _words(values["regions"]),
        "text": values["text"], "link": values["link"],
    }
    if values["image"]:
        body["image"] = values["image"]
    try:
        campaign = await call(request, "promotions.campaigns.create", body, {"payout_seconds": "payout_hours",
                                                                             "ends_at": "days"})
    except FormError as failed:
        return await _store_campaigns(request, values=values, errors=failed.fields, error=failed.general,
                                      status=failed.status)
    raise redirect(f"/app/campaigns/{campaign['id']}", "Campaign drafted. Start it to hold its budget.")


# ---------------------------------------------------------------- a campaign


def campaign_chart(campaign: dict[str, Any], stats: dict[str, Any]) -> str:
    """Impressions (bars) and clicks (line) per hour: the dashboard's picture."""
    buckets = [
        Bucket(label=row["start"][11:16], volume=Decimal(row["impressions"]), price=Decimal(row["clicks"]),
               note=f"{row['start'][:16].replace('T', ' ')}: {row['impressions']} impressions, {row['clicks']} clicks")
        for row in stats["buckets"]
    ]
    views = sum(row["impressions"] for row in stats["buckets"])
    clicks = sum(row["clicks"] for row in stats["buckets"])
    return price_volume_chart(
        buckets, title=f"Impressions and clicks of {campaign['title']}, last 24 hours",
        description=f"{views} counted impressions and {clicks} counted clicks in the last 24 hours, per hour (UTC).",
        price_caption="Clicks", volume_caption="Impressions", chart_id=f"campaign-{campaign['id']}",
        empty_text="Nothing counted in the last 24 hours",
    )


async def _campaign_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    campaign = await REGISTRY.call(ctx, "promotions.campaigns.get", {"id": request.match_info["id"]})
    staff = campaign.get("spent") is not None
    chart, rows, verbs = Markup(""), [], []
    if staff:
        stats = await REGISTRY.call(ctx, "promotions.campaigns.stats", {"id": campaign["id"]})
        chart = Markup(campaign_chart(campaign, stats))
        rows = [row for row in stats["buckets"] if row["impressions"] or row["clicks"]]
        verbs = {"draft": ["start", "end"], "running": ["pause", "end"], "paused": ["resume", "end"]}.get(
            campaign["state"], [])
    if campaign["state"] in ("running", "paused"):
        verbs.append("leave" if campaign["joined"] else "join")
    return render(request, "campaign.html.j2", status=status, campaign=campaign, staff=staff, chart=chart, rows=rows,
                  verbs=verbs, labels=LABELS, error=error, moment=moment)


@page
async def campaign_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _campaign_page(request)


@page
async def act(request: web.Request) -> web.StreamResponse:
    """A button on the campaign's page: start, pause, resume, end; join or leave."""
    require_signed_in(request)
    verb, campaign_id = request.match_info["verb"], request.match_info["id"]
    operation = OPERATIONS[verb]
    try:
        await call(request, operation, {"id": campaign_id})
    except FormError as failed:
        return await _campaign_page(request, error=failed.problem.detail, status=failed.status)
    target = f"/app/promotions/{campaign_id}" if verb == "join" else f"/app/campaigns/{campaign_id}"
    raise redirect(target, DONE[verb])


# ---------------------------------------------------------------- promoters


@page
async def promotions_page(request: web.Request) -> web.StreamResponse:
    """Campaigns I can promote, the ones I do, and what they earned me."""
    require_signed_in(request)
    ctx = request[CTX]
    offered = (await REGISTRY.call(ctx, "promotions.campaigns.list", {"page_size": page_size(ctx)})).items
    mine = (await REGISTRY.call(ctx, "promotions.mine", {"page_size": page_size(ctx)})).items
    return render(request, "promotions.html.j2", offered=[c for c in offered if not c["joined"]], mine=mine,
                  moment=moment)


@page
async def promotion_page(request: web.Request) -> web.StreamResponse:
    """My promotion of one campaign: earnings, counts and fresh snippets to paste."""
    require_signed_in(request)
    ctx = request[CTX]
    count = request.query.get("count", "3")
    promotion = await REGISTRY.call(ctx, "promotions.snippets", {"id": request.match_info["id"],
                                                                  "count": int(count) if count.isdigit() and len(count) <= 3 else 0})
    return render(request, "promotion.html.j2", promotion=promotion, campaign=promotion["campaign"], moment=moment)
