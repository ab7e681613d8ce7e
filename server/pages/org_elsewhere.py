"""Proposals of organizations on other servers that you are a member of, with a vote form.

They reach us as `Question`s addressed to you (federation/org_votes.py keeps a copy); a vote is
`organizations.remote.vote`, a signed Note to the organization's server, which counts it with
the shares you held when the proposal opened. The tally and outcome arrive when it is decided.
No JavaScript: one small form per open proposal.
"""

from __future__ import annotations

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = ["proposals_elsewhere_page", "vote_elsewhere"]

ELSEWHERE = "/app/proposals-elsewhere"


async def _page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    listed = await REGISTRY.call(ctx, "organizations.remote.list", {"page_size": page_size(ctx)})
    return render(request, "org_elsewhere.html.j2", status=status, proposals=listed.items, error=error)


@page
async def proposals_elsewhere_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _page(request)


@page
async def vote_elsewhere(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    data = {name: form.get(name, "").strip() for name in ("proposal", "choice")}
    try:
        await call(request, "organizations.remote.vote", data)
    except FormError as error:
        general = error.general if not error.fields else "; ".join(error.fields.values())
        return await _page(request, error=general, status=error.status)
    raise redirect(ELSEWHERE, f"Your vote ({data['choice']}) is on its way to the organization's server.")
