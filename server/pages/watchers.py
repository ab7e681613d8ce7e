"""My watchers (issue 19, item 5): the list with each watcher's last firings, a form to make one,
and buttons to turn one on or off and to delete it. They call the watchers operations as the
API does; a watcher's chain is made through the API only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = ["act", "create_watcher", "my_watchers_page"]

MINE = "/app/watchers"
_QUERY_FIELDS = ("set", "attribute", "pattern", "type", "actor", "above", "below", "within_minutes")
_FIELDS = ("name", "kind", "fire_on", "every_minutes", "expires_at", *_QUERY_FIELDS)


async def _mine(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    watchers = await REGISTRY.call(ctx, "watchers.list", {"page_size": page_size(ctx)})
    for watcher in watchers.items:
        watcher["firings"] = (await REGISTRY.call(ctx, "watchers.firings", {"id": watcher["id"]}))["items"][:3]
    return render(request, "watchers.html.j2", status=status, watchers=watchers.items,
                  values=values or {"kind": "balance", "fire_on": "hit", "every_minutes": "5"}, errors=errors or {}, error=error)


@page
async def my_watchers_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _mine(request)


def _query(values: dict[str, str]) -> dict[str, Any]:
    """The query for the kind chosen: only the fields that kind reads, as the API takes them."""
    kind, query = values["kind"], dict[str, Any]()
    wanted = {"tokens": ("set",), "balance": ("type", "actor", "above", "below"), "ledger": ("type", "actor"),
              "lots": ("type", "within_minutes")}.get(kind, ())
    for name in wanted:
        if values[name]:
            query[name] = int(values[name]) if name == "within_minutes" and values[name].isdigit() else values[name]
    if kind == "tokens" and (values["attribute"] or values["pattern"]):
        query["filters"] = [{"attribute": values["attribute"], "op": "regex", "pattern": values["pattern"]}]
    return query


@page
async def create_watcher(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in _FIELDS}
    data: dict[str, Any] = {"name": values["name"], "kind": values["kind"], "fire_on": values["fire_on"] or "hit",
                            "query": _query(values)}
    minutes = values["every_minutes"]
    data["every_seconds"] = int(float(minutes) * 60) if minutes.replace(".", "", 1).isdigit() else minutes
    if values["expires_at"]:
        data["expires_at"] = values["expires_at"]
    names = {"every_seconds": "every_minutes", "query.filters.0.pattern": "pattern", "query.filters.0.attribute": "attribute"}
    names |= {f"query.{name}": name for name in _QUERY_FIELDS}
    try:
        await call(request, "watchers.create", data, names)
    except FormError as problem:
        shown = {name: message for name, message in problem.fields.items() if name in _FIELDS}
        others = [message for name, message in problem.fields.items() if name not in _FIELDS]  # rules on the whole query
        general = "; ".join(others) or (problem.general if not shown else "")
        return await _mine(request, values=values, errors=shown, error=general, status=problem.status)
    raise redirect(MINE, "Watcher saved. It is checked from now on.")


_ACTIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "on": ("watchers.update", {"enabled": True}, "Watcher on: it is checked again from now."),
    "off": ("watchers.update", {"enabled": False}, "Watcher off: it is not checked until you turn it on."),
    "delete": ("watchers.delete", {}, "Watcher deleted."),
}


@page
async def act(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    operation, data, done = _ACTIONS[request.match_info["action"]]
    try:
        await call(request, operation, {"id": request.match_info["id"], **data})
    except FormError as problem:
        return await _mine(request, error=problem.general, status=problem.status)
    raise redirect(MINE, done)
