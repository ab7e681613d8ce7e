"""The marketplace (issue 17): lots, bids, offers, the atomic award and the close.

What a lot sells and every bid's payment are held in the lot's escrow on the ledger
(market_escrow.py); what the API shows of lots and bids is in market_views.py, the rules of
the dutch and sealed auctions and the soft close in models/auctions.py.

Exactly one winner. Every change to a lot first bumps its row with a conditional update
(`... WHERE id = ? AND state = 'open'`): it is the lock that serialises bids on PostgreSQL (the
row stays locked until commit; SQLite serialises write transactions anyway) and the one place
that decides whether the lot is still open. The award is the conditional move open -> sold;
a second award, a close racing a purchase, or a close run again after a restart finds no open
row and does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from ..actors import Actor
from ..amounts import to_decimal_string, to_minor
from ..auctions import aware, dutch_price, extended_close, next_drop_at
from ..base import iso
from ..context import Context, Site
from ..engine import Go, Lease, Outcome, Retry, move
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from ..federation import Follow, FollowState
from ..ids import new_id
from ..machines import MARKET_CLOSES
from ..market import (
    ESCROW_KIND,
    Bid,
    BidKind,
    BidState,
    CloseState,
    Lot,
    LotClose,
    LotKind,
    LotState,
    LotViewer,
    LotVisibility,
    escrow_username,
)
from ..outputs import Paged
from ..paging import ListInput, paginate
from ..pools import check_resale
from ..registry import REGISTRY, Access, Input
from ..sets import SetMember, TokenSet
from ..tokens import TokenType
from .entries import unit
from .ledger import resolve_actor
from .market_escrow import as_escrow, hand_over_items, hold, hold_token, pay_out, release_all, release_bid
from .market_views import (
    BidOut,
    LotDetailOut,
    LotOut,
    bid_payload,
    bid_views,
    lot_detail,
    lot_payload,
    lot_views,
    minor_text,
    next_minimum,
)
from .tokens import get_visible_token

__all__ = ["bid_views", "close_due_lot", "close_lot", "lot_views"]

ID = Field(min_length=1, max_length=64)
AMOUNT = Field(None, min_length=1, max_length=40, description='decimal string, e.g. "12.50"')
MAX_TOKENS = 100  # unique tokens one lot may sell
MAX_AUDIENCE = 100  # users a listed lot may name
MAX_SECONDS = 30 * 86400  # the longest dutch step or soft-close extension
CLOSING_SOON = timedelta(hours=24)


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- lots


class LotCreateInput(Input):
    kind: LotKind
    type: str | None = Field(
        None, min_length=1, max_length=64, description="the token type sold (a type of this server); may be left out with set"
    )
    amount: str | None = Field(None, min_length=1, max_length=40, description="fungible types: the units sold")
    tokens: list[str] | None = Field(None, min_length=1, max_length=MAX_TOKENS, description="unique types: the tokens sold, by id")
    set: str | None = Field(
        None, min_length=1, max_length=64, description="a set of yours: its tokens are sold (all of one unique type, all held by you)"
    )
    price_type: str = Field(min_length=1, max_length=64, description="the token type paid with (a type of this server)")
    price: str | None = Field(None, min_length=1, max_length=40, description="fixed_price: the price")
    start_price: str | None = Field(
        None, min_length=1, max_length=40,
        description="english_auction: the least first bid; sealed_auction: the least bid (optional); dutch_auction: the first price",
    )
    reserve: str | None = Field(
        None, min_length=1, max_length=40,
        description="english_auction, sealed_auction: unsold below this; dutch_auction: the floor the price falls to",
    )
    buy_now: str | None = Field(None, min_length=1, max_length=40, description="english_auction: a bid of this much wins at once")
    min_increment: str | None = Field(None, min_length=1, max_length=40, description="english_auction: default the smallest unit")
    drop: str | None = Field(None, min_length=1, max_length=40, description="dutch_auction: the price falls by this ...")
    drop_every: int | None = Field(
        None, ge=1, le=MAX_SECONDS, description="dutch_auction: ... every this many seconds, from opens_at (or now)"
    )
    extend_by: int | None = Field(
        None, ge=1, le=MAX_SECONDS,
        description="english_auction: a bid in the last this many seconds moves the close to this many seconds after it",
    )
    opens_at: datetime | None = Field(None, description="bids are taken from then (default: now)")
    closes_at: datetime | None = Field(None, description="required for the auctions; optional otherwise")
    visibility: LotVisibility = Field(
        LotVisibility.PUBLIC, description="public (default), followers (yours), or listed (the users in audience)",
    )
    audience: list[str] | None = Field(
        None, min_length=1, max_length=MAX_AUDIENCE, description="listed: the users who see the lot, by handle",
    )
    title: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)

    @field_validator("tokens")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a token may be named once")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> LotCreateInput:
        if (self.visibility is LotVisibility.LISTED) != (self.audience is not None):
            raise ValueError("a listed lot names its audience, and only a listed lot has one")
        if sum(value is not None for value in (self.amount, self.tokens, self.set)) != 1:
            raise ValueError("give one of amount (a fungible type), tokens (a unique type) or set (its tokens)")
        if self.type is None and self.set is None:
            raise ValueError("give the type sold")
        if self.kind is LotKind.FIXED_PRICE and self.price is None:
            raise ValueError("a fixed_price lot needs a price")
        if self.kind is not LotKind.FIXED_PRICE and self.price is not None:
            raise ValueError("only a fixed_price lot has a price")
        _check_kind_fields(self)
        return self


# Which lot fields each kind takes (beyond the item, price type and times), and which it needs.
_KIND_FIELDS: dict[LotKind, tuple[frozenset[str], frozenset[str]]] = {
    LotKind.FIXED_PRICE: (frozenset({"price"}), frozenset({"price"})),
    LotKind.OFFERS: (frozenset(), frozenset()),
    LotKind.ENGLISH_AUCTION: (
        frozenset({"start_price", "reserve", "buy_now", "min_increment", "extend_by"}), frozenset({"start_price", "closes_at"}),
    ),
    LotKind.DUTCH_AUCTION: (
        frozenset({"start_price", "reserve", "drop", "drop_every"}),
        frozenset({"start_price", "reserve", "drop", "drop_every", "closes_at"}),
    ),
    LotKind.SEALED_AUCTION: (frozenset({"start_price", "reserve"}), frozenset({"closes_at"})),
}
_PRICING = ("price", "start_price", "reserve", "buy_now", "min_increment", "drop", "drop_every", "extend_by")


def _check_kind_fields(params: LotCreateInput) -> None:
    """A kind's required fields given, and no field of another kind (400 with the names)."""
    allowed, needed = _KIND_FIELDS[params.kind]
    missing = sorted(name for name in needed if getattr(params, name) is None)
    if missing:
        raise ValueError(f"a {params.kind.value} lot needs {', '.join(missing)}")
    foreign = sorted(name for name in _PRICING if name not in allowed and getattr(params, name) is not None)
    if foreign:
        raise ValueError(f"a {params.kind.value} lot takes no {', '.join(foreign)}")


