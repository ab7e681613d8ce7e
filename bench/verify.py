"""Verification throughput: signed answers per second from `POST /api/v1/verify` beside a bare handler.

Our side is a `tallystick serve` process answering anonymous verification clients, as a
phone scanning a copy would: three kinds of question about one token (its content hash, a
numeric range, a regular expression), each answer computed from the stored token and signed
with the instance's Ed25519 key (an Object Integrity Proof). The anonymous budget is raised
for the run so no request is turned away.

The baseline is a bare aiohttp handler in its own process that parses the same JSON body,
reads the token's row from the same SQLite file (aiosqlite, one connection) and answers a
JSON object of the same shape, unsigned: the floor cost of "a question about a stored token
answered with JSON" on this machine. (`--no-db-baseline`: a handler that only parses and
answers, without the read, as a harder floor.) Both get the same requests at the same concurrency,
in alternating rounds; the best round of each is reported with its p99 latency.
Target: ours >= 0.4 x baseline, for each kind of question.

    .venv/bin/python bench/verify.py [--seconds S] [--rounds R] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from aiohttp import web  # noqa: E402
from common import (  # noqa: E402
    Client,
    LoadResult,
    cpu_seconds,
    free_port,
    instance,
    ms,
    percentile,
    print_header,
    print_row,
    run_load,
)

TARGET = 0.4
KIND = {
    "name": "Bench Ingot", "symbol": "BIN", "fungible": False, "smallest_unit": 0,
    "attributes": [{"name": "serial", "type": "string"}, {"name": "weight", "type": "decimal"}],
}


def serve_baseline(port: int, database: str) -> None:
    """Parse the question, read the token's row (its own connection to the same SQLite file), answer JSON."""
    import aiosqlite

    db_key = web.AppKey("db", aiosqlite.Connection)

    async def open_db(app: web.Application):  # type: ignore[no-untyped-def]
        app[db_key] = await aiosqlite.connect(database, isolation_level=None)
        await app[db_key].execute("PRAGMA busy_timeout=10000")
        yield
        await app[db_key].close()

    async def verify(request: web.Request) -> web.Response:
        question = orjson.loads(await request.read())
        row = (question["token"], 1)
        if database:
            async with request.app[db_key].execute(
                'SELECT "id", "version", "attributes" FROM "tokens" WHERE "id" = ?', (question["token"],)
            ) as cursor:
                row = await cursor.fetchone()
        answer = {"type": "VerificationAnswer", "token": row[0], "version": row[1], "result": True,
                  "checksum": "sha256:" + "0" * 64}
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    app = web.Application()
    if database:
        app.cleanup_ctx.append(open_db)
    app.router.add_post("/api/v1/verify", verify)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@dataclass
class Round:
    load: LoadResult
    cpu_per_request: float | None  # the server's CPU seconds per answer in this round


async def measure(url: str, body: bytes, concurrency: int, seconds: float, check: bool, pid: int = 0) -> Round:
    failures: list[str] = []
    cpu_before = cpu_seconds(pid) if pid else None
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one() -> None:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as reply:
                answer = await reply.read()
                if reply.status != 200 or (check and b'"proof"' not in answer):
                    failures.append(f"{reply.status}: {answer[:300]!r}")

        result = await run_load(concurrency, one, seconds=seconds)
    cpu_after = cpu_seconds(pid) if pid else None
    if failures:
        raise RuntimeError(f"{len(failures)} answers from {url} were not signed answers, e.g. {failures[0]}")
    used = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Round(result, used / result.requests if used is not None and result.requests else None)


async def wait_for_baseline(url: str, body: bytes) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.post(url, data=body) as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the baseline server did not start")


async def main(args: argparse.Namespace) -> None:
    baseline_port = free_port()
    baseline = None
    try:
        with instance() as inst:
            async with inst.setup() as settings:
                owner, _ = await inst.create_user(settings, "alice")
            inst.env_extra["TALLYSTICK_LIMITS__ANONYMOUS_REQUESTS_PER_MINUTE"] = str(10**9)
            inst.start()
            async with Client(inst.base_url) as client:
                kind = await client.call("POST", "/api/v1/types", token=owner, json=KIND, expect=201)
                token = await client.call("POST", "/api/v1/tokens", token=owner, expect=201, json={
                    "type": kind["id"], "attributes": {"serial": "AB-123456", "weight": "12.5"}})
            questions: dict[str, dict[str, Any]] = {
                "content hash": {"token": token["id"], "content_hash": token["content_hash"]},
                "range": {"token": token["id"], "attribute": "weight", "min": 10, "max": 20},
                "regex": {"token": token["id"], "attribute": "serial", "pattern": "^AB-[0-9]{6}$"},
            }
            database = "" if args.no_db_baseline else str(inst.data_dir / "tallystick.sqlite3")
            baseline = multiprocessing.get_context("spawn").Process(
                target=serve_baseline, args=(baseline_port, database), daemon=True)
            baseline.start()
            ours_url, base_url = f"{inst.base_url}/api/v1/verify", f"http://127.0.0.1:{baseline_port}/api/v1/verify"
            for body in questions.values():  # warm-up, and a check that each question is answered
                await measure(ours_url, orjson.dumps(body), 4, 0.5, check=True)
            await wait_for_baseline(base_url, orjson.dumps(questions["range"]))
            results: dict[str, tuple[list[Round], list[Round]]] = {}
            server_pid = inst.process.pid if inst.process else 0
            for name, question in questions.items():
                body = orjson.dumps(question)
                ours, raw = [], []
                for _ in range(args.rounds):
                    raw.append(await measure(base_url, body, args.concurrency, args.seconds, False, baseline.pid or 0))
                    ours.append(await measure(ours_url, body, args.concurrency, args.seconds, True, server_pid))
                results[name] = (ours, raw)
    finally:
        if baseline is not None:
            baseline.terminate()
            baseline.join(5)
    floor = "parse and answer" if args.no_db_baseline else "parse, read the row, answer"
    print_header("verify", f"signed verification answers, anonymous client, {args.concurrency} concurrent, "
                 f"best of {args.rounds} rounds of {args.seconds:g} s; baseline: {floor}")
    for name, (ours, raw) in results.items():
        best_ours, best_raw = max(ours, key=lambda r: r.load.rate), max(raw, key=lambda r: r.load.rate)
        ratio = best_ours.load.rate / best_raw.load.rate
        for label, best in ((f"ours: {name}", best_ours), (f"baseline: {name}", best_raw)):
            cpu = f", server CPU {best.cpu_per_request * 1e6:.0f} us/answer" if best.cpu_per_request else ""
            print_row(label, f"{best.load.rate:.0f} /s", f"p99 {ms(percentile(best.load.latencies, 99))}{cpu}")
        print_row(f"ratio: {name}", f"{ratio:.2f}", f"target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'}")
        if best_ours.cpu_per_request and best_raw.cpu_per_request:
            print_row(f"CPU ratio: {name}", f"{best_raw.cpu_per_request / best_ours.cpu_per_request:.2f}",
                      "baseline CPU per answer / ours (steadier on a shared machine)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-db-baseline", action="store_true", help="a baseline that does not read the database")
    asyncio.run(main(parser.parse_args()))
