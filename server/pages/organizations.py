"""The organization pages (issue 19): my organizations and a form to create one; an
organization's profile with its wallet and members (their shares drawn as bars), and for its
owner and admins the forms to add members, change roles, remove members (a confirm page, no
JavaScript) and issue shares; for its owner, the form that changes its rules (shares or M-of-N
signers), with the rule said in words.

They call the organizations operations as the API does (models/operations/organizations.py).
Proposals have their own pages (server/pages/proposals.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web
from markupsafe import Markup

from models.errors import NotFound
from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import ACCENT, Segment, share_rows
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .proposals import deadline_words
from .wording import period

__all__ = [
    "add_member", "change_role", "confirm_remove", "create_organization", "issue_shares", "my_organizations_page",
    "organization_page", "remove_member", "rule_words", "share_picture", "update_rules",
]

MINE = "/app/organizations"
DAY = 86400
MANAGERS = ("owner", "admin")
_CREATE_FIELDS = ("name", "display_name", "summary", "quorum_percent", "voting_days")


def _home(name: str) -> str:
    return f"{MINE}/{name}"


def share_picture(organization: dict[str, Any]) -> str:
    """The members' shares as one bar each, largest first (the members table says the same in figures)."""
    holders = sorted(organization["members"], key=lambda m: -Decimal(m["shares"] or 0))
    segments = [Segment(m["username"], Decimal(m["shares"] or 0), ACCENT) for m in holders]
    total = sum((segment.value for segment in segments), Decimal(0))
    words = "; ".join(f"{s.name} {s.value}" for s in segments) + f"; {total} shares in all"
    return share_rows(segments, title=f"Shares of {organization['display_name']}", description=words, unit="shares")


def percent_of(shares: str | None, total: Decimal) -> str:
    """A member's part of all shares, as people read it: "40%", "12.5%", "0%"."""
    if not shares or total <= 0:
        return "0%"
    return f"{round(Decimal(shares) * 100 / total, 1).normalize():f}%"


def rule_words(organization: dict[str, Any], lasts: str) -> str:
    """The organization's rule as people read it: "2 of these 3 must sign: ..." or the shares rule."""
    if organization["rule"] == "signers":
        signers = organization["signers"]
        return (f"{organization['threshold']} of these {len(signers)} must sign: {', '.join(signers)}. A proposal runs "
                f"as soon as they have, and is rejected if they have not within {lasts}")
    return (f"proposals need {organization['quorum_percent']}% of the members' shares to vote, and more yes than no; "
            f"voting lasts {lasts}")


# ---------------------------------------------------------------- my organizations