async def _local_type(type_id: str, field: str) -> TokenType:
    token_type = await TokenType.get_or_none(id=type_id, is_deleted=False)
    if token_type is None:
        raise NotFound(f"there is no token type {type_id!r} on this server", code="type-not-found")
    return token_type


def _minor(value: str | None, token_type: TokenType, field: str) -> int | None:
    return None if value is None else to_minor(value, token_type.smallest_unit, field=field)


async def _set_tokens(seller: Actor, set_id: str) -> list[str]:
    """The tokens of a set of the seller's, in the order they were added."""
    token_set = await TokenSet.get_or_none(id=set_id, is_deleted=False)
    if token_set is None:
        raise NotFound(f"there is no set {set_id!r}", code="set-not-found")
    if token_set.owner_id != seller.id:
        raise Forbidden("only the owner of a set can sell it", code="not-owner")
    members = await SetMember.filter(set_id=set_id).order_by("id").values_list("token_id", flat=True)
    if not members:
        raise Unprocessable("this set has no tokens to sell", code="empty-set")
    if len(members) > MAX_TOKENS:
        raise Unprocessable(f"a lot sells at most {MAX_TOKENS} tokens; this set has {len(members)}", code="too-many-tokens")
    return [str(token_id) for token_id in members]


async def _new_escrow(lot_id: str) -> Actor:
    """The lot's escrow: a local actor with no user (so no one signs in as it or names it in a
    give) and a username no user can take (a dot)."""
    return await Actor.create(kind=ESCROW_KIND, username=escrow_username(lot_id), display_name=f"Escrow of lot {lot_id}")


@REGISTRY.operation("market.lots.create", LotCreateInput, output=LotDetailOut)
async def create_lot(ctx: Context, params: LotCreateInput) -> dict[str, Any]:
    """List a lot: what it sells is held in the lot's escrow at once (409 when not yours or already held)."""
    seller = ctx.require_actor()
    tokens = params.tokens
    if params.set is not None:
        tokens = await _set_tokens(seller, params.set)
    type_id = params.type
    if type_id is None:
        assert tokens  # the input's validator; _set_tokens refuses an empty set
        type_id = (await get_visible_token(ctx, tokens[0])).type_id
    item_type = await _local_type(type_id, "type")
    price_type = await _local_type(params.price_type, "price_type")
    if not price_type.fungible:
        raise Unprocessable(
            "a lot is paid in units of a fungible type; unique tokens cannot be a price", code="unique-type",
            errors=[{"field": "price_type", "message": "must be a fungible type"}],
        )
    now = _now()
    opens_at, closes_at = aware(params.opens_at), aware(params.closes_at)
    if closes_at is not None and closes_at <= max(now, opens_at or now):
        raise Unprocessable("closes_at must be in the future and after opens_at", code="invalid-closing-time",
                            errors=[{"field": "closes_at", "message": "must be later"}])
    if item_type.fungible != (params.amount is not None):
        raise Unprocessable(
            "a fungible type is sold by amount, a unique type by tokens", code="unique-type" if params.amount else "fungible-type",
        )
    price = _minor(params.price, price_type, "price")
    start = _minor(params.start_price, price_type, "start_price")
    reserve = _minor(params.reserve, price_type, "reserve")
    buy_now = _minor(params.buy_now, price_type, "buy_now")
    increment = _minor(params.min_increment, price_type, "min_increment")
    drop = _minor(params.drop, price_type, "drop")
    if params.kind is LotKind.ENGLISH_AUCTION:
        increment = increment or 1
        if buy_now is not None and start is not None and buy_now < start:
            raise Unprocessable("buy_now must be at least start_price", code="invalid-price",
                                errors=[{"field": "buy_now", "message": "below start_price"}])
    if params.kind is LotKind.DUTCH_AUCTION and start is not None and reserve is not None and reserve >= start:
        raise Unprocessable("a dutch auction's floor (reserve) must be below its start_price", code="invalid-price",
                            errors=[{"field": "reserve", "message": "must be below start_price"}])
    await check_resale(seller, item_type, None, tokens=tokens or ())
    lot_id = new_id()
    escrow = await _new_escrow(lot_id)
    description = f"held for lot {lot_id}"
    lot = Lot(
        id=lot_id, seller_id=seller.id, escrow_id=escrow.id, kind=params.kind.value, title=params.title,
        description=params.description, item_type_id=item_type.id, price_type_id=price_type.id, price=price,
        start_price=start, reserve=reserve, buy_now=buy_now, min_increment=increment, price_drop=drop,
        drop_every=params.drop_every, extend_by=params.extend_by, opens_at=opens_at,
        closes_at=closes_at, item_amount=0, tokens=[], set_id=params.set,
    )
    if params.amount is not None:
        lot.item_amount = to_minor(params.amount, item_type.smallest_unit)
        lot.item_hold_id = await hold(ctx, seller, item_type, lot.item_amount, escrow, description)
    else:
        assert tokens is not None  # the input's validator
        for token_id in tokens:
            token = await get_visible_token(ctx, token_id)
            if token.type_id != item_type.id:
                raise Unprocessable(f"token {token_id} is not of type {item_type.id}", code="token-type-mismatch")
            await hold_token(ctx, seller, token, item_type, escrow, description)
        lot.tokens = list(tokens)
        lot.item_amount = unit(item_type) * len(tokens)
    lot.visibility = params.visibility.value
    await lot.save()
    for handle in params.audience or []:
        viewer = await resolve_actor(handle, ctx, field="audience")
        if viewer.id != seller.id:
            await LotViewer.get_or_create(lot_id=lot.id, actor_id=viewer.id)
    if closes_at is not None:
        await LotClose.create(lot_id=lot.id, state=CloseState.PENDING.value, next_at=closes_at)
    await ctx.emit("market.lot.created", "market_lot", lot.id, lot_payload(lot, item_type))
    return await lot_detail(ctx, lot)


