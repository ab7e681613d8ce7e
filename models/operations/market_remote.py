"""Bids from other servers (issue 17): a remote holder's ledger request whose target is a lot.

bob on B holds units of alice's coin (its ledger is here, on A) and bids on alice's lot, which
is paid in that coin. His server sends what it sends for any give onward (federation/onward.py):
a request signed with bob's key to spend his units, here with the lot as the target and, for a
proxy bid, `bidAmount` beside the `amount` to hold. So the hold is taken on the coin's own
ledger before the bid counts, exactly as for a bidder here: the bid runs through the same
operation (`market.bids.place` or `market.offers.place`) with bob as the actor, in one
transaction with the request's record. A repeat of the request (bob's server retrying after a
lost answer) gets the same hold entry and places nothing; every refusal is the local one
(bid-too-low, lot-closed, own-lot, insufficient, ...) with its status, which bob's server shows him.
"""

from __future__ import annotations

from typing import Any

from ..actors import Actor
from ..context import Context, Site
from ..errors import NotFound, Unprocessable
from ..market import Lot, LotKind
from .market import BidInput, OfferInput, place_bid, place_offer
from .remote_spends import answer_once, earlier_answer

__all__ = ["carry_out_bid"]


async def carry_out_bid(
    site: Site, holder: Actor, request_uri: str, *, lot_id: str, type_id: str, amount: str, bid_amount: str | None
) -> tuple[dict[str, Any], bool]:
    """Place a remote holder's bid or offer (`amount` held; a proxy bid's opening `bid_amount`):
    (the hold's entry view, True if placed now)."""
    earlier = await earlier_answer(site, request_uri, holder)
    if earlier is not None:
        return earlier, False
    lot = await Lot.get_or_none(id=lot_id)
    if lot is None:
        raise NotFound(f"there is no lot {lot_id!r}", code="lot-not-found")
    if lot.tokens:
        raise Unprocessable(
            "a lot of unique tokens takes bids from this server's users only: a token's ownership cannot move to "
            "another server yet", code="unique-type",
        )
    if lot.price_type_id != type_id:
        raise Unprocessable(f"lot {lot_id} is paid in units of type {lot.price_type_id}", code="wrong-price-type")
    ctx = Context(site=site, actor=holder, remote=True)

    async def place() -> str:
        if lot.kind == LotKind.OFFERS.value:
            bid = await place_offer(ctx, OfferInput(id=lot_id, amount=amount))
        elif bid_amount is not None:
            bid = await place_bid(ctx, BidInput(id=lot_id, amount=bid_amount, max_amount=amount))
        else:
            bid = await place_bid(ctx, BidInput(id=lot_id, amount=amount))
        return str(bid["hold"])

    return await answer_once(site, holder, request_uri, place)
