"""Organization members on other servers (issue 19, item 4): proposals as polls, votes as replies.

Origin side (the organization's server, A). A member added as `user@host` is told with an `Add`
(object: the member, target: the organization's members collection), signed by the
organization's key. When a proposal opens, the organization sends a `Create` of a `Question`
shaped like a Mastodon poll (federation/documents.py question_document) to its members on
other servers, addressed to each directly; when it is decided, an `Update` of that Question
with the final tally, `closed`, and the outcome. The Question is served at the proposal's URL.
A remote member votes exactly as Mastodon votes in a poll: a `Create` of a `Note` whose `name`
is the choice and whose `inReplyTo` is the Question. The inbox hands such a Create here
(`on_vote`); only a voter snapshotted when the proposal opened, only while it is open, counts,
and a new vote replaces the earlier one (models/operations/organizations.py record_vote).
Anything else is dropped with its reason in the inbox row's outcome and the log.

Member side (B). A Question from an organization, addressed to one of our users, is kept as a
`RemoteObject` copy with a `RemoteBallot` per addressee (`on_question`); an Update replaces
the copy. `organizations.remote.list` lists them; `organizations.remote.vote` sends the vote,
signed by the user, through the transactional outbox.

These activities are not public: each is stored with its event's id as its own id (so two
sweepers cannot make it twice) and no event_id, which keeps it out of the public outbox and
/activities. Wire format: docs/federation-organizations.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.base import iso
from models.context import Context, Site
from models.errors import Conflict, NotFound, Unprocessable
from models.events import Event
from models.federation import OutboxActivity, RemoteActor, RemoteObject
from models.ids import new_id
from models.operations.organizations import record_vote
from models.organizations import ORGANIZATION_KIND, Choice, Organization, Proposal, RemoteBallot
from models.outputs import Output, Paged
from models.paging import ListInput, paginate
from models.registry import REGISTRY, Access, Input

from . import documents
from .actors import local_actor_named
from .as2 import as_id, as_list, domain_of, type_of
from .objects import proposal_audience, read_object
from .outbox import EVENT_PUBLISHERS, activity_url, publish
from .outputs import ObjectDocument

__all__ = ["on_question", "on_vote", "proposal_id_of"]

log = logging.getLogger("tallystick.org_votes")

_TAGS = re.compile(r"<[^>]*>")
_ID = re.compile(r"[0-9a-z]{26}")  # models/ids.py: 26 characters of lower-case Crockford base32
CHOICES = frozenset(choice.value for choice in Choice)
QUESTION = "Question"


def proposal_id_of(site: Site, url: str) -> str | None:
    """The id of our proposal served at `url`, or None when it is not one of our proposal URLs."""
    prefix = f"{site.base_url}/{documents.OBJECT_PATHS['proposal']}/"
    rest = url[len(prefix):] if url.startswith(prefix) else ""
    return rest if _ID.fullmatch(rest) else None


# ---------------------------------------------------------------- origin: telling remote members


async def _remote(actors: list[Actor]) -> list[RemoteActor]:
    """The cached remote actors among `actors` (local ones are not sent anything)."""
    return list(await RemoteActor.filter(actor_id__in=[a.id for a in actors if not a.is_local], gone_at=None))


async def _publish_once(
    site: Site, event: Event, actor: Actor, kind: str, obj: Any, to: list[str], recipients: list[RemoteActor],
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """One activity for the event, to these recipients' own inboxes; False when made before or nobody hears it."""
    if not recipients or await OutboxActivity.filter(id=event.id).exists():
        return False
    try:
        async with in_transaction():
            await publish(site, actor, kind, obj, inboxes=list(dict.fromkeys(r.inbox for r in recipients)), to=to,
                          row_id=event.id, extra=extra)
    except IntegrityError:  # another sweeper made it first
        return False
    return True


def _payload(event: Event) -> Mapping[str, Any]:
    return event.payload if isinstance(event.payload, Mapping) else {}


