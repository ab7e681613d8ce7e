"""Organizations (issue 19, items 1-3): create one, manage its members, issue its shares, and
decide proposals that run a chain of operations as the organization.

The organization acts only through proposals: its wallet is the organization's actor, and an
operation runs as it with `as_organization` (an actor with no user, as a lot's escrow acts).
A proposal's chain is checked when it is made (the chain rules of jobs.submit, plus what an
organization may never run: role-only, system and network-bound operations, organizations.*).
At the deadline the ORGANIZATION_PROPOSALS machine tallies and, if it passed, runs the chain
in one transaction with the proposal's move: a failing step rolls every step back.

Votes are weighted by the shares each member held when the proposal opened (`Voter` rows);
quorum counts every share that voted (abstentions too) against all snapshotted shares, and a
proposal passes when its yes shares are more than its no shares. Under the `signers` rule
(like a Safe) the voters are the organization's named signers, one vote each, and a proposal
passes as soon as M of them said yes: that vote makes it due now, and the same machine runs it
(once, by the conditional move out of `open`); without M yeses by the deadline it is rejected.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from ..actors import Actor, User
from ..amounts import to_decimal_string, to_minor
from ..base import iso
from ..context import Context, Site
from ..engine import MACHINES, Go, Lease, Outcome, Retry
from ..errors import BadInput, Conflict, DomainError, Forbidden, NotFound, Unprocessable
from ..ledger import LedgerEntry
from ..machines import ORGANIZATION_PROPOSALS
from ..organizations import (
    ORGANIZATION_KIND,
    Choice,
    MemberRole,
    Organization,
    OrgMember,
    Proposal,
    ProposalState,
    Rule,
    Voter,
)
from ..outputs import Output, Paged
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Effect, Input, Transaction
from ..tokens import TokenType
from .accounts import USERNAME
from .chains import MAX_STEPS, RefError, StepInput, _check_input, _check_refs, resolve_refs
from .ledger import _remote_actor, split_handle

__all__ = ["as_organization", "decide", "member_name", "organization_of", "record_vote"]

NAME = Field(min_length=1, max_length=30, pattern=USERNAME.pattern, description="the organization's name (its handle)")
USER = Field(min_length=1, max_length=320, description="a username here, or user@host for someone on another server")
ID = Field(min_length=1, max_length=26)
MANAGERS = frozenset({MemberRole.OWNER.value, MemberRole.ADMIN.value})


def _now() -> datetime:
    return datetime.now(UTC)


def as_organization(ctx: Context, organization: Organization, actor: Actor) -> Context:
    """A context in which the organization's actor acts, with no user (as a lot's escrow does)."""
    assert organization.actor_id == actor.id
    return replace(ctx, actor=actor, user=None, remote=True, system=False, extra={"organization": organization.id})


# ---------------------------------------------------------------- look-ups


async def organization_of(name: str) -> tuple[Organization, Actor]:
    organization = await Organization.filter(actor__username=name.lower(), actor__domain="").first()
    if organization is None:
        raise NotFound(f"there is no organization named {name!r}", code="organization-not-found")
    return organization, await Actor.get(id=organization.actor_id)


async def _role(organization: Organization, user: User | None) -> str | None:
    if user is None:
        return None
    member = await OrgMember.get_or_none(organization_id=organization.id, user_id=user.id)
    return member.role if member else None


async def _as_member(ctx: Context, name: str, roles: frozenset[str] | None = None) -> tuple[Organization, Actor, str]:
    """The organization and the caller's role: 404 to non-members (its proposals are theirs),
    403 when the caller's role is not one of `roles`."""
    organization, actor = await organization_of(name)
    role = await _role(organization, ctx.require_user())
    if role is None:
        raise NotFound(f"you are not a member of {name!r}", code="not-a-member")
    if roles is not None and role not in roles:
        raise Forbidden(f"this needs the {' or '.join(sorted(roles))} role in {name!r}", code="organization-role-required")
    return organization, actor, role


async def _user(username: str, field: str = "username") -> User:
    user = await User.get_or_none(username=username.lower().lstrip("@"))
    if user is None:
        raise NotFound(f"there is no user named {username!r}", code="user-not-found", errors=[{"field": field, "message": "unknown user"}])
    return user


def member_name(actor: Actor) -> str:
    """How a member is named: a local username, or user@host for a member on another server."""
    return actor.username if actor.is_local else f"{actor.username}@{actor.domain}"


