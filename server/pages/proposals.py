"""The proposal pages (issue 19): a form to propose (the common case, a give from the wallet,
as three boxes; any chain as JSON steps under "advanced"), and one proposal with its tally bar,
its deadline in words, its outcome and each step in plain words, and a vote form for its voters.
Under the signers rule the bar counts signatures against the M needed ("1 of 2 signatures").

They call the organizations operations as the API does (models/operations/organizations.py);
no JavaScript.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from markupsafe import Markup

from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from ..svg import Segment, stacked_bar
from .base import FormError, call, page, read_form, redirect, render, require_signed_in
from .wording import duration, exact_time, period

__all__ = [
    "create_proposal", "deadline_words", "new_proposal_form", "outcome_words", "proposal_page",
    "signatures_bar", "step_words", "tally_bar", "vote",
]

YES, NO, ABSTAIN, UNCAST = "#2e7d32", "#c62828", "#9e9e9e", "#e6e9ed"  # the tally bar's colours
GIVE_STEP = "give"  # the id of the one step the simple form builds
_FIELDS = ("title", "description", "type", "amount", "to", "steps")


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


def signatures_bar(proposal: dict[str, Any]) -> str:
    """Under the signers rule: the signatures so far against the M needed."""
    signed, needed = int(proposal["tally"]["yes"]), int(proposal["threshold"] or 1)
    segments = [Segment("signed", Decimal(signed), YES), Segment("still needed", Decimal(max(needed - signed, 0)), UNCAST)]
    return stacked_bar(segments, title=f"Signatures on {proposal['title']}",
                       description=signature_words(proposal), unit="signatures")


def signature_words(proposal: dict[str, Any]) -> str:
    """"1 of 2 signatures" (of the M needed), and who signed."""
    signed = [v["username"] for v in proposal.get("voters") or [] if v["choice"] == "yes"]
    words = f"{proposal['tally']['yes']} of {proposal['threshold']} signatures"
    return words + (f"; signed by {', '.join(signed)}" if signed else "")


# ---------------------------------------------------------------- words


def deadline_words(proposal: dict[str, Any], now: datetime | None = None) -> str:
    """When voting ends or ended, as people say it: "closes in 2 days, at 4 December 2026, 15:30 UTC"."""
    deadline = datetime.fromisoformat(proposal["deadline"])
    now = now or datetime.now(UTC)
    at = exact_time(deadline)
    if proposal["state"] != "open" and deadline > now:  # decided: the clock that decided it was past the deadline
        return f"closed at {at}"
    if deadline > now:
        return f"closes in {duration((deadline - now).total_seconds(), parts=1, under_a_minute='less than a minute')}, at {at}"
    ago = duration((now - deadline).total_seconds(), parts=1, under_a_minute="less than a minute")
    if proposal["state"] == "open":
        return f"voting ended {ago} ago, at {at}; the votes are being counted"
    return f"closed {ago} ago, at {at}"


def outcome_words(proposal: dict[str, Any]) -> str:
    """What was decided, in a sentence ("" while it is open)."""
    outcome, state = proposal.get("outcome"), proposal["state"]
    if state == "executed":
        return "Passed: its steps ran as the organization."
    if state == "failed":
        error = proposal.get("error") or {}
        step = f"step {error['step']!r}" if error.get("step") else "a step"
        return f"Passed, but {step} failed: {error.get('detail', 'it was refused')}. Nothing was changed."
    if outcome == "no-quorum":
        return (f"Not passed: too few shares voted (it needed {proposal['quorum_percent']}% of "
                f"{proposal['total_shares']} shares).")
    if outcome == "not-a-majority":
        return "Not passed: there were not more yes than no."
    if outcome == "not-enough-signers":
        return f"Not passed: fewer than {proposal['threshold']} signers signed by the deadline."
    return ""


def _value(value: Any) -> str:
    """A step's input value in words; a $ref is an earlier step's result."""
    if isinstance(value, dict) and "$ref" in value:
        return f"the result of step {str(value['$ref']).split('#', 1)[0]!r}"
    return str(value)


def step_words(step: dict[str, Any], symbols: dict[str, str]) -> str:
    """One step of a chain as a sentence: "Give 100 CN to zed"; other operations by their summary."""
    data = step.get("input") or {}
    kind = data.get("type")
    if isinstance(kind, dict) and "$ref" in kind:
        unit = f"of the type made in step {str(kind['$ref']).split('#', 1)[0]!r}"
    else:
        unit = symbols.get(kind, str(kind)) if isinstance(kind, str) else str(kind)
    amount = _value(data.get("amount", ""))
    operation = step["operation"]
    if operation == "ledger.give":
        return f"Give {amount} {unit} from the wallet to {_value(data.get('to', ''))}"
    if operation == "ledger.create":
        return f"Mint {amount} {unit}"
    if operation == "ledger.burn":
        return f"Burn {amount or 'some'} {unit}"
    if operation == "types.create":
        return f"Create the token type {_value(data.get('name', ''))} ({_value(data.get('symbol', ''))})"
    summary = REGISTRY.get(operation).summary if operation in REGISTRY else ""
    return (summary or operation).rstrip(".")


async def _symbols(request: web.Request, steps: list[dict[str, Any]]) -> dict[str, str]:
    """The symbols of the types the steps name (a type not found keeps its id)."""
    found: dict[str, str] = {}
    for step in steps:
        kind = (step.get("input") or {}).get("type")
        if isinstance(kind, str) and kind not in found:
            try:
                found[kind] = (await REGISTRY.call(request[CTX], "types.get", {"id": kind}))["symbol"]
            except DomainError:
                found[kind] = kind
    return found


# ---------------------------------------------------------------- one proposal


async def _proposal_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    name, proposal_id = request.match_info["name"], request.match_info["id"]
    proposal = await REGISTRY.call(ctx, "organizations.proposals.get", {"name": name, "id": proposal_id})
    me = ctx.user.username if ctx.user is not None else None
    mine = next((row for row in proposal.get("voters") or [] if row["username"] == me), None)
    symbols = await _symbols(request, proposal["steps"])
    steps = [{**step, "words": step_words(step, symbols), "json": orjson.dumps(step["input"]).decode()}
             for step in proposal["steps"]]
    signers = proposal["rule"] == "signers"
    signed = [v["username"] for v in proposal.get("voters") or [] if v["choice"] == "yes"]
    bar = signatures_bar(proposal) if signers else tally_bar(proposal)
    return render(
        request, "proposal.html.j2", status=status, proposal=proposal, bar=Markup(bar), mine=mine, signers=signers,
        signed=signed,
        error=error, deadline=deadline_words(proposal), outcome=outcome_words(proposal), steps=steps,
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


# ---------------------------------------------------------------- a new proposal


async def _new_form(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                    error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    name = request.match_info["name"]
    organization = await REGISTRY.call(ctx, "organizations.get", {"name": name})
    # Members only, as the API's proposals are: the list answers 404 to anyone else.
    await REGISTRY.call(ctx, "organizations.proposals.list", {"name": name, "page_size": 1})
    return render(request, "proposal_new.html.j2", status=status, organization=organization, values=values or {},
                  errors=errors or {}, error=error, lasts=period(organization["voting_seconds"]))


@page
async def new_proposal_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _new_form(request)


class _StepsError(Exception):
    """The advanced box does not hold a list of steps."""


def _steps(values: dict[str, str]) -> list[Any]:
    """The chain: the advanced box's JSON when filled, otherwise the one give step of the simple form."""
    if values["steps"]:
        try:
            steps = orjson.loads(values["steps"])
        except orjson.JSONDecodeError as error:
            raise _StepsError(f"This is not valid JSON ({error.args[0].split(':')[0]}).") from None
        if not isinstance(steps, list):
            raise _StepsError('Write a list of steps: [{"id": "pay", "operation": "ledger.give", "input": {...}}].')
        return steps
    return [{"id": GIVE_STEP, "operation": "ledger.give",
             "input": {"type": values["type"], "amount": values["amount"], "to": values["to"]}}]