async def _member_added(site: Site, event: Event) -> bool:
    """`Add` {object: the member, target: the organization's members collection} to a remote member."""
    member = await Actor.get_or_none(id=str(_payload(event).get("actor") or ""))
    organization = await Organization.get_or_none(id=event.object_id).select_related("actor")
    if member is None or member.is_local or organization is None:
        return False
    recipients = await _remote([member])
    if not recipients:
        return False
    members = f"{local_actor_url(site.base_url, organization.actor)}/members"
    return await _publish_once(site, event, organization.actor, "Add", recipients[0].uri, [recipients[0].uri], recipients,
                               extra={"target": members})


async def _question(site: Site, event: Event, kind: str) -> bool:
    """The proposal's Question (a Create when it opens, an Update when decided) to its remote members."""
    proposal = await Proposal.get_or_none(id=str(_payload(event).get("proposal") or event.object_id))
    if proposal is None or await OutboxActivity.filter(id=event.id).exists():  # the sweep sees an event until it settles
        return False
    found = await read_object(site, "proposal", proposal.id)
    document = {key: value for key, value in found.document.items() if key != "@context"}
    recipients = await _remote(await proposal_audience(site, proposal))
    return await _publish_once(site, event, found.owner, kind, document, list(document["to"]), recipients)


async def _opened(site: Site, event: Event) -> bool:
    return await _question(site, event, "Create")


async def _decided(site: Site, event: Event) -> bool:
    return await _question(site, event, "Update")


EVENT_PUBLISHERS["organization.member.added"] = _member_added
EVENT_PUBLISHERS["organization.proposal.opened"] = _opened
for _name in ("executed", "rejected", "failed"):
    EVENT_PUBLISHERS[f"organization.proposal.{_name}"] = _decided


class ProposalDocumentInput(Input):
    id: str = Field(min_length=1, max_length=64)


@REGISTRY.operation("federation.proposal", ProposalDocumentInput, output=ObjectDocument, access=Access.PUBLIC)
async def proposal_document(ctx: Context, params: ProposalDocumentInput) -> dict[str, Any]:
    """An organization's proposal as a `Question`, for those it is addressed to: a member signed in
    here, or a fetch signed by a member elsewhere or by their server's actor (404 to anyone else)."""
    proposal = await Proposal.get_or_none(id=params.id)
    if proposal is None or not await _may_read(ctx, proposal):
        raise NotFound(f"there is no proposal {params.id!r}", code="proposal-not-found")
    return (await read_object(ctx.site, "proposal", proposal.id)).document


async def _may_read(ctx: Context, proposal: Proposal) -> bool:
    audience = await proposal_audience(ctx.site, proposal)
    if ctx.user is not None and ctx.user.actor_id in {actor.id for actor in audience}:
        return True
    signer = str(ctx.extra.get("signed_by") or "")
    if not signer:
        return False
    remote = [actor for actor in audience if not actor.is_local]
    return any(actor.uri == signer or actor.domain == domain_of(signer) for actor in remote)


# ---------------------------------------------------------------- origin: votes from other servers