class LotListInput(ListInput):
    type: str | None = Field(None, min_length=1, max_length=64, description="the token type sold")
    kind: LotKind | None = None
    seller: str | None = Field(None, min_length=1, max_length=320, description="username")
    state: Literal["open", "sold", "unsold", "withdrawn", "all"] = "open"
    closing_soon: bool = Field(False, description="only open lots that close within a day, soonest first")


@REGISTRY.operation("market.lots.list", LotListInput, output=Paged[LotOut], access=Access.PUBLIC)
async def list_lots(ctx: Context, params: LotListInput) -> Any:
    """Lots you may see, filtered by the type sold, kind, seller, state (default open) or closing soon."""
    query = Lot.filter(seen_by(ctx.actor))
    if params.type:
        query = query.filter(item_type_id=params.type)
    if params.kind:
        query = query.filter(kind=params.kind.value)
    if params.seller:
        username = params.seller.lower().lstrip("@").partition("@")[0]
        query = query.filter(seller__username=username, seller__domain="")
    if params.state != "all":
        query = query.filter(state=params.state)
    if params.closing_soon:
        now = _now()
        query = query.filter(state=LotState.OPEN.value, closes_at__gt=now, closes_at__lte=now + CLOSING_SOON)
    page = await paginate(query, params)
    page.items = await lot_views(ctx, page.items)
    if params.closing_soon:
        page.items.sort(key=lambda view: view["closes_at"] or "")
    return page


class LotIdInput(Input):
    id: str = ID


def seen_by(actor: Actor | None) -> Q:
    """The lots `actor` may see: public ones; with an actor, also its own, those of sellers it
    follows (followers), those it is listed for, and those it bid on."""
    public = Q(visibility=LotVisibility.PUBLIC.value)
    if actor is None:
        return public
    followed = Follow.filter(follower_id=actor.id, state=FollowState.ACCEPTED.value, object_uri="").values("target_id")
    return (
        public
        | Q(seller_id=actor.id)
        | Q(visibility=LotVisibility.FOLLOWERS.value, seller_id__in=Subquery(followed))
        | Q(visibility=LotVisibility.LISTED.value, id__in=Subquery(LotViewer.filter(actor_id=actor.id).values("lot_id")))
        | Q(id__in=Subquery(Bid.filter(bidder_id=actor.id).values("lot_id")))
    )


async def _visible_lot(ctx: Context, lot_id: str) -> Lot:
    """The lot, if the caller may see it; 404 as for a lot that does not exist otherwise."""
    lot = await Lot.filter(seen_by(ctx.actor), id=lot_id).first()
    if lot is None:
        raise NotFound(f"there is no lot {lot_id!r}", code="lot-not-found")
    return lot


async def _lot(lot_id: str) -> Lot:
    lot = await Lot.get_or_none(id=lot_id)
    if lot is None:
        raise NotFound(f"there is no lot {lot_id!r}", code="lot-not-found")
    return lot


@REGISTRY.operation("market.lots.get", LotIdInput, output=LotDetailOut, access=Access.PUBLIC)
async def get_lot(ctx: Context, params: LotIdInput) -> dict[str, Any]:
    """A lot with its bid (or offer) history."""
    return await lot_detail(ctx, await _visible_lot(ctx, params.id))


