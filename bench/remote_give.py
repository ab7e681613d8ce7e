"""Gives onward through two servers beside local gives on one: req/s of each, and the ratio.

dave on B holds units of carol's type (it lives on A). An onward give is `POST /api/v1/ledger/give`
on B with the type's URL: B signs a request in dave's name, A checks it, spends dave's outputs
and answers with the entry, B records the debit (federation/onward.py). The baseline is the
give it stands for when everyone is on A: `POST /api/v1/ledger/give` on A, carol to bob. Both
run at the same concurrency in alternating rounds of the same run, so a busy machine slows
both alike. No target yet (issue #16: measure).

    .venv/bin/python bench/remote_give.py [--quick] [--seconds S] [--rounds R] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Client,
    LoadResult,
    instance,
    post_load,
    print_header,
    print_row,
    report_rounds,
    timed,
)

MINTED = 10**12
HELD = 10**9  # what carol gives dave@B: more than any run gives onward
FEDERATING = {"TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true", "TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS": "0.1"}


async def run(args: argparse.Namespace) -> None:
    print_header(
        "gives onward through two servers vs local gives (SQLite)",
        f"{args.rounds} alternating rounds of {args.seconds:g} s after {args.warmup:g} s of warm-up, "
        f"concurrency {args.concurrency}; best round shown",
    )
    with ExitStack() as stack:
        a = stack.enter_context(instance("tallystick-bench-a-", FEDERATING))
        b = stack.enter_context(instance("tallystick-bench-b-", FEDERATING))
        with timed("users"):
            async with a.setup() as settings:
                carol, _ = await a.create_user(settings, "carol")
                await a.create_user(settings, "bob")
            async with b.setup() as settings:
                dave, _ = await b.create_user(settings, "dave")
        a.start()
        b.start()
        domain_b = b.base_url.removeprefix("http://")
        async with Client(a.base_url, args.concurrency) as on_a, Client(b.base_url, args.concurrency) as on_b:
            type_id = await on_a.create_type(carol, "TRVL")
            await on_a.call("POST", "/api/v1/ledger/create", token=carol, json={"type": type_id, "amount": str(MINTED)}, expect=201)
            await on_a.call("POST", "/api/v1/ledger/give", token=carol, expect=201,
                            json={"type": type_id, "amount": str(HELD), "to": f"dave@{domain_b}"})
            type_url = f"{a.base_url}/types/{type_id}"
            with timed("B credits dave"):
                deadline = time.monotonic() + 60
                while True:
                    held = await on_b.call("GET", "/api/v1/federation/holdings", token=dave)
                    if held["items"] and held["items"][0]["balance"] == str(HELD):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"B did not credit dave: {held}")
                    await asyncio.sleep(0.2)
            onward = {"type": type_url, "amount": "1", "to": f"carol@{a.base_url.removeprefix('http://')}"}
            local = {"type": type_id, "amount": "1", "to": "bob"}
            onward_rounds: list[LoadResult] = []
            local_rounds: list[LoadResult] = []
            given = (await post_load(on_b, "/api/v1/ledger/give", dave, onward, args.concurrency, args.warmup)).requests
            await post_load(on_a, "/api/v1/ledger/give", carol, local, args.concurrency, args.warmup)
            for _ in range(args.rounds):
                onward_rounds.append(await post_load(on_b, "/api/v1/ledger/give", dave, onward, args.concurrency, args.seconds))
                given += onward_rounds[-1].requests
                local_rounds.append(await post_load(on_a, "/api/v1/ledger/give", carol, local, args.concurrency, args.seconds))
            left = await on_a.call("GET", f"/api/v1/ledger/balance?owner=dave@{domain_b}&type={type_id}")
            if left["balance"] != str(HELD - given):  # every 201 from B moved exactly one unit on A
                raise RuntimeError(f"dave should hold {HELD - given} on A, holds {left['balance']}")
    best_onward = report_rounds("onward give: B's API -> A's /ledger", onward_rounds)
    best_local = report_rounds("baseline: local give on A", local_rounds)
    paired = ", ".join(f"{mine.rate / bare.rate:.2f}" for mine, bare in zip(onward_rounds, local_rounds))
    print_row("ratio onward / local", f"{best_onward.rate / best_local.rate:8.2f}",
              f"(no target yet; round by round: {paired})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 5 s round after 1 s of warm-up")
    parser.add_argument("--seconds", type=float, default=15, help="length of each measured round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before the rounds")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.warmup = 5.0, 1, 1.0
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
