"""The trends pages: what sold on the market, per token type, with a price and volume chart.

Public: no sign-in. They call trends.list and trends.get as the API does
(models/operations/trends.py); the chart is SVG drawn here (server/svg.py), and the same
figures stand in a table beside it, so the page needs no JavaScript and no picture to be read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Bucket, price_volume_chart
from .base import page, page_size, render

__all__ = ["PERIOD_WORDS", "trend_chart", "trend_page", "trends_page"]

PERIOD_WORDS = {"hour": "in the last hour", "day": "in the last 24 hours", "week": "in the last 7 days"}
PERIOD_LINKS = {"hour": "Last hour", "day": "Last 24 hours", "week": "Last 7 days"}
BUCKET_WORDS = {"hour": "5-minute span", "day": "hour", "week": "day"}  # plural: add "s"


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _label(text: str, period: str) -> str:
    """A bucket's start on the axis: the time of day (UTC), or the date for a week."""
    moment = _moment(text)
    return f"{moment.day} {moment:%b}" if period == "week" else f"{moment:%H:%M}"


def _when(text: str) -> str:
    """A moment for people: "2 Dec 2026 14:05" (UTC, as the columns say)."""
    moment = _moment(text)
    return f"{moment.day} {moment:%b %Y %H:%M}"


def _span(bucket: dict[str, Any], period: str, zone: str = " UTC") -> str:
    start, end = _moment(bucket["start"]), _moment(bucket["end"])
    if period == "week":
        return f"{start.day} {start:%b %H:%M} to {end.day} {end:%b %H:%M}{zone}"
    return f"{start:%H:%M} to {end:%H:%M}{zone}"


def _sales(count: int) -> str:
    return f"{count} sale{'' if count == 1 else 's'}"


def bucket_words(bucket: dict[str, Any], trend: dict[str, Any]) -> str:
    """One bucket in plain words: when, how many sales, units, volume and prices."""
    symbol, paid = trend["symbol"], trend["chart"]["symbol"]
    words = f"{_span(bucket, trend['period'])}: {_sales(bucket['sales'])}"
    if bucket["sales"]:
        words += (
            f", {bucket['units']} {symbol} for {bucket['volume']} {paid}; per {symbol}: last {bucket['last_price']}, "
            f"low {bucket['min_price']}, high {bucket['max_price']} {paid}"
        )
    return words


def trend_chart(trend: dict[str, Any]) -> str:
    """The SVG of a trends.get answer: unit price (line) over volume (bars) per bucket."""
    chart, symbol, period = trend["chart"], trend["symbol"], trend["period"]
    paid = chart["symbol"] or ""
    buckets = [
        Bucket(
            label=_label(bucket["start"], period),
            volume=Decimal(bucket["volume"]),
            price=None if bucket["last_price"] is None else Decimal(bucket["last_price"]),
            note=bucket_words(bucket, trend),
        )
        for bucket in chart["buckets"]
    ]
    charted = sum(bucket["sales"] for bucket in chart["buckets"])
    description = (
        f"Each {BUCKET_WORDS[period]} {PERIOD_WORDS[period]}: the last unit price paid in {paid} per {symbol} (line) and the "
        f"volume paid in {paid} (bars). {_sales(charted)} in {paid}."
        if chart["price_type"] else f"No sales {PERIOD_WORDS[period]}."
    )
    return price_volume_chart(
        buckets,
        title=f"{symbol}: price and volume {PERIOD_WORDS[period]}",
        description=description,
        price_caption=f"Price ({paid} per {symbol})" if paid else "Price",
        volume_caption=f"Volume ({paid})" if paid else "Volume",
        chart_id=f"trend-{trend['type']}",
        empty_text=f"No sales {PERIOD_WORDS[period]}",
    )


def _periods(base: str, current: str, keep: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "words": words, "href": f"{base}?{urlencode({**keep, 'period': name})}", "current": name == current}
        for name, words in PERIOD_LINKS.items()
    ]


@page
async def trends_page(request: web.Request) -> web.StreamResponse:
    ctx = request[CTX]
    period = request.query.get("period", "day")
    number = request.query.get("page", "1")
    listed = await REGISTRY.call(ctx, "trends.list", {"period": period, "page": number, "page_size": page_size(ctx)})
    return render(
        request, "trends.html.j2", items=listed.items, period=period, period_words=PERIOD_WORDS[period],
        periods=_periods("/trends", period, {}), page_number=listed.page,
        next_href=f"/trends?{urlencode({'period': period, 'page': listed.page + 1})}" if listed.has_next else None,
        previous_href=f"/trends?{urlencode({'period': period, 'page': listed.page - 1})}" if listed.page > 1 else None,
    )


@page
async def trend_page(request: web.Request) -> web.StreamResponse:
    ctx = request[CTX]
    data = {"type": request.match_info["type"], "period": request.query.get("period", "day")}
    if request.query.get("price_type"):
        data["price_type"] = request.query["price_type"]
    trend = await REGISTRY.call(ctx, "trends.get", data)
    period, base = trend["period"], f"/trends/{trend['type']}"
    keep = {"price_type": data["price_type"]} if "price_type" in data else {}
    payment_links = [
        {"symbol": payment["symbol"], "href": f"{base}?{urlencode({'period': period, 'price_type': payment['price_type']})}",
         "current": payment["price_type"] == trend["chart"]["price_type"]}
        for payment in trend["payments"]
    ]
    rows = [{**bucket, "words": _span(bucket, period, zone="")} for bucket in trend["chart"]["buckets"] if bucket["sales"]]
    recent = [{**sale, "when": _when(sale["at"])} for sale in trend["recent"]]
    return render(
        request, "trends_type.html.j2", trend=trend, period_words=PERIOD_WORDS[period], periods=_periods(base, period, keep),
        payment_links=payment_links, chart=Markup(trend_chart(trend)), rows=rows, bucket_word=BUCKET_WORDS[period],
        recent=recent, last_sale=_when(trend["last_sale_at"]) if trend["last_sale_at"] else "",
    )
