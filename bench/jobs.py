"""Jobs: the cost of running an operation as a durable job instead of calling it directly.

One SQLite instance, everything in one process (the worker runs in-process in `serve` too).
Baseline: `webhooks.secret.get` called directly through the registry, N times. Then the same operation
N times as jobs: enqueued (`models.operations.jobs.enqueue`, as a `Prefer: respond-async`
request does), drained by one worker (claim by compare-and-set, lease, job token, result,
token revoked) until every job has succeeded. Printed: calls/s and jobs/s and their ratio, and
the enqueue -> start latency (p50/p99) of jobs queued one at a time to an idle worker pool
that is woken by the enqueue (as the HTTP handler does).

    .venv/bin/python bench/jobs.py [--quick] [--jobs N] [--latency M]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import instance, median, ms, percentile, print_header, print_row  # noqa: E402

OPERATION = "webhooks.secret.get"  # trivial: one indexed read (the secret exists after the first call)


async def _context(settings: Any) -> Any:
    from models.actors import User
    from models.context import Context
    from server.app import site_from

    user = await User.get(username="alice").select_related("actor")
    return Context(site=site_from(settings), user=user, actor=user.actor)


async def direct_rate(ctx: Any, count: int) -> float:
    from models.registry import REGISTRY

    start = time.perf_counter()
    for _ in range(count):
        await REGISTRY.call(ctx, OPERATION, {})
    return count / (time.perf_counter() - start)


async def job_rate(ctx: Any, settings: Any, count: int, *, batched: bool = True) -> tuple[float, float]:
    """(jobs/s from the first enqueue to the last success, jobs/s of the drain alone).

    batched: claim as the runner's loop does (several jobs a claim); else one claim per job
    (Worker.run_once), the measure printed before #15, kept beside the new one."""
    from models.engine import run_due
    from models.jobs import Job
    from models.machines import JOBS
    from models.operations.jobs import JobRequest, enqueue
    from server.jobs import Worker

    worker = Worker(ctx.site, settings.jobs, name="bench")
    start = time.perf_counter()
    for _ in range(count):
        await enqueue(ctx, JobRequest(operation=OPERATION))
    drain_start = time.perf_counter()
    if batched:
        while await run_due(worker.site, JOBS, owner=worker.name):
            pass
    else:
        while await worker.run_once():
            pass
    end = time.perf_counter()
    succeeded = await Job.filter(state="succeeded").count()
    if succeeded != count:
        raise RuntimeError(f"{succeeded} of {count} jobs succeeded")
    await Job.all().delete()  # the next measure starts from an empty queue
    return count / (end - start), count / (end - drain_start)


async def start_latencies(ctx: Any, settings: Any, count: int) -> list[float]:
    """Seconds from enqueue to a worker's start, one job at a time, the pool idle between jobs."""
    from models.jobs import Job
    from models.operations.jobs import JobRequest, enqueue
    from server.jobs import WorkerPool

    jobs = settings.jobs.model_copy(update={"scheduler": False, "poll_interval_seconds": 1.0})
    pool = WorkerPool(ctx.site, jobs, count=1)
    pool.start()
    latencies = []
    try:
        for _ in range(count):
            job, _ = await enqueue(ctx, JobRequest(operation=OPERATION))
            pool.wake()
            while True:
                row = await Job.get(id=job.id)
                if row.finished:
                    break
                await asyncio.sleep(0.001)
            latencies.append((row.started_at - row.created_at).total_seconds())
    finally:
        await pool.stop()
    return latencies


async def main(args: argparse.Namespace) -> None:
    with instance("tallystick-bench-jobs-") as inst:
        async with inst.setup() as settings:
            await inst.create_user(settings, "alice")
            ctx = await _context(settings)
            await direct_rate(ctx, 20)  # warm-up: imports, first queries
            direct = await direct_rate(ctx, args.jobs)
            _, drain_one = await job_rate(ctx, settings, args.jobs, batched=False)
            end_to_end, drain = await job_rate(ctx, settings, args.jobs)
            latencies = await start_latencies(ctx, settings, args.latency)

    print_header(
        f"Jobs: {OPERATION} as a job vs called directly ({args.jobs} each, SQLite, one worker)",
        "baseline: the direct registry call in the same run",
    )
    print_row("direct calls/s (baseline)", f"{direct:,.0f}")
    print_row("jobs/s, enqueue -> worker -> succeeded", f"{end_to_end:,.0f}", f"ratio {end_to_end / direct:.3f}")
    print_row("jobs/s, drain only", f"{drain:,.0f}", f"ratio {drain / direct:.3f}")
    print_row("jobs/s, drain only, one claim per job (old)", f"{drain_one:,.0f}", f"ratio {drain_one / direct:.3f}")
    print_row(f"enqueue -> start latency p50 ({args.latency} jobs)", ms(median(latencies)))
    print_row("enqueue -> start latency p99", ms(percentile(latencies, 99)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs (a smoke run)")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=200)
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.jobs, parsed.latency = 100, 30
    asyncio.run(main(parsed))
