"""A simulated internet: one Update fanned out to many followers on thousands of servers, some
slow, some dead, some rate-limiting (issue 25).

The sending side is the real one, in this process: the runner `tallystick worker` runs (every
machine and pump, server/jobs.py WorkerPool) turns the type's change into an Update, queues one
delivery row per inbox and signs and posts them. The receiving servers are aiohttp apps in
`--processes` child processes, each serving many virtual hosts (h0.sim, h1.sim, ...) told apart
by the Host header; our client resolves every name to 127.0.0.1 with its own resolver
(federation/ssrf.py NAME_RESOLVER, the SSRF guard set to allow private addresses). Dead hosts
point at a port nobody listens on (connection refused). Hosts, by kind:

    ok    answer 202 after a log-normal latency (median 80 ms, sigma 0.8: p99 about 0.5 s)
    slow  10%: answer after 2-5 s
    dead  5%: connection refused
    limit 2%: answer an inbox's first POST 429 with Retry-After: 600, then 202
    gone  1%: half of their inboxes answer 410 (deleted accounts), the rest 202

Phases: (1) one Update to every follower, in real time: time until 99% (and 100%) of the live
inboxes got it, peak RSS of this process, rows by state, retries scheduled and whether their
next try honours Retry-After, the most POSTs in flight at one host (measured by the receivers).
(2) Time moved forward (the runner called with a later `now`) until every retry ran: dead
domains marked unavailable after `--unavailable-days` distinct failing days. (3) Another
actor's 10 Updates in a row to a smaller audience on the same hosts: no lookup of a domain
marked unavailable (our resolver counts them), and each inbox got the 10 in order.

    .venv/bin/python bench/internet.py [--quick] [--hosts H] [--followers F] [--processes P]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import random
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from aiohttp.abc import AbstractResolver  # noqa: E402
from common import instance, print_header, print_row, timed  # noqa: E402

RETRY_AFTER = 600  # what rate-limiting hosts ask for, in seconds
PER_HOST = 4  # the default delivery_per_host
KINDS = (("dead", 0.05), ("slow", 0.10), ("limit", 0.02), ("gone", 0.01))


# ---------------------------------------------------------------- the receiving servers


def host_kinds(hosts: int, seed: int) -> list[str]:
    """Each host's kind, exactly the shares in KINDS, shuffled."""
    kinds = [kind for kind, share in KINDS for _ in range(round(hosts * share))]
    kinds += ["ok"] * (hosts - len(kinds))
    random.Random(seed).shuffle(kinds)
    return kinds


@dataclass
class Receiver:
    """The virtual hosts of one child process: what each got, when, and how many at once."""

    kinds: dict[str, str]  # host name -> kind
    rng: random.Random
    inflight: Counter[str] = field(default_factory=Counter)
    most: Counter[str] = field(default_factory=Counter)
    posts: Counter[str] = field(default_factory=Counter)
    limited: set[str] = field(default_factory=set)  # inboxes already answered 429 once
    got: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # inbox path -> (activity id, time)

    async def inbox(self, request: web.Request) -> web.Response:
        host = (request.host or "").rsplit(":", 1)[0]
        kind = self.kinds.get(host, "ok")
        self.inflight[host] += 1
        self.most[host] = max(self.most[host], self.inflight[host])
        self.posts[host] += 1
        try:
            body = await request.json()
            if kind == "slow":
                await asyncio.sleep(self.rng.uniform(2, 5))
            else:
                await asyncio.sleep(min(5.0, self.rng.lognormvariate(math.log(0.08), 0.8)))
            key = f"{host}{request.path}"
            if kind == "limit" and key not in self.limited:
                self.limited.add(key)
                return web.Response(status=429, headers={"Retry-After": str(RETRY_AFTER)})
            if kind == "gone" and int(request.match_info["name"][1:]) % 2 == 0:
                return web.Response(status=410)
            self.got.setdefault(key, []).append((str(body.get("id")), time.time()))
            return web.Response(status=202)
        finally:
            self.inflight[host] -= 1

    async def count(self, request: web.Request) -> web.Response:
        """How many inboxes got the activity `id` (the bench polls this while it waits)."""
        wanted = request.query["id"]
        return web.json_response({"count": sum(any(a == wanted for a, _ in got) for got in self.got.values())})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"most": dict(self.most), "posts": dict(self.posts), "got": self.got})


