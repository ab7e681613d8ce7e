"""The contract pages (issue 18): a type's licensing panel (policy, offers, make or accept an
offer), my contracts as licensor and licensee, and one contract with its payment timeline,
pay and cancel buttons, and an admin's terms change or end.

They call the contract operations as the API does (models/operations/contracts.py); no JavaScript.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from markupsafe import Markup

from models.actors import Role
from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Mark, timeline
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = [
    "accept", "act", "admin_change", "contract_page", "licensing_panel", "make_offer", "my_contracts_page",
    "offer_page", "payment_timeline", "set_licensing", "withdraw_offer",
]

MINE = "/app/contracts"
DAY = 86400
_OFFER_FIELDS = ("title", "payment_type", "price_per_type", "rate_per_unit", "fee", "penalty", "cancel_by", "expires_at")
_DAY_FIELDS = ("period_days", "notice_days", "grace_days")  # asked in days on the form, seconds in the API
_COUNT_FIELDS = ("max_types", "max_units_per_period")
_ADMIN_FIELDS = ("price_per_type", "rate_per_unit", "fee", "penalty", "cancel_by")


async def licensing_panel(request: web.Request, type_view: dict[str, Any]) -> dict[str, Any]:
    """What the type page shows about licensing: the policy, how each parent is used, the offers."""
    ctx = request[CTX]
    offers = await REGISTRY.call(ctx, "contracts.offers.list", {"type": type_view["id"], "page_size": page_size(ctx, 20)})
    return {"offers": offers.items, "links": type_view["parent_links"], "policy": type_view["licensing"]}


def _days(form: dict[str, str], data: dict[str, Any]) -> None:
    for name in _DAY_FIELDS:
        text = form.get(name, "").strip()
        if text:
            seconds = name.replace("_days", "_seconds")
            data[seconds] = int(float(text) * DAY) if text.replace(".", "", 1).isdigit() else text


def _counts(form: dict[str, str], data: dict[str, Any]) -> None:
    for name in _COUNT_FIELDS:
        text = form.get(name, "").strip()
        if text:
            data[name] = int(text) if text.isdigit() else text


def _moment(data: dict[str, Any]) -> None:
    if len(data.get("expires_at", "")) == 16:  # datetime-local: minutes, no zone; taken as UTC
        data["expires_at"] += ":00Z"


@page
async def set_licensing(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    type_id = request.match_info["id"]
    form = await read_form(request)
    try:
        await call(request, "types.update", {"id": type_id, "licensing": form.get("licensing", "")})
    except FormError as error:
        raise redirect(f"/app/types/{type_id}", error.general or "; ".join(error.fields.values())) from None
    raise redirect(f"/app/types/{type_id}", "Licensing changed.")


@page
async def make_offer(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    type_id = request.match_info["id"]
    form = await read_form(request)
    data: dict[str, Any] = {"type": type_id}
    data.update({name: form[name].strip() for name in _OFFER_FIELDS if form.get(name, "").strip()})
    listed = [part for part in form.get("listed", "").replace(",", " ").split() if part]
    groups = [part for part in form.get("groups", "").replace(",", " ").split() if part]
    if listed or groups:
        data.update(takers="listed", **({"listed": listed} if listed else {}), **({"groups": groups} if groups else {}))
    _days(form, data)
    _counts(form, data)
    _moment(data)
    try:
        await call(request, "contracts.offers.create", data)
    except FormError as error:
        raise redirect(f"/app/types/{type_id}#licensing", error.general or "; ".join(error.fields.values())) from None
    raise redirect(f"/app/types/{type_id}#licensing", "Offer published.")


@page
async def accept(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    try:
        made = await call(request, "contracts.accept", {"offer": form.get("offer", "")})
    except FormError as error:
        raise redirect(MINE, error.general or "; ".join(error.fields.values())) from None
    raise redirect(f"{MINE}/{made['id']}", "Contract made: you may now derive types from this one.")


_MARK_KINDS = {"cancelled": "ended"}  # an outcome's colour on the timeline, where it differs from its name


def payment_timeline(contract: dict[str, Any]) -> str:
    """The contract's steps as a picture: one mark per step, by its outcome (paid, missed,
    suspended, ended ...) or "due" while it waits; the list beside it says the same in words."""
    symbol = contract.get("payment_symbol") or ""
    marks = []
    for step in contract["steps"]:
        outcome = step["outcome"] or ("due" if step["state"] == "pending" else step["state"])
        amount = f" of {step['amount']} {symbol}".rstrip() if step["amount"] is not None else ""
        words = f"{step['due_at']}: {step['kind'].replace('_', ' ')}{amount} — {outcome.replace('-', ' ')}"
        marks.append(Mark(
            at=datetime.fromisoformat(step["due_at"]), label=outcome.replace("-", " "),
            kind=_MARK_KINDS.get(outcome, outcome), note=words,
        ))
    done = sum(1 for step in contract["steps"] if step["outcome"] == "paid")
    missed = sum(1 for step in contract["steps"] if step["outcome"] == "missed")
    description = f"{len(marks)} steps, oldest left: {done} paid, {missed} missed; the list below says each in words."
    return timeline(marks, title=f"Payment timeline of the contract on {contract['type_symbol']}",
                    description=description, empty_text="Nothing has fallen due yet")


async def _contract_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    contract = await REGISTRY.call(ctx, "contracts.get", {"id": request.match_info["id"]})
    me = ctx.actor.handle(ctx.site.domain) if ctx.actor is not None else None
    side = "licensee" if contract["licensee"] == me else "licensor" if contract["licensor"] == me else None
    may_cancel = side is not None and contract["cancel_by"] in (side, "either")
    return render(
        request, "contract.html.j2", status=status, contract=contract, side=side, may_cancel=may_cancel,
        timeline_svg=Markup(payment_timeline(contract)),
        is_admin=ctx.has_role(Role.ADMIN), error=error, live=contract["state"] in ("active", "in_arrears", "suspended"),
    )


@page
async def contract_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _contract_page(request)


_ACTIONS = {
    "pay": ("contracts.pay", "Paid: nothing is in arrears."),
    "cancel": ("contracts.cancel", "Notice given."),
    "end": ("contracts.admin.end", "The contract has ended."),
}


@page
async def act(request: web.Request) -> web.StreamResponse:
    """Pay, cancel, or (admin) end a contract."""
    require_signed_in(request)
    operation, done = _ACTIONS[request.match_info["action"]]
    form = await read_form(request)
    data: dict[str, Any] = {"id": request.match_info["id"]}
    if operation == "contracts.admin.end":
        data["reason"] = form.get("reason", "")
    try:
        await call(request, operation, data)
    except FormError as error:
        return await _contract_page(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(f"{MINE}/{request.match_info['id']}", done)


@page
async def admin_change(request: web.Request) -> web.StreamResponse:
    """An admin changes a contract's terms, with a reason."""
    require_signed_in(request)
    form = await read_form(request)
    data: dict[str, Any] = {"id": request.match_info["id"], "reason": form.get("reason", "")}
    data.update({name: form[name].strip() for name in _ADMIN_FIELDS if form.get(name, "").strip()})
    _days(form, data)
    _counts(form, data)
    try:
        await call(request, "contracts.admin.update", data)
    except FormError as error:
        return await _contract_page(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(f"{MINE}/{request.match_info['id']}", "Terms changed; both parties are told.")


@page
async def my_contracts_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    ctx = request[CTX]
    held = await REGISTRY.call(ctx, "contracts.list", {"role": "licensee", "page_size": page_size(ctx)})
    granted = await REGISTRY.call(ctx, "contracts.list", {"role": "licensor", "page_size": page_size(ctx)})
    return render(request, "contracts.html.j2", held=held.items, granted=granted.items)


@page
async def offer_page(request: web.Request) -> web.StreamResponse:
    """One offer's terms in words: its licensor may withdraw it, others may accept it."""
    ctx = request[CTX]
    offer = await REGISTRY.call(ctx, "contracts.offers.get", {"id": request.match_info["id"]})
    mine = ctx.actor is not None and offer["licensor"] == ctx.actor.handle(ctx.site.domain)
    return render(request, "offer.html.j2", offer=offer, mine=mine)


@page
async def withdraw_offer(request: web.Request) -> web.StreamResponse:
    """The licensor withdraws an offer: nobody may accept it any more; contracts made stay."""
    require_signed_in(request)
    offer_id = request.match_info["id"]
    try:
        offer = await call(request, "contracts.offers.withdraw", {"id": offer_id})
    except FormError as error:
        raise redirect(f"/app/offers/{offer_id}", error.general or "; ".join(error.fields.values())) from None
    raise redirect(f"/app/types/{offer['type']}#licensing", "Offer withdrawn: nobody can accept it now.")