async def _member_actor(ctx: Context, handle: str, field: str, *, look_up: bool = False) -> Actor:
    """The actor `handle` names: a local user's, or a remote actor (`user@host`). With `look_up`,
    a remote one not known yet is found through WebFinger and fetched (the SSRF guard applies);
    call it so before any transaction."""
    username, domain = split_handle(handle, ctx)
    if domain is None:
        return await Actor.get(id=(await _user(username, field)).actor_id)
    remote = await _remote_actor(handle, username, domain, field, ctx.site if look_up else None)
    if remote.kind not in ("Person", "Service", "Application"):
        raise Unprocessable(f"{handle!r} is a {remote.kind}, not a person's account", code="not-a-person",
                            errors=[{"field": field, "message": "not a person"}])
    return remote


async def _balances(type_id: str, actor_ids: list[str]) -> dict[str, int]:
    rows = await (
        LedgerEntry.filter(type_id=type_id, recipient_id__in=actor_ids, remaining__gt=0)
        .annotate(total=Sum("remaining")).group_by("recipient_id").values("recipient_id", "total")
    )
    return {row["recipient_id"]: int(row["total"] or 0) for row in rows}


# ---------------------------------------------------------------- views


class MemberOut(Output):
    username: str
    role: str
    shares: str | None
    signer: bool = False


class OrganizationOut(Output):
    id: str
    name: str
    display_name: str
    summary: str
    kind: str
    share_type: str | None
    quorum_percent: int
    voting_seconds: int
    rule: str = Rule.SHARES.value
    threshold: int = 1
    signers: list[str] = []
    members: list[MemberOut]
    wallet: list[dict[str, Any]]
    created_at: str


async def _wallet(actor: Actor) -> list[dict[str, Any]]:
    rows = await (
        LedgerEntry.filter(recipient_id=actor.id, remaining__gt=0)
        .annotate(total=Sum("remaining")).group_by("type_id").values("type_id", "total")
    )
    types = {t.id: t for t in await TokenType.filter(id__in=[row["type_id"] for row in rows])}
    return [
        {"type": row["type_id"], "symbol": types[row["type_id"]].symbol,
         "balance": to_decimal_string(int(row["total"]), types[row["type_id"]].smallest_unit)}
        for row in sorted(rows, key=lambda row: row["type_id"])
    ]


async def organization_view(organization: Organization, actor: Actor) -> dict[str, Any]:
    members = await OrgMember.filter(organization_id=organization.id).select_related("actor").order_by("created_at", "id")
    share_type = await TokenType.get_or_none(id=organization.share_type_id) if organization.share_type_id else None
    held = await _balances(share_type.id, [m.actor_id for m in members]) if share_type else {}
    return {
        "id": organization.id, "name": actor.username, "display_name": actor.display_name, "summary": actor.summary,
        "kind": actor.kind, "share_type": organization.share_type_id, "quorum_percent": organization.quorum_percent,
        "voting_seconds": organization.voting_seconds, "rule": organization.rule, "threshold": organization.threshold,
        "signers": [member_name(m.actor) for m in members if m.signer],
        "members": [
            {"username": member_name(m.actor), "role": m.role, "signer": m.signer,
             "shares": to_decimal_string(held.get(m.actor_id, 0), share_type.smallest_unit) if share_type else None}
            for m in members
        ],
        "wallet": await _wallet(actor),
        "created_at": iso(organization.created_at) or "",
    }


class VoterOut(Output):
    username: str
    shares: str
    choice: str | None


class ProposalOut(Output):
    id: str
    organization: str
    proposer: str
    title: str
    description: str
    steps: list[dict[str, Any]]
    state: str
    deadline: str
    quorum_percent: int
    rule: str = Rule.SHARES.value
    threshold: int | None = None
    total_shares: str
    tally: dict[str, str]
    outcome: str | None
    results: dict[str, Any] | None
    error: dict[str, Any] | None
    decided_at: str | None
    created_at: str = ""
    voters: list[VoterOut] | None = None


async def _share_unit(organization: Organization) -> int:
    if organization.share_type_id is None:
        return 0
    return int((await TokenType.get(id=organization.share_type_id)).smallest_unit)


