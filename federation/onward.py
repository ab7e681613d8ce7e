"""Gives onward: units held on another server, given or burnt by asking their origin.

dave on B holds 10 of carol's units (her type lives on A): A's ledger has outputs whose
recipient is dave's actor, and B mirrors them (federation/remote_gives.py). Only A can spend
them, since only A's conditional decrement stops a double spend. So a give (or burn) of them
is a request to A, in dave's name:

- **B, the holder's server** (`ask_origin`, installed as `Site.remote_ledger`): `ledger.give`
  with the type's URL records an `OnwardGive` row (a machine on the engine, models/machines.py
  ONWARD_GIVES) and tries it at once. The request is a `Create` of a `LedgerEntry` without an
  id (its type, amount, target, sources), POSTed to the origin's ledger endpoint
  (`<origin>/ledger`) and signed with dave's key. A signed POST that the origin answers at
  once, not an activity to its inbox: an inbox answers 202 and nothing more, while dave must
  see the origin's verdict (the entry, or 409 insufficient with its reason) in the same call
  when the origin is up. The request's id (on B, in dave's name) makes it safe to send again:
  when the origin is down, the engine retries with backoff and dave sees "pending".
- **A, the origin** (`receive_ledger_request`, `POST /ledger`): the signature must be the
  actor's, the request id must live on the actor's server, the type must be ours; then the
  spend runs as a local one (models/operations/remote_spends.py) and A answers 201 with the
  entry's document (200 and the same entry for a repeat). The entry is published like any
  other, to the recipient's server and to the holder's (federation/outbox.py).
- **Back on B**: the answer is the origin's confirmation, so B records the debit of dave's
  holding (and credits a recipient on B) at once; the published Create, when it arrives, finds
  them recorded. A give by dave that reached A another way (a second process, a retry whose
  answer was lost) is recorded when its Create arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field
from tortoise.transactions import in_transaction

from models import sql
from models.actors import Actor, local_actor_url
from models.amounts import to_decimal_string
from models.base import iso
from models.context import Context, Site
from models.engine import GiveUp, Go, Lease, Outcome, Retry, claimed_at_birth, run_claimed
from models.errors import BadInput, Conflict, DomainError, Forbidden, NotFound, Unprocessable
from models.federation import OnwardGive, OnwardState, RemoteActor, RemoteCredit
from models.holdings import Holding, OnwardOut, exact, minor_of, origin_of, remote_holdings
from models.ledger import EntryKind
from models.machines import ONWARD_GIVES
from models.operations.ledger import resolve_actor
from models.operations.market_remote import carry_out_bid
from models.operations.remote_spends import carry_out_request
from models.outputs import Paged
from models.paging import ListInput, paginate
from models.registry import REGISTRY, Access, Input

from . import documents
from .as2 import as_id, as_list, domain_of, type_of
from .fetch import FetchError, post_json, refuse_blocked
from .follows import local_actor_of
from .httpsig_core import IncomingRequest
from .inbox import checked_sender, parse_activity
from .remote_actors import remote_actor
from .remote_gives import apply_confirmed_entry
from .signed_objects import signed_document

__all__ = ["ask", "ask_origin", "checked_amount", "onward_view", "origin_open", "receive_ledger_request"]

LEDGER_PATH = "/ledger"
MAX_DESCRIPTION = 1000
_SPENDS = {"give": EntryKind.GIVE, "burn": EntryKind.BURN}


def ledger_endpoint(type_uri: str) -> str:
    """Where the origin of a type takes requests to spend its units: `/ledger` on its server."""
    parts = urlsplit(type_uri)
    return f"{parts.scheme}://{parts.netloc}{LEDGER_PATH}"


# ---------------------------------------------------------------- the holder's server


def onward_view(row: OnwardGive) -> dict[str, Any]:
    """The row as its holder sees it; `problem`: the origin's refusal, or why it is not answered."""
    problem = None
    if row.state == OnwardState.REFUSED.value:
        problem = dict(row.answer or {})
    elif row.last_error:  # pending after a failed try, or failed after the last
        problem = {"status": row.last_status, "code": "origin-unreachable", "detail": row.last_error}
    return {
        "id": row.id, "kind": row.kind, "type": row.type_uri, "symbol": row.symbol, "origin": origin_of(row.type_uri),
        "amount": row.amount, "to": row.target_handle or None, "sources": [tuple(pair) for pair in row.sources],
        "description": row.description, "state": row.state, "entry": row.entry_uri, "problem": problem,
        "attempts": row.attempts, "next_try_at": iso(row.next_at) if row.state == OnwardState.PENDING.value else None,
        "created_at": iso(row.created_at),
    }


