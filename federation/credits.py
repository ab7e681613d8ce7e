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
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.exceptions import IntegrityError

from models.base import iso
from models.context import Context, Site
from models.federation import RemoteActor, RemoteCredit
from models.registry import REGISTRY, Access, Input

from .follows import local_actor_of
from .remote import FetchError, as_id, fetch_json, type_of

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


def _amount(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount > 0 else None


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
    amount = _amount(confirmed.get("amount"))
    if not same or as_id(confirmed.get("attributedTo")) != sender.uri or amount is None:
        return "ignored: the origin does not confirm this entry"
    type_uri = str(as_id(confirmed.get("tokenType")) or "")
    symbol = ""
    try:
        token_type = await fetch_json(site, type_uri)
        symbol = str(token_type.get("symbol") or "")[:64]
    except FetchError:
        pass  # the symbol is for display only; the type's URL identifies it
    try:
        await RemoteCredit.create(
            entry_uri=entry_uri, recipient=recipient, sender_id=sender.actor_id,  # type: ignore[attr-defined]
            type_uri=type_uri, symbol=symbol, amount=str(confirmed["amount"]),
        )
    except IntegrityError:
        return "duplicate"
    return "credited"


class NoInput(Input):
    pass


@REGISTRY.operation("federation.holdings", NoInput, access=Access.USER)
async def holdings(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Your balances of token types from other servers, with the gives that make them up."""
    me = ctx.require_actor()
    rows = await RemoteCredit.filter(recipient_id=me.id).order_by("id").select_related("sender")
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = totals.setdefault(row.type_uri, {"type": row.type_uri, "symbol": row.symbol, "amount": Decimal(0), "entries": []})
        item["amount"] += Decimal(row.amount)
        item["entries"].append({"entry": row.entry_uri, "amount": row.amount, "from": row.sender.handle(ctx.site.domain),
                                "received_at": iso(row.created_at)})
    return {"items": [{**item, "amount": str(item["amount"])} for item in totals.values()]}
