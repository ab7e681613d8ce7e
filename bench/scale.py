"""Scale-out on one PostgreSQL: gives/s and jobs/s with 1 serve + 1 worker vs 2 serve + 2 worker.

Both layouts run in the same run on the same database: `tallystick serve --reuse-port`
processes (the kernel spreads connections over them) and `tallystick worker` processes (the
servers run no workers of their own). Measured:

- gives/s: POST /api/v1/ledger/give through HTTP, `--clients` connections at once, each giver
  giving 1 unit to the next user in a ring (many holders, so row locks do not serialise them);
- jobs/s: `--jobs` gives queued with `Prefer: respond-async` while no worker runs, then the
  workers start; the drain is timed from the first job's start to the last one's end.

The rounds alternate between the layouts so a busy machine slows both alike; the best round of
each is printed, with the ratio 2+2 / 1+1. The client (this process) shares the machine's cores
with the servers: on 2 cores the ceiling is well under 2x.

    TALLYSTICK_DATABASE_URL=postgres://... .venv/bin/python bench/scale.py [--quick] [--seconds S] [--jobs N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Client, Instance, instance, print_header, print_row, run_load, stop_process, timed  # noqa: E402

DEFAULT_URL = "postgres://tallystick:tallystick@127.0.0.1:5432/tallystick"
USERS = 16


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, f"/{name}", parts.query, ""))


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_with_database(url, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _count(url: str, query: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


async def _seconds(url: str, query: str, *args: object) -> float:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return float(await connection.fetchval(query, *args))
    finally:
        await connection.close()


class Layout:
    """`serves` serve processes on one port and `workers` worker processes, on one database."""

    def __init__(self, inst: Instance, serves: int, workers: int) -> None:
        self.inst, self.serves, self.workers = inst, serves, workers
        self.serving: list[subprocess.Popen[bytes]] = []
        self.working: list[subprocess.Popen[bytes]] = []

    @property
    def name(self) -> str:
        return f"{self.serves} serve + {self.workers} worker"

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.inst.log_path.open("ab")
        return subprocess.Popen([sys.executable, "-m", "server.cli", *args], cwd=REPO, env=self.inst.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_servers(self) -> None:
        from common import wait_for_http

        self.serving = [self._spawn("serve", "--reuse-port") for _ in range(self.serves)]
        for process in self.serving:
            wait_for_http(f"{self.inst.base_url}/api/v1/openapi.json", process, self.inst.log_path)
        time.sleep(0.5)  # the last one to bind answers too

    def start_workers(self) -> None:
        self.working = [self._spawn("worker") for _ in range(self.workers)]

    def stop_workers(self) -> None:
        for process in self.working:
            stop_process(process)
        self.working = []

    def stop(self) -> None:
        self.stop_workers()
        for process in self.serving:
            stop_process(process)
        self.serving = []


async def gives_per_second(layout: Layout, tokens: list[str], coin: str, clients: int, seconds: float) -> float:
    ring = itertools.cycle(range(USERS))
    async with Client(layout.inst.base_url, concurrency=clients) as client:

        async def give() -> None:
            n = next(ring)
            await client.call("POST", "/api/v1/ledger/give", token=tokens[n], expect=201,
                              json={"type": coin, "amount": "1", "to": f"user{(n + 1) % USERS}"})

        await run_load(clients, give, seconds=1)  # warm-up: connections, caches
        return (await run_load(clients, give, seconds=seconds)).rate


async def jobs_per_second(layout: Layout, url: str, tokens: list[str], coin: str, jobs: int) -> float:
    layout.stop_workers()
    async with Client(layout.inst.base_url, concurrency=16) as client:
        ring = itertools.cycle(range(USERS))

        async def queue() -> None:
            n = next(ring)
            async with client.session.post(
                "/api/v1/ledger/give", json={"type": coin, "amount": "1", "to": f"user{(n + 1) % USERS}"},
                headers={"Authorization": f"Bearer {tokens[n]}", "Prefer": "respond-async"},
            ) as reply:
                if reply.status != 202:
                    raise RuntimeError(f"queueing a give answered {reply.status}: {await reply.text()}")

        await run_load(16, queue, total=jobs)
    waiting = "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"
    layout.start_workers()
    while await _count(url, waiting):
        await asyncio.sleep(0.05)
    # From the first job's start to the last one's end: the workers' start-up is not counted.
    span = await _seconds(url, "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM jobs "
                               "WHERE id IN (SELECT id FROM jobs ORDER BY created_at DESC LIMIT $1)", jobs)
    return jobs / span


async def main(args: argparse.Namespace) -> None:
    base = os.environ.get("TALLYSTICK_DATABASE_URL", DEFAULT_URL)
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/scale.py needs PostgreSQL: set TALLYSTICK_DATABASE_URL (bash .ci/postgres.sh makes one)")
    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    url = _with_database(base, name).replace("postgresql://", "postgres://", 1)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        env = {"TALLYSTICK_DATABASE_URL": url, "TALLYSTICK_EMBEDDED_WORKERS": "false",
               "TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS": "0.05", "TALLYSTICK_JOBS__SCHEDULER": "false"}
        with instance("tallystick-bench-scale-", env_extra=env) as inst:
            async with inst.setup() as settings:
                with timed(f"{USERS} users"):
                    tokens = [(await inst.create_user(settings, f"user{n}"))[0] for n in range(USERS)]
            layouts = [Layout(inst, 1, 1), Layout(inst, 2, 2)]
            layouts[0].start_servers()
            async with Client(inst.base_url) as client:
                coin = await client.create_type(tokens[0], "SCL")
                await client.call("POST", "/api/v1/ledger/create", token=tokens[0], expect=201,
                                  json={"type": coin, "amount": str(10**9)})
                for n in range(1, USERS):
                    await client.call("POST", "/api/v1/ledger/give", token=tokens[0], expect=201,
                                      json={"type": coin, "amount": str(10**6), "to": f"user{n}"})
            layouts[0].stop()
            for round_number in range(args.rounds):
                for layout in layouts:
                    layout.start_servers()
                    layout.start_workers()
                    try:
                        gives = await gives_per_second(layout, tokens, coin, args.clients, args.seconds)
                        jobs = await jobs_per_second(layout, url, tokens, coin, args.jobs)
                    finally:
                        layout.stop()
                    print(f"   (round {round_number}, {layout.name}: {gives:.0f} gives/s, {jobs:.0f} jobs/s)", flush=True)
                    mine = results.setdefault(layout.name, {"gives": [], "jobs": []})
                    mine["gives"].append(gives)
                    mine["jobs"].append(jobs)
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    one, two = (results[layout] for layout in ("1 serve + 1 worker", "2 serve + 2 worker"))
    print_header(
        "scale-out on one PostgreSQL",
        f"{args.clients} HTTP clients, gives for {args.seconds:g} s; {args.jobs} queued gives drained; "
        f"best of {args.rounds} rounds; {os.cpu_count()} cores shared with the client",
    )
    for label, key in (("gives/s (HTTP, synchronous)", "gives"), ("jobs/s (queued gives, drain)", "jobs")):
        print_row(f"{label}, 1 + 1", f"{max(one[key]):,.0f}")
        print_row(f"{label}, 2 + 2", f"{max(two[key]):,.0f}", f"ratio {max(two[key]) / max(one[key]):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 s of gives, 300 jobs, one round (a smoke run)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.seconds, parsed.jobs, parsed.rounds = 3, 300, 1
    asyncio.run(main(parsed))
