"""Holdings of token types from other servers: what the origins confirmed our users received,
less what they spent there (onward gives and burns), with what is still waiting for an answer.

The origin keeps the ledger; these rows mirror the part of it that concerns our users, so the
wallet and `ledger.balance` can answer without asking. Amounts are decimal strings as the
origin wrote them; sums are exact, at the finest places among them (or the type's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from .amounts import MAX_DECIMALS, parse_decimal, to_decimal_string, to_minor
from .base import iso
from .errors import DomainError
from .federation import OnwardGive, OnwardState, RemoteCredit, RemoteDebit
from .outputs import Output, Timestamp

__all__ = ["Holding", "OnwardOut", "exact", "minor_of", "origin_of", "remote_holdings"]


def origin_of(uri: str) -> str:
    """The host (and port) an object's URL lives on: the server that keeps its ledger."""
    return urlsplit(uri).netloc.lower()


def minor_of(amount: str, decimals: int | None = None) -> tuple[int, int]:
    """(minor units, decimals) of an amount, read by the ledger's own parser (DomainError when it
    is not a positive decimal, or is finer than `decimals` when the type states them)."""
    if decimals is None:
        decimals = parse_decimal(amount).decimals
        if decimals > MAX_DECIMALS:
            decimals = MAX_DECIMALS  # to_minor refuses it with the ledger's own message
    return to_minor(amount, decimals), decimals


def exact(amounts: list[str], decimals: int | None = None) -> tuple[int, int]:
    """The exact sum of amounts as (minor units, decimals), at the finest places among them (or
    the type's). A stored amount the parser refuses (kept before amounts were checked) is left
    out rather than failing the whole holding."""
    parsed: list[tuple[int, int]] = []
    for amount in amounts:
        try:
            parsed.append(minor_of(amount))
        except DomainError:
            continue
    places = max([decimals or 0, *(places for _, places in parsed)])
    return sum(minor * 10 ** (places - own) for minor, own in parsed), places


@dataclass
class Holding:
    type_uri: str
    symbol: str
    credits: list[RemoteCredit] = field(default_factory=list)
    debits: list[RemoteDebit] = field(default_factory=list)
    pending: list[OnwardGive] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return origin_of(self.type_uri)

    def _places(self) -> int:
        amounts = [row.amount for row in self.credits] + [row.amount for row in self.debits]
        amounts += [row.amount for row in self.pending]
        return exact(amounts)[1]

    def _sum(self, amounts: list[str], places: int) -> int:
        minor, own = exact(amounts)
        return int(minor * 10 ** (places - own))

    def view(self, *, domain: str) -> dict[str, Any]:
        """The holding as the API shows it (decimal strings at one number of places)."""
        places = self._places()
        received = self._sum([row.amount for row in self.credits], places)
        given = self._sum([row.amount for row in self.debits if row.kind == "give"], places)
        burnt = self._sum([row.amount for row in self.debits if row.kind == "burn"], places)
        spent: dict[str, int] = {}
        for debit in self.debits:
            for taken, source in debit.sources:
                spent[source] = spent.get(source, 0) + self._sum([taken], places)
        outputs = []
        for credit in self.credits:
            credited = self._sum([credit.amount], places)
            outputs.append({
                "entry": credit.entry_uri,
                "amount": to_decimal_string(credited, places),
                "remaining": to_decimal_string(max(credited - spent.get(credit.entry_uri, 0), 0), places),
                "from": credit.sender.handle(domain),
                "received_at": iso(credit.created_at),
            })
        return {
            "type": self.type_uri,
            "symbol": self.symbol,
            "origin": self.origin,
            "balance": to_decimal_string(received - given - burnt, places),
            "received": to_decimal_string(received, places),
            "given": to_decimal_string(given, places),
            "burnt": to_decimal_string(burnt, places),
            "pending": to_decimal_string(self._sum([row.amount for row in self.pending], places), places),
            "outputs": outputs,
        }


async def remote_holdings(actor_id: str, type_uri: str | None = None) -> list[Holding]:
    """The actor's holdings of remote types (one per type URL, in the order first received)."""
    scope: dict[str, Any] = {"type_uri": type_uri} if type_uri else {}
    credits = await RemoteCredit.filter(recipient_id=actor_id, **scope).order_by("id").select_related("sender")
    debits = await RemoteDebit.filter(holder_id=actor_id, **scope).order_by("id")
    pending = await OnwardGive.filter(holder_id=actor_id, state=OnwardState.PENDING.value, **scope).order_by("id")
    holdings: dict[str, Holding] = {}
    for credit in credits:
        holding = holdings.setdefault(credit.type_uri, Holding(credit.type_uri, credit.symbol))
        holding.symbol = holding.symbol or credit.symbol
        holding.credits.append(credit)
    for debit in debits:
        holdings.setdefault(debit.type_uri, Holding(debit.type_uri, "")).debits.append(debit)
    for row in pending:
        holdings.setdefault(row.type_uri, Holding(row.type_uri, row.symbol)).pending.append(row)
    return list(holdings.values())


class OnwardOut(Output):
    """A give or burn of units held on another server, as asked of their origin."""

    id: str
    kind: str = Field(description="give or burn")
    type: str = Field(description="the remote type's URL")
    symbol: str
    origin: str = Field(description="the server that keeps the type's ledger and decides")
    amount: str
    to: str | None = Field(description="who receives (a give), as you named them")
    sources: list[tuple[str, str]] = Field(description="[amount, entry URL] pairs you named; empty: oldest first")
    description: str
    state: str = Field(description="pending (the origin has not answered yet), done, refused or failed")
    entry: str | None = Field(description="the origin's entry, once done")
    problem: dict[str, Any] | None = Field(description="the origin's refusal (status, code, detail), or why it failed")
    attempts: int
    next_try_at: Timestamp | None
    created_at: Timestamp
