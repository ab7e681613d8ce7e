"""Market tables: lots, their bids and offers, and the close of a lot at its closing time.

What a lot sells and every bid's payment are *held* on the ledger: given to the lot's escrow
actor (an Actor of kind "escrow", no user, no keys, never federated) by an ordinary give, so
held units cannot be given, burnt or listed again. A release is a give back of exactly that
hold's output; the award is gives out of the escrow. Every movement is a ledger entry.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor
    from .ledger import LedgerEntry
    from .tokens import TokenType

__all__ = ["ESCROW_KIND", "Bid", "BidKind", "BidState", "CloseState", "Lot", "LotClose", "LotKind", "LotState", "LotViewer", "LotVisibility", "escrow_username", "lot_of_escrow"]

ESCROW_KIND = "escrow"  # Actor.kind of a lot's escrow
_ESCROW_PREFIX = "escrow."


def escrow_username(lot_id: str) -> str:
    """The escrow's username: a dot, which no user's name may have, and the lot's id (ids are
    lower case, as usernames are)."""
    return f"{_ESCROW_PREFIX}{lot_id}"


def lot_of_escrow(username: str) -> str:
    """The id of the lot an escrow (by its username) holds for."""
    return username.removeprefix(_ESCROW_PREFIX)


class LotKind(StrEnum):
    FIXED_PRICE = "fixed_price"
    OFFERS = "offers"
    ENGLISH_AUCTION = "english_auction"
    DUTCH_AUCTION = "dutch_auction"  # the price falls by steps; the first to accept buys (models/auctions.py)
    SEALED_AUCTION = "sealed_auction"  # bids hidden until the close; the highest pays its bid


class LotVisibility(StrEnum):
    """Who sees a lot (and may bid): everyone, the seller's followers, or the users the seller
    listed. Whoever bid keeps seeing it; the seller always does. Only public lots are federated."""

    PUBLIC = "public"
    FOLLOWERS = "followers"
    LISTED = "listed"


class LotState(StrEnum):
    OPEN = "open"
    SOLD = "sold"
    UNSOLD = "unsold"
    WITHDRAWN = "withdrawn"


class Lot(Entity):
    seller_id: str
    seller: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="lots", on_delete=fields.RESTRICT
    )
    escrow_id: str
    escrow: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="escrow_lots", on_delete=fields.RESTRICT
    )
    kind = fields.CharField(max_length=20)
    state = fields.CharField(max_length=16, default=LotState.OPEN.value)
    title = fields.CharField(max_length=200, default="")
    description = fields.TextField(default="")
    item_type_id: str
    item_type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="lots", on_delete=fields.RESTRICT
    )
    item_amount = fields.BigIntField()  # minor units (a unique token counts one whole unit each)
    tokens: fields.JSONField[list[str]] = fields.JSONField(default=list)  # unique tokens sold, by id
    set_id = fields.CharField(max_length=26, null=True)  # the set whose tokens were listed, if listed by set
    item_hold_id: str | None  # the fungible hold (escrow's output); unique tokens: one hold per token
    item_hold: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="lot_holds", null=True, on_delete=fields.RESTRICT
    )
    price_type_id: str
    price_type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="priced_lots", on_delete=fields.RESTRICT
    )
    price = fields.BigIntField(null=True)  # fixed_price: the price
    start_price = fields.BigIntField(null=True)  # english, sealed: the least bid; dutch: the first price
    reserve = fields.BigIntField(null=True)  # english, sealed: unsold below this at the close; dutch: the floor
    buy_now = fields.BigIntField(null=True)  # english: a bid of this much wins at once
    min_increment = fields.BigIntField(null=True)  # english: a bid beats the best by at least this
    price_drop = fields.BigIntField(null=True)  # dutch: the price falls by this ...
    drop_every = fields.IntField(null=True)  # dutch: ... every this many seconds, to the floor (reserve)
    extend_by = fields.IntField(null=True)  # english: a bid this close to the close moves it this far
    opens_at = fields.DatetimeField(null=True)
    closes_at = fields.DatetimeField(null=True)
    bid_count = fields.IntField(default=0)  # > 0: locked against edits and withdrawal
    best_bid_id = fields.CharField(max_length=26, null=True)  # english: the leading held bid (sealed: set at the close)
    best_amount = fields.BigIntField(null=True)
    winner_id: str | None
    winner: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="won_lots", null=True, on_delete=fields.RESTRICT
    )
    sold_price = fields.BigIntField(null=True)
    ended_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    visibility = fields.CharField(max_length=12, default=LotVisibility.PUBLIC.value, db_default=LotVisibility.PUBLIC.value)

    class Meta:
        app = APP
        table = "market_lots"
        indexes = (("state", "closes_at"), ("seller_id", "state"), ("item_type_id", "state"), ("escrow_id", "state"))


class LotViewer(Entity):
    """One user a `listed` lot is shown to."""

    lot_id: str
    lot: fields.ForeignKeyRelation[Lot] = fields.ForeignKeyField(
        f"{APP}.Lot", related_name="viewers", on_delete=fields.CASCADE
    )
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="listed_lots", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "market_lot_viewers"
        unique_together = (("lot", "actor"),)
        indexes = (("actor_id",),)


class BidKind(StrEnum):
    BID = "bid"  # english auction, or a fixed-price purchase
    OFFER = "offer"  # an offers lot


class BidState(StrEnum):
    HELD = "held"  # its payment is in escrow
    RELEASED = "released"  # outbid, lost, or the lot ended without it: the payment went back
    WITHDRAWN = "withdrawn"  # an offer its bidder took back: the payment went back
    WON = "won"  # its payment went to the seller


class Bid(Entity):
    lot_id: str
    lot: fields.ForeignKeyRelation[Lot] = fields.ForeignKeyField(
        f"{APP}.Lot", related_name="bids", on_delete=fields.CASCADE
    )
    bidder_id: str
    bidder: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="market_bids", on_delete=fields.RESTRICT
    )
    kind = fields.CharField(max_length=8)
    # minor units of the lot's price type; a proxy bid's amount rises as others bid, up to max_amount
    amount = fields.BigIntField()
    max_amount = fields.BigIntField(null=True)  # a proxy bid's ceiling: what its hold holds
    state = fields.CharField(max_length=16, default=BidState.HELD.value)
    hold_id: str
    hold: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="bid_holds", on_delete=fields.RESTRICT
    )
    settled_id: str | None  # the release or payment entry that spent the hold
    settled: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="bid_settlements", null=True, on_delete=fields.RESTRICT
    )

    @property
    def held(self) -> int:
        """What its hold holds: the proxy ceiling, or the amount."""
        return int(self.max_amount if self.max_amount is not None else self.amount)

    class Meta:
        app = APP
        table = "market_bids"
        indexes = (("lot_id", "state"), ("bidder_id", "state"))


class CloseState(StrEnum):
    PENDING = "pending"  # due at the lot's closes_at
    DONE = "done"  # the lot was awarded, left unsold, or had ended before
    FAILED = "failed"  # the close kept failing (last_error says why); the holds stay put


class LotClose(Durable, Entity):
    """The close of a lot with a closing time: a row of the MARKET_CLOSES machine, due at closes_at."""

    lot_id: str
    lot: fields.OneToOneRelation[Lot] = fields.OneToOneField(
        f"{APP}.Lot", related_name="close", on_delete=fields.CASCADE
    )
    outcome = fields.CharField(max_length=16, null=True)  # what the close did: sold, unsold, ended

    class Meta:
        app = APP
        table = "market_closes"
        indexes = (("state", "next_at"),)