def checked_amount(value: str, field: str) -> str:
    """A positive decimal, read by the ledger's parser (400 invalid-amount otherwise)."""
    minor_of(value.strip())
    return value.strip()


class OriginRefused(DomainError):
    """The origin said no; the status is the origin's (set per refusal)."""

    status, code, title = 409, "origin-refused", "Refused by the origin"


def _refusal(row: OnwardGive) -> DomainError:
    """The origin's refusal, as our caller's error: its status, code and reason."""
    answer = row.answer or {}
    given = answer.get("status")
    status = given if isinstance(given, int) else row.last_status or 409
    error = OriginRefused(
        f"{origin_of(row.type_uri)} refused: {answer.get('detail') or answer.get('title') or 'no reason given'}",
        code=str(answer.get("code") or "origin-refused"),
    )
    error.status = status if 400 <= status < 500 else 409
    return error


async def _held_type(holder: Actor, params: Any) -> str:
    """The remote type named, or the type of the remote output named by `from_operation`."""
    if params.type:
        return str(params.type)
    credit = await RemoteCredit.get_or_none(entry_uri=params.from_operation, recipient_id=holder.id)
    if credit is None:
        raise NotFound(f"{params.from_operation!r} is not an output you hold", code="source-not-found")
    return credit.type_uri


def _what_to_spend(holding: Holding, params: Any) -> tuple[str, list[list[str]]]:
    """(amount, [[amount, entry URL], ...]) to ask for. `all` and `from_operation` are read from
    our mirror of the origin's ledger; the origin checks them against its own."""
    view = holding.view(domain="")
    outputs = {output["entry"]: output for output in view["outputs"]}
    amount = None if params.amount is None else checked_amount(params.amount, "amount")
    sources = [[checked_amount(amount, f"sources.{index}.0"), uri] for index, (amount, uri) in enumerate(params.sources or [])]
    if params.from_operation is not None:
        sources = [[amount or outputs.get(params.from_operation, {}).get("remaining", "0"), params.from_operation]]
    for _, uri in sources:
        if uri not in outputs:
            raise NotFound(f"source {uri!r} is not an output you hold", code="source-not-found")
    if params.all:
        balance = str(view["balance"])
        if minor_of_or_zero(balance) <= 0:
            raise Conflict(f"insufficient balance: you hold no {holding.symbol or 'units'} of {holding.type_uri}",
                           code="insufficient")
        return balance, []
    if sources and minor_of_or_zero(sources[0][0]) <= 0:
        raise Conflict(f"insufficient balance: nothing remains of {sources[0][1]}", code="insufficient")
    if amount is not None and params.from_operation is None:
        return amount, sources
    if sources:
        return to_decimal_string(*exact([taken for taken, _ in sources])), sources
    raise Unprocessable("give an amount, sources, from_operation or all", code="amount-required")


def minor_of_or_zero(amount: str) -> int:
    """Minor units of a decimal string, 0 for zero or less (which the ledger's parser refuses)."""
    try:
        return minor_of(amount)[0]
    except DomainError:
        return 0


async def origin_open(type_uri: str) -> None:
    """403 domain-blocked when the type's origin is blocked here: nothing may move to or from it."""
    try:
        await refuse_blocked(type_uri)
    except FetchError:
        raise Forbidden(
            f"{origin_of(type_uri)} is blocked here: units of its types cannot be moved from this server",
            code="domain-blocked",
        ) from None