async def _lock_open(lot_id: str) -> Lot:
    """Lock the lot's row for this transaction (the bump is the lock on PostgreSQL) if it is
    open, and read it as it is now; 404 or 409 lot-not-open otherwise."""
    bumped = await Lot.filter(id=lot_id, state=LotState.OPEN.value).update(version=_version_plus_one())
    lot = await _lot(lot_id)
    if bumped != 1:
        raise Conflict(f"lot {lot_id} is {lot.state}: it takes no more changes", code="lot-not-open")
    return lot


def _version_plus_one() -> Any:
    return F("version") + 1


def _check_seller(ctx: Context, lot: Lot) -> Actor:
    actor = ctx.require_actor()
    if actor.id != lot.seller_id and lot.visibility != LotVisibility.PUBLIC.value:
        raise NotFound(f"there is no lot {lot.id!r}", code="lot-not-found")  # as for those who cannot see it
    if actor.id != lot.seller_id:
        raise Forbidden("only the seller may do this", code="not-seller")
    return actor


class LotUpdateInput(Input):
    id: str = ID
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=5000)
    price: str | None = Field(None, min_length=1, max_length=40, description="fixed_price only")
    reserve: str | None = Field(None, min_length=1, max_length=40, description="english_auction, sealed_auction only")
    buy_now: str | None = Field(None, min_length=1, max_length=40, description="english_auction only")


@REGISTRY.operation("market.lots.update", LotUpdateInput, output=LotDetailOut)
async def update_lot(ctx: Context, params: LotUpdateInput) -> dict[str, Any]:
    """Change an open lot's title, description or prices; locked once it has a bid (409 lot-locked)."""
    lot = await _lock_open(params.id)
    _check_seller(ctx, lot)
    if lot.bid_count:
        raise Conflict("this lot has bids: it can no longer be changed", code="lot-locked")
    ctx.check_version(lot.version - 1, "lot")
    price_type = await TokenType.get(id=lot.price_type_id)
    changes: dict[str, Any] = {}
    for name in ("title", "description"):
        if getattr(params, name) is not None:
            changes[name] = getattr(params, name)
    allowed = {
        "price": {LotKind.FIXED_PRICE.value},
        "reserve": {LotKind.ENGLISH_AUCTION.value, LotKind.SEALED_AUCTION.value},
        "buy_now": {LotKind.ENGLISH_AUCTION.value},
    }
    for name, kinds in allowed.items():
        value = getattr(params, name)
        if value is None:
            continue
        if lot.kind not in kinds:
            raise Unprocessable(f"a {lot.kind} lot has no {name}", code="wrong-kind", errors=[{"field": name, "message": "not for this kind"}])
        changes[name] = _minor(value, price_type, name)
    if changes:
        await Lot.filter(id=lot.id).update(**changes)
    return await lot_detail(ctx, await _lot(lot.id))


class RelistInput(Input):
    id: str = ID
    opens_at: datetime | None = Field(None, description="default: now")
    closes_at: datetime | None = Field(None, description="the new closing time (an auction needs one)")


@REGISTRY.operation("market.lots.relist", RelistInput, output=LotDetailOut)
async def relist_lot(ctx: Context, params: RelistInput) -> dict[str, Any]:
    """List again what an unsold or withdrawn lot of yours sold, on the same terms, as a new lot
    (its units or tokens are held again: 409 when you no longer have them)."""
    old = await _lot(params.id)
    _check_seller(ctx, old)
    if old.state not in (LotState.UNSOLD.value, LotState.WITHDRAWN.value):
        raise Conflict(f"lot {old.id} is {old.state}: only an unsold or withdrawn lot is listed again", code="lot-not-ended")
    item, price = await TokenType.get(id=old.item_type_id), await TokenType.get(id=old.price_type_id)
    audience = await Actor.filter(listed_lots__lot_id=old.id).all()
    terms = {
        "kind": old.kind, "type": item.id, "price_type": price.id, "title": old.title, "description": old.description,
        "opens_at": params.opens_at, "closes_at": params.closes_at, "visibility": old.visibility,
        "audience": [actor.handle(ctx.site.domain) for actor in audience] or None,
        "drop_every": old.drop_every, "extend_by": old.extend_by,
        **({"tokens": list(old.tokens)} if old.tokens else {"amount": minor_text(old.item_amount, item)}),
        **{name: minor_text(getattr(old, column), price) for name, column in (
            ("price", "price"), ("start_price", "start_price"), ("reserve", "reserve"), ("buy_now", "buy_now"),
            ("min_increment", "min_increment"), ("drop", "price_drop"),
        )},
    }
    made: dict[str, Any] = await create_lot(ctx, LotCreateInput.model_validate(terms))
    return made


@REGISTRY.operation("market.lots.withdraw", LotIdInput, output=LotDetailOut)
async def withdraw_lot(ctx: Context, params: LotIdInput) -> dict[str, Any]:
    """Take an open lot off the market before its first bid; what it sells goes back to you."""
    lot = await _lock_open(params.id)
    seller = _check_seller(ctx, lot)
    if lot.bid_count:
        raise Conflict("this lot has bids or offers: it can no longer be withdrawn", code="lot-locked")
    await Lot.filter(id=lot.id).update(state=LotState.WITHDRAWN.value, ended_at=_now())
    item_type = await TokenType.get(id=lot.item_type_id)
    escrow = await Actor.get(id=lot.escrow_id)
    await hand_over_items(as_escrow(ctx, escrow), lot, item_type, seller, f"released: lot {lot.id} withdrawn")
    await ctx.emit("market.lot.withdrawn", "market_lot", lot.id, lot_payload(lot, item_type))
    return await lot_detail(ctx, await _lot(lot.id))


