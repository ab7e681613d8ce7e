"""Agents: owners grant an agent actor the right to report off-server changes to their tokens.

A grant names one token or one set (covering the tokens in it when the report arrives) and
optionally the attributes the agent may change. A report is validated exactly like
tokens.update, recorded with the agent as the author of the token.updated event (so it
federates like any update), or held as pending until the owner approves or rejects it.
Grants and reports are visible only to their owner and their agent; others get 404.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field, StrictBool

from ..actors import Actor, Role, User
from ..agents import AgentGrant, AgentReport, ReportState
from ..base import column, iso
from ..bounds import Version
from ..context import Context
from ..errors import BadInput, Conflict, Forbidden, NotFound
from ..federation import RemoteActor
from ..paging import ListInput, paginate
from ..outputs import ActorOut, Output, Paged, Timestamp
from ..registry import REGISTRY, Access, Input
from ..sets import SetMember, TokenSet
from ..tokens import Token
from ..views import actor_view
from .sets import get_visible_set
from .tokens import Resolver, apply_token_update, check_token_if_match, get_visible_token, merged_own_values

__all__ = ["GrantCreateInput", "create_grant", "report_change"]

MAX_GRANT_ATTRIBUTES = 100
ID = Field(min_length=1, max_length=64)
AttributeName = Field(min_length=1, max_length=100)


class GrantCreateInput(Input):
    agent: str = Field(
        min_length=1, max_length=2048, description="a local username with the agent role, or a remote actor URL"
    )
    token: str | None = Field(None, min_length=1, max_length=64)
    set: str | None = Field(None, min_length=1, max_length=64)
    attributes: list[str] = Field(default_factory=list, max_length=MAX_GRANT_ATTRIBUTES, description="empty: all")
    needs_approval: StrictBool = False


class GrantListInput(ListInput):
    role: Literal["owner", "agent"] = Field("owner", description="grants you gave, or grants given to you")


class IdInput(Input):
    id: str = ID


class ReportCreateInput(Input):
    token: str = ID
    attributes: dict[str, Any] = Field(min_length=1, max_length=1000, description="null removes a value")
    version: Version | None = Field(None, description="the token version the change was made against")
    note: str = Field("", max_length=2000)


class ReportListInput(ListInput):
    role: Literal["owner", "agent"] = Field("owner", description="reports on your tokens, or reports you made")
    state: Literal["pending", "applied", "rejected"] | None = None
    token: str | None = Field(None, min_length=1, max_length=64)


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _agent_actor(ctx: Context, name: str) -> Actor:
    """The local account (with the agent role) or the known remote actor the grant is for."""
    if name.startswith(("https://", "http://")):
        actor = await Actor.get_or_none(uri=name)
        if actor is None:
            remote = await RemoteActor.get_or_none(uri=name).select_related("actor")
            actor = remote.actor if remote else None
        if actor is None or actor.is_local:
            raise NotFound(f"no remote actor {name!r} is known here; follow or fetch it first", code="agent-not-found")
        return actor
    user = await User.get_or_none(username=name.lower().lstrip("@"), status="active").select_related("actor")
    if user is None:
        raise NotFound(f"there is no user {name!r}", code="agent-not-found")
    if not user.has_role(Role.AGENT):
        raise BadInput(f"{name!r} does not have the agent role", code="not-an-agent")
    return user.actor


class GrantOut(Output):
    """An agent grant: which agent may report changes to which token or set's tokens."""

    id: str
    owner: ActorOut
    agent: ActorOut
    token: str | None
    set: str | None
    attributes: list[str]
    needs_approval: bool
    created_at: Timestamp


class ReportOut(Output):
    """A change an agent reported, and what became of it."""

    id: str
    agent: ActorOut
    owner: ActorOut
    token: str
    grant: str | None
    attributes: dict[str, Any]
    base_version: int
    applied_version: int | None
    note: str
    state: str
    created_at: Timestamp
    decided_at: Timestamp


def _grant_view(grant: AgentGrant, ctx: Context) -> dict[str, Any]:
    return {
        "id": grant.id,
        "owner": actor_view(grant.owner, ctx.site),
        "agent": actor_view(grant.agent, ctx.site),
        "token": grant.token_id,
        "set": grant.set_id,
        "attributes": list(grant.attributes or []),
        "needs_approval": grant.needs_approval,
        "created_at": iso(grant.created_at),
    }