async def tally(proposal: Proposal) -> dict[str, int]:
    """The shares behind each choice now (at the deadline: the final tally)."""
    sums = {choice.value: 0 for choice in Choice}
    for voter in await Voter.filter(proposal_id=proposal.id, choice__isnull=False):
        sums[voter.choice or ""] += voter.shares
    return sums


async def proposal_view(proposal: Proposal, name: str, *, voters: bool = False) -> dict[str, Any]:
    # under the signers rule each voter weighs 1: the tally counts signatures
    unit = 0 if proposal.rule == Rule.SIGNERS.value else await _share_unit(await Organization.get(id=proposal.organization_id))
    proposer = await User.get(id=proposal.proposer_id)
    counted = (
        {"yes": proposal.yes, "no": proposal.no, "abstain": proposal.abstain}
        if proposal.decided_at else await tally(proposal)
    )
    view: dict[str, Any] = {
        "id": proposal.id, "organization": name, "proposer": proposer.username, "title": proposal.title,
        "description": proposal.description, "steps": proposal.steps, "state": proposal.state,
        "deadline": iso(proposal.deadline) or "", "quorum_percent": proposal.quorum_percent,
        "rule": proposal.rule, "threshold": proposal.threshold,
        "total_shares": to_decimal_string(proposal.total_shares, unit),
        "tally": {choice: to_decimal_string(amount, unit) for choice, amount in counted.items()},
        "outcome": proposal.outcome, "results": proposal.results, "error": proposal.error,
        "decided_at": iso(proposal.decided_at), "created_at": iso(proposal.created_at) or "",
    }
    if voters:
        rows = await Voter.filter(proposal_id=proposal.id).select_related("actor").order_by("-shares", "id")
        view["voters"] = [
            {"username": member_name(row.actor), "shares": to_decimal_string(row.shares, unit), "choice": row.choice}
            for row in rows
        ]
    return view


# ---------------------------------------------------------------- organizations and members


class CreateInput(Input):
    name: str = NAME
    display_name: str = Field("", max_length=200)
    summary: str = Field("", max_length=10_000)
    quorum_percent: int = Field(50, ge=1, le=100, description="shares that must vote, of all members' shares")
    voting_seconds: int = Field(3 * 86400, ge=60, le=90 * 86400, description="how long a proposal takes votes")


@REGISTRY.operation("organizations.create", CreateInput, output=OrganizationOut)
async def create_organization(ctx: Context, params: CreateInput) -> dict[str, Any]:
    """Create an organization (an actor of its own) with you as its owner."""
    user = ctx.require_user()
    name = params.name.lower()
    if await User.filter(username=name).exists() or await Actor.filter(username=name, domain="").exists():
        raise Conflict(f"the name {name!r} is taken", code="name-taken")
    try:  # a savepoint: a name taken meanwhile (by a user, an organization or a board's group) is a 409
        async with in_transaction():
            actor = await Actor.create(
                username=name, display_name=params.display_name or name, summary=params.summary, kind=ORGANIZATION_KIND
            )
    except IntegrityError:
        raise Conflict(f"the name {name!r} is taken", code="name-taken") from None
    organization = await Organization.create(
        actor=actor, created_by=user, quorum_percent=params.quorum_percent, voting_seconds=params.voting_seconds
    )
    await OrgMember.create(organization=organization, user=user, actor_id=user.actor_id, role=MemberRole.OWNER.value)
    await ctx.emit("organization.created", "organization", organization.id, {"organization": organization.id, "name": name})
    return await organization_view(organization, actor)


class NameInput(Input):
    name: str = NAME


@REGISTRY.operation("organizations.get", NameInput, output=OrganizationOut, access=Access.PUBLIC)
async def get_organization(ctx: Context, params: NameInput) -> dict[str, Any]:
    """An organization's profile: its members and roles, share holdings and wallet."""
    organization, actor = await organization_of(params.name)
    return await organization_view(organization, actor)


class MembershipOut(Output):
    name: str
    display_name: str
    role: str
    joined_at: str


@REGISTRY.operation("organizations.mine", ListInput, output=Paged[MembershipOut], access=Access.USER)
async def my_organizations(ctx: Context, params: ListInput) -> Any:
    """The organizations you belong to, with your role in each."""
    page = await paginate(OrgMember.filter(user_id=ctx.require_user().id).select_related("organization__actor"), params)
    return page.map(lambda m: {
        "name": m.organization.actor.username, "display_name": m.organization.actor.display_name, "role": m.role,
        "joined_at": iso(m.created_at) or "",
    })


