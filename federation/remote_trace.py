"""The trace of a ledger entry kept on another server: fetched from that server and checked here.

dave on B holds units of carol's type, whose ledger A keeps. Where did they come from? Only A
can say, and A serves the answer as a file anyone can check: `GET <entry URL>/trace`, the entry
and every ancestor back to the creates, each signed by the owner of the type
(federation/signed_objects.py `signed_trace`). `ledger.remote_trace` fetches that file from the
entry's own server (never another address: the trace URL is the entry URL and `/trace`, and the
fetch goes through the SSRF guard and the blocklist of federation/fetch.py), checks every proof
against the type owner's key read from the owner's actor document, and every edge
(federation/verify_client.py `check_trace`), and answers the entries, oldest first, with a
verdict in words: "every step signed by carol@a.example", or what does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from models.actors import Actor, User, UserStatus
from models.context import Context
from models.errors import BadInput, Forbidden, Unprocessable
from models.federation import RemoteCredit
from models.holdings import origin_of
from models.outputs import Output
from models.registry import REGISTRY, Access, Input

from . import documents
from .as2 import as_id, domain_of, type_of
from .fetch import FetchError, fetch_json
from .remote_actors import remote_actor
from .signed_objects import ActorDocuments
from .verify_client import Verdict, check_trace

__all__ = ["RemoteTraceOut", "remote_trace", "trace_url_of"]

MAX_URL = 2048


class RemoteTraceInput(Input):
    entry: str = Field(min_length=1, max_length=MAX_URL, description="the URL of a ledger entry on another server")


class RemoteStepOut(Output):
    id: str = Field(description="the entry's URL on its origin")
    kind: str = Field(description="create, give or burn")
    amount: str
    symbol: str | None
    author: str | None = Field(description="who made it (actor URL)")
    target: str | None = Field(description="who received it (actor URL), for a give or a create")
    author_handle: str | None = Field(None, description="user@host of the author, when this server knows them")
    target_handle: str | None = Field(None, description="user@host of the recipient, when this server knows them")
    published: str | None
    sources: list[dict[str, Any]] = Field(description="the entries it spent: {id, amount}")
    valid: bool = Field(description="its proof and its place in the trace check out")
    detail: str = Field(description="what was checked, or what does not hold")


class RemoteTraceOut(Output):
    """federation/remote_trace.py remote_trace."""

    entry: str
    origin: str = Field(description="the server that keeps the entry's ledger")
    trace: str = Field(description="where the trace was fetched from")
    verified: bool = Field(description="every entry is signed by the type's owner and every edge adds up")
    verdict: str = Field(description="signed or refused")
    detail: str = Field(description="the verdict in words: who signed every step, or what does not hold")
    signer: str | None = Field(description="the type owner whose key signs the entries (actor URL)")
    signer_handle: str | None
    type: str | None = Field(description="the type's URL")
    held: bool = Field(description="you received this entry (it is one of your holding's outputs)")
    steps: list[RemoteStepOut] = Field(description="oldest first; the entry asked about last")


def trace_url_of(entry: str) -> str:
    """Where an entry's origin serves its signed trace: the entry's own URL and `/trace`."""
    return entry.rstrip("/") + "/trace"


def _checked_entry_url(ctx: Context, value: str) -> str:
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise BadInput("entry must be the http(s) URL of a ledger entry on another server", code="invalid-entry")
    if parts.query or parts.fragment:
        raise BadInput("an entry URL has no query or fragment", code="invalid-entry")
    if domain_of(url) == domain_of(ctx.site.base_url):
        raise BadInput("that entry is kept on this server: open its page under /app/entries/ for its trace",
                       code="local-entry")
    return url


async def _handle_of(ctx: Context, actor_url: str | None) -> str | None:
    """user@host of the type's owner (looked up when we do not know it yet), or None."""
    if actor_url is None:
        return None
    actor = await Actor.get_or_none(uri=actor_url)
    if actor is None:
        try:
            actor = await Actor.get_or_none(id=(await remote_actor(ctx.site, actor_url, shared=True)).actor_id)
        except FetchError:
            return None
    return actor.handle(ctx.site.domain) if actor is not None else None