async def ask_origin(ctx: Context, kind: str, params: Any) -> dict[str, Any]:
    """`ledger.give`/`ledger.burn` of a remote type (its URL): ask its origin, in the caller's name.

    Answers the request's record: done (201) when the origin answered in time, pending (202)
    when it is away (the engine sends it again); the origin's refusal as an error.
    """
    holder = ctx.require_actor()
    type_uri = await _held_type(holder, params)
    first = await RemoteCredit.filter(recipient_id=holder.id, type_uri=type_uri).order_by("id").first()
    if first is None:
        raise NotFound(f"you hold no units of {type_uri}", code="type-not-found")
    await origin_open(type_uri)
    if params.sources or params.from_operation is not None or params.all:  # read from our mirror
        [holding] = await remote_holdings(holder.id, type_uri)
        amount, sources = _what_to_spend(holding, params)
    else:  # the common give: an amount, oldest first; the origin alone knows if it is covered
        amount, sources = checked_amount(params.amount or "", "amount"), []
    target_uri, handle = None, ""
    if kind == "give":
        recipient = await resolve_actor(params.to, ctx, look_up=True)  # an unseen one is looked up
        if recipient.id == holder.id:
            raise Unprocessable("you cannot give to yourself", code="self-give")
        target_uri, handle = recipient.uri or local_actor_url(ctx.site.base_url, recipient), params.to.strip()
    row = await ask(ctx, OnwardGive(
        holder=holder, kind=kind, type_uri=type_uri, symbol=first.symbol, amount=amount, target_uri=target_uri,
        target_handle=handle, sources=sources, description=params.description or "",
    ))
    ctx.extra["location"] = f"/api/v1/ledger/remote-gives/{row.id}"
    return onward_view(row)


async def ask(ctx: Context, row: OnwardGive) -> OnwardGive:
    """Record a request to the origin of `row.type_uri` and send it at once; the row as it ended
    (done: 201, pending: 202 in ctx.extra["status"]), or the origin's refusal as an error."""
    # Sent at once by this request, which waits for the answer; inside a transaction (a queued
    # job runs its operation in one) only recorded: the runner sends it once that commits.
    inline = not sql.in_transaction_now()
    lease, claimed = claimed_at_birth(ONWARD_GIVES, ctx.site)
    for name, value in (claimed if inline else {"state": OnwardState.PENDING.value}).items():
        setattr(row, name, value)
    row.endpoint = ledger_endpoint(row.type_uri)
    row.request_uri = f"{local_actor_url(ctx.site.base_url, ctx.require_actor())}/ledger-requests/{row.id}"
    await row.save()
    if inline:
        await run_claimed(lease, [row])
    row = await OnwardGive.get(id=row.id)
    if row.state == OnwardState.REFUSED.value:
        raise _refusal(row)
    ctx.extra["status"] = 201 if row.state == OnwardState.DONE.value else 202
    return row


def request_document(site: Site, row: OnwardGive, holder: Actor) -> dict[str, Any]:
    """The signed request: a Create of the entry we ask the origin to make."""
    entry: dict[str, Any] = {
        "type": "LedgerEntry",
        "entryKind": row.kind,
        "tokenType": row.type_uri,
        "amount": row.amount,
        "attributedTo": local_actor_url(site.base_url, holder),
    }
    if row.target_uri:
        entry["target"] = row.target_uri
    if row.sources:
        entry["sources"] = [{"id": uri, "amount": amount} for amount, uri in row.sources]
    if row.description:
        entry["summary"] = row.description
    if row.bid_amount is not None:
        entry["bidAmount"] = row.bid_amount
    return {
        "@context": [documents.AS_CONTEXT, documents.vocabulary_url(site.base_url)],
        "id": row.request_uri,
        "type": "Create",
        "actor": local_actor_url(site.base_url, holder),
        "to": [row.endpoint],
        "object": entry,
        "published": iso(row.created_at),
    }


def _confirms(row: OnwardGive, holder_url: str, entry: Any) -> bool:
    """The origin's answer is the entry we asked for."""
    return (
        isinstance(entry, Mapping)
        and type_of(entry) == "LedgerEntry"
        and domain_of(str(as_id(entry) or "")) == domain_of(row.type_uri)
        and entry.get("entryKind") == row.kind
        and as_id(entry.get("tokenType")) == row.type_uri
        and as_id(entry.get("attributedTo")) == holder_url
        and (row.target_uri is None or as_id(entry.get("target")) == row.target_uri)
    )


_TRANSIENT = {401, 408, 425, 429}  # 401: the origin could not fetch our key yet, or our clocks differ