def _report_view(report: AgentReport, ctx: Context) -> dict[str, Any]:
    return {
        "id": report.id,
        "agent": actor_view(report.agent, ctx.site),
        "owner": actor_view(report.owner, ctx.site),
        "token": report.token_id,
        "grant": report.grant_id,
        "attributes": report.attributes,
        "base_version": report.base_version,
        "applied_version": report.applied_version,
        "note": report.note,
        "state": report.state,
        "created_at": iso(report.created_at),
        "decided_at": iso(report.decided_at),
    }


async def create_grant(ctx: Context, params: GrantCreateInput, agent: Actor | None = None) -> dict[str, Any]:
    """Let an agent report changes to one of your tokens or to the tokens of one of your sets.

    The operation (federation/agent_reports.py) looks a remote agent up first and passes it as `agent`.
    """
    actor = ctx.require_actor()
    if (params.token is None) == (params.set is None):
        raise BadInput("name exactly one of token or set", code="grant-target-required")
    target: Token | TokenSet
    if params.token is not None:
        target = await get_visible_token(ctx, params.token)
        if target.owner_id != actor.id:
            raise NotFound(f"you have no token with id {params.token!r}", code="token-not-found")
    else:
        target = await get_visible_set(params.set or "")
        if target.owner_id != actor.id:
            raise NotFound(f"you have no set with id {params.set!r}", code="set-not-found")
    agent = agent or await _agent_actor(ctx, params.agent)
    if agent.id == actor.id:
        raise BadInput("you cannot grant yourself; you may change your tokens directly", code="self-grant")
    grant = await AgentGrant.create(
        owner=actor,
        agent=agent,
        token_id=params.token,
        set_id=params.set,
        attributes=sorted(set(params.attributes)),
        needs_approval=params.needs_approval,
    )
    grant.owner, grant.agent = actor, agent
    await ctx.emit(
        "agent.grant.created", "agent_grant", grant.id,
        {"agent": agent.id, "token": params.token, "set": params.set, "needs_approval": params.needs_approval},
    )
    return _grant_view(grant, ctx)


@REGISTRY.operation("agents.grants.list", GrantListInput, output=Paged[GrantOut], access=Access.USER)
async def list_grants(ctx: Context, params: GrantListInput) -> Any:
    """Grants you gave (role=owner) or grants that let you act as an agent (role=agent)."""
    actor = ctx.require_actor()
    query = AgentGrant.filter(**{f"{params.role}_id": actor.id}).select_related("owner", "agent")
    page = await paginate(query, params)
    page.items = [_grant_view(grant, ctx) for grant in page.items]
    return page


@REGISTRY.operation("agents.grants.delete", IdInput, output=None)
async def delete_grant(ctx: Context, params: IdInput) -> None:
    """Withdraw a grant; its pending reports are rejected."""
    actor = ctx.require_actor()
    grant = await AgentGrant.get_or_none(id=params.id, owner_id=actor.id)
    if grant is None:
        raise NotFound(f"you have no agent grant with id {params.id!r}", code="grant-not-found")
    await AgentReport.filter(grant_id=grant.id, state=ReportState.PENDING.value).update(
        state=ReportState.REJECTED.value, decided_at=_now()
    )
    await grant.delete()
    agent_id = grant.agent_id
    await ctx.emit("agent.grant.deleted", "agent_grant", grant.id, {"agent": agent_id})


async def _covering_grant(agent: Actor, token: Token, names: list[str]) -> AgentGrant:
    """A grant of the token's current owner to this agent covering the token and every name; 403 otherwise."""
    set_ids = set(await column(SetMember.filter(token_id=token.id).values_list("set_id", flat=True), str))
    grants = await AgentGrant.filter(agent_id=agent.id, owner_id=token.owner_id)
    granted = [
        grant
        for grant in grants
        if grant.token_id == token.id or grant.set_id in set_ids
    ]
    if not granted:
        raise Forbidden("you are not authorized as an agent for this token", code="agent-not-authorized")
    covering = [grant for grant in granted if not grant.attributes or set(names) <= set(grant.attributes)]
    if not covering:
        raise Forbidden("your grant for this token does not cover these attributes", code="outside-grant")
    covering.sort(key=lambda grant: grant.needs_approval)  # a grant without approval applies at once
    return covering[0]


async def _apply(ctx: Context, token: Token, report: AgentReport, resolver: Resolver) -> None:
    """The normal token.updated event, in the owner's name (remote servers accept updates from owners
    only, so it federates like any update), naming the agent who made the change."""
    on_behalf = dataclasses.replace(ctx, actor=token.owner)
    agent: Actor = report.agent
    extra = {"agent": agent.id, "agent_handle": agent.handle(ctx.site.domain), "report": report.id}
    await apply_token_update(on_behalf, token, report.attributes, None, resolver, extra)


