"""Ledger give throughput: POST /api/v1/ledger/give req/s beside a bare aiohttp + SQLite insert.

The baseline is the floor cost of "an HTTP request that commits one SQLite row" on this
machine: a bare aiohttp handler that reads the same JSON body, inserts one row with aiosqlite
(WAL, same pragmas as tortoise's SQLite client) and commits. Both servers run in their own
process, are driven by the same aiohttp client at the same concurrency, and are measured in
alternating rounds of the same run, so a busy machine slows both alike.
Target: give req/s >= 1.0 x baseline req/s (issue #15: concurrent gives share one commit,
models/ledger_commit.py, where the baseline pays one per request).

    .venv/bin/python bench/ledger.py [--quick] [--seconds S] [--rounds R] [--concurrency C] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    REPO,
    Client,
    LoadResult,
    free_port,
    instance,
    post_load,
    print_header,
    print_row,
    report_rounds,
    stop_process,
    timed,
    wait_for_http,
)

TARGET = 1.0
MINTED = 10**12  # more units than any run can give away
GIVER, RECEIVER = "alice", "bob"


# ---------------------------------------------------------------- the baseline server


def serve_baseline(port: int, database: str) -> None:
    """A bare aiohttp app: one JSON body in, one row inserted and committed, one JSON out."""
    import time

    import aiosqlite
    import orjson
    from aiohttp import web

    sys.path.insert(0, str(REPO))
    from models.ids import new_id

    db_key = web.AppKey("db", aiosqlite.Connection)
    lock_key = web.AppKey("lock", asyncio.Lock)

    async def open_db(app: web.Application):  # type: ignore[no-untyped-def]
        db = await aiosqlite.connect(database, isolation_level=None)
        from server.settings import DatabaseSettings

        synchronous = DatabaseSettings().sqlite_synchronous.upper()  # the same durability as our default
        for pragma in ("journal_mode=WAL", "journal_size_limit=16384", "foreign_keys=ON", "busy_timeout=10000",
                       f"synchronous={synchronous}"):
            await db.execute(f"PRAGMA {pragma}")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS gives (id TEXT PRIMARY KEY, type TEXT NOT NULL, "
            "recipient TEXT NOT NULL, amount BIGINT NOT NULL, created_at TEXT NOT NULL)"
        )
        app[db_key] = db
        app[lock_key] = asyncio.Lock()  # one connection, one transaction at a time (as tortoise does)
        yield
        await db.close()

    async def give(request: web.Request) -> web.Response:
        data = orjson.loads(await request.read())
        row = (new_id(), data["type"], data["to"], int(data["amount"]), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        db = request.app[db_key]
        async with request.app[lock_key]:
            await db.execute("BEGIN")
            await db.execute("INSERT INTO gives (id, type, recipient, amount, created_at) VALUES (?, ?, ?, ?, ?)", row)
            await db.execute("COMMIT")
        body = {"id": row[0], "type": row[1], "recipient": row[2], "amount": str(row[3]), "created_at": row[4]}
        return web.Response(body=orjson.dumps(body), status=201, content_type="application/json")

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.cleanup_ctx.append(open_db)
    app.router.add_post("/give", give)
    app.router.add_get("/ping", ping)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_baseline(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log_path = data_dir / "baseline.log"
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-baseline", str(port), str(data_dir / "baseline.sqlite3")],
        cwd=REPO, stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/ping", process, log_path)
    return process, url


# ---------------------------------------------------------------- profiling (optional)


def start_profiler(server: subprocess.Popen[bytes] | None, output: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy on the server process while the give load runs (`pip install py-spy` first)."""
    if not output or server is None:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(server.pid), "--format", "raw", "--rate", "250", "--output", output],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def stop_profiler(profiler: subprocess.Popen[bytes] | None, output: str | None) -> None:
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        profiler.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop_process(profiler)
    print(f"  profile: collapsed stacks of the server written to {output}", flush=True)
    summarize_profile(Path(output or ""))