@ONWARD_GIVES.handler(may={OnwardState.DONE.value, OnwardState.REFUSED.value, OnwardState.FAILED.value})
async def send_request(site: Site, row: OnwardGive, lease: Lease) -> Outcome:
    """Send one request to the origin and record its verdict (the debit, a local credit)."""
    holder = await Actor.get(id=row.holder_id)
    holder_url = local_actor_url(site.base_url, holder)
    try:
        answer = await post_json(site, row.endpoint, request_document(site, row, holder), signer=holder)
    except FetchError as error:
        if error.kind == "refused":  # blocked here since, or an address we may not reach
            return GiveUp(reason=error.detail)
        return Retry(error=error.detail)
    status, body = answer.status, answer.document
    if 200 <= status < 300:
        if not _confirms(row, holder_url, body):
            return Retry(error=f"the origin answered {status} with another entry than the one asked for",
                         values={"last_status": status})
        assert body is not None
        done = Go(OnwardState.DONE.value, values={"entry_uri": str(as_id(body)), "answer": body, "last_status": status})
        async with in_transaction():  # the debit (and a local credit) with the row's end: one commit
            await apply_confirmed_entry(site, body, symbol=row.symbol)
            return await lease.commit(row, done)
    detail = str((body or {}).get("detail") or (body or {}).get("title") or f"status {status}")[:300]
    if status in _TRANSIENT or status >= 500:
        return Retry(error=f"the origin answered {status}: {detail}", retry_after=answer.retry_after,
                     values={"last_status": status})
    problem = {"status": status, "code": str((body or {}).get("code") or "origin-refused"), "detail": detail}
    return GiveUp(reason=f"the origin refused: {detail}", state=OnwardState.REFUSED.value,
                  values={"answer": problem, "last_status": status})


class RemoteGivesInput(ListInput):
    state: OnwardState | None = None


@REGISTRY.operation("ledger.remote_gives.list", RemoteGivesInput, output=Paged[OnwardOut], access=Access.USER)
async def list_remote_gives(ctx: Context, params: RemoteGivesInput) -> Any:
    """Your gives and burns of units held on other servers, newest first, with their state."""
    query = OnwardGive.filter(holder_id=ctx.require_actor().id)
    if params.state is not None:
        query = query.filter(state=params.state.value)
    page = await paginate(query, params)
    page.items = [onward_view(row) for row in page.items]
    return page


class RemoteGiveInput(Input):
    id: str = Field(min_length=1, max_length=64)


@REGISTRY.operation("ledger.remote_gives.get", RemoteGiveInput, output=OnwardOut, access=Access.USER)
async def get_remote_give(ctx: Context, params: RemoteGiveInput) -> dict[str, Any]:
    """One of your gives of units held on another server: pending, done, refused or failed."""
    row = await OnwardGive.get_or_none(id=params.id, holder_id=ctx.require_actor().id)
    if row is None:
        raise NotFound(f"you have no give onward {params.id!r}", code="remote-give-not-found")
    return onward_view(row)


# ---------------------------------------------------------------- the origin


def _local_id(site: Site, uri: Any, kind: str, field: str) -> str:
    """The id of one of our objects from its URL (`<base>/types/<id>`), or 404."""
    prefix = documents.object_url(site.base_url, kind, "")
    text = str(as_id(uri) or "")
    if not text.startswith(prefix) or not text[len(prefix):] or "/" in text[len(prefix):]:
        what = {"type": "token type", "ledger": "ledger entry", "lot": "lot"}[kind]
        code = {"type": "type-not-found", "ledger": "source-not-found", "lot": "lot-not-found"}[kind]
        raise NotFound(f"{field}: {text!r} is not a {what} of this server", code=code)
    return text[len(prefix):]


async def _target(site: Site, uri: Any) -> Actor:
    text = str(as_id(uri) or "")
    if not text.startswith(("https://", "http://")):
        raise BadInput("a give names its target by the actor's URL", code="malformed-request")
    local = await local_actor_of(site, text)
    if local is not None:
        return local
    if text.startswith(f"{site.base_url}/"):
        raise NotFound(f"there is no user {text!r} on this server", code="actor-not-found")
    try:
        found = await remote_actor(site, text)
    except FetchError as error:
        raise Unprocessable(f"the target {text} cannot be found: {error.detail}", code="remote-actor-unavailable") from None
    return await Actor.get(id=found.actor_id)


