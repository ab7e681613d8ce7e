"""The network pages (issue 21): my networks and a form to make one; a network's page (its
entries, a form to make a subnetwork by a filter, a form to discover accounts); a discovery's
progress; my distributions with a form to make one, and a distribution's progress with its
allocations. They call the networks and distributions operations as the API does."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Segment, stacked_bar
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = [
    "create_distribution", "create_network", "discover", "discovery_page", "distribution_page", "distributions_page",
    "network_page", "networks_page", "subnetwork",
]

NETWORKS, DISTRIBUTIONS = "/app/networks", "/app/distributions"
ACTIVE = ("pending", "running")
CLAIMED, EXPIRED, HELD, LEFT = "#2e7d32", "#b3261e", "#1f5fa8", "#d6dbe1"


def _general(problem: FormError) -> str:
    return problem.general if not problem.fields else "; ".join(problem.fields.values())


# ---------------------------------------------------------------- networks


async def _networks(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                    error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    found = await REGISTRY.call(ctx, "networks.list", {"page_size": page_size(ctx)})
    return render(request, "networks.html.j2", status=status, networks=found.items, values=values or {},
                  errors=errors or {}, error=error)


@page
async def networks_page(request: web.Request) -> web.StreamResponse:
    """Your networks and subnetworks, and a form to make a network."""
    require_signed_in(request)
    return await _networks(request)


@page
async def create_network(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in ("name", "description")}
    try:
        made = await call(request, "networks.create", {name: value for name, value in values.items() if value})
    except FormError as problem:
        return await _networks(request, values=values, errors=problem.fields, error=problem.general, status=problem.status)
    raise redirect(f"{NETWORKS}/{made['id']}", "Network made. Discover accounts to fill it.")


async def _network(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                   error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    network_id = request.match_info["id"]
    network = await REGISTRY.call(ctx, "networks.get", {"id": network_id})
    listing: dict[str, Any] = {"id": network_id, "page_size": page_size(ctx)}
    if request.query.get("cursor"):
        listing["cursor"] = request.query["cursor"]
    entries = await REGISTRY.call(ctx, "networks.entries", listing)
    older = f"{NETWORKS}/{network_id}?{urlencode({'cursor': entries.next_cursor})}" if entries.next_cursor else None
    return render(request, "network.html.j2", status=status, network=network, entries=entries.items, older=older,
                  values=values or {"collections": "followers"}, errors=errors or {}, error=error)


@page
async def network_page(request: web.Request) -> web.StreamResponse:
    """A network: its entries, its discoveries, and forms to discover more and to filter a subnetwork."""
    require_signed_in(request)
    return await _network(request)


_FILTER_FIELDS = ("attribute", "op", "value", "min", "max", "pattern")


def _one_filter(values: dict[str, str]) -> dict[str, Any]:
    """The form's one filter as the API's: what the chosen comparison needs, numbers as numbers."""
    op = values["op"] or "eq"
    chosen: dict[str, Any] = {"attribute": values["attribute"], "op": op}
    if op == "eq":
        chosen["value"] = int(values["value"]) if values["value"].lstrip("-").isdigit() else values["value"]
    elif op == "range":
        chosen |= {name: values[name] for name in ("min", "max") if values[name]}
    else:
        chosen["pattern"] = values["pattern"]
    return chosen


@page
async def subnetwork(request: web.Request) -> web.StreamResponse:
    """Make a subnetwork of the entries that match a filter."""
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in ("name", *_FILTER_FIELDS)}
    data = {"id": request.match_info["id"], "name": values["name"], "filters": [_one_filter(values)]}
    try:
        made = await call(request, "networks.subnetwork", data)
    except FormError as problem:
        return await _network(request, values=values, errors=problem.fields, error=_general(problem), status=problem.status)
    raise redirect(f"{NETWORKS}/{made['id']}", f"Subnetwork made: {made['entry_count']} entries match.")


@page
async def discover(request: web.Request) -> web.StreamResponse:
    """Start a discovery from a handle; its page shows the progress."""
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in ("start", "collections")}
    collections = {"both": ["followers", "following"], "following": ["following"]}.get(values["collections"], ["followers"])
    try:
        made = await call(request, "networks.discover", {"id": request.match_info["id"], "start": values["start"],
                                                         "collections": collections})
    except FormError as problem:
        return await _network(request, values=values, errors=problem.fields, error=_general(problem), status=problem.status)
    raise redirect(f"/app/discoveries/{made['id']}", "Discovery started.")


@page
async def discovery_page(request: web.Request) -> web.StreamResponse:
    """A discovery's progress (the page refreshes itself while it reads), or how it ended."""
    require_signed_in(request)
    found = await REGISTRY.call(request[CTX], "networks.discoveries.get", {"id": request.match_info["id"]})
    return render(request, "discovery.html.j2", discovery=found, active=found["state"] in ACTIVE)


