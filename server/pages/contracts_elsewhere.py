"""Contracts held on other servers: accept an offer by its address, see what each contract's
server last said about it, and pay what is due there (federation/remote_contracts.py).

The contract lives on the licensor's server; this page shows our record of it and sends the
requests in the signed-in person's name. No JavaScript.
"""

from __future__ import annotations

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = ["accept_elsewhere", "contracts_elsewhere_page", "pay_elsewhere"]

ELSEWHERE = "/app/remote-contracts"


async def _page(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    held = await REGISTRY.call(ctx, "contracts.remote.list", {"page_size": page_size(ctx)})
    values = values or {"offer": request.query.get("offer", "")}
    return render(request, "contracts_elsewhere.html.j2", status=status, contracts=held.items, values=values,
                  errors=errors or {}, error=error)


@page
async def contracts_elsewhere_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _page(request)


@page
async def accept_elsewhere(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {"offer": form.get("offer", "").strip()}
    try:
        await call(request, "contracts.remote.accept", values)
    except FormError as error:
        general = error.general if not error.fields else "; ".join(error.fields.values())
        return await _page(request, values=values, errors=error.fields, error=general, status=error.status)
    raise redirect(ELSEWHERE, "You hold the contract now: name that server's type as a parent of your new types.")


@page
async def pay_elsewhere(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    try:
        paid = await call(request, "contracts.remote.pay", {"contract": form.get("contract", "").strip()})
    except FormError as error:
        return await _page(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(ELSEWHERE, f"Paid: the contract is {paid['state'].replace('_', ' ')} now.")