async def _sender(site: Site, request: IncomingRequest, activity: Mapping[str, Any]) -> RemoteActor:
    """The remote actor that signed the request, who must be its actor (the inbox's checks,
    blocks first), with the request's id on its server."""
    actor_uri = str(as_id(activity["actor"]))
    signer = await checked_sender(site, request, actor_uri)
    if domain_of(str(activity["id"])) != domain_of(actor_uri):
        raise Forbidden("a request's id must live on its actor's server", code="origin-mismatch")
    return signer


async def receive_ledger_request(site: Site, request: IncomingRequest) -> tuple[int, dict[str, Any]]:
    """A remote holder's signed request to give or burn its units of one of our types:
    (201 new | 200 a repeat, the entry's document); a DomainError says why not."""
    activity = parse_activity(request.body, site.federation.inbox_max_bytes)
    sender = await _sender(site, request, activity)
    entry = activity.get("object")
    if activity["type"] != "Create" or not isinstance(entry, Mapping) or type_of(entry) != "LedgerEntry":
        raise BadInput("a ledger request is a Create of a LedgerEntry", code="malformed-request")
    kind = _SPENDS.get(str(entry.get("entryKind")))
    if kind is None:
        raise BadInput("entryKind must be give or burn", code="malformed-request")
    if as_id(entry.get("attributedTo")) not in (None, sender.uri):
        raise Forbidden("an actor spends only its own units", code="origin-mismatch")
    type_id = _local_id(site, entry.get("tokenType"), "type", "tokenType")
    amount = entry.get("amount")
    if not isinstance(amount, str) or not amount.strip() or len(amount) > 40:
        raise BadInput("amount must be a decimal string", code="malformed-request")
    sources = []
    for index, source in enumerate(as_list(entry.get("sources"))):
        taken = source.get("amount") if isinstance(source, Mapping) else None
        if not isinstance(taken, str) or len(taken) > 40:
            raise BadInput(f"sources.{index}: an entry URL and an amount", code="malformed-request")
        sources.append((taken, _local_id(site, as_id(source), "ledger", f"sources.{index}")))
    holder = await Actor.get(id=sender.actor_id)
    target = str(as_id(entry.get("target")) or "")
    if kind is EntryKind.GIVE and target.startswith(documents.object_url(site.base_url, "lot", "")):
        return await _bid(site, holder, str(activity["id"]), entry, type_id, amount.strip(), sources)
    recipient = await _target(site, target) if kind is EntryKind.GIVE else None
    summary = entry.get("summary")
    description = summary[:MAX_DESCRIPTION] if isinstance(summary, str) else ""
    view, made = await carry_out_request(
        site, holder, str(activity["id"]), kind=kind, type_id=type_id, amount=amount.strip(), recipient=recipient,
        sources=sources or None, description=description,
    )
    return (201 if made else 200), await signed_document(site, "ledger", view["id"])


async def _bid(
    site: Site, holder: Actor, request_uri: str, entry: Mapping[str, Any], type_id: str, amount: str, sources: list[Any]
) -> tuple[int, dict[str, Any]]:
    """A give whose target is one of our lots: a bid (or offer) holding `amount`, placed as a
    local bidder's is (models/operations/market_remote.py); `bidAmount`: a proxy bid's opening."""
    if sources:
        raise Unprocessable("a bid holds units oldest first; it names no sources", code="malformed-request")
    bid_amount = entry.get("bidAmount")
    if bid_amount is not None and (not isinstance(bid_amount, str) or not bid_amount.strip() or len(bid_amount) > 40):
        raise BadInput("bidAmount must be a decimal string", code="malformed-request")
    lot_id = _local_id(site, entry.get("target"), "lot", "target")
    view, made = await carry_out_bid(
        site, holder, request_uri, lot_id=lot_id, type_id=type_id, amount=amount,
        bid_amount=bid_amount.strip() if bid_amount is not None else None,
    )
    # the bidder's own request: answered even when the lot is a sealed auction's (its hold is
    # hidden from everyone else until the close, and not published)
    return (201 if made else 200), await signed_document(site, "ledger", view["id"], reveal=True)
