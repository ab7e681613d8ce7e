"""Inbox throughput: signed activities accepted per second by our inbox beside a bare handler.

Our side is `POST /inbox` on a `tallystick serve` process: it parses the activity, verifies
the draft-cavage rsa-sha256 signature and the Digest, applies the origin rules with the
sender's cached key (fetched once from a remote actor served by this script), stores the
activity once by its id and answers 202. Embedded workers are off, so what is measured is
acceptance, not the processing that follows.

The baseline is a bare aiohttp handler in its own process that reads the body, parses the
JSON and answers 202: the floor cost of "an HTTP POST of an activity" on this machine. Both
get the same pre-signed requests (signing is not timed) at the same concurrency, in
alternating rounds; the best round of each is reported. Target: ours >= 0.4 x baseline.

    .venv/bin/python bench/inbox.py [--seconds S] [--rounds R] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from aiohttp import web  # noqa: E402
from common import cpu_seconds, free_port, print_header, print_row, run_load, timed  # noqa: E402
from fanout import fed_instance  # noqa: E402

TARGET = 0.4


def serve_baseline(port: int) -> None:
    async def inbox(request: web.Request) -> web.Response:
        orjson.loads(await request.read())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox", inbox)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def remote_actor_server(key_pem: str) -> tuple[web.AppRunner, str]:
    """The sender's server: only its actor document, which our inbox fetches once."""
    runner: web.AppRunner
    holder: dict[str, str] = {}

    async def actor(request: web.Request) -> web.Response:
        uri = holder["uri"]
        return web.json_response({
            "id": uri, "type": "Person", "preferredUsername": "sender", "inbox": f"{uri}/inbox",
            "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": key_pem},
        }, content_type="application/activity+json")

    app = web.Application()
    app.router.add_get("/users/sender", actor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    holder["uri"] = f"http://127.0.0.1:{port}/users/sender"
    return runner, holder["uri"]


def signed_requests(base_url: str, actor: str, private_pem: str, count: int, tag: str) -> list[tuple[bytes, dict[str, str]]]:
    from federation.keys import load_private_key
    from federation.signatures import sign_cavage

    key = load_private_key(private_pem)
    requests = []
    for n in range(count):
        activity = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor}/activities/{tag}-{n}",
                    "type": "Like", "actor": actor, "object": f"{actor}/notes/{n}"}
        body = orjson.dumps(activity)
        headers = sign_cavage("POST", f"{base_url}/inbox", key_id=f"{actor}#main-key", private_key=key, body=body)
        headers["Content-Type"] = "application/activity+json"
        requests.append((body, headers))
    return requests


async def measure(
    url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int, seconds: float | None = None,
    *, reuse: bool = False, pid: int = 0,
) -> tuple[float, float | None]:
    """Requests per second, and the server's CPU seconds per request (with its `pid`); for
    `seconds`, or until the requests run out (`reuse`: cycle through them)."""
    queue = iter(requests) if seconds is None or not reuse else itertools.cycle(requests)
    failures = 0
    cpu_before = cpu_seconds(pid) if pid else None
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one() -> None:
            nonlocal failures
            body, headers = next(queue)
            headers = {k: v for k, v in headers.items() if k != "Host"}
            async with session.post(url, data=body, headers=headers) as reply:
                await reply.read()
                failures += reply.status != 202

        if seconds is None:
            result = await run_load(concurrency, one, total=len(requests))
        else:
            result = await run_load(concurrency, one, seconds=seconds)
    cpu_after = cpu_seconds(pid) if pid else None
    if failures:
        raise RuntimeError(f"{failures} requests to {url} were not accepted")
    used = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return result.rate, (used / len(result.latencies) if used is not None and result.latencies else None)


async def main(args: argparse.Namespace) -> None:
    from federation.keys import generate_rsa

    key = generate_rsa()
    runner, actor = await remote_actor_server(key.public_pem)
    baseline_port = free_port()
    baseline = multiprocessing.get_context("spawn").Process(target=serve_baseline, args=(baseline_port,), daemon=True)
    baseline.start()
    try:
        with fed_instance() as inst:
            inst.env_extra["TALLYSTICK_EMBEDDED_WORKERS"] = "false"
            inst.start()
            budget = int(args.seconds * 10000) + 100  # more requests than any round can send
            with timed(f"signing {budget * args.rounds + 1000} requests"):
                ours_requests = [signed_requests(inst.base_url, actor, key.private_pem, budget, f"o{r}") for r in range(args.rounds)]
                # the bare handler keeps nothing, so it may get the same requests again and again
                base_requests = signed_requests(f"http://127.0.0.1:{baseline_port}", actor, key.private_pem, 1000, "b")
            await measure(f"{inst.base_url}/inbox", signed_requests(inst.base_url, actor, key.private_pem, 50, "warm"),
                          4)  # fetches and caches the sender's key
            ours, raw = [], []
            server_pid = inst.process.pid if inst.process else 0
            for r in range(args.rounds):
                raw.append(await measure(f"http://127.0.0.1:{baseline_port}/inbox", base_requests, args.concurrency,
                                         args.seconds, reuse=True, pid=baseline.pid or 0))
                ours.append(await measure(f"{inst.base_url}/inbox", ours_requests[r], args.concurrency, args.seconds,
                                          pid=server_pid))
    finally:
        await runner.cleanup()
        baseline.terminate()
        baseline.join(5)
    print_header("inbox", f"signed activities accepted (202), {args.concurrency} concurrent, best of {args.rounds} rounds of {args.seconds:g} s")
    best_ours, best_raw = max(ours), max(raw)

    def cpu(best: tuple[float, float | None]) -> str:
        return f"server CPU {best[1] * 1e6:.0f} us/request" if best[1] else ""

    print_row("ours: POST /inbox (verify, store)", f"{best_ours[0]:.0f} /s", cpu(best_ours))
    print_row("baseline: bare aiohttp handler (parse, 202)", f"{best_raw[0]:.0f} /s", cpu(best_raw))
    ratio = best_ours[0] / best_raw[0]
    print_row("ratio (ours / baseline)", f"{ratio:.2f}", f"target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'}")
    if best_ours[1] and best_raw[1]:
        print_row("CPU ratio (baseline / ours)", f"{best_raw[1] / best_ours[1]:.2f}", "CPU per request; steadier when shared")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
