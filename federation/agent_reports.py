"""Agents across servers: grants to remote agents, their signed reports, and the answers.

Receiving: the inbox normally refuses an Update of an object on another server than the actor's.
When the actor holds an agent grant from the token's owner, the Update is accepted, queued like
any activity, and processed as that agent's report (models.operations.agents.report_change), so
the checks of an API report apply: grant coverage, schema, version, approval. The object carries
only the changed `attributes`, optionally the `version` it was made against and a `content` note.
The owner answers with Accept (applied) or Reject (refused, with the reason as `content`) once
the report is decided, so the agent's server learns the outcome.

Sending: a local agent reports a change to a token on another server (`agents.reports.send`):
the token is fetched to find its owner, and the Update is queued for the owner's inbox through
the durable delivery like any activity; its answer is recorded on the SentReport.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.actors import Actor, Role
from models.agents import AgentGrant, AgentReport, SentReport, SentState
from models.base import iso
from models.bounds import Version
from models.context import Context, Site
from models.errors import BadInput, DomainError, NotFound, Unprocessable
from models.events import Event
from models.federation import Delivery, RemoteActor
from models.operations.agents import GrantCreateInput, GrantOut, create_grant, report_change
from models.outputs import Paged
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access, Input, Transaction
from models.tokens import Token

from .actors import instance_actor
from .as2 import as_id, domain_of, type_of
from .delivery import GIVEN_UP
from .documents import object_url
from .fetch import FetchError, remote_object_owner
from .follows import resolve_target
from .outbox import EVENT_PUBLISHERS, publish
from .outputs import SentReportOut
from .remote_actors import remote_actor

__all__ = ["agent_update_token", "on_agent_update", "on_report_answer"]

# ---------------------------------------------------------------- grants to remote agents


def _names_remote(site: Site, name: str) -> bool:
    """Whether a grant's `agent` names an actor on another server (user@host or an actor URL)."""
    if name.startswith(("https://", "http://")):
        return domain_of(name) != domain_of(site.base_url)
    _, at, host = name.lstrip("@").partition("@")
    return bool(at) and host.lower() != site.domain.lower()


@REGISTRY.operation("agents.grants.create", GrantCreateInput, output=GrantOut, transaction=Transaction.NONE)
async def grant(ctx: Context, params: GrantCreateInput) -> dict[str, Any]:
    """Let an agent report changes to one of your tokens or to the tokens of one of your sets.

    The agent is a local account with the agent role, or a remote actor (user@host or its URL),
    looked up and fetched before the grant is written.
    """
    ctx.require_actor()
    agent: Actor | None = None
    if _names_remote(ctx.site, params.agent):
        agent = await Actor.get_or_none(uri=params.agent)
        if agent is None:
            try:
                agent = await resolve_target(ctx, params.agent)
            except DomainError as error:
                raise NotFound(f"cannot find the agent {params.agent!r}: {error}", code="agent-not-found") from None
    elif "@" in params.agent.lstrip("@"):  # user@our-domain
        params = params.model_copy(update={"agent": params.agent.lstrip("@").partition("@")[0]})
    async with in_transaction():
        return await create_grant(ctx, params, agent)


# ---------------------------------------------------------------- receiving reports


def _local_token_id(site: Site, activity: Mapping[str, Any]) -> str | None:
    if type_of(activity) != "Update":
        return None
    prefix = object_url(site.base_url, "token", "")
    object_id = str(as_id(activity.get("object")) or "")
    token_id = object_id.removeprefix(prefix)
    return token_id if object_id.startswith(prefix) and token_id and "/" not in token_id else None


async def agent_update_token(site: Site, activity: Mapping[str, Any], actor_uri: str) -> str | None:
    """The id of our token this Update reports on, when its (verified) actor holds any agent grant."""
    token_id = _local_token_id(site, activity)
    if token_id is None:
        return None
    return token_id if await AgentGrant.filter(agent__uri=actor_uri).exists() else None