class MemberInput(Input):
    name: str = NAME
    username: str = USER
    role: Literal["admin", "member"] = "member"


@REGISTRY.operation("organizations.members.add", MemberInput, output=OrganizationOut, transaction=Transaction.OWN)
async def add_member(ctx: Context, params: MemberInput) -> dict[str, Any]:
    """Add a user to the organization (owner or admin; only the owner adds admins); `user@host`
    adds someone on another server, who is told with a signed `Add` and may hold shares and vote."""
    organization, actor, role = await _as_member(ctx, params.name, MANAGERS)
    if params.role == MemberRole.ADMIN.value and role != MemberRole.OWNER.value:
        raise Forbidden("only the owner makes admins", code="organization-role-required")
    member = await _member_actor(ctx, params.username, "username", look_up=True)  # network first, no transaction open
    if not member.is_local and params.role == MemberRole.ADMIN.value:
        raise Unprocessable("a member on another server cannot be an admin", code="remote-admin",
                            errors=[{"field": "role", "message": "admins are local users"}])
    user = await User.get_or_none(actor_id=member.id) if member.is_local else None
    try:
        async with in_transaction():
            await OrgMember.create(organization=organization, actor=member, user=user, role=params.role)
            await ctx.emit("organization.member.added", "organization", organization.id, {
                "organization": organization.id, "username": member_name(member), "actor": member.id, "role": params.role,
            })
    except IntegrityError:
        raise Conflict(f"{member_name(member)!r} is already a member", code="already-a-member") from None
    return await organization_view(organization, actor)


class MemberRefInput(Input):
    name: str = NAME
    username: str = USER


async def _member(ctx: Context, organization: Organization, username: str) -> OrgMember:
    try:
        actor = await _member_actor(ctx, username, "username")
    except Unprocessable as error:  # a remote actor never heard of is no member either
        raise NotFound(f"{username!r} is not a member", code="member-not-found") from error
    member = await OrgMember.get_or_none(organization_id=organization.id, actor_id=actor.id)
    if member is None:
        raise NotFound(f"{username!r} is not a member", code="member-not-found")
    return member


@REGISTRY.operation("organizations.members.remove", MemberRefInput, output=OrganizationOut)
async def remove_member(ctx: Context, params: MemberRefInput) -> dict[str, Any]:
    """Remove a member (owner or admin; admins only plain members), or leave the organization."""
    organization, actor, role = await _as_member(ctx, params.name)
    member = await _member(ctx, organization, params.username)
    leaving = member.user_id == ctx.require_user().id
    if member.role == MemberRole.OWNER.value:
        raise Conflict("the owner cannot be removed", code="owner-stays")
    if not leaving and (role not in MANAGERS or (role == MemberRole.ADMIN.value and member.role != MemberRole.MEMBER.value)):
        raise Forbidden("you may not remove this member", code="organization-role-required")
    if member.signer and organization.rule == Rule.SIGNERS.value and (
        await OrgMember.filter(organization_id=organization.id, signer=True).count() <= organization.threshold
    ):
        raise Conflict("this member is a signer the rule needs: change the rules first", code="signer-needed")
    await OrgMember.filter(id=member.id).delete()
    await ctx.emit("organization.member.removed", "organization", organization.id,
                   {"organization": organization.id, "username": member_name(await Actor.get(id=member.actor_id))})
    return await organization_view(organization, actor)


class RoleInput(Input):
    name: str = NAME
    username: str = USER
    role: Literal["admin", "member"]


@REGISTRY.operation("organizations.members.role", RoleInput, output=OrganizationOut)
async def set_role(ctx: Context, params: RoleInput) -> dict[str, Any]:
    """Make a member an admin or a plain member (owner only)."""
    organization, actor, _ = await _as_member(ctx, params.name, frozenset({MemberRole.OWNER.value}))
    member = await _member(ctx, organization, params.username)
    if member.role == MemberRole.OWNER.value:
        raise Conflict("the owner's role does not change", code="owner-stays")
    if member.user_id is None and params.role == MemberRole.ADMIN.value:
        raise Unprocessable("a member on another server cannot be an admin", code="remote-admin",
                            errors=[{"field": "role", "message": "admins are local users"}])
    await OrgMember.filter(id=member.id).update(role=params.role, updated_at=_now())
    await ctx.emit("organization.member.role", "organization", organization.id,
                   {"organization": organization.id, "username": member_name(await Actor.get(id=member.actor_id)),
                    "role": params.role})
    return await organization_view(organization, actor)