async def _mine(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    mine = await REGISTRY.call(ctx, "organizations.mine", {"page_size": page_size(ctx)})
    return render(request, "organizations.html.j2", status=status, organizations=mine.items,
                  values=values or {"quorum_percent": "50", "voting_days": "3"}, errors=errors or {}, error=error)


@page
async def my_organizations_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _mine(request)


def _whole_or_text(text: str, scale: int = 1) -> int | str:
    """A number from a form box (days may be a fraction), or the text itself for the operation to refuse."""
    try:
        return int(Decimal(text) * scale) if text else text
    except (ArithmeticError, ValueError):  # not a number, or NaN / infinity
        return text


@page
async def create_organization(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in _CREATE_FIELDS}
    data: dict[str, Any] = {"name": values["name"], "display_name": values["display_name"], "summary": values["summary"],
                            "quorum_percent": _whole_or_text(values["quorum_percent"]),
                            "voting_seconds": _whole_or_text(values["voting_days"], DAY)}
    try:
        made = await call(request, "organizations.create", data, {"voting_seconds": "voting_days"})
    except FormError as problem:
        field = "name" if problem.problem.code == "name-taken" else None
        errors = {field: problem.general} if field else problem.fields
        return await _mine(request, values=values, errors=errors, error="" if field else problem.general,
                           status=problem.status)
    raise redirect(_home(made["name"]), "Organization created. Add members, then issue shares so they can vote.")


# ---------------------------------------------------------------- one organization


async def _organization(request: web.Request, *, failed: str = "", values: dict[str, str] | None = None,
                        errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    """The profile; `failed` names the form whose `values` and `errors` are shown again."""
    ctx = request[CTX]
    name = request.match_info["name"]
    organization = await REGISTRY.call(ctx, "organizations.get", {"name": name})
    me = ctx.user.username if ctx.user is not None else None
    role = next((row["role"] for row in organization["members"] if row["username"] == me), None)
    proposals = []
    if role is not None:
        proposals = (await REGISTRY.call(ctx, "organizations.proposals.list", {"name": name, "page_size": 20})).items
    total = sum((Decimal(m["shares"] or 0) for m in organization["members"]), Decimal(0))
    lasts = period(organization["voting_seconds"])
    if failed != "rules":  # the rules form starts from the rules as they are
        rules = {"rule": organization["rule"], "quorum_percent": str(organization["quorum_percent"]),
                 "voting_days": f"{Decimal(organization['voting_seconds']) / DAY:.4f}".rstrip("0").rstrip("."),
                 "signers": ", ".join(organization["signers"]), "threshold": str(organization["threshold"])}
    return render(
        request, "organization.html.j2", status=status, organization=organization, proposals=proposals,
        member=role is not None, role=role, deadline_words=deadline_words,
        lasts=lasts, rule=rule_words(organization, lasts), manager=role in MANAGERS, total=total, percent_of=percent_of,
        picture=Markup(share_picture(organization)) if total > 0 else None,
        failed=failed, values=values or {}, errors=errors or {}, error=error,
        rules=values if failed == "rules" else rules,
    )


@page
async def organization_page(request: web.Request) -> web.StreamResponse:
    return await _organization(request)


async def _act(request: web.Request, form_name: str, operation: str, data: dict[str, Any], values: dict[str, str],
               done: str, names: dict[str, str] | None = None) -> web.StreamResponse:
    """Run a manager's form; refused, the profile again with the form's input and its errors."""
    try:
        await call(request, operation, {"name": request.match_info["name"], **data}, names)
    except FormError as problem:
        shown = {field: message for field, message in problem.fields.items() if field in values}
        general = problem.general if not shown else ""
        if problem.fields and not shown:
            general = "; ".join(problem.fields.values())
        return await _organization(request, failed=form_name, values=values, errors=shown, error=general,
                                   status=problem.status)
    raise redirect(_home(request.match_info["name"]), done)


@page
async def add_member(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {"username": form.get("username", "").strip(), "role": form.get("role", "member")}
    return await _act(request, "add", "organizations.members.add", dict(values), values,
                      f"{values['username']} is a member now.")


@page
async def change_role(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    username = request.match_info["username"]
    form = await read_form(request)
    role = form.get("role", "")
    return await _act(request, f"role-{username}", "organizations.members.role", {"username": username, "role": role},
                      {"role": role}, f"{username} is {'an admin' if role == 'admin' else 'a member'} now.")


@page
async def confirm_remove(request: web.Request) -> web.StreamResponse:
    """Ask before removing (or leaving): a page with one button, so it works without JavaScript."""
    require_signed_in(request)
    ctx = request[CTX]
    name, username = request.match_info["name"], request.match_info["username"]
    organization = await REGISTRY.call(ctx, "organizations.get", {"name": name})
    member = next((row for row in organization["members"] if row["username"] == username.lower()), None)
    if member is None:
        raise NotFound(f"{username!r} is not a member of {name!r}", code="member-not-found")
    leaving = ctx.user is not None and ctx.user.username == member["username"]
    return render(request, "organization_remove.html.j2", organization=organization, member=member, leaving=leaving)


@page
async def remove_member(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    ctx = request[CTX]
    name, username = request.match_info["name"], request.match_info["username"]
    try:
        await call(request, "organizations.members.remove", {"name": name, "username": username})
    except FormError as problem:
        return await _organization(request, error=problem.general or "; ".join(problem.fields.values()),
                                   status=problem.status)
    if ctx.user is not None and ctx.user.username == username.lower():
        raise redirect(MINE, f"You left {name}.")
    raise redirect(_home(name), f"{username} is no longer a member.")


@page
async def issue_shares(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {"to": form.get("to", "").strip(), "amount": form.get("amount", "").strip(), "symbol": form.get("symbol", "").strip()}
    data: dict[str, Any] = {"to": values["to"], "amount": values["amount"]}
    if values["symbol"]:
        data["symbol"] = values["symbol"]
    return await _act(request, "shares", "organizations.shares.issue", data, values,
                      f"Issued {values['amount']} shares to {values['to']}.", {"username": "to"})


_RULES_FIELDS = ("rule", "quorum_percent", "voting_days", "signers", "threshold")


@page
async def update_rules(request: web.Request) -> web.StreamResponse:
    """The owner's rules form: signers typed as a list (commas or spaces between them)."""
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in _RULES_FIELDS}
    data: dict[str, Any] = {"rule": values["rule"], "quorum_percent": _whole_or_text(values["quorum_percent"]),
                            "voting_seconds": _whole_or_text(values["voting_days"], DAY),
                            "signers": [h for h in values["signers"].replace(",", " ").split() if h],
                            "threshold": _whole_or_text(values["threshold"])}
    if values["rule"] == "shares" and not data["signers"]:
        data.pop("signers")  # the signers stay named for a later switch back
    if values["rule"] == "shares" and not values["threshold"]:
        data.pop("threshold")
    return await _act(request, "rules", "organizations.rules.update", data, values, "The rules are changed.",
                      {"voting_seconds": "voting_days"})