async def _answer(
    site: Site, owner: Actor, agent: RemoteActor, activity_uri: str, kind: str, reason: str = "",
    event_id: str | None = None,
) -> None:
    """Accept or Reject an agent's Update, sent to the agent alone (call inside a transaction)."""
    await publish(
        site, owner, kind, activity_uri, inboxes=[agent.inbox], to=[agent.uri], event_id=event_id,
        extra={"content": reason} if reason else None,
    )


async def on_agent_update(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """Process an agent's Update as a report; None when the activity is not about our token.

    A report refused here (outside the grant, invalid values, an old version) is answered with a
    Reject at once; one applied or held is answered when decided (`_answer_decided`).
    """
    token_id = _local_token_id(site, activity)
    if token_id is None:
        return None
    obj = activity.get("object")
    attributes = obj.get("attributes") if isinstance(obj, Mapping) else None
    if not isinstance(attributes, Mapping) or not attributes:
        return "ignored: an agent's Update must carry the changed attributes"
    version = obj.get("version") if isinstance(obj, Mapping) else None
    note = obj.get("content") if isinstance(obj, Mapping) else None
    activity_uri = as_id(activity)
    agent = await sender.actor
    try:
        async with in_transaction():
            report = await report_change(
                Context(site=site, actor=agent),
                agent,
                token_id,
                dict(attributes),
                version if isinstance(version, int) and not isinstance(version, bool) else None,
                note[:2000] if isinstance(note, str) else "",
                activity_uri,
            )
    except DomainError as error:
        reason = f"{error.code}: {error}"[:500]
        if activity_uri:
            token = await Token.get_or_none(id=token_id).select_related("owner")
            owner = token.owner if token is not None and token.owner.is_local else await instance_actor()
            async with in_transaction():
                await _answer(site, owner, sender, activity_uri, "Reject", reason)
        return f"ignored: agent report refused: {reason}"
    return f"agent report {report['id']} {report['state']}"


_DECISIONS = {"agent.report.applied": "Accept", "agent.report.rejected": "Reject"}


async def _answer_decided(site: Site, event: Event) -> bool:
    """The owner's answer to a remote agent's report, once it is applied or rejected."""
    report = await AgentReport.get_or_none(id=str((event.payload or {}).get("report") or "")).select_related("owner")
    if report is None or not report.activity_uri or not report.owner.is_local:
        return False
    agent = await RemoteActor.get_or_none(actor_id=report.agent_id)
    if agent is None:  # a local agent reads its reports through the API
        return False
    kind = _DECISIONS[event.name]
    reason = "" if kind == "Accept" else "the owner rejected this report"
    try:
        async with in_transaction():
            await _answer(site, report.owner, agent, report.activity_uri, kind, reason, event_id=event.id)
    except IntegrityError:  # another sweeper answered first
        return False
    return True


for _name in _DECISIONS:
    EVENT_PUBLISHERS[_name] = _answer_decided


# ---------------------------------------------------------------- sending reports


class SendReportInput(Input):
    token: str = Field(min_length=8, max_length=2048, description="the URL of a token on another server")
    attributes: dict[str, Any] = Field(min_length=1, max_length=1000, description="null removes a value")
    version: Version | None = Field(None, description="the token version the change was made against")
    note: str = Field("", max_length=2000)


class SentListInput(ListInput):
    state: SentState | None = None


def _sent_view(row: SentReport, delivery: Delivery | None) -> dict[str, Any]:
    """A sent report, its answer (or why it never arrived), and its delivery while that is kept."""
    return {
        "id": row.id,
        "token": row.token_uri,
        "owner": row.owner_uri,
        "activity": row.activity_uri,
        "attributes": row.attributes,
        "version": row.base_version,
        "note": row.note,
        "state": row.state,
        "detail": row.detail,
        "delivery": None if delivery is None else {
            "state": delivery.state, "attempts": delivery.attempts, "last_status": delivery.last_status,
        },
        "created_at": iso(row.created_at),
        "decided_at": iso(row.decided_at),
    }


async def _deliveries(rows: list[SentReport]) -> dict[str, Delivery]:
    found = await Delivery.filter(activity_uri__in=[row.activity_uri for row in rows])
    return {delivery.activity_uri: delivery for delivery in found}


@REGISTRY.operation(
    "agents.reports.send", SendReportInput, output=SentReportOut, role=Role.AGENT, transaction=Transaction.NONE
)
async def send_report(ctx: Context, params: SendReportInput) -> dict[str, Any]:
    """Report a change to a token on another server (agents only); its owner's server answers later."""
    me = ctx.require_actor()
    url = params.token
    if not url.startswith(("https://", "http://")):
        raise BadInput("token must be the URL of a token on another server", code="invalid-token-url")
    if domain_of(url) == domain_of(ctx.site.base_url):
        raise BadInput("this token is on this server: report it with POST /api/v1/agents/reports", code="local-token")
    try:
        owner = await remote_object_owner(ctx.site, url, ("Token",))
    except FetchError as error:
        if error.kind == "not-object":
            raise Unprocessable(f"{url} is not a token", code="not-a-token") from None
        raise Unprocessable(f"cannot fetch {url}: {error.detail}", code="token-unavailable") from None
    try:
        recipient = await remote_actor(ctx.site, owner)
    except FetchError as error:
        raise Unprocessable(f"cannot fetch the token's owner {owner}: {error.detail}", code="owner-unavailable") from None
    change: dict[str, Any] = {"id": url, "type": "Token", "attributes": params.attributes}
    if params.version is not None:
        change["version"] = params.version
    if params.note:
        change["content"] = params.note
    async with in_transaction():
        activity = await publish(ctx.site, me, "Update", change, inboxes=[recipient.inbox], to=[owner])
        row = await SentReport.create(
            agent=me, token_uri=url, owner_uri=owner, activity_uri=activity["id"], attributes=params.attributes,
            base_version=params.version, note=params.note,
        )
        await ctx.emit("agent.report.sent", "agent_report", row.id, {"token": url, "fields": sorted(params.attributes)})
    return _sent_view(row, None)


@REGISTRY.operation(
    "agents.reports.sent", SentListInput, output=Paged[SentReportOut], access=Access.USER, role=Role.AGENT
)
async def list_sent(ctx: Context, params: SentListInput) -> Page:
    """The reports you sent to other servers, with their answers (newest first)."""
    me = ctx.require_actor()
    query = SentReport.filter(agent_id=me.id)
    if params.state:
        query = query.filter(state=params.state.value)
    page = await paginate(query, params)
    deliveries = await _deliveries(page.items)
    page.items = [_sent_view(row, deliveries.get(row.activity_uri)) for row in page.items]
    return page


async def _settle(activity_uri: str, state: SentState, detail: str) -> bool:
    """Record how a sent report ended, once: False when it had ended before."""
    changed = await SentReport.filter(activity_uri=activity_uri, state=SentState.SENT.value).update(
        state=state.value, detail=detail[:2000], decided_at=datetime.now(UTC)
    )
    return bool(changed)


async def _given_up(activity_uri: str, status: int | None, error: str | None) -> None:
    """Delivery gave up on one of our reports: the owner's server refused it (4xx) or never answered."""
    refused = status is not None and 400 <= status < 500
    await _settle(activity_uri, SentState.REFUSED if refused else SentState.UNDELIVERABLE, error or "")


GIVEN_UP.append(_given_up)


async def on_report_answer(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """An Accept or Reject of a report we sent; None when it answers something else."""
    row = await SentReport.get_or_none(activity_uri=as_id(activity.get("object")) or "")
    if row is None:
        return None
    if sender.uri != row.owner_uri:
        return "ignored: only the token's owner answers a report"
    state = SentState.APPLIED if type_of(activity) == "Accept" else SentState.REJECTED
    reason = activity.get("content")
    if not await _settle(row.activity_uri, state, reason if isinstance(reason, str) else ""):
        return f"ignored: agent report {row.id} was answered before"
    return f"agent report {row.id} {state.value}"