class RulesInput(Input):
    name: str = NAME
    rule: Literal["shares", "signers"] | None = Field(
        None, description="shares: a majority of the shares cast with a quorum, at the deadline; "
        "signers: M of the named signers, as soon as they approve")
    quorum_percent: int | None = Field(None, ge=1, le=100, description="shares that must vote, of all members' shares")
    voting_seconds: int | None = Field(None, ge=60, le=90 * 86400, description="how long a proposal takes votes")
    signers: list[str] | None = Field(None, max_length=50, description="the members who sign (user@host for one elsewhere)")
    threshold: int | None = Field(None, ge=1, le=50, description="M: how many signers must approve")


@REGISTRY.operation("organizations.rules.update", RulesInput, output=OrganizationOut)
async def update_rules(ctx: Context, params: RulesInput) -> dict[str, Any]:
    """Change how the organization decides (owner only: the rules say who may spend its wallet).
    Open proposals keep the rules they opened with."""
    organization, actor, _ = await _as_member(ctx, params.name, frozenset({MemberRole.OWNER.value}))
    members = {m.actor_id: m for m in await OrgMember.filter(organization_id=organization.id)}
    signer_ids = [m.actor_id for m in members.values() if m.signer]
    if params.signers is not None:
        signer_ids, unknown = [], []
        for handle in params.signers:
            try:
                found = await _member_actor(ctx, handle, "signers")
            except (NotFound, Unprocessable, BadInput):
                found = None
            if found is None or found.id not in members:
                unknown.append(handle)
            elif found.id not in signer_ids:
                signer_ids.append(found.id)
        if unknown:
            raise Unprocessable(f"signers must be members: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not",
                                code="signer-not-a-member", errors=[{"field": "signers", "message": f"not a member: {h}"}
                                                                    for h in unknown])
    rule = params.rule or organization.rule
    threshold = params.threshold if params.threshold is not None else organization.threshold
    if rule == Rule.SIGNERS.value and not 1 <= threshold <= len(signer_ids):
        raise Unprocessable(f"M must be between 1 and the number of signers ({len(signer_ids)})",
                            code="invalid-threshold", errors=[{"field": "threshold", "message": f"1 to {len(signer_ids)}"}])
    changes = {
        "rule": rule, "threshold": threshold,
        "quorum_percent": params.quorum_percent if params.quorum_percent is not None else organization.quorum_percent,
        "voting_seconds": params.voting_seconds if params.voting_seconds is not None else organization.voting_seconds,
    }
    async with in_transaction():
        await Organization.filter(id=organization.id).update(**changes, updated_at=_now())
        if params.signers is not None:
            await OrgMember.filter(organization_id=organization.id).update(signer=False)
            await OrgMember.filter(organization_id=organization.id, actor_id__in=signer_ids).update(signer=True)
        await ctx.emit("organization.rules_changed", "organization", organization.id, {
            "organization": organization.id, **changes,
            "signers": [member_name(await Actor.get(id=actor_id)) for actor_id in signer_ids],
        })
    return await organization_view(await Organization.get(id=organization.id), actor)


class IssueInput(Input):
    name: str = NAME
    to: str = Field(min_length=1, max_length=320, description="a member's username (user@host for one on another server)")
    amount: str = Field(min_length=1, max_length=60, description="whole shares, as a decimal string")
    symbol: str | None = Field(None, min_length=1, max_length=32, description="the share type's symbol, on the first issue")


