"""The Delegations page: who may act for you (and for whom you may act), grant and revoke."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, redirect, render, require_signed_in

__all__ = ["delegations_page", "grant_delegation", "revoke_delegation"]

PATH = "/app/delegations"


async def _page(
    request: web.Request,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    given = await REGISTRY.call(ctx, "delegations.list", {"role": "grantor", "page_size": 50})
    received = await REGISTRY.call(ctx, "delegations.list", {"role": "delegate", "page_size": 50})
    return render(
        request,
        "delegations.html.j2",
        status=status,
        given=given.items,
        received=received.items,
        values=values or {"scopes": ["read"]},
        errors=errors or {},
        error=error,
    )


@page
async def delegations_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _page(request)


@page
async def grant_delegation(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await request.post()
    scopes = [value for value in form.getall("scopes", []) if isinstance(value, str)]
    to = str(form.get("to", "")).strip()
    expires = str(form.get("expires_at", "")).strip()
    data: dict[str, Any] = {"to": to, "scopes": scopes}
    if expires:
        data["expires_at"] = expires
    try:
        created = await call(request, "delegations.grant", data)
    except FormError as error:
        fields = {name.split(".")[0]: message for name, message in error.fields.items()}
        values = {"to": to, "scopes": scopes, "expires_at": expires}
        return await _page(
            request, values=values, errors=fields, error="" if fields else error.general, status=error.status
        )
    raise redirect(PATH, f"{created['delegate']} may now act for you ({', '.join(created['scopes'])}).")


@page
async def revoke_delegation(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    try:
        await call(request, "delegations.revoke", {"id": request.match_info["id"]})
    except FormError as error:
        raise redirect(PATH, error.problem.detail) from None
    raise redirect(PATH, "Delegation ended.")
