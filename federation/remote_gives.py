"""Giving across servers, the receiving side: what origins recorded about our users' holdings.

The origin server stays the authority for its token types (DESIGN.md, "Federation"). When a
signed Create of a `LedgerEntry` names one of our users (as the target of a give, or as the
author of a give or burn of units they held: a give onward, federation/onward.py), we ask the
origin for that entry (a signed GET of its id) and record only what the origin confirms: same
entry, same amount, same target, same author, an entry of a type of the origin's own. A credit
and a debit are each recorded once per entry id. The sending side of a plain give needs
nothing special: `ledger.give` to a known remote actor is an ordinary entry, delivered to the
recipient's inbox by federation/outbox.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.actors import Actor
from models.amounts import MAX_DECIMALS, check_in_range
from models.base import column
from models.context import Context, Site
from models.errors import BadInput, DomainError
from models.federation import RemoteActor, RemoteCredit, RemoteDebit
from models.holdings import exact, minor_of, remote_holdings
from models.registry import REGISTRY, Access, Input

from .as2 import as_id, as_list, domain_of, type_of
from .documents import OBJECT_PATHS
from .fetch import FetchError, fetch_json
from .follows import local_actor_of
from .outputs import HoldingsOut
from .remote_actors import remote_actor

__all__ = ["apply_confirmed_entry", "concerns_us", "holdings", "settle_remote_entry"]

_CONFIRMED_FIELDS = ("entryKind", "amount", "target", "tokenType", "attributedTo")
_SPENDS = ("give", "burn")


def _ours(site: Site, url: Any) -> bool:
    return str(as_id(url) or "").startswith(f"{site.base_url}/")


def concerns_us(site: Site, obj: Any) -> bool:
    """A ledger entry that gives units to an actor of this server, or spends units one held."""
    if not isinstance(obj, Mapping) or type_of(obj) != "LedgerEntry" or obj.get("entryKind") not in _SPENDS:
        return False
    return (obj.get("entryKind") == "give" and _ours(site, obj.get("target"))) or _ours(site, obj.get("attributedTo"))


def _decimals(token_type: Mapping[str, Any]) -> int | None:
    """The origin type's decimal places, when its document states them."""
    value = token_type.get("smallestUnit")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DECIMALS else None