_SIMPLE_NAMES = {f"steps.{GIVE_STEP}.input.{name}": name for name in ("type", "amount", "to")}


@page
async def create_proposal(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    name = request.match_info["name"]
    form = await read_form(request)
    values = {field: form.get(field, "").strip() for field in _FIELDS}
    advanced = bool(values["steps"])
    try:
        steps = _steps(values)
    except _StepsError as error:
        return await _new_form(request, values=values, errors={"steps": str(error)},
                               error="Please correct the fields marked below.", status=400)
    data = {"name": name, "title": values["title"], "description": values["description"], "steps": steps}
    try:
        made = await call(request, "organizations.proposals.create", data, {} if advanced else _SIMPLE_NAMES)
    except FormError as problem:
        shown = {field: message for field, message in problem.fields.items() if field in _FIELDS}
        rest = [message for field, message in problem.fields.items() if field not in _FIELDS]
        about_steps = rest or "step" in (problem.problem.extra or {})
        if advanced and about_steps:  # a step's refusal belongs beside the box that holds the steps
            shown["steps"] = "; ".join(rest) or problem.problem.detail
            rest = []
        general = "; ".join(rest) or (problem.general if not shown else "Please correct the fields marked below.")
        return await _new_form(request, values=values, errors=shown, error=general, status=problem.status)
    raise redirect(f"/app/organizations/{name}/proposals/{made['id']}",
                   f"Proposal opened: the members vote until {exact_time(datetime.fromisoformat(made['deadline']))}.")