@REGISTRY.operation("organizations.shares.issue", IssueInput, output=OrganizationOut)
async def issue_shares(ctx: Context, params: IssueInput) -> dict[str, Any]:
    """Issue new shares to a member (owner or admin); the first issue creates the share type."""
    organization, actor, _ = await _as_member(ctx, params.name, MANAGERS)
    member = await _member(ctx, organization, params.to)
    amount = to_minor(params.amount, 0)
    if amount <= 0:
        raise BadInput("issue at least one share", code="invalid-amount", errors=[{"field": "amount", "message": "must be positive"}])
    octx = as_organization(ctx, organization, actor)
    if organization.share_type_id is None:
        created = await REGISTRY.get("types.create").run(octx, REGISTRY.parse("types.create", {
            "name": f"{actor.username} shares", "symbol": params.symbol or actor.username.upper()[:32],
            "fungible": True, "smallest_unit": 0, "description": f"Voting shares of the organization {actor.username}.",
            "licensing": "closed",
        }, ctx))
        organization.share_type_id = str(created["id"])
        await Organization.filter(id=organization.id).update(share_type_id=organization.share_type_id, updated_at=_now())
    share_type = str(organization.share_type_id)
    await REGISTRY.get("ledger.create").run(octx, REGISTRY.parse("ledger.create", {
        "type": share_type, "amount": str(amount), "description": "shares issued",
    }, ctx))
    # a member on another server gets a give to its actor: its server shows a remote holding
    recipient = member_name(await Actor.get(id=member.actor_id))
    await REGISTRY.get("ledger.give").run(octx, REGISTRY.parse("ledger.give", {
        "type": share_type, "amount": str(amount), "to": recipient, "description": "shares issued",
    }, ctx))
    await ctx.emit("organization.shares.issued", "organization", organization.id,
                   {"organization": organization.id, "username": recipient, "amount": str(amount)})
    return await organization_view(organization, actor)


# ---------------------------------------------------------------- proposals


class ProposalInput(Input):
    name: str = NAME
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    steps: list[StepInput] = Field(min_length=1, description="a chain, as jobs.submit takes it, run as the organization")


def _refuse_for_organization(step: StepInput) -> None:
    """What an organization never runs, whatever its members vote."""
    if step.operation not in REGISTRY:
        return  # _check_input says so
    operation = REGISTRY.get(step.operation)
    why = None
    if operation.role is not None or operation.access is Access.SYSTEM:
        why = "it needs a role an organization does not have"
    elif operation.name.startswith(("organizations.", "jobs.", "auth.", "users.", "oauth.", "admin.")):
        why = "it acts on accounts, jobs or organizations themselves"
    elif operation.effect is Effect.WRITE and operation.transaction is Transaction.NONE:
        why = "it waits on other servers between its own transactions, so it cannot roll back with the chain"
    if why:
        raise Unprocessable(f"step {step.id!r}: an organization cannot run {operation.name}: {why}",
                            code="not-for-organizations", extra={"step": step.id})


@REGISTRY.operation("organizations.proposals.create", ProposalInput, output=ProposalOut)
async def create_proposal(ctx: Context, params: ProposalInput) -> dict[str, Any]:
    """Propose a chain of operations to run as the organization; members' shares are snapshotted now."""
    organization, _, _ = await _as_member(ctx, params.name)
    if len(params.steps) > MAX_STEPS:
        raise Unprocessable(f"a chain has at most {MAX_STEPS} steps", code="chain-too-long")
    if len({step.id for step in params.steps}) != len(params.steps):
        raise Unprocessable("step ids must be unique within the chain", code="duplicate-step-id")
    signers = organization.rule == Rule.SIGNERS.value
    if organization.share_type_id is None and not signers:
        raise Conflict("the organization has issued no shares: nobody could vote", code="no-shares")
    ref_paths = _check_refs(params.steps)
    for step in params.steps:
        _refuse_for_organization(step)
        _check_input(ctx, step, ref_paths[step.id])
    members = await OrgMember.filter(organization_id=organization.id)
    if signers:  # the named signers, one vote each (rules.update keeps 1 <= M <= N)
        weights = [(m, 1) for m in members if m.signer]
        if len(weights) < organization.threshold:
            raise Conflict("the organization has fewer signers than its rule needs", code="not-enough-signers")
    else:
        held = await _balances(str(organization.share_type_id), [m.actor_id for m in members])
        weights = [(m, held.get(m.actor_id, 0)) for m in members if held.get(m.actor_id, 0) > 0]
        if not weights:
            raise Conflict("no member holds shares: nobody could vote", code="no-shares")
    now = _now()
    deadline = now + timedelta(seconds=organization.voting_seconds)
    proposal = await Proposal.create(
        organization=organization, proposer=ctx.require_user(), title=params.title, description=params.description,
        steps=[{"id": s.id, "operation": s.operation, "input": s.input} for s in params.steps],
        deadline=deadline, next_at=deadline, state=ProposalState.OPEN.value,
        quorum_percent=organization.quorum_percent, total_shares=sum(weight for _, weight in weights),
        rule=organization.rule, threshold=organization.threshold if signers else None,
    )
    await Voter.bulk_create([
        Voter(proposal=proposal, actor_id=member.actor_id, user_id=member.user_id, shares=weight) for member, weight in weights
    ])
    await ctx.emit("organization.proposal.opened", "proposal", proposal.id,
                   {"organization": organization.id, "proposal": proposal.id, "deadline": iso(deadline) or ""})
    return await proposal_view(proposal, params.name.lower(), voters=True)