# ---------------------------------------------------------------- bids and offers


class BidInput(Input):
    id: str = ID
    amount: str | None = Field(
        None, min_length=1, max_length=40,
        description="what you bid; fixed_price: the price (may be left out); with max_amount, default the least bid",
    )
    max_amount: str | None = Field(
        None, min_length=1, max_length=40,
        description="english_auction: a proxy bid's ceiling; it is held, and your bid rises by the increment "
        "when someone bids more, up to it",
    )


class OfferInput(Input):
    id: str = ID
    amount: str = Field(min_length=1, max_length=40, description="what you offer; held until the seller decides")


async def _open_for_bids(ctx: Context, lot_id: str) -> tuple[Lot, Actor]:
    await _visible_lot(ctx, lot_id)
    lot = await _lock_open(lot_id)
    bidder = ctx.require_actor()
    if bidder.id == lot.seller_id:
        raise Forbidden("you cannot bid on your own lot", code="own-lot")
    now = _now()
    opens_at, closes_at = aware(lot.opens_at), aware(lot.closes_at)
    if opens_at is not None and now < opens_at:
        raise Conflict(f"lot {lot.id} opens at {iso(lot.opens_at)}", code="lot-not-open-yet")
    if closes_at is not None and now >= closes_at:
        raise Conflict(f"lot {lot.id} closed at {iso(lot.closes_at)}", code="lot-closed")
    return lot, bidder


async def _place(
    ctx: Context, lot: Lot, bidder: Actor, price_type: TokenType, kind: BidKind, amount: int, max_amount: int | None = None
) -> Bid:
    """Hold the payment (a proxy bid: its ceiling) in the lot's escrow and record the bid (held)."""
    escrow = await Actor.get(id=lot.escrow_id)
    held = amount if max_amount is None else max_amount
    await check_resale(bidder, price_type, await Actor.get(id=lot.seller_id))  # a payment is a give to the seller
    hold_id = await hold(ctx, bidder, price_type, held, escrow, f"held for lot {lot.id}: {kind.value}")
    bid = await Bid.create(
        lot_id=lot.id, bidder_id=bidder.id, kind=kind.value, amount=amount, max_amount=max_amount, hold_id=hold_id
    )
    await Lot.filter(id=lot.id).update(bid_count=lot.bid_count + 1)
    lot.bid_count += 1
    await ctx.emit("market.bid.placed", "market_bid", bid.id, bid_payload(lot, price_type, bid, hold_id))
    return bid


@REGISTRY.operation("market.bids.place", BidInput, output=BidOut)
async def place_bid(ctx: Context, params: BidInput) -> dict[str, Any]:
    """Bid on an english auction (the payment is held; the bid it beats is given back at once),
    buy a fixed_price lot or accept a dutch auction's price now (paid and handed over at once),
    or place your one sealed bid (held, hidden from others until the close)."""
    lot, bidder = await _open_for_bids(ctx, params.id)
    price_type = await TokenType.get(id=lot.price_type_id)
    if lot.kind == LotKind.OFFERS.value:
        raise Unprocessable("this lot takes offers: POST /api/v1/market/lots/{id}/offers", code="wrong-kind")
    if params.max_amount is not None and lot.kind != LotKind.ENGLISH_AUCTION.value:
        raise Unprocessable("max_amount (a proxy bid) is for an english_auction", code="wrong-kind",
                            errors=[{"field": "max_amount", "message": "not for this kind"}])
    if lot.kind == LotKind.DUTCH_AUCTION.value:
        return await _accept_dutch(ctx, lot, bidder, price_type, params.amount)
    if lot.kind == LotKind.SEALED_AUCTION.value:
        return await _bid_sealed(ctx, lot, bidder, price_type, params.amount)
    if lot.kind == LotKind.FIXED_PRICE.value:
        assert lot.price is not None
        amount = lot.price if params.amount is None else to_minor(params.amount, price_type.smallest_unit)
        if amount != lot.price:
            raise Unprocessable(
                f"this lot sells for {minor_text(lot.price, price_type)} {price_type.symbol}", code="wrong-price",
                errors=[{"field": "amount", "message": "must be the price"}],
            )
        bid = await _place(ctx, lot, bidder, price_type, BidKind.BID, amount)
        await _award(ctx, lot, bid, price_type)
        return (await bid_views(ctx, [await Bid.get(id=bid.id)]))[0]
    return await _bid_in_auction(ctx, lot, bidder, price_type, params)


def _too_low(least: int, price_type: TokenType, field: str = "amount") -> Unprocessable:
    return Unprocessable(
        f"a bid must be at least {minor_text(least, price_type)} {price_type.symbol}", code="bid-too-low",
        errors=[{"field": field, "message": f"at least {minor_text(least, price_type)}"}],
    )