def summarize_profile(path: Path, top: int = 15) -> None:
    """The server's busiest project and ORM functions, inclusive, as a share of event-loop samples."""
    if not path.exists():
        print("  profile: py-spy wrote nothing (is it installed in the venv, and may it ptrace?)")
        return
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[0].startswith("Thread._bootstrap") or "select (selectors" in frames[-1]:
            continue  # the aiosqlite worker thread, and the loop waiting for work
        busy += int(count)
        for name in {frame.rsplit(":", 1)[0] + ")" for frame in frames}:
            inclusive[name] += int(count)
    interesting = ("models/", "server/api", "server/middlewares", "iso8601", "tortoise/models.py", "tortoise/queryset.py")
    print(f"  profile: {busy} busy event-loop samples; top functions (inclusive):")
    shown = [(name, count) for name, count in inclusive.most_common() if any(part in name for part in interesting)]
    for name, count in shown[:top]:
        print(f"    {100 * count / max(busy, 1):5.1f}%  {name}")


# ---------------------------------------------------------------- measuring


@dataclass
class Target:
    """One server under load: where to send the give, and the rounds measured so far."""

    label: str
    client: Client
    path: str
    rounds: list[LoadResult] = field(default_factory=list)

    async def load(self, body: dict[str, str], token: str, concurrency: int, seconds: float) -> LoadResult:
        return await post_load(self.client, self.path, token, body, concurrency, seconds)

    def best(self) -> LoadResult:
        return max(self.rounds, key=lambda result: result.rate)

    def report(self) -> None:
        report_rounds(self.label, self.rounds)


async def measure(app: Target, baseline: Target, body: dict[str, str], token: str, args: argparse.Namespace) -> int:
    """Warm both up, then alternate rounds (app, baseline, app, ...) so load drift hits both.

    Returns how many gives the app answered 201 to, warm-up included.
    """
    given = (await app.load(body, token, args.concurrency, args.warmup)).requests
    await baseline.load(body, token, args.concurrency, args.warmup)
    profiler = start_profiler(args.server_process, args.profile)
    try:
        for _ in range(args.rounds):
            result = await app.load(body, token, args.concurrency, args.seconds)
            app.rounds.append(result)
            given += result.requests
            baseline.rounds.append(await baseline.load(body, token, args.concurrency, args.seconds))
    finally:
        stop_profiler(profiler, args.profile)
    return given


async def run(args: argparse.Namespace) -> None:
    print_header(
        "ledger give throughput (SQLite)",
        f"{args.rounds} alternating rounds of {args.seconds:g} s per server after {args.warmup:g} s of warm-up, "
        f"concurrency {args.concurrency}; best round shown",
    )
    baseline_process = None
    with instance() as inst:
        try:
            with timed("users"):
                async with inst.setup() as settings:
                    token, _ = await inst.create_user(settings, GIVER)
                    await inst.create_user(settings, RECEIVER)
            inst.start()
            args.server_process = inst.process
            baseline_process, baseline_url = start_baseline(inst.data_dir)
            async with Client(inst.base_url, args.concurrency) as client, Client(baseline_url, args.concurrency) as bare:
                type_id = await client.create_type(token, "BNCH")
                mint = {"type": type_id, "amount": str(MINTED)}
                await client.call("POST", "/api/v1/ledger/create", token=token, json=mint, expect=201)
                app = Target("POST /api/v1/ledger/give", client, "/api/v1/ledger/give")
                baseline = Target("baseline: bare aiohttp + aiosqlite insert", bare, "/give")
                give = {"type": type_id, "amount": "1", "to": RECEIVER}
                given = await measure(app, baseline, give, token, args)
                balance = await client.call("GET", f"/api/v1/ledger/balance?owner={RECEIVER}&type={type_id}")
                if balance["balance"] != str(given):  # every 201 really moved one unit
                    raise RuntimeError(f"{RECEIVER} should hold {given}, holds {balance['balance']}")
        finally:
            stop_process(baseline_process)
    app.report()
    baseline.report()
    ratio = app.best().rate / baseline.best().rate
    verdict = "meets" if ratio >= TARGET else "BELOW"
    paired = ", ".join(f"{mine.rate / bare.rate:.2f}" for mine, bare in zip(app.rounds, baseline.rounds))
    print_row("ratio give / baseline", f"{ratio:8.2f}", f"({verdict} the {TARGET} target; round by round: {paired})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 5 s round after 1 s of warm-up")
    parser.add_argument("--seconds", type=float, default=15, help="length of each measured round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before the rounds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", metavar="FILE", help="record the server with py-spy (collapsed stacks) into FILE")
    parser.add_argument("--serve-baseline", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[0]), args.serve_baseline[1])
        return 0
    if args.quick:
        args.seconds, args.rounds, args.warmup = 5, 1, 1
    args.server_process = None
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
