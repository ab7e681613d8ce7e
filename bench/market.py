"""Market: bids per second on one hot english auction beside plain gives, and the award's time.

1. Bids per second. 64 funded bidders bid rising amounts on one english auction at once
   (`POST /api/v1/market/lots/{id}/bids`, 64 in flight, one per bidder). An accepted bid (201)
   holds its payment in the lot's escrow and gives back the bid it beats, in one transaction;
   a bid that arrives after a higher one is refused (422 bid-too-low) and one from the bidder
   who still leads is refused (409 already-leading): both are counted apart. Baseline: plain
   gives (`POST /api/v1/ledger/give`, 1 unit, the same 64 users to the seller) at the same
   concurrency, in alternating rounds of the same run. No target: the ratio is the figure.
2. The award of a lot with 10,000 bids, the award's transaction alone, in-process on the
   instance's SQLite file (normal durability) with the server stopped:
   - english auction: its close (`close_lot` in one transaction, as the close runner runs it).
     Each bid gave back the one it beat, so only the leader is held: the award moves the
     item, the payment and nothing else, however many bids there were.
   - offers lot: the seller's `market.lots.award` (as its HTTP request runs it). Every offer
     is held until then, so the award also gives back the other 9,999 holds, each its own
     ledger entry, in the same transaction.
   Baseline: the same award of a lot of the same kind with one bid, same run. Target: well
   under a second (issue 17; read: under half a second).
   The 10,000 bids are built in-process through the same operations (`market.bids.place`,
   `market.offers.place`) with fsync off for the setup: through HTTP that takes minutes.

    .venv/bin/python bench/market.py [--quick] [--seconds S] [--rounds R] [--concurrency C] [--bids N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Client,
    Instance,
    LoadResult,
    instance,
    median,
    ms,
    print_header,
    print_row,
    report_rounds,
    run_load,
    timed,
)

FUNDS = 10**9  # coins each bidder holds: more than any run bids or gives
AWARD_TARGET = 0.5  # seconds: "well under a second"
SELLER = "seller"


def bidder_name(index: int) -> str:
    return f"bidder{index}"


def _closes_at() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- in-process setup


async def user_context(settings: Any, username: str) -> Any:
    from models.actors import User
    from models.context import Context
    from server.app import site_from

    user = await User.get(username=username).select_related("actor")
    return Context(site=site_from(settings), user=user, actor=user.actor)


async def call(ctx: Any, name: str, params: dict[str, Any]) -> Any:
    from models.registry import REGISTRY

    return await REGISTRY.call(ctx, name, params)


@dataclass
class Market:
    """What the setup made: the seller's and bidders' tokens, the two types."""

    seller: str = ""
    bidders: list[str] = field(default_factory=list)
    gem: str = ""
    coin: str = ""


async def set_up_market(inst: Instance, bidders: int) -> Market:
    """The seller, `bidders` funded bidders, a type sold (GEM) and one paid in (COIN)."""
    market = Market()
    async with inst.setup(fast_writes=True) as settings:
        market.seller, _ = await inst.create_user(settings, SELLER)
        for index in range(bidders):
            market.bidders.append((await inst.create_user(settings, bidder_name(index)))[0])
        seller = await user_context(settings, SELLER)
        gem = await call(seller, "types.create", {"name": "Gem", "symbol": "GEM", "fungible": True, "smallest_unit": 0})
        coin = await call(seller, "types.create", {"name": "Coin", "symbol": "COIN", "fungible": True, "smallest_unit": 0})
        market.gem, market.coin = gem["id"], coin["id"]
        await call(seller, "ledger.create", {"type": market.gem, "amount": "1000"})
        await call(seller, "ledger.create", {"type": market.coin, "amount": str(FUNDS * bidders)})
        for index in range(bidders):
            await call(seller, "ledger.give", {"type": market.coin, "amount": str(FUNDS), "to": bidder_name(index)})
    return market


def lot_body(market: Market, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "type": market.gem, "amount": "1", "price_type": market.coin}
    if kind == "english_auction":
        body.update(start_price="1", min_increment="1", closes_at=_closes_at())
    return body


async def build_lot(settings: Any, market: Market, kind: str, bids: int, bidders: int) -> str:
    """A lot with `bids` accepted bids (english: rising, round robin over the bidders, each one
    beating the last) or held offers (one coin each); through the operations, as HTTP runs them."""
    seller = await user_context(settings, SELLER)
    lot_id = str((await call(seller, "market.lots.create", lot_body(market, kind)))["id"])
    contexts = [await user_context(settings, bidder_name(index)) for index in range(bidders)]
    for number in range(bids):
        ctx = contexts[number % bidders]
        if kind == "english_auction":
            reply = await call(ctx, "market.bids.place", {"id": lot_id, "amount": str(number + 1)})
        else:
            reply = await call(ctx, "market.offers.place", {"id": lot_id, "amount": "1"})
        if reply["state"] != "held":
            raise RuntimeError(f"bid {number} on lot {lot_id} was not held: {reply}")
    return lot_id


# ---------------------------------------------------------------- bids per second


@dataclass
class Bidding:
    """The hot auction: amounts rise by one per bid sent; answers counted by status and code."""

    client: Client
    path: str
    tokens: list[str]
    amounts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    answers: Counter[str] = field(default_factory=Counter)

    async def round(self, concurrency: int, seconds: float) -> tuple[LoadResult, Counter[str]]:
        """Each of `concurrency` workers is one bidder; every request counts in the rate."""
        counted: Counter[str] = Counter()
        free = list(self.tokens[:concurrency])

        async def one() -> None:
            token = free.pop()
            try:
                await self._bid(token, counted)
            finally:
                free.append(token)

        result = await run_load(concurrency, one, seconds=seconds)
        self.answers.update(counted)
        return result, counted

    async def _bid(self, token: str, counted: Counter[str]) -> None:
        body = {"amount": str(next(self.amounts))}
        headers = {"Authorization": f"Bearer {token}"}
        async with self.client.session.post(self.path, json=body, headers=headers) as response:
            answer = await response.json(content_type=None)
            if response.status == 201:
                counted["201"] += 1
                return
            code = answer.get("code") if isinstance(answer, dict) else None
            if response.status not in (409, 422):
                raise RuntimeError(f"bid -> {response.status}: {answer}")
            counted[f"{response.status} {code}"] += 1


@dataclass
class Giving:
    """The baseline: plain gives of 1 coin from the same users to the seller."""

    client: Client
    tokens: list[str]
    body: dict[str, str]
    given: int = 0

    async def round(self, concurrency: int, seconds: float) -> LoadResult:
        free = list(self.tokens[:concurrency])

        async def one() -> None:
            token = free.pop()
            try:
                await self.client.call("POST", "/api/v1/ledger/give", token=token, json=self.body, expect=201)
            finally:
                free.append(token)

        result = await run_load(concurrency, one, seconds=seconds)
        self.given += result.requests
        return result


def describe(counted: Counter[str]) -> str:
    """Accepted, too low and other refusals, each counted even when none came."""
    too_low = counted["422 bid-too-low"]
    others = {answer: count for answer, count in counted.items() if answer not in ("201", "422 bid-too-low")}
    refused = ", ".join(f"{count} {answer}" for answer, count in sorted(others.items())) or "0 409"
    return f"{counted['201']} accepted (201), {too_low} too low (422), refused otherwise: {refused}"


async def bids_per_second(inst: Instance, market: Market, args: argparse.Namespace) -> None:
    print_header(
        "bids per second on one english auction vs plain gives (SQLite)",
        f"{args.concurrency} bidders at once, rising amounts; {args.rounds} alternating rounds of {args.seconds:g} s "
        f"after {args.warmup:g} s of warm-up; best round shown",
    )
    inst.start()
    try:
        async with Client(inst.base_url, args.concurrency) as client:
            lot = await client.call("POST", "/api/v1/market/lots", token=market.seller, json=lot_body(market, "english_auction"),
                                    expect=201)
            bidding = Bidding(client, f"/api/v1/market/lots/{lot['id']}/bids", market.bidders)
            giving = Giving(client, market.bidders, {"type": market.coin, "amount": "1", "to": SELLER})
            await bidding.round(args.concurrency, args.warmup)
            await giving.round(args.concurrency, args.warmup)
            bid_rounds: list[LoadResult] = []
            give_rounds: list[LoadResult] = []
            counts: list[Counter[str]] = []
            for _ in range(args.rounds):
                result, counted = await bidding.round(args.concurrency, args.seconds)
                bid_rounds.append(result)
                counts.append(counted)
                give_rounds.append(await giving.round(args.concurrency, args.seconds))
            await check_auction(client, market, lot["id"], bidding.answers["201"], giving.given)
    finally:
        inst.stop()
    best_bids = report_rounds("POST .../bids (every answer)", bid_rounds)
    best_index = bid_rounds.index(best_bids)
    accepted = counts[best_index]["201"] / best_bids.seconds
    print_row("  of which accepted (201)", f"{accepted:8.0f} bids/s", f"(best round: {describe(counts[best_index])})")
    best_gives = report_rounds("baseline: POST /api/v1/ledger/give", give_rounds)
    paired = ", ".join(f"{bids.rate / gives.rate:.2f}" for bids, gives in zip(bid_rounds, give_rounds))
    print_row("ratio bids / gives", f"{best_bids.rate / best_gives.rate:8.2f}", f"(no target; round by round: {paired})")
    print_row("ratio accepted bids / gives", f"{accepted / best_gives.rate:8.2f}")


async def check_auction(client: Client, market: Market, lot_id: str, accepted: int, given: int) -> None:
    """Every 201 is a bid on the lot; the seller got one coin per give; the escrow holds one bid."""
    lot = await client.call("GET", f"/api/v1/market/lots/{lot_id}")
    if lot["bid_count"] != accepted:
        raise RuntimeError(f"the lot counts {lot['bid_count']} bids, the bench saw {accepted} accepted")
    if not any(bid["state"] == "held" for bid in lot["bids"]) or sum(bid["state"] == "held" for bid in lot["bids"]) != 1:
        raise RuntimeError(f"the lot should have exactly one held bid: {lot['bids'][:3]}")
    balance = await client.call("GET", f"/api/v1/ledger/balance?owner={SELLER}&type={market.coin}")
    if balance["balance"] != str(given):
        raise RuntimeError(f"the seller should hold {given} coins, holds {balance['balance']}")


# ---------------------------------------------------------------- the award


BASELINE_LOTS = 3  # lots with one bid, of each kind: the median award is the baseline


@dataclass
class AwardLots:
    english: str = ""
    offers: str = ""
    english_one: list[str] = field(default_factory=list)
    offers_one: list[str] = field(default_factory=list)


async def build_award_lots(inst: Instance, market: Market, args: argparse.Namespace) -> AwardLots:
    lots = AwardLots()
    async with inst.setup(fast_writes=True) as settings:
        with timed(f"english auction with {args.bids:,} bids, in-process through market.bids.place"):
            lots.english = await build_lot(settings, market, "english_auction", args.bids, args.concurrency)
        with timed(f"offers lot with {args.bids:,} held offers, in-process through market.offers.place"):
            lots.offers = await build_lot(settings, market, "offers", args.bids, args.concurrency)
        for _ in range(BASELINE_LOTS):
            lots.english_one.append(await build_lot(settings, market, "english_auction", 1, args.concurrency))
            lots.offers_one.append(await build_lot(settings, market, "offers", 1, args.concurrency))
    return lots


async def time_close(settings: Any, lot_id: str) -> float:
    """The english close as the runner runs it (close_lot in one transaction), timed."""
    from tortoise.transactions import in_transaction

    from models.context import Context
    from models.operations.market import close_lot
    from server.app import site_from

    ctx = Context(site=site_from(settings), system=True)
    start = time.perf_counter()
    async with in_transaction():
        outcome = await close_lot(ctx, lot_id)
    seconds = time.perf_counter() - start
    if outcome != "sold":
        raise RuntimeError(f"lot {lot_id} closed {outcome}, not sold")
    return seconds


async def time_award(settings: Any, lot_id: str) -> float:
    """The seller accepts the first offer (`market.lots.award`, its registry transaction), timed."""
    from models.market import Bid

    seller = await user_context(settings, SELLER)
    offer = await Bid.filter(lot_id=lot_id).order_by("id").first()
    assert offer is not None
    start = time.perf_counter()
    detail = await call(seller, "market.lots.award", {"id": lot_id, "offer": offer.id})
    seconds = time.perf_counter() - start
    if detail["state"] != "sold":
        raise RuntimeError(f"lot {lot_id} is {detail['state']} after the award")
    return seconds


async def check_awarded(lot_id: str, bids: int) -> None:
    """Nothing held after the award: every bid won or released, each with its own entry."""
    from models.ledger import LedgerEntry
    from models.market import Bid, Lot

    lot = await Lot.get(id=lot_id)
    left = await LedgerEntry.filter(recipient_id=lot.escrow_id, remaining__gt=0).count()
    states = Counter(await Bid.filter(lot_id=lot_id).values_list("state", flat=True))
    settled = await Bid.filter(lot_id=lot_id, settled_id__isnull=False).values_list("settled_id", flat=True)
    if left or states.get("held") or states["won"] != 1 or sum(states.values()) != bids or len(set(settled)) != bids:
        raise RuntimeError(f"lot {lot_id} after the award: {left} escrow outputs left, bids {dict(states)}, "
                           f"{len(set(settled))} distinct settling entries")


async def award_times(inst: Instance, lots: AwardLots, args: argparse.Namespace) -> None:
    print_header(
        f"award of a lot with {args.bids:,} bids (SQLite, in-process, the award's transaction alone)",
        f"bids built in-process through the operations (HTTP would take minutes); baseline: a lot with 1 bid; "
        f"target: well under 1 s (< {AWARD_TARGET:g} s)",
    )
    async with inst.setup() as settings:  # normal durability: the server's settings
        english_one = median([await time_close(settings, lot_id) for lot_id in lots.english_one])
        english = await time_close(settings, lots.english)
        offers_one = median([await time_award(settings, lot_id) for lot_id in lots.offers_one])
        offers = await time_award(settings, lots.offers)
        for lot_id, bids in ((lots.english, args.bids), (lots.offers, args.bids)):
            await check_awarded(lot_id, bids)
        for lot_id in lots.english_one + lots.offers_one:
            await check_awarded(lot_id, 1)
    for label, seconds, one in (
        (f"english close, {args.bids:,} bids (1 held)", english, english_one),
        (f"offers award, {args.bids:,} held offers", offers, offers_one),
    ):
        verdict = "meets" if seconds < AWARD_TARGET else "OVER"
        print_row(label, ms(seconds), f"({verdict} the target; 1 bid, median of {BASELINE_LOTS}: {ms(one)}; ratio {seconds / one:.1f})")


async def run(args: argparse.Namespace) -> None:
    with instance("tallystick-bench-market-") as inst:
        with timed(f"{args.concurrency} funded bidders"):
            market = await set_up_market(inst, args.concurrency)
        if not args.award_only:
            await bids_per_second(inst, market, args)
        if not args.bids_only:
            lots = await build_award_lots(inst, market, args)
            await award_times(inst, lots, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 5 s round after 1 s of warm-up; 2,000 bids per award lot")
    parser.add_argument("--seconds", type=float, default=15, help="length of each measured round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before the rounds")
    parser.add_argument("--concurrency", type=int, default=64, help="bidders (and givers) at once")
    parser.add_argument("--bids", type=int, default=10_000, help="bids on each award lot")
    parser.add_argument("--award-only", action="store_true", help="skip the bids/s part")
    parser.add_argument("--bids-only", action="store_true", help="skip the award part")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.warmup, args.bids = 5.0, 1, 1.0, 2_000
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