async def _bid_in_auction(ctx: Context, lot: Lot, bidder: Actor, price_type: TokenType, params: BidInput) -> dict[str, Any]:
    """An english auction's bid, with eBay's proxy rule: each bid stands for its ceiling (a proxy's
    max_amount, else its amount); the higher ceiling leads, at one increment above the other
    ceiling (never above its own; at the reserve when its ceiling reaches that); on a tie the
    earlier bid leads. The bid that does not lead is given back at once."""
    least = next_minimum(lot)
    assert least is not None
    increment = lot.min_increment or 1
    if params.amount is None and params.max_amount is None:
        raise Unprocessable("give the amount you bid", code="amount-required", errors=[{"field": "amount", "message": "required"}])
    ceiling = None if params.max_amount is None else to_minor(params.max_amount, price_type.smallest_unit, field="max_amount")
    amount = least if params.amount is None else to_minor(params.amount, price_type.smallest_unit)
    if amount < least:
        raise _too_low(least, price_type)
    if ceiling is not None and ceiling < amount:
        raise Unprocessable("max_amount must be at least the amount", code="invalid-max-amount",
                            errors=[{"field": "max_amount", "message": "below the amount"}])
    leader = await Bid.get_or_none(id=lot.best_bid_id) if lot.best_bid_id else None
    if leader is not None and leader.state != BidState.HELD.value:
        leader = None
    if leader is not None and leader.bidder_id == bidder.id:
        raise Conflict("you already lead this auction; bid again when someone outbids you", code="already-leading")
    bid = await _place(ctx, lot, bidder, price_type, BidKind.BID, amount, ceiling)
    escrow = await Actor.get(id=lot.escrow_id)
    loser: Bid | None
    if leader is not None and bid.held <= leader.held:  # the earlier ceiling holds: it rises to meet this one
        leader.amount = max(leader.amount, min(leader.held, bid.held + increment))
        winner, loser = leader, bid
    else:
        price = amount if leader is None else max(amount, min(bid.held, leader.held + increment))
        bid.amount = price
        winner, loser = bid, leader
    if lot.reserve is not None and winner.held >= lot.reserve > winner.amount:
        winner.amount = lot.reserve  # a ceiling that reaches the reserve bids the reserve
    await Bid.filter(id=winner.id).update(amount=winner.amount)
    await Lot.filter(id=lot.id).update(best_bid_id=winner.id, best_amount=winner.amount)
    lot.best_bid_id, lot.best_amount = winner.id, winner.amount
    if loser is not None:
        await release_bid(ctx, as_escrow(ctx, escrow), lot, price_type, loser, "outbid")
    if lot.buy_now is not None and winner.amount >= lot.buy_now:
        await _award(ctx, lot, winner, price_type)
    else:
        await _extend_if_sniped(ctx, lot, bid)
    return (await bid_views(ctx, [await Bid.get(id=bid.id)]))[0]


async def _extend_if_sniped(ctx: Context, lot: Lot, bid: Bid) -> None:
    """Soft close: a bid in the last extend_by seconds moves the close to now + extend_by, and the
    close row's next_at with it (a declared manual move, conditional on the row still pending).
    The move also drops any runner's claim on the row: a close already running for the old time
    cannot commit (LostLease), and it re-checks closes_at under the lot's lock anyway."""
    new_close = extended_close(lot, _now())
    if new_close is None:
        return
    previous = lot.closes_at
    await Lot.filter(id=lot.id).update(closes_at=new_close)
    lot.closes_at = new_close
    close = await LotClose.get_or_none(lot_id=lot.id)
    if close is not None:
        await move(MARKET_CLOSES, close.id, CloseState.PENDING.value, CloseState.PENDING.value, next_at=new_close)
    await ctx.emit("market.lot.extended", "market_lot", lot.id, {
        "lot": lot.id, "bid": bid.id, "previous_closes_at": iso(previous) or "", "closes_at": iso(new_close) or "",
    })


async def _accept_dutch(ctx: Context, lot: Lot, bidder: Actor, price_type: TokenType, amount_text: str | None) -> dict[str, Any]:
    """Buy a dutch lot at the price now: `amount` (if given) is the most you agree to pay, and must
    reach the price; you pay the price now. Held and awarded at once, like a fixed-price buy; of
    several at once, the lot's conditional open -> sold lets one through (others: 409 lot-not-open)."""
    now = _now()
    price = dutch_price(lot, now)
    if amount_text is not None and to_minor(amount_text, price_type.smallest_unit) < price:
        drop_at = next_drop_at(lot, now)
        later = f"; it falls at {iso(drop_at)}" if drop_at is not None else ""
        raise Unprocessable(
            f"the price now is {minor_text(price, price_type)} {price_type.symbol}{later}", code="bid-too-low",
            errors=[{"field": "amount", "message": f"at least {minor_text(price, price_type)}"}],
        )
    bid = await _place(ctx, lot, bidder, price_type, BidKind.BID, price)
    await _award(ctx, lot, bid, price_type)
    return (await bid_views(ctx, [await Bid.get(id=bid.id)]))[0]


async def _bid_sealed(ctx: Context, lot: Lot, bidder: Actor, price_type: TokenType, amount_text: str | None) -> dict[str, Any]:
    """Your one sealed bid: held until the close, shown to you alone (models/auctions.py says why
    it is binding and why one)."""
    if amount_text is None:
        raise Unprocessable("give the amount you bid", code="amount-required", errors=[{"field": "amount", "message": "required"}])
    amount = to_minor(amount_text, price_type.smallest_unit)
    least = next_minimum(lot)
    assert least is not None
    if amount < least:
        raise _too_low(least, price_type)
    if await Bid.filter(lot_id=lot.id, bidder_id=bidder.id).exists():  # the lot's row is locked: no race
        raise Conflict("you have bid on this sealed auction already; a sealed bid is final", code="already-bid")
    bid = await _place(ctx, lot, bidder, price_type, BidKind.BID, amount)
    return (await bid_views(ctx, [bid]))[0]


