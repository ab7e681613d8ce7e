"""The market across servers: lots of the people you follow elsewhere, and your bids on them.

A lot of another server reaches us as a `Proposal` when its seller is followed here (the inbox
keeps a copy); any lot's URL can be pasted too. A bid is `market.remote_bids.place`: the lot's
server holds the payment before the bid counts (federation/remote_bids.py). No JavaScript.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = ["bid_elsewhere", "elsewhere_page"]

ELSEWHERE = "/app/market/elsewhere"


def _asked(document: dict[str, Any]) -> str:
    quantity = (document.get("reciprocal") or {}).get("resourceQuantity") or {}
    return str(quantity.get("hasNumericalValue") or "")


def _followed_lots(items: list[Any]) -> list[dict[str, Any]]:
    """The open lots among the copies we keep, as rows for the page."""
    rows = []
    for item in items:
        document = item["document"] if isinstance(item, dict) else {}
        if document.get("lotState") != "open":
            continue
        rows.append({
            "id": document.get("id"), "name": document.get("name") or document.get("id"), "kind": document.get("lotKind"),
            "seller": item.get("owner") or document.get("attributedTo"), "asked": _asked(document),
            "closes": document.get("endTime"), "page": document.get("url") or document.get("id"),
        })
    return rows


async def _page(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    bids = await REGISTRY.call(ctx, "market.remote_bids.list", {"page_size": page_size(ctx)})
    copies = await REGISTRY.call(ctx, "federation.remote_objects", {"type": "Proposal", "page_size": page_size(ctx)})
    values = values or {"lot": request.query.get("lot", "")}
    return render(
        request, "market_elsewhere.html.j2", status=status, bids=bids.items, lots=_followed_lots(copies.items),
        values=values, errors=errors or {}, error=error,
    )


@page
async def elsewhere_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _page(request)


@page
async def bid_elsewhere(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in ("lot", "amount", "max_amount")}
    data = {name: value for name, value in values.items() if value}
    try:
        placed = await call(request, "market.remote_bids.place", data)
    except FormError as error:
        general = error.general if not error.fields else "; ".join(error.fields.values())
        return await _page(request, values=values, errors=error.fields, error=general, status=error.status)
    if placed["state"] == "pending":
        raise redirect(ELSEWHERE, "Your bid is on its way: the lot's server is not answering now; we keep trying.")
    raise redirect(ELSEWHERE, "Your bid is placed; its payment is held by the lot's server until the lot ends.")
