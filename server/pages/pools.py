"""The pool pages (issue 18): my pools and a form to make one, a pool's page (its capacity bar,
sub-pools, batches and reservations, with forms to assign a batch, reserve, claim, cancel and
split off a sub-pool) and my reservations. They call the pools operations as the API does."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Segment, stacked_bar
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .pictures import supply_picture
from .wording import period

__all__ = [
    "pool_reservations_page","act", "create_pool", "my_pools_page", "my_reservations_page", "pool_page"]

MINE = "/app/pools"
RESERVATIONS = "/app/pools/reservations"
GENERATED, RESERVED, FREE = "#1f5fa8", "#e0a030", "#d6dbe1"  # the bar's colours: made, promised, left


def capacity_bar(pool: dict[str, Any]) -> str:
    """The pool's capacity as one bar: generated, reserved (reservations and scheduled batches), free."""
    totals = pool["totals"]
    segments = [
        Segment("generated", Decimal(totals["generated"]), GENERATED),
        Segment("reserved", Decimal(totals["reserved"]), RESERVED),
        Segment("free", Decimal(totals["free"]), FREE),
    ]
    words = f"{totals['generated']} generated, {totals['reserved']} reserved and {totals['free']} free of {pool['capacity']} {pool['symbol']}"
    return stacked_bar(segments, title=f"Capacity of {pool['name']}", description=words, unit=pool["symbol"])


async def _mine(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    owner = ctx.require_actor()
    pools = await REGISTRY.call(ctx, "pools.list", {"owner": owner.username, "page_size": page_size(ctx)})
    return render(request, "pools.html.j2", status=status, pools=pools.items, values=values or {}, errors=errors or {}, error=error)


@page
async def my_pools_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _mine(request, values={"type": request.query.get("type", "")})


_POOL_FIELDS = ("type", "name", "capacity", "max_per_user")


def _people(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", " ").split() if part.strip()]


def _rules(form: dict[str, str], data: dict[str, Any]) -> None:
    """Who may reserve: anyone, or the people named."""
    listed = _people(form.get("listed", ""))
    if listed:
        data["reservers"], data["listed"] = "listed", listed


@page
async def create_pool(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in (*_POOL_FIELDS, "template", "listed", "no_resale")}
    data: dict[str, Any] = {name: values[name] for name in _POOL_FIELDS if values[name]}
    data["no_resale"] = values["no_resale"] == "on"
    _rules(values, data)
    if values["template"]:  # "name = value", one a line: text values (the API takes any JSON)
        pairs = [line.split("=", 1) for line in values["template"].splitlines() if "=" in line]
        data["template"] = {name.strip(): value.strip() for name, value in pairs}
    try:
        made = await call(request, "pools.create", data)
    except FormError as problem:
        fields = {name.split(".")[0]: message for name, message in problem.fields.items()}
        return await _mine(request, values=values, errors=fields, error=problem.general if not fields else "", status=problem.status)
    raise redirect(f"/app/pools/{made['id']}", "Pool made. Assign batches or let people reserve from it.")


async def _pool_page(request: web.Request, *, error: str = "", errors: dict[str, str] | None = None,
                     values: dict[str, str] | None = None, status: int = 200) -> web.Response:
    ctx = request[CTX]
    pool = await REGISTRY.call(ctx, "pools.get", {"id": request.match_info["id"]})
    for batch in pool["batches"]:
        batch["every"] = period(batch["period"])
    try:  # what the pool makes counts against its type's supply: its gauge beside the pool's own bar
        supply = supply_picture(await REGISTRY.call(ctx, "types.get", {"id": pool["type"]}))
    except DomainError:
        supply = None
    return render(
        request, "pool.html.j2", status=status, pool=pool, bar=Markup(capacity_bar(pool)), supply=supply, error=error,
        errors=errors or {}, values=values or {},
    )


@page
async def pool_page(request: web.Request) -> web.StreamResponse:
    return await _pool_page(request)


_ACTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "batches": ("pools.batches.create", ("to", "quantity", "batch_size", "period"), "Batch assigned."),
    "reserve": ("pools.reservations.create", ("quantity",), "Reserved. The pool's owner generates it for you before it expires."),
    "subpools": ("pools.subpools.create", ("name", "capacity", "owner", "max_per_user"), "Sub-pool made."),
    "claim": ("pools.reservations.claim", (), "Generated for the reserver."),
    "cancel": ("pools.reservations.cancel", (), "Reservation cancelled; its quantity is free again."),
}


@page
async def act(request: web.Request) -> web.StreamResponse:
    """A form on the pool page: one operation, then back to the page (or the page with the errors)."""
    require_signed_in(request)
    action = request.match_info["action"]
    operation, names, done = _ACTIONS[action]
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in (*names, "listed", "hours")}
    data: dict[str, Any] = {"id": request.match_info["id"]}
    data |= {name: values[name] for name in names if values[name]}
    if "period" in data:  # asked in hours on the form, seconds in the API
        data["period"] = int(float(data["period"]) * 3600) if data["period"].replace(".", "", 1).isdigit() else data["period"]
    if action == "reserve" and values["hours"]:
        data["expires_in"] = int(float(values["hours"]) * 3600) if values["hours"].replace(".", "", 1).isdigit() else values["hours"]
    if action == "subpools":
        _rules(values, data)
    if "reservation" in request.match_info:
        data["reservation"] = request.match_info["reservation"]
    back = form.get("back") == "reservations"
    try:
        await call(request, operation, data, {"expires_in": "hours"})
    except FormError as problem:
        if back:
            return await _reservations(request, error=problem.general or "; ".join(problem.fields.values()), status=problem.status)
        general = problem.general if not problem.fields else "; ".join(problem.fields.values())
        return await _pool_page(request, error=general, errors=problem.fields, values=values,
                                status=problem.status)
    raise redirect(RESERVATIONS if back else f"/app/pools/{request.match_info['id']}", done)


async def _reservations(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    listing: dict[str, Any] = {"page_size": page_size(ctx)}
    if request.query.get("cursor"):
        listing["cursor"] = request.query["cursor"]
    mine = await REGISTRY.call(ctx, "pools.reservations.mine", listing)
    older = f"{RESERVATIONS}?{urlencode({'cursor': mine.next_cursor})}" if mine.next_cursor else None
    return render(request, "pool_reservations.html.j2", status=status, reservations=mine.items, error=error, older=older, pool=None)


@page
async def pool_reservations_page(request: web.Request) -> web.StreamResponse:
    """Every reservation of one pool, page by page: all of them for its owners, yours otherwise
    (the pool's page shows the newest fifty)."""
    require_signed_in(request)
    ctx = request[CTX]
    pool_id = request.match_info["id"]
    pool = await REGISTRY.call(ctx, "pools.get", {"id": pool_id})
    listing: dict[str, Any] = {"id": pool_id, "page_size": page_size(ctx)}
    if request.query.get("cursor"):
        listing["cursor"] = request.query["cursor"]
    found = await REGISTRY.call(ctx, "pools.reservations.list", listing)
    older = f"/app/pools/{pool_id}/reservations?{urlencode({'cursor': found.next_cursor})}" if found.next_cursor else None
    return render(request, "pool_reservations.html.j2", reservations=found.items, pool=pool, older=older, error="")


@page
async def my_reservations_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _reservations(request)
