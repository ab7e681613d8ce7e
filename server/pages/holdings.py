"""Units held on other servers: a page per holding (its outputs, give onward and burn), your
gives onward with their state, and the trace of a remote entry fetched from its origin.

Every form posts to the operations the API uses (`ledger.give`/`ledger.burn` with the type's
URL, federation/onward.py): the origin decides, so its refusal is shown in its own words, and
a give that waits for an origin that is away says when it is tried again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from models.errors import NotFound
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = ["holding_page", "holding_action", "remote_gives_page", "remote_trace_page"]

GIVES_SHOWN = 10  # gives onward of one holding listed on its page
GIVES_PAGE_SIZE = 20
_FIELDS = {
    "give": ("ledger.give", ("amount", "to", "from_operation", "description")),
    "burn": ("ledger.burn", ("amount", "from_operation", "description")),
}
_FIELD_OF_CODE = {
    "actor-not-found": "to",
    "remote-actor-unknown": "to",
    "remote-actor-unavailable": "to",
    "self-give": "to",
    "source-not-found": "from_operation",
    "invalid-amount": "amount",
}
STATES = {
    "pending": "waiting for the origin",
    "done": "done",
    "refused": "refused by the origin",
    "failed": "failed",
}


def holding_path(type_uri: str) -> str:
    return "/app/holdings?" + urlencode({"type": type_uri})


def clock(timestamp: str | None) -> str:
    """HH:MM (UTC) of an ISO timestamp, for "we will try again at 14:05"."""
    if not timestamp:
        return "soon"
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).strftime("%H:%M UTC")
    except ValueError:
        return timestamp


def waiting_words(give: dict[str, Any]) -> str:
    return f"waiting for {give['origin']}: we will try again at {clock(give.get('next_try_at'))}"


def _gives_view(give: dict[str, Any]) -> dict[str, Any]:
    """A give onward with its state in words."""
    words = STATES.get(give["state"], give["state"])
    if give["state"] == "pending":
        words = waiting_words(give)
    problem = give.get("problem") or {}
    reason = str(problem.get("detail") or "") if give["state"] in ("refused", "failed") else ""
    return {**give, "words": words, "reason": reason}


async def _holding(request: web.Request, type_uri: str) -> dict[str, Any]:
    held = await REGISTRY.call(request[CTX], "federation.holdings", {})
    for item in held["items"]:
        if item["type"] == type_uri:
            return dict(item)
    raise NotFound("you hold no units of that type", code="type-not-found")


async def _holding_page(
    request: web.Request,
    type_uri: str,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    holding = await _holding(request, type_uri)
    listed = await REGISTRY.call(ctx, "ledger.remote_gives.list", {"page_size": page_size(ctx, GIVES_PAGE_SIZE)})
    gives = [_gives_view(give) for give in listed.items if give["type"] == type_uri][:GIVES_SHOWN]
    return render(
        request, "holding.html.j2", status=status, holding=holding, gives=gives,
        errors=errors or {}, values=values or {}, trace_path=trace_path,
    )


def trace_path(entry: str) -> str:
    return "/app/remote-trace?" + urlencode({"entry": entry})


@page
async def holding_page(request: web.Request) -> web.StreamResponse:
    """One holding of another server's type: outputs, what was given onward or burnt, the forms."""
    require_signed_in(request)
    return await _holding_page(request, request.query.get("type", "").strip())


@page
async def holding_action(request: web.Request) -> web.StreamResponse:
    """Give onward or burn: asked of the origin; its refusal shown on the form, in its words."""
    require_signed_in(request)
    action = request.match_info["action"]
    operation, fields = _FIELDS[action]
    form = await read_form(request)
    type_uri = form.get("type", "").strip()
    data: dict[str, Any] = {key: form[key].strip() for key in fields if form.get(key, "").strip()}
    if "from_operation" not in data:
        data["type"] = type_uri
    if form.get("all"):
        data["all"] = True
    try:
        done = await call(request, operation, data)
    except FormError as error:
        fields_shown = dict(error.fields)
        if "body" in fields_shown:
            fields_shown["_form"] = fields_shown.pop("body")
        field = _FIELD_OF_CODE.get(error.problem.code)
        if field and field not in fields_shown:
            fields_shown[field] = error.problem.detail
        form_id = form.get("form", action)
        errors = {form_id: fields_shown or {"_form": error.general}}
        return await _holding_page(request, type_uri, errors=errors, values={form_id: form}, status=error.status)
    symbol = done.get("symbol") or ""
    if done["state"] == "pending":
        words = f"{'Give' if action == 'give' else 'Burn'} of {done['amount']} {symbol}: {waiting_words(done)}."
        raise redirect("/app/remote-gives", words)
    verb = f"Gave {done['amount']} {symbol} to {done['to']}" if action == "give" else f"Burnt {done['amount']} {symbol}"
    raise redirect(holding_path(done["type"]), f"{verb}: recorded by {done['origin']}.")


@page
async def remote_gives_page(request: web.Request) -> web.StreamResponse:
    """Your gives and burns of units held on other servers, newest first, with their state."""
    require_signed_in(request)
    ctx = request[CTX]
    query: dict[str, Any] = {"page_size": page_size(ctx, GIVES_PAGE_SIZE)}
    state = request.query.get("state", "")
    if state in STATES:
        query["state"] = state
    if request.query.get("cursor"):
        query["cursor"] = request.query["cursor"]
    try:
        listed = await call(request, "ledger.remote_gives.list", query)
    except FormError as error:
        return render(request, "remote_gives.html.j2", status=error.status, gives=[], next=None, state=state,
                      states=STATES, error=error.general, holding_path=holding_path, trace_path=trace_path)
    following = None
    if listed.next_cursor:
        following = "/app/remote-gives?" + urlencode({**({"state": state} if state in STATES else {}),
                                                       "cursor": listed.next_cursor})
    return render(request, "remote_gives.html.j2", gives=[_gives_view(give) for give in listed.items],
                  next=following, state=state, states=STATES, error="", holding_path=holding_path, trace_path=trace_path)


@page
async def remote_trace_page(request: web.Request) -> web.StreamResponse:
    """The trace of an entry on another server, fetched from it and checked here."""
    require_signed_in(request)
    entry = request.query.get("entry", "").strip()
    traced, error, status = None, "", 200
    if entry:
        try:
            traced = await call(request, "ledger.remote_trace", {"entry": entry})
        except FormError as refused:
            error, status = refused.problem.detail, refused.status
    return render(request, "remote_trace.html.j2", status=status, entry=entry, traced=traced, error=error,
                  holding_path=holding_path)