def _serve(kinds: dict[str, str], seed: int, ports: Any) -> None:
    async def run() -> None:
        receiver = Receiver(kinds, random.Random(seed))
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/users/{name}/inbox", receiver.inbox)
        app.router.add_get("/_count", receiver.count)
        app.router.add_get("/_stats", receiver.stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        ports.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(run())


def closed_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Internet:
    kinds: list[str]
    processes: int
    ports: list[int] = field(default_factory=list)
    children: list[multiprocessing.Process] = field(default_factory=list)
    dead_port: int = field(default_factory=closed_port)

    def name(self, host: int) -> str:
        return f"h{host}.sim"

    def base(self, host: int) -> str:
        port = self.dead_port if self.kinds[host] == "dead" else self.ports[host % self.processes]
        return f"http://{self.name(host)}:{port}"

    def start(self) -> None:
        context = multiprocessing.get_context("fork")  # before any event loop or database exists
        queue = context.Queue()
        for index in range(self.processes):
            mine = {self.name(n): kind for n, kind in enumerate(self.kinds) if n % self.processes == index}
            child = context.Process(target=_serve, args=(mine, index, queue), daemon=True)
            child.start()
            self.children.append(child)
            self.ports.append(queue.get(timeout=30))  # in the order they start: one at a time

    def stop(self) -> None:
        for child in self.children:
            child.kill()
            child.join(5)

    async def count(self, activity: str) -> int:
        async with aiohttp.ClientSession() as session:
            total = 0
            for port in self.ports:
                async with session.get(f"http://127.0.0.1:{port}/_count", params={"id": activity}) as reply:
                    total += (await reply.json())["count"]
            return total

    async def stats(self) -> dict[str, Any]:
        merged: dict[str, Any] = {"most": {}, "posts": {}, "got": {}}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            for port in self.ports:
                async with session.get(f"http://127.0.0.1:{port}/_stats") as reply:
                    part = await reply.json()
                for key in merged:
                    merged[key].update(part[key])
        return merged


class SimResolver(AbstractResolver):
    """Every *.sim name is 127.0.0.1; lookups are counted per host (a lookup precedes every
    connection, so a host never looked up was never sent anything)."""

    def __init__(self) -> None:
        self.lookups: Counter[str] = Counter()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        self.lookups[host] += 1
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


# ---------------------------------------------------------------- our side


class Rss:
    """This process's resident memory, sampled while it works (Linux /proc)."""

    def __init__(self) -> None:
        self.peak = self.now()

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def sample(self) -> None:
        self.peak = max(self.peak, self.now())


async def add_followers(target_name: str, prefix: str, count: int, internet: Internet, seed: int) -> dict[str, str]:
    """`count` accepted remote followers of a local user, each on a random host; inbox -> host kind."""
    from models.actors import Actor
    from models.federation import Follow, RemoteActor

    target = await Actor.get(username=target_name, domain="")
    rng = random.Random(seed)
    kinds: dict[str, str] = {}
    moment = datetime.now(UTC)
    for start in range(0, count, 2000):
        actors, remotes, follows = [], [], []
        for n in range(start, min(count, start + 2000)):
            host = rng.randrange(len(internet.kinds))
            uri = f"{internet.base(host)}/users/{prefix}{n}"
            domain = uri.split("/")[2]
            actor = Actor(username=f"{prefix}{n}", domain=domain, uri=uri)
            actors.append(actor)
            remotes.append(RemoteActor(actor_id=actor.id, uri=uri, inbox=f"{uri}/inbox", key_id=f"{uri}#main-key",
                                       preferred_username=f"{prefix}{n}", domain=domain, fetched_at=moment))
            follows.append(Follow(follower_id=actor.id, target_id=target.id, state="accepted", activity_uri=f"{uri}/follow"))
            kinds[f"{uri}/inbox"] = internet.kinds[host]
        await Actor.bulk_create(actors)
        await RemoteActor.bulk_create(remotes)
        await Follow.bulk_create(follows)
    return kinds


def live(kinds: dict[str, str]) -> set[str]:
    """Inboxes that take a POST at once: not dead, not rate-limiting, not a 410."""
    return {inbox for inbox, kind in kinds.items()
            if kind in ("ok", "slow") or (kind == "gone" and int(inbox.rsplit("/", 2)[1][1:]) % 2)}


def receiver_key(inbox: str) -> str:
    """The receivers' key for an inbox: host name and path (no scheme or port)."""
    rest = inbox.split("://", 1)[1]
    host, path = rest.split("/", 1)
    return f"{host.rsplit(':', 1)[0]}/{path}"


async def rows_by_state(signer: str) -> dict[str, int]:
    from models import sql

    query = ("SELECT d.state AS state, count(*) AS n FROM deliveries d JOIN actors a ON a.id = d.signer_id "
             "WHERE a.username = ? AND a.domain = '' GROUP BY d.state")
    return {row["state"]: int(row["n"]) for row in await sql.fetch(query, signer)}


async def first_tries_done() -> bool:
    from models.federation import Delivery

    return not await Delivery.filter(state="pending", attempts=0).exists() and not await Delivery.filter(
        lease_owner__isnull=False).exists()


async def move_time_forward(site: Any, start: datetime) -> tuple[datetime, int]:
    """Run every retry by calling the runner with a later `now`, each time the next row falls due."""
    from federation.delivery import deliver_due
    from models.federation import Delivery

    now, sweeps = start, 0
    while True:
        due = await Delivery.filter(state="pending").order_by("next_at").first()
        if due is None:
            return now, sweeps
        now = max(now, due.next_at or now)
        await deliver_due(site, now=now)
        sweeps += 1


async def update(ctx: Any, type_id: str, text: str) -> None:
    from models.registry import REGISTRY

    await REGISTRY.call(ctx, "types.update", {"id": type_id, "description": text})


async def context_of(settings: Any, username: str) -> Any:
    from models.actors import User
    from models.context import Context
    from server.app import site_from

    user = await User.get(username=username).select_related("actor")
    return Context(site=site_from(settings), user=user, actor=user.actor)


async def main(args: argparse.Namespace, internet: Internet) -> None:
    import federation.operations  # noqa: F401  (registers every operation and handler)
    import federation.ssrf
    from models import sql
    from models.federation import Delivery, DomainHealth
    from models.registry import REGISTRY
    from server.jobs import WorkerPool

    resolver = SimResolver()
    federation.ssrf.NAME_RESOLVER = lambda: resolver
    env = {
        "TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",
        "TALLYSTICK_FEDERATION__DELIVERY_PER_HOST": str(PER_HOST),
        "TALLYSTICK_FEDERATION__UNAVAILABLE_AFTER_DAYS": str(args.unavailable_days),
        "TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS": "0.05",
        "TALLYSTICK_JOBS__SCHEDULER": "false",
    }
    if args.database_url:
        env["TALLYSTICK_DATABASE_URL"] = args.database_url
    with instance("tallystick-bench-internet-", env_extra=env) as inst:
        async with inst.setup(fast_writes=not args.database_url) as settings:
            await inst.create_user(settings, "alice")
            await inst.create_user(settings, "bob")
            alice, bob = await context_of(settings, "alice"), await context_of(settings, "bob")
            types = {}
            for ctx, symbol in ((alice, "ALC"), (bob, "BOB")):
                made = await REGISTRY.call(ctx, "types.create", {"name": f"Bench {symbol}", "symbol": symbol,
                                                                  "fungible": True, "smallest_unit": 0})
                types[symbol] = made["id"]
            site = alice.site
            flusher = WorkerPool(site, settings.jobs, count=1)
            while await flusher.runner.pump_once():  # the types' Creates go out now, to nobody yet
                pass
            with timed(f"{args.followers} followers on {args.hosts} hosts"):
                inboxes = await add_followers("alice", "a", args.followers, internet, seed=1)
                bob_inboxes = await add_followers("bob", "b", args.bob_followers, internet, seed=2)
            targets = {receiver_key(inbox) for inbox in live(inboxes)}
            pool = WorkerPool(site, settings.jobs, count=1)
            rss = Rss()
            baseline_rss = rss.peak

            # Phase 1: one Update, in real time.
            pool.start()
            started = time.time()
            await update(alice, types["ALC"], "phase 1")
            activity, first = None, {}
            while True:
                await asyncio.sleep(0.25)
                rss.sample()
                if activity is None:
                    row = await Delivery.filter(signer_id=alice.actor.id).order_by("id").first()
                    activity = row.activity_uri if row else None
                    continue
                got = await internet.count(activity)
                for share in (0.5, 0.9, 0.99, 1.0):
                    if share not in first and got >= share * len(targets):
                        first[share] = time.time() - started
                if 1.0 in first and await first_tries_done():
                    break
                if time.time() - started > args.limit:
                    print(f"   gave up waiting after {args.limit} s: {got} of {len(targets)} live inboxes", flush=True)
                    break
            tried_at = time.time() - started
            print(f"   (phase 1: {len(targets):,} live inboxes; reached at {first}; first tries after {tried_at:.1f} s; "
                  f"peak RSS {rss.peak / 2**20:.0f} MiB)", flush=True)
            await pool.stop()
            phase1 = await rows_by_state("alice")
            retries = await sql.fetch(
                "SELECT last_status, count(*) AS n FROM deliveries WHERE state = 'pending' GROUP BY last_status")
            limited = await Delivery.filter(state="pending", last_status=429).values_list("next_at", "updated_at")
            honoured = sum((next_at - tried).total_seconds() >= RETRY_AFTER - 1 for next_at, tried in limited)
            during = await internet.stats()

            # Phase 2: time moves forward until every retry has run.
            with timed("retries in moved time"):
                moved_to, sweeps = await move_time_forward(site, datetime.now(UTC))
            phase2 = await rows_by_state("alice")
            dead_hosts = {internet.name(n) for n, kind in enumerate(internet.kinds) if kind == "dead"}
            dead_domains = {receiver_key(inbox).split("/")[0] for inbox, kind in inboxes.items() if kind == "dead"}
            marked = set(await DomainHealth.filter(unavailable=True).values_list("domain", flat=True))
            marked_hosts = {domain.rsplit(":", 1)[0] for domain in marked}  # domains carry the port

            # Phase 3: bob's 10 Updates in a row; nothing may go to a domain marked unavailable.
            resolver.lookups.clear()
            pool = WorkerPool(site, settings.jobs, count=1)
            pool.start()
            ordered_started = time.time()
            for n in range(10):
                await update(bob, types["BOB"], f"update {n}")
            while not (await Delivery.filter(signer_id=bob.actor.id).count() >= 10 * len(bob_inboxes)
                       and await first_tries_done()):
                await asyncio.sleep(0.25)
                rss.sample()
                if time.time() - ordered_started > args.limit:
                    break
            await pool.stop()
            await move_time_forward(site, moved_to)
            phase3 = await rows_by_state("bob")
            looked_up_marked = sum(resolver.lookups[host] for host in marked_hosts)
            sequence = [row["activity_uri"] for row in await sql.fetch(
                "SELECT activity_uri FROM deliveries WHERE signer_id = ? GROUP BY activity_uri ORDER BY min(id)",
                bob.actor.id)]
            after = await internet.stats()

    position = {uri: n for n, uri in enumerate(sequence)}
    bob_targets = {receiver_key(inbox) for inbox, kind in bob_inboxes.items() if kind != "dead"}
    in_order = out_of_order = 0
    for key in bob_targets:
        seen = [position[a] for a, _ in after["got"].get(key, []) if a in position]
        if not seen:
            continue
        if seen == sorted(seen):
            in_order += 1
        else:
            out_of_order += 1
    complete = sum(len([a for a, _ in after["got"].get(key, []) if a in position]) == 10 for key in bob_targets)
    most = max(during["most"].values(), default=0)

    print_header(
        "a simulated internet",
        f"one Update to {args.followers:,} followers on {args.hosts:,} hosts ({args.processes} receiver processes); "
        f"{PER_HOST} per host; dead 5%, slow 10% (2-5 s), 429 2%, 410 1%",
    )
    print_row("live inboxes (ok, slow, not 410)", f"{len(targets):,}")
    for share in (0.5, 0.9, 0.99, 1.0):
        print_row(f"time until {share:.0%} of live inboxes had it", f"{first.get(share, float('nan')):.1f} s")
    print_row("every first try made after", f"{tried_at:.1f} s")
    print_row("peak RSS of the sending process", f"{rss.peak / 2**20:.0f} MiB", f"(before the Update: {baseline_rss / 2**20:.0f} MiB)")
    print_row("rows after the first tries", str(dict(sorted(phase1.items()))))
    print_row("retries scheduled, by last status", str({row["last_status"]: int(row["n"]) for row in retries}))
    print_row("429s whose next try honours Retry-After", f"{honoured} of {len(limited)}")
    print_row("most POSTs in flight at one host", str(most), f"limit {PER_HOST}: {'kept' if most <= PER_HOST else 'EXCEEDED'}")
    print_row("rows after moving time forward", str(dict(sorted(phase2.items()))), f"({sweeps} sweeps, to {moved_to:%Y-%m-%d})")
    print_row("dead domains marked unavailable", f"{len(marked_hosts & dead_domains)} of {len(dead_domains)}",
              f"after {args.unavailable_days} failing days; others marked: {len(marked_hosts - dead_domains)}")
    print_row("lookups of marked hosts afterwards", str(looked_up_marked), f"({len(marked_hosts & dead_hosts)} hosts)")
    print_row("10 Updates in a row: bob's rows", str(dict(sorted(phase3.items()))))
    print_row("inboxes that got all 10", f"{complete} of {len(bob_targets)}")
    print_row("inboxes that got them in order", f"{in_order}", f"out of order: {out_of_order}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--bob-followers", type=int, default=2000, help="the audience of the 10 Updates in a row")
    parser.add_argument("--processes", type=int, default=4, help="receiver processes")
    parser.add_argument("--unavailable-days", type=int, default=3)
    parser.add_argument("--limit", type=float, default=3600, help="seconds to wait for a phase at most")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="500 hosts, 5,000 followers, 200 for the 10 Updates")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.hosts, parsed.followers, parsed.bob_followers, parsed.processes, parsed.limit = 500, 5000, 200, 2, 120
    net = Internet(host_kinds(parsed.hosts, seed=25), parsed.processes)
    net.start()
    try:
        asyncio.run(main(parsed, net))
    finally:
        net.stop()
