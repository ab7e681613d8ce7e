"""Trace time against chain length: GET /api/v1/ledger/operations/{id}/trace for 1k and 10k gives.

Each chain is one created unit passed back and forth between two users (A -> B -> A ...),
every give naming the previous give as its explicit source, so tracing the last give walks
the whole chain. The chains are written in bulk as the rows `ledger.give` leaves (or, with
--via-registry, by real `ledger.give` calls in-process); only the trace is timed, through
real HTTP (request sent, whole body read; check_trace parses and checks it once, untimed),
on one database holding both chains.
The baseline is the short chain: time(long) / time(short) is about long/short when the
trace is linear in the chain length.

    .venv/bin/python bench/ledger_trace.py [--quick] [--short N] [--long N] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Client, instance, median, ms, print_header, print_row, timed  # noqa: E402

LINEAR_SLACK = 1.2  # up to 20% over the length ratio still reads as linear


async def user_context(settings: Any, username: str) -> Any:
    """A Context for `username`, as the auth middleware would build it."""
    from models.actors import User
    from models.context import Context
    from server.app import site_from

    user = await User.get(username=username).select_related("actor")
    return Context(site=site_from(settings), user=user, actor=user.actor)


async def build_chain(alice: Any, bob: Any, type_id: str, gives: int) -> str:
    """Create one unit, then `gives` gives alternating A->B, B->A; the last give's id.

    Through `REGISTRY.call`, exactly as an HTTP give runs (a few ms each; `--via-registry`).
    """
    from models.registry import REGISTRY

    previous = (await REGISTRY.call(alice, "ledger.create", {"type": type_id, "amount": "1"}))["id"]
    holders = [(alice, "bob"), (bob, "alice")]
    for index in range(gives):
        ctx, to = holders[index % 2]
        give = {"type": type_id, "amount": "1", "to": to, "sources": [["1", previous]]}
        previous = (await REGISTRY.call(ctx, "ledger.give", give))["id"]
    return previous


async def bulk_chain(alice: Any, bob: Any, type_id: str, gives: int) -> str:
    """The same chain written as the rows `ledger.give` leaves behind, in bulk (the default).

    The create goes through the registry; each give is a LedgerEntry (amount 1, its output
    spent by the next give, the last one unspent) plus one LedgerSource naming the previous
    entry. Events are left out: the trace never reads them.
    """
    from tortoise.transactions import in_transaction

    from models.ids import new_id
    from models.ledger import EntryKind, LedgerEntry, LedgerSource
    from models.registry import REGISTRY

    previous = (await REGISTRY.call(alice, "ledger.create", {"type": type_id, "amount": "1"}))["id"]
    actors = [alice.actor.id, bob.actor.id]
    async with in_transaction():
        await LedgerEntry.filter(id=previous).update(remaining=0)
        for start in range(0, gives, 5_000):
            entries, sources = [], []
            for index in range(start, min(start + 5_000, gives)):
                entry_id = new_id()
                entries.append(
                    LedgerEntry(
                        id=entry_id, kind=EntryKind.GIVE.value, type_id=type_id, author_id=actors[index % 2],
                        recipient_id=actors[(index + 1) % 2], amount=1, remaining=1 if index == gives - 1 else 0,
                    )
                )
                sources.append(LedgerSource(id=new_id(), entry_id=entry_id, source_id=previous, amount=1))
                previous = entry_id
            await LedgerEntry.bulk_create(entries)
            await LedgerSource.bulk_create(sources)
    return previous


async def check_balances(alice: Any, bob: Any, type_id: str, chains: int) -> None:
    """Each chain leaves one unit unspent, and each balance adds up as real gives would."""
    from models.operations.ledger import balance_of
    from models.tokens import TokenType

    token_type = await TokenType.get(id=type_id)
    total = 0
    for ctx in (alice, bob):
        parts = {key: int(value) for key, value in (await balance_of(ctx.actor, token_type)).items()
                 if key in ("balance", "created", "received", "given", "burnt")}
        if parts["balance"] != parts["created"] + parts["received"] - parts["given"] - parts["burnt"]:
            raise RuntimeError(f"{ctx.user.username}'s balance does not add up: {parts}")
        total += parts["balance"]
    if total != chains:
        raise RuntimeError(f"the chains hold {total} units in all, expected {chains}")


async def check_trace(client: Client, entry_id: str, expected: int) -> str:
    """The trace path, after checking (untimed, also a warm-up) that it walks the whole chain."""
    path = f"/api/v1/ledger/operations/{entry_id}/trace"
    body = await client.call("GET", path)
    if len(body["ancestors"]) != expected or body["truncated"]:
        raise RuntimeError(f"trace of {entry_id} has {len(body['ancestors'])} ancestors, expected {expected}")
    return path


async def timed_reads(client: Client, path: str, runs: int) -> list[float]:
    """Seconds for each of `runs` sequential GETs of `path`, until the whole body is read.

    The body is not parsed here (check_trace parsed and checked it): parsing 10,000 entries
    is the client's cost, not the server's, and in this process, which holds the heap of the
    setup, it set off full collections of its own that a 1,000-entry body did not (10k/1k
    11.7 with parsing, 10.8 without, in one run).
    """
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        async with client.session.get(path) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} -> {response.status}")
        times.append(time.perf_counter() - start)
    return times


async def time_traces(client: Client, short_path: str, long_path: str, runs: int) -> tuple[float, float]:
    """Median seconds of each trace; short and long are interleaved so drift hits both alike."""
    short_times: list[float] = []
    long_times: list[float] = []
    for _ in range(runs):
        short_times.extend(await timed_reads(client, short_path, 3))  # cheap: more samples
        long_times.extend(await timed_reads(client, long_path, 1))
    return median(short_times), median(long_times)


async def run(args: argparse.Namespace) -> None:
    print_header(
        "ledger trace against chain length (SQLite)",
        f"chains of {args.short:,} and {args.long:,} gives; median of {args.runs * 3} / {args.runs} interleaved traces over HTTP",
    )
    with instance() as inst:
        async with inst.setup(fast_writes=True) as settings:
            await inst.create_user(settings, "alice")
            await inst.create_user(settings, "bob")
            alice, bob = await user_context(settings, "alice"), await user_context(settings, "bob")
            from models.registry import REGISTRY

            token_type = await REGISTRY.call(
                alice, "types.create", {"name": "Trace", "symbol": "TRC", "fungible": True, "smallest_unit": 0}
            )
            build = build_chain if args.via_registry else bulk_chain
            how = "through the registry" if args.via_registry else "in bulk"
            with timed(f"building {args.short:,} + {args.long:,} gives {how}"):
                short_id = await build(alice, bob, token_type["id"], args.short)
                long_id = await build(alice, bob, token_type["id"], args.long)
            await check_balances(alice, bob, token_type["id"], 2)
        inst.start()
        async with Client(inst.base_url) as client:
            # every give has one source, so the last give's ancestors are the other gives + the create
            short_path = await check_trace(client, short_id, args.short)
            long_path = await check_trace(client, long_id, args.long)
            short_time, long_time = await time_traces(client, short_path, long_path, args.runs)
    length_ratio = args.long / args.short
    ratio = long_time / short_time
    verdict = "linear or better" if ratio <= length_ratio * LINEAR_SLACK else "WORSE than linear"
    print_row(f"trace, chain of {args.short:,} gives", ms(short_time))
    print_row(f"trace, chain of {args.long:,} gives", ms(long_time))
    print_row(f"ratio {args.long:,} / {args.short:,}", f"{ratio:8.1f}", f"(length ratio {length_ratio:.0f}: {verdict})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="chains of 200 and 2,000 gives")
    parser.add_argument("--short", type=int, default=1_000)
    parser.add_argument("--long", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--via-registry", action="store_true",
        help="build the chains with real ledger.give calls (exact, but about 1-2 minutes for 11,000 gives)",
    )
    args = parser.parse_args()
    if args.quick:
        args.short, args.long, args.runs = 200, 2_000, 3
    start = time.perf_counter()
    asyncio.run(run(args))
    print(f"   (whole run {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
