"""Operators and jobs: admins list stuck jobs and terminate them (the worker stops), job-read
sees metrics, job-write changes a job's state along the allowed transitions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models.jobs import Job
from models.operations.jobs_admin import percentiles
from models.registry import REGISTRY, Operation

from .conftest import Api, assert_problem
from .jobhelpers import JOBS, finished_job, queue_api, worker  # noqa: F401

ADMIN = "/api/v1/admin/jobs"
BALANCE = "/api/v1/ledger/balance"
ASYNC = {"Prefer": "respond-async"}


def slow_balance(monkeypatch: pytest.MonkeyPatch, seconds: float, finished: list[str]) -> None:
    original = REGISTRY.get("ledger.balance")

    async def slow(ctx: Any, params: Any) -> Any:
        await asyncio.sleep(seconds)
        finished.append("done")
        return {"slow": True}

    monkeypatch.setitem(REGISTRY._operations, "ledger.balance", Operation(**{**original.__dict__, "run": slow}))


async def balance_job(api: Api, token: str) -> str:
    reply = await api.get(BALANCE, token=token, headers=ASYNC)
    assert reply.status == 202, reply
    return str(reply.body["id"])


async def test_stuck__lists_running_jobs_past_their_lease_or_too_long_by_operation(queue_api: Api) -> None:
    admin, alice = await queue_api.user("root", roles=["admin"]), await queue_api.user("alice")
    dead_id = await balance_job(queue_api, alice)
    long_id = (await queue_api.get("/api/v1/jobs", token=alice, headers=ASYNC)).body["id"]
    waiting_id = await balance_job(queue_api, alice)
    assert (await worker(queue_api, "dead", lease_seconds=0.05).claim()).id == dead_id  # type: ignore[union-attr]
    assert (await worker(queue_api, "busy").claim()).id == long_id  # type: ignore[union-attr]
    await asyncio.sleep(0.2)  # the first lease runs out; nobody renews it

    reply = await queue_api.get(f"{ADMIN}/stuck", token=admin)
    assert reply.status == 200, reply
    assert [(job["id"], job["stuck_because"]) for job in reply.body["items"]] == [(dead_id, "lease-expired")]
    assert reply.body["items"][0]["lease_owner"] == "dead"

    everything = await queue_api.get(f"{ADMIN}/stuck", token=admin, params={"running_longer_than": "0.01"})
    found = {job["id"]: job["stuck_because"] for job in everything.body["items"]}
    assert found == {dead_id: "lease-expired", long_id: "running-too-long"} and waiting_id not in found
    only = await queue_api.get(
        f"{ADMIN}/stuck", token=admin, params={"running_longer_than": "0.01", "operation": "jobs.list"}
    )
    assert [job["id"] for job in only.body["items"]] == [long_id]

    assert_problem(await queue_api.get(f"{ADMIN}/stuck", token=alice), 403, "role-required")


async def test_terminate__the_worker_notices_at_its_heartbeat_and_stops(
    queue_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, alice, finished = await queue_api.user("root", roles=["admin"]), await queue_api.user("alice"), []
    slow_balance(monkeypatch, 30, finished)
    job_id = await balance_job(queue_api, alice)
    runner = worker(queue_api, "runner", lease_seconds=0.6)
    job = await runner.claim()
    assert job is not None
    running = asyncio.create_task(runner.run_job(job))
    reply = await queue_api.post(f"{ADMIN}/{job_id}/terminate", {"reason": "hangs on a remote"}, token=admin)
    assert reply.status == 200, reply
    assert reply.body["state"] == "failed" and reply.body["error"]["code"] == "job-terminated"
    assert "hangs on a remote" in reply.body["error"]["detail"] and "root" in reply.body["error"]["detail"]
    assert await asyncio.wait_for(running, timeout=20) == "lost"
    assert finished == []
    seen = await queue_api.get(f"{JOBS}/{job_id}", token=alice)  # the caller sees why
    assert seen.body["state"] == "failed" and "hangs on a remote" in seen.body["error"]["detail"]
    assert_problem(
        await queue_api.post(f"{ADMIN}/{job_id}/terminate", {"reason": "again"}, token=admin), 409, "job-finished"
    )


async def test_terminate__refuses_non_admins_unknown_jobs_and_missing_reasons(queue_api: Api) -> None:
    admin, alice = await queue_api.user("root", roles=["admin"]), await queue_api.user("alice")
    job_id = await balance_job(queue_api, alice)
    assert_problem(await queue_api.post(f"{ADMIN}/{job_id}/terminate", {"reason": "x"}, token=alice), 403)
    assert_problem(await queue_api.post(f"{ADMIN}/nope/terminate", {"reason": "x"}, token=admin), 404, "job-not-found")
    assert_problem(await queue_api.post(f"{ADMIN}/{job_id}/terminate", {}, token=admin), 400, "validation-failed")
    cancelled = await queue_api.post(f"{ADMIN}/{job_id}/terminate", {"reason": "x", "state": "cancelled"}, token=admin)
    assert cancelled.body["state"] == "cancelled"
    assert await worker(queue_api, "w").claim() is None  # a terminated job never runs


async def test_metrics__counts_queue_depth_and_latency_for_job_read(queue_api: Api) -> None:
    reader, alice = await queue_api.user("ops", roles=["job-read"]), await queue_api.user("alice")
    for _ in range(3):
        await balance_job(queue_api, alice)
    await queue_api.get("/api/v1/jobs", token=alice, headers=ASYNC, expect=202)
    runner = worker(queue_api, "w")
    assert await runner.run_once() and await runner.run_once()

    reply = await queue_api.get(f"{ADMIN}/metrics", token=reader)
    assert reply.status == 200, reply
    body = reply.body
    assert body["by_state"]["succeeded"] == 2 and body["by_state"]["queued"] == 2 and body["queue_depth"] == 2
    assert body["by_operation"]["ledger.balance"] == {"succeeded": 2, "queued": 1}
    assert body["by_operation"]["jobs.list"] == {"queued": 1}
    assert body["finished_in_window"] == 2 and body["oldest_queued_seconds"] >= 0
    latency = body["latency_seconds"]["total"]
    assert latency["p50"] is not None and latency["p50"] <= latency["p95"] <= latency["p99"]

    narrowed = await queue_api.get(f"{ADMIN}/metrics", token=reader, params={"operation": "jobs.list"})
    assert narrowed.body["queue_depth"] == 1 and narrowed.body["latency_seconds"]["total"]["p50"] is None
    assert_problem(await queue_api.get(f"{ADMIN}/metrics", token=alice), 403, "role-required")


def test_percentiles__nearest_rank() -> None:
    assert percentiles(list(range(1, 101))) == {"p50": 50, "p95": 95, "p99": 99}
    assert percentiles([3.0]) == {"p50": 3.0, "p95": 3.0, "p99": 3.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


async def test_set_state__job_write_moves_jobs_along_allowed_transitions_only(queue_api: Api) -> None:
    writer, alice = await queue_api.user("ops", roles=["job-write"]), await queue_api.user("alice")
    job_id = await balance_job(queue_api, alice)
    path = f"{ADMIN}/{job_id}/state"

    failed = await queue_api.put(path, {"state": "failed", "reason": "bad batch"}, token=writer)
    assert failed.status == 200 and failed.body["state"] == "failed", failed
    assert await worker(queue_api, "w").claim() is None

    requeued = await queue_api.put(path, {"state": "queued", "reason": "retry after fix"}, token=writer)
    assert requeued.body["state"] == "queued" and requeued.body["error"] is None
    assert await worker(queue_api, "w").run_once()
    assert (await finished_job(queue_api, alice, job_id))["state"] == "succeeded"

    refused = assert_problem(await queue_api.put(path, {"state": "queued", "reason": "again"}, token=writer), 409)
    assert refused["code"] == "invalid-transition" and refused["allowed"] == []
    assert_problem(await queue_api.put(path, {"state": "bogus", "reason": "x"}, token=writer), 400, "validation-failed")
    assert_problem(await queue_api.put(path, {"state": "failed", "reason": "x"}, token=alice), 403, "role-required")

    other = await balance_job(queue_api, alice)
    running = assert_problem(
        await queue_api.put(f"{ADMIN}/{other}/state", {"state": "running", "reason": "x"}, token=writer), 409
    )
    assert running["code"] == "invalid-transition" and set(running["allowed"]) == {"failed", "cancelled"}
    events = await queue_api.get(f"{JOBS}/{job_id}", token=alice)
    assert events.body["attempts"] == 1  # the requeue gave it a fresh start
    assert (await Job.get(id=job_id)).state == "succeeded"
