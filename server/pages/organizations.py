"""The organization pages (issue 19): an organization's profile with its wallet and members,
and one proposal with its chain, deadline, tally (a bar of yes / no / abstain shares) and a
vote form for its voters.

They call the organizations operations as the API does (models/operations/organizations.py);
no JavaScript.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web
from markupsafe import Markup

from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Segment, stacked_bar
from .base import FormError, call, page, read_form, redirect, render, require_signed_in

__all__ = ["organization_page", "proposal_page", "vote"]

YES, NO, ABSTAIN, UNCAST = "#2e7d32", "#c62828", "#9e9e9e", "#e6e9ed"  # the tally bar's colours


def tally_bar(proposal: dict[str, Any]) -> str:
    """The proposal's shares as one bar: yes, no, abstain, and not (yet) cast."""
    counted = {name: Decimal(proposal["tally"][name]) for name in ("yes", "no", "abstain")}
    uncast = max(Decimal(proposal["total_shares"]) - sum(counted.values()), Decimal(0))
    segments = [
        Segment("yes", counted["yes"], YES), Segment("no", counted["no"], NO),
        Segment("abstain", counted["abstain"], ABSTAIN), Segment("not cast", uncast, UNCAST),
    ]
    words = (f"{proposal['tally']['yes']} yes, {proposal['tally']['no']} no, {proposal['tally']['abstain']} abstain "
             f"of {proposal['total_shares']} shares; quorum {proposal['quorum_percent']}%")
    return stacked_bar(segments, title=f"Votes on {proposal['title']}", description=words, unit="shares")


@page
async def organization_page(request: web.Request) -> web.StreamResponse:
    ctx = request[CTX]
    name = request.match_info["name"]
    organization = await REGISTRY.call(ctx, "organizations.get", {"name": name})
    me = ctx.user.username if ctx.user is not None else None
    member = any(row["username"] == me for row in organization["members"])
    proposals = (await REGISTRY.call(ctx, "organizations.proposals.list", {"name": name, "page_size": 20})).items if member else []
    return render(request, "organization.html.j2", organization=organization, proposals=proposals, member=member)


async def _proposal_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    name, proposal_id = request.match_info["name"], request.match_info["id"]
    proposal = await REGISTRY.call(ctx, "organizations.proposals.get", {"name": name, "id": proposal_id})
    me = ctx.user.username if ctx.user is not None else None
    mine = next((row for row in proposal.get("voters") or [] if row["username"] == me), None)
    return render(
        request, "proposal.html.j2", status=status, proposal=proposal, bar=Markup(tally_bar(proposal)), mine=mine,
        error=error,
    )


@page
async def proposal_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _proposal_page(request)


@page
async def vote(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    name, proposal_id = request.match_info["name"], request.match_info["id"]
    form = await read_form(request)
    try:
        await call(request, "organizations.proposals.vote", {"name": name, "id": proposal_id, "choice": form.get("choice", "")})
    except FormError as error:
        return await _proposal_page(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(f"/app/organizations/{name}/proposals/{proposal_id}", "Your vote is counted.")