def _amount(value: Any, decimals: int | None = None) -> str:
    """A confirmed amount as the decimal string we store (BadInput/DomainError when it is not one)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64:
        value = str(value)  # our documents write strings; a small JSON integer is exact too
    if not isinstance(value, str):
        raise BadInput("amount is not a decimal string")
    minor_of(value, decimals)
    return value.strip()


async def settle_remote_entry(site: Site, obj: Mapping[str, Any], sender: RemoteActor) -> str:
    """Record what a remote ledger entry means for our users once its origin confirms it; the outcome."""
    entry_uri = str(obj["id"])
    credited = await RemoteCredit.filter(entry_uri=entry_uri).exists()
    debited = await RemoteDebit.filter(entry_uri=entry_uri).exists()
    wants_credit = obj.get("entryKind") == "give" and _ours(site, obj.get("target"))
    if (credited or not wants_credit) and (debited or not _ours(site, obj.get("attributedTo"))):
        return "duplicate"
    confirmed = await fetch_json(site, entry_uri)  # a FetchError leaves the activity to be retried
    same = as_id(confirmed) == entry_uri and all(
        as_id(confirmed.get(name)) == as_id(obj.get(name)) if name in ("target", "tokenType", "attributedTo")
        else confirmed.get(name) == obj.get(name)
        for name in _CONFIRMED_FIELDS
    )
    if not same or domain_of(sender.uri) != domain_of(entry_uri):
        return "ignored: the origin does not confirm this entry"
    return await apply_confirmed_entry(site, confirmed, sender=sender)


def _is_escrow(author_uri: str) -> bool:
    """A market lot's escrow gives back held bids and gives out the item in the lot's name
    (federation/objects.py names the escrow by the lot's URL), a store's escrow in its store's
    (`<store>/escrow`): neither is an actor, so it is not fetched as one; the type owner's server
    that told us stands for it."""
    path = urlsplit(author_uri).path
    store_escrow = path.startswith(f"/{OBJECT_PATHS['store']}/") and path.endswith("/escrow")
    return f"/{OBJECT_PATHS['lot']}/" in path or store_escrow


async def _giver(site: Site, author_uri: str, sender: RemoteActor | None) -> Actor | None:
    """Who a credit is from: the entry's author (a user here, or a remote actor, fetched if we
    have not seen it: a give onward comes from a third server), else the actor that told us."""
    local = await local_actor_of(site, author_uri)
    if local is not None:
        return local
    if _is_escrow(author_uri):
        return await Actor.get_or_none(id=sender.actor_id) if sender is not None else None
    author: RemoteActor | None = sender
    try:
        author = await remote_actor(site, author_uri)
    except FetchError:
        pass
    return await Actor.get_or_none(id=author.actor_id) if author is not None else None


async def apply_confirmed_entry(
    site: Site, confirmed: Mapping[str, Any], *, sender: RemoteActor | None = None, symbol: str | None = None
) -> str:
    """Credit the target and debit the author, where they are ours, of an entry its origin
    confirmed (fetched from it, or its answer to our request); the outcome. With the type's
    `symbol` known, nothing is fetched (the caller may hold a transaction open)."""
    entry_uri = str(as_id(confirmed) or "")
    type_uri = str(as_id(confirmed.get("tokenType")) or "")
    if not entry_uri or domain_of(type_uri) != domain_of(entry_uri):
        return "ignored: the entry is not of a type of its own server"
    kind = confirmed.get("entryKind")
    author_uri = str(as_id(confirmed.get("attributedTo")) or "")
    outcomes = []
    recipient = await local_actor_of(site, str(as_id(confirmed.get("target")))) if kind == "give" else None
    if recipient is not None:
        giver = await _giver(site, author_uri, sender)
        outcomes.append(await _credit(site, confirmed, recipient, giver, type_uri, symbol))
    author = await local_actor_of(site, author_uri) if kind in _SPENDS else None
    if author is not None:
        outcomes.append(await _debit(confirmed, author, type_uri))
    if not outcomes:
        return "ignored: the recipient is not a user here"
    refused = [outcome for outcome in outcomes if outcome.startswith("ignored")]
    return refused[0] if refused else ", ".join(outcomes)


async def _credit(
    site: Site, confirmed: Mapping[str, Any], recipient: Actor, giver: Actor | None, type_uri: str, known: str | None
) -> str:
    entry_uri = str(as_id(confirmed))
    if giver is None:
        return "ignored: nobody we know gave it"
    symbol, decimals = known or "", None
    if known is None:
        try:
            token_type = await fetch_json(site, type_uri)
            symbol = str(token_type.get("symbol") or "")[:64]
            decimals = _decimals(token_type)
        except FetchError:
            pass  # the symbol is for display only; the type's URL identifies it
    try:
        amount = _amount(confirmed.get("amount"), decimals)
        async with in_transaction():
            holding = RemoteCredit.filter(recipient_id=recipient.id, type_uri=type_uri)
            held = await column(holding.values_list("amount", flat=True), str)
            total, places = exact([*held, amount], decimals)
            check_in_range(total, places, field="amount", what="this would make the holding exceed")
            await RemoteCredit.create(
                entry_uri=entry_uri, recipient=recipient, sender_id=giver.id,
                type_uri=type_uri, symbol=symbol, amount=amount,
            )
    except DomainError as refused:
        return f"ignored: {refused.detail}"
    except IntegrityError:
        return "duplicate"
    return "credited"


async def _debit(confirmed: Mapping[str, Any], holder: Actor, type_uri: str) -> str:
    """Record that the origin spent units of our user's holding (a give onward or a burn)."""
    try:
        amount = _amount(confirmed.get("amount"))
        sources = [
            [_amount(source.get("amount")), str(as_id(source))]
            for source in as_list(confirmed.get("sources")) if isinstance(source, Mapping) and as_id(source)
        ]
        async with in_transaction():  # a savepoint inside a caller's transaction: a duplicate leaves it usable
            await RemoteDebit.create(
                entry_uri=str(as_id(confirmed)), holder=holder, type_uri=type_uri,
                kind=str(confirmed.get("entryKind")), amount=amount, sources=sources,
            )
    except DomainError as refused:
        return f"ignored: {refused.detail}"
    except IntegrityError:
        return "duplicate"
    return "debited"


class NoInput(Input):
    pass


@REGISTRY.operation("federation.holdings", NoInput, output=HoldingsOut, access=Access.USER)
async def holdings(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Your balances of token types from other servers: what you received there, less what you
    gave onward or burnt, with the gives that make them up and what waits for the origin."""
    me = ctx.require_actor()
    views = [holding.view(domain=ctx.site.domain) for holding in await remote_holdings(me.id)]
    return {"items": [{**view, "amount": view["balance"], "entries": view["outputs"]} for view in views]}