# ---------------------------------------------------------------- distributions


async def _distributions(request: web.Request, *, values: dict[str, str] | None = None,
                         errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    found = await REGISTRY.call(ctx, "distributions.list", {"page_size": page_size(ctx)})
    networks = await REGISTRY.call(ctx, "networks.list", {"page_size": page_size(ctx)})
    return render(request, "distributions.html.j2", status=status, distributions=found.items, networks=networks.items,
                  values=values or {"network": request.query.get("network", ""), "days": "30"}, errors=errors or {},
                  error=error)


@page
async def distributions_page(request: web.Request) -> web.StreamResponse:
    """Your distributions, and a form to make one."""
    require_signed_in(request)
    return await _distributions(request)


@page
async def create_distribution(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in ("network", "type", "amount", "name", "days")}
    data: dict[str, Any] = {name: values[name] for name in ("network", "type", "amount", "name") if values[name]}
    if values["days"]:
        data["expires_in"] = int(float(values["days"]) * 86_400) if values["days"].replace(".", "", 1).isdigit() else values["days"]
    try:
        made = await call(request, "distributions.create", data, {"expires_in": "days"})
    except FormError as problem:
        return await _distributions(request, values=values, errors=problem.fields, error=problem.general, status=problem.status)
    raise redirect(f"{DISTRIBUTIONS}/{made['id']}", "Distribution made: the units are held until each person claims them.")


def _allocation_bar(item: dict[str, Any]) -> Markup:
    held = item["allocated"] - item["claimed"] - item["expired"]
    left = item["entries"] - item["allocated"]
    words = (f"{item['claimed']} claimed, {item['expired']} expired, {held} waiting and {left} still to allocate, "
             f"of {item['entries']} entries")
    return Markup(stacked_bar(
        [Segment("claimed", Decimal(item["claimed"]), CLAIMED), Segment("expired", Decimal(item["expired"]), EXPIRED),
         Segment("waiting", Decimal(held), HELD), Segment("to allocate", Decimal(left), LEFT)],
        title=f"Allocations of {item['name']}", description=words,
    ))


@page
async def distribution_page(request: web.Request) -> web.StreamResponse:
    """A distribution: allocated so far (the page refreshes while it allocates), and each allocation's state."""
    require_signed_in(request)
    ctx = request[CTX]
    distribution_id = request.match_info["id"]
    found = await REGISTRY.call(ctx, "distributions.get", {"id": distribution_id})
    listing: dict[str, Any] = {"id": distribution_id, "page_size": page_size(ctx)}
    state = request.query.get("state", "all")
    if state in ("held", "claimed", "expired", "failed"):
        listing["state"] = state
    if request.query.get("cursor"):
        listing["cursor"] = request.query["cursor"]
    allocations = await REGISTRY.call(ctx, "distributions.allocations", listing)
    older = (f"{DISTRIBUTIONS}/{distribution_id}?{urlencode({'cursor': allocations.next_cursor, 'state': state})}"
             if allocations.next_cursor else None)
    return render(request, "distribution.html.j2", distribution=found, allocations=allocations.items, older=older,
                  bar=_allocation_bar(found), active=found["state"] in ACTIVE, state=state)