async def _known_handles(ctx: Context, urls: set[str]) -> dict[str, str]:
    """user@host of the actors among `urls` that we know (ours, or remote ones met before)."""
    names: dict[str, str] = {}
    prefix = documents.actor_url(ctx.site.base_url, "")
    ours = {url[len(prefix):].lower(): url for url in urls if url.startswith(prefix)}
    if ours:
        for user in await User.filter(username__in=list(ours)).exclude(status=UserStatus.DELETED.value):
            names[ours[user.username]] = f"{user.username}@{ctx.site.domain}"
    remote = [url for url in urls if url not in names and not url.startswith(prefix)]
    for actor in await Actor.filter(uri__in=remote) if remote else []:
        if actor.uri:
            names[actor.uri] = actor.handle(ctx.site.domain)
    return names


def _step(entry: Mapping[str, Any], verdict: Verdict) -> dict[str, Any]:
    listed = entry.get("sources")
    sources: list[Any] = listed if isinstance(listed, list) else []
    return {
        "id": str(as_id(entry) or "?"),
        "kind": str(entry.get("entryKind") or "?"),
        "amount": str(entry.get("amount") or "?"),
        "symbol": None,
        "author": as_id(entry.get("attributedTo")),
        "target": as_id(entry.get("target")),
        "published": entry.get("published") if isinstance(entry.get("published"), str) else None,
        "sources": [
            {"id": as_id(source), "amount": source.get("amount")} for source in sources if isinstance(source, Mapping)
        ],
        "valid": verdict.verdict == "valid",
        "detail": verdict.detail,
    }


@REGISTRY.operation("ledger.remote_trace", RemoteTraceInput, output=RemoteTraceOut, access=Access.USER)
async def remote_trace(ctx: Context, params: RemoteTraceInput) -> dict[str, Any]:
    """The trace of a ledger entry on another server: fetched from the entry's own server
    (`<entry>/trace`), every entry's proof checked against the type owner's key and every
    edge against the others; the entries oldest first, with the verdict in words."""
    me = ctx.require_actor()
    entry_url = _checked_entry_url(ctx, params.entry)
    origin = origin_of(entry_url)
    trace_url = trace_url_of(entry_url)
    try:
        document = await fetch_json(ctx.site, trace_url)
    except FetchError as error:
        if error.kind == "refused":
            raise Forbidden(f"{origin} may not be asked from this server: {error.detail}", code="fetch-refused") from None
        raise Unprocessable(f"could not fetch the trace from {origin}: {error.detail}", code="trace-unavailable") from None
    if type_of(document) != "OrderedCollection" or as_id(document.get("traceOf")) != entry_url:
        raise Unprocessable(f"{origin} did not answer with the trace of {entry_url}", code="trace-unavailable")
    credit = await RemoteCredit.get_or_none(entry_uri=entry_url, recipient_id=me.id)
    verdicts = await check_trace(ctx.site, document, ActorDocuments(ctx.site))  # signed: authorized-fetch origins
    items = document.get("orderedItems")
    entries = {str(as_id(item)): item for item in items if isinstance(item, Mapping)} if isinstance(items, list) else {}
    first = entries.get(entry_url, {})
    signer, type_uri = as_id(first.get("tokenOwner")), as_id(first.get("tokenType"))
    refused = [verdict for verdict in verdicts if verdict.verdict != "valid"]
    if credit is not None and type_uri != credit.type_uri:
        refused.append(Verdict(entry_url, "refused", f"the entry is of {type_uri}, not of {credit.type_uri} that you hold"))
    handle = await _handle_of(ctx, signer) if not refused else None
    if refused:
        first_problem = refused[0]
        detail = (first_problem.detail if first_problem.token == entry_url and len(verdicts) == 1
                  else f"{first_problem.token}: {first_problem.detail}")
    else:
        detail = f"every step signed by {handle or signer}"
    by_id = {verdict.token: verdict for verdict in verdicts}
    steps = [_step(entry, by_id[url]) for url, entry in entries.items() if url in by_id]
    names = await _known_handles(ctx, {step[key] for step in steps for key in ("author", "target") if step[key]})
    for step in steps:
        step["author_handle"], step["target_handle"] = names.get(step["author"]), names.get(step["target"])
    symbol = str(credit.symbol) if credit is not None and credit.symbol else None
    for step in steps:
        step["symbol"] = symbol
    steps.sort(key=lambda step: (step["id"] == entry_url, step["published"] or "", step["id"]))
    return {
        "entry": entry_url, "origin": origin, "trace": trace_url,
        "verified": not refused, "verdict": "refused" if refused else "signed", "detail": detail,
        "signer": signer, "signer_handle": handle, "type": type_uri, "held": credit is not None,
        "steps": steps,
    }