async def on_vote(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """A remote member's vote (a Create of a Note replying to one of our proposals, named yes, no
    or abstain); None when the activity is no reply to one of our proposals."""
    obj = activity.get("object")
    if activity["type"] != "Create" or not isinstance(obj, Mapping) or type_of(obj) != "Note":
        return None
    target = as_id(obj.get("inReplyTo")) or ""
    if not target.startswith(f"{site.base_url}/{documents.OBJECT_PATHS['proposal']}/"):
        return None  # a reply to something else: not ours to count

    def refused(reason: str) -> str:
        log.info("org_votes: a vote from %s on %s was not counted: %s", sender.uri, target, reason)
        return f"ignored: vote not counted: {reason}"

    choice = obj.get("name")
    if choice not in CHOICES:
        return refused("the Note's name must be yes, no or abstain")
    proposal_id = proposal_id_of(site, target)
    proposal = await Proposal.get_or_none(id=proposal_id) if proposal_id else None
    if proposal is None:
        return refused("there is no such proposal")
    voter = await Actor.get(id=sender.actor_id)
    async with in_transaction():
        why = await record_vote(Context(site=site, actor=voter, remote=True), proposal, voter, Choice(str(choice)))
    if why is not None:
        return refused(why)
    return f"vote counted: {choice}"


# ---------------------------------------------------------------- member side: proposals that reach us


async def _addressees(site: Site, activity: Mapping[str, Any], obj: Mapping[str, Any]) -> list[Actor]:
    """Our actors a Question is addressed to (to/cc of the activity or the object)."""
    prefix = f"{site.base_url}/users/"
    found: dict[str, Actor] = {}
    for holder in (activity, obj):
        for field in ("to", "cc"):
            for url in as_list(holder.get(field)):
                name = url[len(prefix):] if isinstance(url, str) and url.startswith(prefix) else ""
                actor = await local_actor_named(name) if name and "/" not in name else None
                if actor is not None and actor.kind != ORGANIZATION_KIND:
                    found[actor.id] = actor
    return list(found.values())


async def on_question(
    site: Site, activity: Mapping[str, Any], sender: RemoteActor, copy: RemoteObject | None
) -> str | None:
    """Keep an organization's proposal addressed to our users (Create or Update of a Question);
    None when the object is no Question."""
    obj = activity.get("object")
    if activity["type"] not in ("Create", "Update") or not isinstance(obj, Mapping) or type_of(obj) != QUESTION:
        return None
    if (await Actor.get(id=sender.actor_id)).kind != ORGANIZATION_KIND:
        return "ignored: a poll of an account that is not an organization"
    addressees = await _addressees(site, activity, obj)
    if not addressees:
        return "ignored: a proposal addressed to nobody here"
    uri = str(as_id(obj))
    async with in_transaction():
        if copy is None:
            try:
                copy = await RemoteObject.create(uri=uri, type=QUESTION, owner_id=sender.actor_id, document=dict(obj))
            except IntegrityError:
                return "duplicate"
            outcome = "stored proposal"
        else:
            await RemoteObject.filter(id=copy.id).update(document=dict(obj), type=QUESTION, is_deleted=False)
            outcome = "updated proposal"
        for actor in addressees:
            if not await RemoteBallot.filter(copy_id=copy.id, actor_id=actor.id).exists():
                await RemoteBallot.create(copy_id=copy.id, actor_id=actor.id)
    return outcome


# ---------------------------------------------------------------- member side: operations


class RemoteProposalOut(Output):
    url: str = Field(description="the proposal's URL on its organization's server (its ActivityPub id)")
    organization: str = Field(description="the organization's handle, name@host")
    title: str
    content: str = Field(description="the proposal's description as its server gives it, as plain text")
    deadline: str | None
    state: str = Field(description="open, executed, rejected or failed, as its server last told us")
    closed: bool
    outcome: str | None = Field(description="passed, no-quorum or not-a-majority, once decided")
    error: str | None = Field(description="why a passed proposal's actions failed")
    tally: dict[str, str] = Field(description="the shares behind yes, no and abstain")
    voters_count: int
    total_shares: str | None
    quorum_percent: int | None
    my_vote: str | None = Field(description="what you last sent from here (yes, no, abstain)")
    voted_at: str | None
    updated_at: str | None


def _text(html: Any) -> str:
    """Plain text of a remote HTML field (tags dropped): pages escape it again."""
    return _TAGS.sub(" ", html if isinstance(html, str) else "").replace("&lt;", "<").replace(
        "&gt;", ">").replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&").strip()


def _is_closed(document: Mapping[str, Any], now: datetime) -> bool:
    if document.get("closed") or document.get("proposalState") not in (None, "open"):
        return True
    end = document.get("endTime")
    try:
        return isinstance(end, str) and datetime.fromisoformat(end.replace("Z", "+00:00")) <= now
    except ValueError:
        return False


async def _views(rows: list[tuple[RemoteObject, RemoteBallot]]) -> list[dict[str, Any]]:
    owners = {a.id: a for a in await Actor.filter(id__in=list({copy.owner_id for copy, _ in rows}))}
    now = datetime.now(UTC)
    views = []
    for copy, ballot in rows:
        document = copy.document
        owner = owners.get(copy.owner_id)
        tally = {
            str(option.get("name")): str((option.get("replies") or {}).get("totalItems", 0))
            for option in as_list(document.get("oneOf")) if isinstance(option, Mapping)
        }
        error = document.get("outcomeError")
        title = str(document.get("name") or "")[:200]
        content = _text(document.get("content"))
        content = content[len(title):].strip() if title and content.startswith(title) else content  # said as the title
        views.append({
            "url": copy.uri,
            "organization": f"{owner.username}@{owner.domain}" if owner else "",
            "title": title,
            "content": content[:10_000],
            "deadline": document.get("endTime") if isinstance(document.get("endTime"), str) else None,
            "state": str(document.get("proposalState") or ("closed" if document.get("closed") else "open")),
            "closed": _is_closed(document, now),
            "outcome": document.get("outcome") if isinstance(document.get("outcome"), str) else None,
            "error": str(error.get("detail")) if isinstance(error, Mapping) else None,
            "tally": tally,
            "voters_count": int(document.get("votersCount") or 0) if str(document.get("votersCount") or 0).isdigit() else 0,
            "total_shares": str(document["totalShares"]) if document.get("totalShares") is not None else None,
            "quorum_percent": document.get("quorumPercent") if isinstance(document.get("quorumPercent"), int) else None,
            "my_vote": ballot.choice,
            "voted_at": iso(ballot.voted_at),
            "updated_at": iso(copy.updated_at),
        })
    return views


class RemoteProposalsInput(ListInput):
    pass


@REGISTRY.operation("organizations.remote.list", RemoteProposalsInput, output=Paged[RemoteProposalOut], access=Access.USER)
async def list_remote_proposals(ctx: Context, params: RemoteProposalsInput) -> Any:
    """Proposals of organizations on other servers that you are a member of, newest first, with
    their tally and outcome as their server last told us, and your vote."""
    me = ctx.require_actor()
    page = await paginate(RemoteBallot.filter(actor_id=me.id, copy__is_deleted=False).select_related("copy"), params)
    page.items = await _views([(ballot.copy, ballot) for ballot in page.items])
    return page


class RemoteVoteInput(Input):
    proposal: str = Field(min_length=8, max_length=2048, description="the proposal's URL (as organizations.remote.list gives it)")
    choice: Choice

    @field_validator("proposal")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("the proposal's URL, starting with https://")
        return value.strip()


@REGISTRY.operation("organizations.remote.vote", RemoteVoteInput, output=RemoteProposalOut)
async def vote_remote(ctx: Context, params: RemoteVoteInput) -> dict[str, Any]:
    """Vote on a proposal of an organization on another server (a Note signed by you, as a Mastodon
    poll vote); vote again to change it until the deadline. Its server counts it if you held shares
    when it opened; the tally comes back when it is decided."""
    me = ctx.require_actor()
    ballot = await RemoteBallot.get_or_none(actor_id=me.id, copy__uri=params.proposal, copy__is_deleted=False)
    if ballot is None:
        raise NotFound("no proposal at this URL reached you", code="proposal-not-found",
                       errors=[{"field": "proposal", "message": "no proposal at this URL reached you"}])
    copy = await RemoteObject.get(id=ballot.copy_id)
    now = datetime.now(UTC)
    if _is_closed(copy.document, now):
        raise Conflict("voting on this proposal has ended", code="voting-closed")
    organization = await RemoteActor.get_or_none(actor_id=copy.owner_id, gone_at=None)
    if organization is None:
        raise Unprocessable("the organization's server is no longer known here", code="organization-gone")
    row_id = new_id()
    me_url = local_actor_url(ctx.site.base_url, me)
    note = {
        "id": f"{activity_url(ctx.site.base_url, row_id)}#vote", "type": "Note", "name": params.choice.value,
        "attributedTo": me_url, "inReplyTo": copy.uri, "to": organization.uri,
    }
    await publish(ctx.site, me, "Create", note, inboxes=[organization.inbox], to=[organization.uri], row_id=row_id)
    await RemoteBallot.filter(id=ballot.id).update(choice=params.choice.value, voted_at=now, updated_at=now)
    ballot.choice, ballot.voted_at = params.choice.value, now
    return (await _views([(copy, ballot)]))[0]