@REGISTRY.operation("market.offers.place", OfferInput, output=BidOut)
async def place_offer(ctx: Context, params: OfferInput) -> dict[str, Any]:
    """Make an offer on an offers lot: the amount is held until the seller accepts one (or the lot ends)."""
    lot, bidder = await _open_for_bids(ctx, params.id)
    if lot.kind != LotKind.OFFERS.value:
        raise Unprocessable("this lot does not take offers: POST /api/v1/market/lots/{id}/bids", code="wrong-kind")
    price_type = await TokenType.get(id=lot.price_type_id)
    bid = await _place(ctx, lot, bidder, price_type, BidKind.OFFER, to_minor(params.amount, price_type.smallest_unit))
    return (await bid_views(ctx, [bid]))[0]


class AwardInput(Input):
    id: str = ID
    offer: str = Field(min_length=1, max_length=64, description="the offer you accept")


@REGISTRY.operation("market.lots.award", AwardInput, output=LotDetailOut)
async def award_lot(ctx: Context, params: AwardInput) -> dict[str, Any]:
    """Accept one offer on your offers lot: it is sold to that bidder, every other offer is given back."""
    lot = await _lock_open(params.id)
    _check_seller(ctx, lot)
    if lot.kind != LotKind.OFFERS.value:
        raise Unprocessable("only an offers lot is awarded by its seller; an auction is awarded at its close", code="wrong-kind")
    closes_at = aware(lot.closes_at)
    if closes_at is not None and _now() >= closes_at:
        raise Conflict(f"lot {lot.id} closed at {iso(lot.closes_at)}: its offers are being given back", code="lot-closed")
    offer = await Bid.get_or_none(id=params.offer, lot_id=lot.id)
    if offer is None:
        raise NotFound(f"lot {lot.id} has no offer {params.offer!r}", code="offer-not-found")
    if offer.state != BidState.HELD.value:
        raise Conflict(f"offer {offer.id} is {offer.state}", code="offer-not-held")
    await _award(ctx, lot, offer, await TokenType.get(id=lot.price_type_id))
    return await lot_detail(ctx, await _lot(lot.id))


class WithdrawOfferInput(Input):
    id: str = ID
    offer: str = Field(min_length=1, max_length=64, description="your held offer")


_NOT_WITHDRAWABLE = {
    LotKind.ENGLISH_AUCTION.value: "an english auction's bid cannot be withdrawn: a leading bid is what the auction "
    "stands on, and a bid that was outbid has been given back already",
    LotKind.SEALED_AUCTION.value: "a sealed bid is binding until the close, like a sealed tender",
    LotKind.DUTCH_AUCTION.value: "a dutch auction's acceptance is a purchase; sales are final",
    LotKind.FIXED_PRICE.value: "a purchase is final",
}


@REGISTRY.operation("market.offers.withdraw", WithdrawOfferInput, output=BidOut)
async def withdraw_offer(ctx: Context, params: WithdrawOfferInput) -> dict[str, Any]:
    """Take back your held offer on an offers lot: its payment comes back at once (state withdrawn).
    Bids on auctions and purchases cannot be withdrawn (409 bid-not-withdrawable)."""
    lot = await _lock_open(params.id)  # an ended lot settled every offer already: 409 lot-not-open
    offer = await Bid.get_or_none(id=params.offer, lot_id=lot.id)
    if offer is None:
        raise NotFound(f"lot {lot.id} has no offer {params.offer!r}", code="offer-not-found")
    bidder = ctx.require_actor()
    if offer.bidder_id != bidder.id:
        raise Forbidden("only its bidder may withdraw an offer", code="not-bidder")
    if lot.kind != LotKind.OFFERS.value:
        raise Conflict(_NOT_WITHDRAWABLE[lot.kind], code="bid-not-withdrawable")
    if offer.state != BidState.HELD.value:
        raise Conflict(f"offer {offer.id} is {offer.state}: nothing is held", code="offer-not-held")
    price_type = await TokenType.get(id=lot.price_type_id)
    escrow = await Actor.get(id=lot.escrow_id)
    entry = await pay_out(as_escrow(ctx, escrow), price_type, offer.held, offer.hold_id, bidder, f"released: offer withdrawn (lot {lot.id})")
    if await Bid.filter(id=offer.id, state=BidState.HELD.value).update(state=BidState.WITHDRAWN.value, settled_id=entry) != 1:
        raise Conflict("the offer changed while it was being withdrawn; try again", code="concurrent-change")
    await ctx.emit("market.bid.withdrawn", "market_bid", offer.id, bid_payload(lot, price_type, offer, entry))
    return (await bid_views(ctx, [await Bid.get(id=offer.id)]))[0]


class MyBidsInput(ListInput):
    state: Literal["held", "released", "won", "withdrawn", "all"] = "all"


@REGISTRY.operation("market.bids.list", MyBidsInput, output=Paged[BidOut], access=Access.USER)
async def list_my_bids(ctx: Context, params: MyBidsInput) -> Any:
    """Your bids and offers, newest first."""
    query = Bid.filter(bidder_id=ctx.require_actor().id)
    if params.state != "all":
        query = query.filter(state=params.state)
    page = await paginate(query, params)
    page.items = await bid_views(ctx, page.items)
    return page


# ---------------------------------------------------------------- the award and the close


