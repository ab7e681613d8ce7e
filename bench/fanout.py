"""Federation fan-out: one update delivered to N followers on S receiving servers, beside raw POSTs.

Our side is the real path: `PATCH /api/v1/types/{id}` on a `tallystick serve` process commits
the change and its event; the embedded federation sweeper turns the event into an Update,
queues one delivery row per inbox, signs each POST (draft-cavage rsa-sha256 with Digest) and
sends them, at most `delivery_per_host` at a time per host. The clock runs from sending the
PATCH to the moment the last receiver got its POST.

The baseline is the floor cost of the same fan-out on this machine: unsigned aiohttp POSTs of
a body of the same size to the same inboxes, with the same per-host limit, from one session.
The receivers (minimal aiohttp handlers that answer 202) run in this process on loopback.
Rounds alternate between the two so a busy machine slows both alike; the best round of each
is reported. Target: baseline time / our time >= 0.6.

    .venv/bin/python bench/fanout.py [--quick] [--followers N] [--servers S] [--rounds R] [--shared-inbox]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from common import Client, Instance, instance, print_header, print_row, timed  # noqa: E402

TARGET = 0.6
PER_HOST = 4  # the default delivery_per_host


def fed_instance() -> contextlib.AbstractContextManager[Instance]:
    """An instance that may talk to receivers on 127.0.0.1 and sweeps often."""
    return instance("tallystick-bench-fed-", env_extra={
        "TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",
        "TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS": "0.05",
        "TALLYSTICK_FEDERATION__DELIVERY_PER_HOST": str(PER_HOST),
    })


@dataclass
class Receivers:
    """S minimal inbox servers; each POST is counted with its arrival time."""

    count: int
    runners: list[web.AppRunner] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    signed: int = 0
    expected: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def _inbox(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.append(time.perf_counter())
        self.signed += "Signature" in request.headers
        if len(self.arrivals) >= self.expected:
            self.done.set()
        return web.Response(status=202)

    async def start(self) -> None:
        for _ in range(self.count):
            app = web.Application()
            app.router.add_post("/inbox", self._inbox)
            app.router.add_post("/users/{name}/inbox", self._inbox)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.runners.append(runner)
            self.ports.append(runner.addresses[0][1])

    def expect(self, posts: int) -> None:
        self.arrivals, self.signed, self.expected = [], 0, posts
        self.done = asyncio.Event()

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


def inboxes(receivers: Receivers, followers: int, shared: bool) -> list[tuple[str, str, str | None]]:
    """(actor uri, inbox, shared inbox) for each follower, spread evenly over the receivers."""
    result = []
    for n in range(followers):
        base = f"http://127.0.0.1:{receivers.ports[n % receivers.count]}"
        result.append((f"{base}/users/f{n}", f"{base}/users/f{n}/inbox", f"{base}/inbox" if shared else None))
    return result


async def add_followers(inst: Instance, username: str, followers: list[tuple[str, str, str | None]]) -> None:
    """Accepted remote followers, written the way the inbox would after their Follow."""
    from datetime import UTC, datetime

    from models.actors import Actor
    from models.federation import Follow, RemoteActor

    target = await Actor.get(username=username, domain="")
    for n, (uri, inbox, shared) in enumerate(followers):
        domain = uri.split("/")[2]
        actor = await Actor.create(username=f"f{n}", domain=domain, uri=uri)
        await RemoteActor.create(actor=actor, uri=uri, inbox=inbox, shared_inbox=shared, key_id=f"{uri}#main-key",
                                 public_key_pem="", preferred_username=f"f{n}", domain=domain, fetched_at=datetime.now(UTC))
        await Follow.create(follower=actor, target=target, state="accepted", activity_uri=f"{uri}/follow")


async def baseline_round(receivers: Receivers, targets: list[str], body: bytes) -> float:
    receivers.expect(len(targets))
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST)
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(url: str) -> None:
            async with session.post(url, data=body, headers={"Content-Type": "application/activity+json"}) as reply:
                await reply.read()

        await asyncio.gather(*(post(url) for url in targets))
    return time.perf_counter() - start


async def our_round(receivers: Receivers, client: Client, token: str, type_id: str, posts: int, n: int) -> float:
    receivers.expect(posts)
    start = time.perf_counter()
    await client.call("PATCH", f"/api/v1/types/{type_id}", token=token, json={"description": f"round {n}"})
    await asyncio.wait_for(receivers.done.wait(), timeout=300)
    print(f"   (round {n}: first POST after {(min(receivers.arrivals) - start) * 1000:.0f} ms)", flush=True)
    return max(receivers.arrivals) - start


async def main(args: argparse.Namespace) -> None:
    receivers = Receivers(args.servers)
    await receivers.start()
    try:
        with fed_instance() as inst:
            followers = inboxes(receivers, args.followers, args.shared_inbox)
            targets = list(dict.fromkeys(shared or inbox for _, inbox, shared in followers))
            async with inst.setup(fast_writes=True) as settings:
                token, _ = await inst.create_user(settings, "alice")
                with timed(f"{args.followers} followers on {args.servers} servers"):
                    await add_followers(inst, "alice", followers)
            inst.start()
            async with Client(inst.base_url) as client:
                receivers.expect(len(targets))
                type_id = await client.create_type(token, "FAN")  # its Create is the warm-up fan-out
                await asyncio.wait_for(receivers.done.wait(), timeout=300)
                body = b"x" * 1800  # about the size of our signed Update
                ours, raw = [], []
                for n in range(args.rounds):
                    raw.append(await baseline_round(receivers, targets, body))
                    ours.append(await our_round(receivers, client, token, type_id, len(targets), n))
                    assert receivers.signed == len(targets), "every delivery must be signed"
    finally:
        await receivers.stop()
    best_ours, best_raw = min(ours), min(raw)
    mode = "shared inboxes" if args.shared_inbox else "personal inboxes"
    print_header(
        "federation fan-out",
        f"one Update to {args.followers} followers on {args.servers} servers ({len(targets)} POSTs, {mode}), "
        f"{PER_HOST} per host, best of {args.rounds} rounds",
    )
    print_row("ours: PATCH -> last signed POST received", f"{best_ours * 1000:.0f} ms", f"{len(targets) / best_ours:.0f} deliveries/s")
    print_row("baseline: raw unsigned aiohttp POSTs", f"{best_raw * 1000:.0f} ms", f"{len(targets) / best_raw:.0f} POSTs/s")
    ratio = best_raw / best_ours
    print_row("ratio (baseline time / our time)", f"{ratio:.2f}", f"target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shared-inbox", action="store_true", help="followers share one inbox per server")
    parser.add_argument("--quick", action="store_true", help="300 followers on 30 servers, 5 rounds (a smoke run)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.followers, parsed.servers, parsed.rounds = 300, 30, 5
    asyncio.run(main(parsed))