class ProposalListInput(ListInput):
    name: str = NAME
    state: Literal["open", "executed", "rejected", "failed"] | None = None


@REGISTRY.operation("organizations.proposals.list", ProposalListInput, output=Paged[ProposalOut], access=Access.USER)
async def list_proposals(ctx: Context, params: ProposalListInput) -> Any:
    """The organization's proposals, newest first (members only)."""
    organization, _, _ = await _as_member(ctx, params.name)
    query = Proposal.filter(organization_id=organization.id)
    if params.state:
        query = query.filter(state=params.state)
    page = await paginate(query, params)
    views = {p.id: await proposal_view(p, params.name.lower()) for p in page.items}
    return page.map(lambda p: views[p.id])


class ProposalRefInput(Input):
    name: str = NAME
    id: str = ID


async def _proposal(ctx: Context, name: str, proposal_id: str) -> Proposal:
    organization, _, _ = await _as_member(ctx, name)
    proposal = await Proposal.get_or_none(id=proposal_id, organization_id=organization.id)
    if proposal is None:
        raise NotFound(f"there is no proposal {proposal_id!r} in {name!r}", code="proposal-not-found")
    return proposal


@REGISTRY.operation("organizations.proposals.get", ProposalRefInput, output=ProposalOut, access=Access.USER)
async def get_proposal(ctx: Context, params: ProposalRefInput) -> dict[str, Any]:
    """A proposal with its chain, tally, voters and outcome (members only)."""
    return await proposal_view(await _proposal(ctx, params.name, params.id), params.name.lower(), voters=True)


class VoteInput(ProposalRefInput):
    choice: Choice


@REGISTRY.operation("organizations.proposals.vote", VoteInput, output=ProposalOut)
async def vote(ctx: Context, params: VoteInput) -> dict[str, Any]:
    """Vote yes, no or abstain with the shares you held when the proposal opened; change it until the deadline."""
    proposal = await _proposal(ctx, params.name, params.id)
    now = _now()
    if proposal.state != ProposalState.OPEN.value or now >= proposal.deadline:
        raise Conflict("voting on this proposal has ended", code="voting-closed", extra={"state": proposal.state})
    user = ctx.require_user()
    refused = await record_vote(ctx, proposal, await Actor.get(id=user.actor_id), params.choice)
    if refused == "voting-closed":
        raise Conflict("voting on this proposal has ended", code="voting-closed")
    if refused == "not-a-voter" and proposal.rule == Rule.SIGNERS.value:
        raise Forbidden("only the organization's named signers sign this proposal", code="not-a-signer")
    if refused == "not-a-voter":
        raise Forbidden("you held no shares when this proposal opened", code="not-a-voter")
    return await proposal_view(proposal, params.name.lower(), voters=True)


async def record_vote(ctx: Context, proposal: Proposal, voter: Actor, choice: Choice) -> str | None:
    """Count (or replace) `voter`'s vote, a local member's or one sent from another server
    (federation/org_votes.py); None when counted, else why not: voting-closed or not-a-voter."""
    now = _now()
    if proposal.state != ProposalState.OPEN.value or now >= proposal.deadline:
        return "voting-closed"
    # Writing the open proposal's row first takes its lock (PostgreSQL), which the tally at the
    # deadline takes too: a vote racing it is either counted or refused, never lost.
    if not await Proposal.filter(id=proposal.id, state=ProposalState.OPEN.value).update(updated_at=now):
        return "voting-closed"
    changed = await Voter.filter(proposal_id=proposal.id, actor_id=voter.id).update(
        choice=choice.value, voted_at=now, updated_at=now
    )
    if not changed:
        return "not-a-voter"
    if proposal.rule == Rule.SIGNERS.value:  # M yeses: due now (the runner decides and runs it once)
        signed = await Voter.filter(proposal_id=proposal.id, choice=Choice.YES.value).count()
        due = now if signed >= (proposal.threshold or 1) else proposal.deadline
        await Proposal.filter(id=proposal.id, state=ProposalState.OPEN.value).update(next_at=due)
        if due == now:
            MACHINES.wake(ORGANIZATION_PROPOSALS.name)
    await ctx.emit("organization.proposal.voted", "proposal", proposal.id,
                   {"organization": proposal.organization_id, "proposal": proposal.id, "username": member_name(voter),
                    "choice": choice.value})
    return None


