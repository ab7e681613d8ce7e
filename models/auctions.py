"""The rules of the dutch and sealed auctions and of the english auction's soft close (issue 17).

The operations that apply them are in models/operations/market.py; this module holds the rules
alone (no operation, no HTTP), so the ledger's views can ask it what is sealed.

**Dutch auction: the price falls by whole steps.** It starts at `start_price` when the lot
opens (opens_at, else when it was listed) and falls by `drop` (column price_drop) every
`drop_every` seconds down to the floor (`reserve`), where it stays until `closes_at`. Steps
rather than a continuous line: the price a bidder reads stays the price until the next drop, which the lot shows
(`next_drop_at`), so what you saw is what you pay unless a drop came in between (then you pay
less); amounts stay whole multiples of the smallest unit with no rounding rule to explain. The
first acceptance (a bid of at least the current price, or no amount: the current price) buys
at the current price, held and awarded in one transaction.

**Sealed auction: server-side sealing, first price.** The server knows every amount and
shows none of them, nor the leader, to anyone but each bid's own bidder until the close (not
to the seller either). Commit-and-reveal would not hide more: a bid's payment must be held
when it is made, for its amount, so the server's ledger knows the amount anyway; and it would
need a second trip to reveal, in which a bidder who sees the market turn can refuse to reveal
(a free option). The highest bid wins (a tie: the earlier one) and pays its own amount
(first price): the winner can check its price without trusting a report of someone else's
hidden bid, which a second-price rule would ask for (and a seller's shill bid would raise
unseen). One bid per bidder, binding: no raise, no withdrawal, as with a sealed tender; the
close awards the best (if it meets the reserve) and gives every other hold back in the same
transaction.

What "hidden" covers (see `sealed_escrows`): the lot's view (best bid, reserve met) and its
bid list (others' bids are left out), the events (webhooks deliver a market.bid.* or ledger
event only to the actor who caused it or a party to the entry: the bidder), and the hold's
ledger entry in the ledger API (ledger.get answers 404, ledger.list, trace and descendants
leave it out) for anyone but the bidder while the lot is open. What it cannot cover on a ledger
whose balances are public: a bidder's balance (and the `remaining` of the output the hold
spent) drops by the amount held, so someone who watches that bidder's balance learns the
amount. Federation hides the hold as the API does: its ActivityPub document is 404 and it is
not published (federation/objects.py); only a remote bidder's own request is answered with it.
Closing the balance leak needs held units to count apart in balances, beyond this slice.

**Soft close (anti-sniping), english auction.** With `extend_by` (seconds), a bid placed in
the last `extend_by` seconds before `closes_at` moves the close to now + `extend_by` (the window
and the extension are one figure, as eBay's and Catawiki's soft closes work): the lot's close
row's next_at moves with it, by a manual move of the engine (models/machines.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from .market import Lot, LotKind, LotState

__all__ = ["aware", "dutch_price", "extended_close", "is_sealed", "next_drop_at", "schedule_start", "sealed_escrows"]


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as UTC (SQLite hands back naive datetimes)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def schedule_start(lot: Lot) -> datetime:
    """When a dutch lot's price starts to fall: when it opens, else when it was listed."""
    start = aware(lot.opens_at) or aware(lot.created_at)
    assert start is not None
    return start


def _steps(lot: Lot, now: datetime) -> int:
    assert lot.drop_every
    elapsed = (now - schedule_start(lot)).total_seconds()
    return max(0, int(elapsed // lot.drop_every))


def dutch_price(lot: Lot, now: datetime) -> int:
    """The price now: start_price less one drop per whole step elapsed, never below the floor."""
    assert lot.start_price is not None and lot.price_drop is not None and lot.reserve is not None
    return int(max(lot.reserve, lot.start_price - _steps(lot, now) * lot.price_drop))


def next_drop_at(lot: Lot, now: datetime) -> datetime | None:
    """When the price falls next; None once it is at the floor or the lot closes first."""
    if dutch_price(lot, now) <= int(lot.reserve or 0):
        return None
    assert lot.drop_every
    moment = schedule_start(lot) + timedelta(seconds=(_steps(lot, now) + 1) * lot.drop_every)
    closes_at = aware(lot.closes_at)
    return None if closes_at is not None and moment >= closes_at else moment


def extended_close(lot: Lot, now: datetime) -> datetime | None:
    """The new closing time when a bid now falls in an english auction's soft-close window, else None."""
    closes_at = aware(lot.closes_at)
    if lot.kind != LotKind.ENGLISH_AUCTION.value or not lot.extend_by or closes_at is None:
        return None
    window = timedelta(seconds=lot.extend_by)
    return now + window if closes_at - now <= window else None


def is_sealed(lot: Lot) -> bool:
    """Its bids' amounts are hidden: a sealed auction still open."""
    return lot.kind == LotKind.SEALED_AUCTION.value and lot.state == LotState.OPEN.value


async def sealed_escrows(actor_ids: Iterable[str]) -> set[str]:
    """Which of these actors are escrows of open sealed lots: entries to or from them are hidden
    from everyone but their author (the bidder) until the close."""
    ids = list({actor_id for actor_id in actor_ids if actor_id})
    if not ids:
        return set()
    found = await Lot.filter(escrow_id__in=ids, state=LotState.OPEN.value, kind=LotKind.SEALED_AUCTION.value).values_list(
        "escrow_id", flat=True
    )
    return {str(escrow_id) for escrow_id in found}
