"""Giving across servers, the receiving side: units of a remote type given to our users.

The origin server stays the authority for its token types (DESIGN.md, "Federation"). When a
signed Create of a `LedgerEntry` (kind give) names one of our users as its target, we ask the
origin for that entry (a signed GET of its id) and credit our user only with what the origin
confirms: same entry, same amount, same target, same author. A credit is recorded once per
entry id. The sending side needs nothing special: `ledger.give` to a known remote actor is
an ordinary entry, delivered to the recipient's inbox by federation/outbox.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.amounts import MAX_DECIMALS, check_in_range, out_of_range, parse_decimal, to_decimal_string, to_minor
from models.base import column, iso
from models.context import Context, Site
from models.errors import BadInput, DomainError
from models.federation import RemoteActor, RemoteCredit
from models.registry import REGISTRY, Access, Input

from .as2 import as_id, type_of
from .fetch import FetchError, fetch_json
from .follows import local_actor_of
from .outputs import HoldingsOut

__all__ = ["credit_remote_give", "holdings", "is_give_to_us"]

_CONFIRMED_FIELDS = ("entryKind", "amount", "target", "tokenType", "attributedTo")


def is_give_to_us(site: Site, obj: Any) -> bool:
    """A ledger entry that gives units to an actor of this server."""
    return (
        isinstance(obj, Mapping)
        and type_of(obj) == "LedgerEntry"
        and obj.get("entryKind") == "give"
        and str(as_id(obj.get("target")) or "").startswith(f"{site.base_url}/")
    )


def _decimals(token_type: Mapping[str, Any]) -> int | None:
    """The origin type's decimal places, when its document states them."""
    value = token_type.get("smallestUnit")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DECIMALS else None


def _minor(amount: str, decimals: int | None) -> tuple[int, int]:
    """(minor units, decimals) of a confirmed amount, read by the ledger's own parser: a
    positive decimal, a multiple of the type's unit, within what we can hold (DomainError)."""
    if decimals is None:  # the type did not say: the places the amount is written with
        decimals = parse_decimal(amount).decimals
        if decimals > MAX_DECIMALS:
            raise out_of_range("amount", "the amount has more decimal places than", MAX_DECIMALS)
    return to_minor(amount, decimals), decimals


def _total(amounts: list[str], decimals: int | None = None) -> tuple[int, int]:
    """The exact sum of credits as (minor units, decimals), at the finest places among them
    (or the type's). A stored amount the parser refuses (kept before amounts were checked)
    is left out rather than failing the whole holding."""
    parsed: list[tuple[int, int]] = []
    for amount in amounts:
        try:
            parsed.append(_minor(amount, None))
        except DomainError:
            continue
    places = max([decimals or 0, *(places for _, places in parsed)])
    return sum(minor * 10 ** (places - own) for minor, own in parsed), places


async def credit_remote_give(site: Site, obj: Mapping[str, Any], sender: RemoteActor) -> str:
    """Credit our user with a remote give once the origin confirms it; the outcome."""
    recipient = await local_actor_of(site, str(as_id(obj.get("target"))))
    if recipient is None:
        return "ignored: the recipient is not a user here"
    entry_uri = str(obj["id"])
    if await RemoteCredit.filter(entry_uri=entry_uri).exists():
        return "duplicate"
    confirmed = await fetch_json(site, entry_uri)  # a FetchError leaves the activity to be retried
    same = as_id(confirmed) == entry_uri and all(
        as_id(confirmed.get(name)) == as_id(obj.get(name)) if name in ("target", "tokenType", "attributedTo")
        else confirmed.get(name) == obj.get(name)
        for name in _CONFIRMED_FIELDS
    )
    if not same or as_id(confirmed.get("attributedTo")) != sender.uri:
        return "ignored: the origin does not confirm this entry"
    type_uri = str(as_id(confirmed.get("tokenType")) or "")
    symbol, decimals = "", None
    try:
        token_type = await fetch_json(site, type_uri)
        symbol = str(token_type.get("symbol") or "")[:64]
        decimals = _decimals(token_type)
    except FetchError:
        pass  # the symbol is for display only; the type's URL identifies it
    amount = confirmed.get("amount")
    if isinstance(amount, int) and not isinstance(amount, bool) and amount.bit_length() <= 64:
        amount = str(amount)  # our documents write strings; a small JSON integer is exact too
    try:
        if not isinstance(amount, str):
            raise BadInput("amount is not a decimal string")
        _minor(amount, decimals)
        async with in_transaction():
            holding = RemoteCredit.filter(recipient_id=recipient.id, type_uri=type_uri)
            held = await column(holding.values_list("amount", flat=True), str)
            total, places = _total([*held, amount], decimals)
            check_in_range(total, places, field="amount", what="this would make the holding exceed")
            await RemoteCredit.create(
                entry_uri=entry_uri, recipient=recipient, sender_id=sender.actor_id,
                type_uri=type_uri, symbol=symbol, amount=amount.strip(),
            )
    except DomainError as refused:
        return f"ignored: {refused.detail}"
    except IntegrityError:
        return "duplicate"
    return "credited"


class NoInput(Input):
    pass


@REGISTRY.operation("federation.holdings", NoInput, output=HoldingsOut, access=Access.USER)
async def holdings(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Your balances of token types from other servers, with the gives that make them up."""
    me = ctx.require_actor()
    rows = await RemoteCredit.filter(recipient_id=me.id).order_by("id").select_related("sender")
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = totals.setdefault(row.type_uri, {"type": row.type_uri, "symbol": row.symbol, "amounts": [], "entries": []})
        item["amounts"].append(row.amount)
        item["entries"].append({"entry": row.entry_uri, "amount": row.amount, "from": row.sender.handle(ctx.site.domain),
                                "received_at": iso(row.created_at)})
    return {"items": [{"type": item["type"], "symbol": item["symbol"], "amount": to_decimal_string(*_total(item["amounts"])),
                       "entries": item["entries"]} for item in totals.values()]}