# ---------------------------------------------------------------- the deadline


async def _run_chain(octx: Context, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Each step in order as the organization, in the caller's transaction; results by step id."""
    results: dict[str, Any] = {}
    for step in steps:
        try:
            raw = resolve_refs(step["input"], results)
        except RefError as error:
            raise Unprocessable(f"step {step['id']!r}: {error}", code="ref-unresolved", extra={"step": step["id"]}) from None
        operation = REGISTRY.get(step["operation"])
        try:
            results[step["id"]] = await operation.run(octx, REGISTRY.parse(operation.name, raw, octx))
        except DomainError as error:
            error.extra = {**(error.extra or {}), "step": step["id"]}
            raise
    return results


def _problem(error: DomainError) -> dict[str, Any]:
    return {"code": error.code, "status": error.status, "detail": error.detail, **(error.extra or {})}


@ORGANIZATION_PROPOSALS.handler(may={s.value for s in ProposalState} - {ProposalState.OPEN.value})
async def decide(site: Site, proposal: Proposal, lease: Lease) -> Outcome:
    """Tally at the deadline; if passed, run the chain as the organization with the proposal's
    move in one transaction (so it runs once); a failing chain rolls back and says why."""
    now = lease.now()
    ctx = Context(site=site)
    organization = await Organization.get(id=proposal.organization_id)
    octx = as_organization(ctx, organization, await Actor.get(id=organization.actor_id))
    decided: dict[str, Any] = {}
    try:
        async with in_transaction():
            await lease.save(proposal)  # the row's lock, as a vote takes it: no vote slips past
            counted = await tally(proposal)
            decided = {**counted, "decided_at": now}
            outcome = _outcome(proposal, counted)
            if outcome == "not-enough-signers" and now < proposal.deadline:
                # due early, but a signer took their yes back before the runner got here: wait on
                wait = (proposal.deadline - now).total_seconds()
                return await lease.commit(proposal, Retry(error="signers withdrew", after=wait))
            event = {"organization": proposal.organization_id, "proposal": proposal.id, "outcome": outcome}
            if outcome != "passed":
                await ctx.emit("organization.proposal.rejected", "proposal", proposal.id, event)
                return await lease.commit(proposal, Go(ProposalState.REJECTED.value, values={**decided, "outcome": outcome}))
            results = await _run_chain(octx, proposal.steps)
            await octx.emit("organization.proposal.executed", "proposal", proposal.id, event)
            return await lease.commit(proposal, Go(ProposalState.EXECUTED.value, values={
                **decided, "outcome": outcome, "results": _storable(results),
            }))
    except DomainError as error:
        problem = _problem(error)
    async with in_transaction():  # the chain rolled back whole; its tally stands (votes closed at the deadline)
        event = {"organization": proposal.organization_id, "proposal": proposal.id, "outcome": "passed"}
        await ctx.emit("organization.proposal.failed", "proposal", proposal.id, {**event, "code": problem["code"]})
        return await lease.commit(proposal, Go(ProposalState.FAILED.value, values={
            **decided, "outcome": "passed", "error": problem,
        }))


def _outcome(proposal: Proposal, counted: dict[str, int]) -> str:
    """Quorum: every share cast (abstentions too) against all snapshotted shares; then more yes than no.
    Under the signers rule: M signers said yes."""
    if proposal.rule == Rule.SIGNERS.value:
        return "passed" if counted["yes"] >= (proposal.threshold or 1) else "not-enough-signers"
    if sum(counted.values()) * 100 < proposal.quorum_percent * proposal.total_shares:
        return "no-quorum"
    if counted["yes"] <= counted["no"]:
        return "not-a-majority"
    return "passed"


def _storable(results: dict[str, Any]) -> dict[str, Any]:
    """Step results as JSON (models and decimals as their text, as job results are kept)."""
    return dict(orjson.loads(orjson.dumps(results, default=str, option=orjson.OPT_NON_STR_KEYS)))