async def _award(ctx: Context, lot: Lot, bid: Bid, price_type: TokenType) -> None:
    """Sell the lot to `bid` in the caller's transaction: the conditional open -> sold decides
    (409 lot-not-open if another award came first); the item to the winner, the payment to the
    seller, every other hold given back."""
    now = _now()
    won = await Lot.filter(id=lot.id, state=LotState.OPEN.value).update(
        state=LotState.SOLD.value, winner_id=bid.bidder_id, sold_price=bid.amount, ended_at=now,
        best_bid_id=bid.id, best_amount=bid.amount,
    )
    if won != 1:
        raise Conflict(f"lot {lot.id} was sold or ended meanwhile", code="lot-not-open")
    escrow = await Actor.get(id=lot.escrow_id)
    ectx = as_escrow(ctx, escrow)
    item_type = await TokenType.get(id=lot.item_type_id)
    buyer, seller = await Actor.get(id=bid.bidder_id), await Actor.get(id=lot.seller_id)
    entries = await hand_over_items(ectx, lot, item_type, buyer, f"bought in lot {lot.id}")
    payment = await pay_out(ectx, price_type, bid.amount, bid.hold_id, seller, f"sold in lot {lot.id}")
    if bid.held > bid.amount:  # a proxy bid won below its ceiling: the rest goes back
        await pay_out(ectx, price_type, bid.held - bid.amount, bid.hold_id, buyer, f"released: rest of your maximum bid (lot {lot.id})")
    if await Bid.filter(id=bid.id, state=BidState.HELD.value).update(state=BidState.WON.value, settled_id=payment) != 1:
        raise Conflict("the winning bid changed meanwhile; try again", code="concurrent-change")
    await release_all(ctx, ectx, lot, price_type, "another bid won", keep=bid.id)
    lot.winner_id = bid.bidder_id
    await ctx.emit("market.lot.sold", "market_lot", lot.id, lot_payload(lot, item_type))
    await ctx.emit("market.sale", "market_lot", lot.id, {
        **{key: value for key, value in lot_payload(lot, item_type).items() if key != "kind"},
        "buyer": bid.bidder_id, "price": to_decimal_string(bid.amount, price_type.smallest_unit),
        "entries": [*entries, payment],
    })


async def _leave_unsold(ctx: Context, lot: Lot) -> None:
    """The lot ends without a sale: every hold goes back (bids to bidders, the item to the seller)."""
    ended = await Lot.filter(id=lot.id, state=LotState.OPEN.value).update(state=LotState.UNSOLD.value, ended_at=_now())
    if ended != 1:
        return
    escrow, seller = await Actor.get(id=lot.escrow_id), await Actor.get(id=lot.seller_id)
    ectx = as_escrow(ctx, escrow)
    price_type, item_type = await TokenType.get(id=lot.price_type_id), await TokenType.get(id=lot.item_type_id)
    await release_all(ctx, ectx, lot, price_type, "the lot closed unsold")
    await hand_over_items(ectx, lot, item_type, seller, f"released: lot {lot.id} closed unsold")
    await ctx.emit("market.lot.unsold", "market_lot", lot.id, lot_payload(lot, item_type))


LATER = "later"  # close_lot: the closing time moved past `due_at` (a soft close): nothing done


async def _best_sealed_bid(lot: Lot) -> Bid | None:
    """The highest held sealed bid; of equal ones the earliest."""
    return await Bid.filter(lot_id=lot.id, state=BidState.HELD.value).order_by("-amount", "created_at", "id").first()


async def close_lot(ctx: Context, lot_id: str, *, due_at: datetime | None = None) -> str:
    """Close a lot at its closing time (in the caller's transaction): an english auction is sold to
    its best bid, a sealed one to its highest (first price), if that meets the reserve; anything
    else still open ends unsold. With `due_at` (the runner's clock), a lot whose closing time has
    moved past it (a soft close) is left open. Returns what happened: sold, unsold, later, or
    ended (it had ended before: nothing to do)."""
    bumped = await Lot.filter(id=lot_id, state=LotState.OPEN.value).update(version=_version_plus_one())
    if bumped != 1:
        return "ended"
    lot = await _lot(lot_id)  # read under the lot's lock: a bid that moved the close has committed
    closes_at = aware(lot.closes_at)
    if due_at is not None and closes_at is not None and closes_at > due_at:
        return LATER
    best: Bid | None = None
    if lot.kind == LotKind.ENGLISH_AUCTION.value and lot.best_bid_id is not None:
        best = await Bid.get(id=lot.best_bid_id)
    elif lot.kind == LotKind.SEALED_AUCTION.value:
        best = await _best_sealed_bid(lot)
    if best is not None and (lot.reserve is None or best.amount >= lot.reserve):
        await _award(ctx, lot, best, await TokenType.get(id=lot.price_type_id))
        return "sold"
    await _leave_unsold(ctx, lot)
    return "unsold"


@MARKET_CLOSES.handler(may={CloseState.DONE.value})
async def close_due_lot(site: Site, row: LotClose, lease: Lease) -> Outcome:
    """The runner's handler: close the lot and record the close in one transaction. A close whose
    lot's closing time moved later (a soft close) is rescheduled for the new time instead."""
    ctx = Context(site=site, system=True)
    async with in_transaction():
        now = lease.now()
        outcome = await close_lot(ctx, row.lot_id, due_at=now)
        if outcome == LATER:
            lot = await _lot(row.lot_id)
            closes_at = aware(lot.closes_at)
            assert closes_at is not None
            wait = (closes_at - now).total_seconds()
            return await lease.commit(row, Retry(error=f"the closing time moved to {iso(closes_at)}", after=wait))
        return await lease.commit(row, Go(CloseState.DONE.value, values={"outcome": outcome}))