async def report_change(
    ctx: Context, agent: Actor, token_id: str, attributes: dict[str, Any], version: int | None, note: str,
    activity_uri: str | None = None,
) -> dict[str, Any]:
    """An agent's report (from the API or a signed inbox activity): applied, or held for approval."""
    token = await get_visible_token(ctx, token_id)
    grant = await _covering_grant(agent, token, sorted(attributes))
    if version is not None:
        await check_token_if_match(dataclasses.replace(ctx, if_match=str(version)), token)
    resolver = Resolver()
    await merged_own_values(ctx, token, attributes, resolver)  # refuse invalid values before storing anything
    report = AgentReport(
        grant=grant, agent=agent, owner_id=token.owner_id, token=token,
        attributes=attributes, base_version=token.version, note=note, activity_uri=activity_uri,
    )
    if not grant.needs_approval:
        await _apply(ctx, token, report, resolver)
        report.state, report.applied_version, report.decided_at = ReportState.APPLIED.value, token.version, _now()
    await report.save(force_create=True)
    await ctx.emit(
        f"agent.report.{report.state}", "token", token.id,
        {"agent": agent.id, "report": report.id, "fields": sorted(attributes)},
    )
    report.owner = token.owner
    return _report_view(report, ctx)


@REGISTRY.operation("agents.reports.create", ReportCreateInput, output=ReportOut, role=Role.AGENT)
async def create_report(ctx: Context, params: ReportCreateInput) -> dict[str, Any]:
    """Report a change made to a token off the server (agents only, within a grant)."""
    return await report_change(ctx, ctx.require_actor(), params.token, params.attributes, params.version, params.note)


@REGISTRY.operation("agents.reports.list", ReportListInput, output=Paged[ReportOut], access=Access.USER)
async def list_reports(ctx: Context, params: ReportListInput) -> Any:
    """Reports on your tokens (role=owner) or the reports you made as an agent (role=agent)."""
    actor = ctx.require_actor()
    query = AgentReport.filter(**{f"{params.role}_id": actor.id})
    if params.state:
        query = query.filter(state=params.state)
    if params.token:
        query = query.filter(token_id=params.token)
    page = await paginate(query.select_related("owner", "agent"), params)
    page.items = [_report_view(report, ctx) for report in page.items]
    return page


async def _pending_report(ctx: Context, report_id: str) -> AgentReport:
    actor = ctx.require_actor()
    report = await AgentReport.get_or_none(id=report_id, owner_id=actor.id).select_related("owner", "agent")
    if report is None:
        raise NotFound(f"there is no report with id {report_id!r} on your tokens", code="report-not-found")
    if report.state != ReportState.PENDING.value:
        raise Conflict(f"this report is already {report.state}", code="report-decided")
    return report


@REGISTRY.operation("agents.reports.approve", IdInput, output=ReportOut)
async def approve_report(ctx: Context, params: IdInput) -> dict[str, Any]:
    """Apply a held report; 409 if the token changed since the agent reported."""
    report = await _pending_report(ctx, params.id)
    token = await get_visible_token(ctx, report.token_id)
    if token.owner_id != report.owner_id:
        raise Conflict("the token has a new owner since this report was made", code="owner-changed")
    if token.version != report.base_version:
        raise Conflict(
            f"the token changed since the report (version {report.base_version}, now {token.version})",
            code="version-mismatch",
            extra={"current_version": token.version},
        )
    await _apply(ctx, token, report, Resolver())
    report.state, report.applied_version, report.decided_at = ReportState.APPLIED.value, token.version, _now()
    await report.save(update_fields=["state", "applied_version", "decided_at", "updated_at"])
    await ctx.emit("agent.report.applied", "token", token.id, {"agent": report.agent.id, "report": report.id})
    return _report_view(report, ctx)


@REGISTRY.operation("agents.reports.reject", IdInput, output=ReportOut)
async def reject_report(ctx: Context, params: IdInput) -> dict[str, Any]:
    """Refuse a held report; the token stays as it is."""
    report = await _pending_report(ctx, params.id)
    report.state, report.decided_at = ReportState.REJECTED.value, _now()
    await report.save(update_fields=["state", "decided_at", "updated_at"])
    token_id = report.token_id
    await ctx.emit("agent.report.rejected", "token", token_id, {"agent": report.agent.id, "report": report.id})
    return _report_view(report, ctx)
