"""Workers: compare-and-set claims, leases and heartbeats, the reaper, exactly-once effects,
unexpected failures, and real processes (`serve` with embedded workers, `tallystick worker`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from models.events import Event
from models.jobs import Job
from models.ledger import LedgerEntry
from models.registry import REGISTRY, Operation
from server.jobs import reap_expired

from .conftest import Api
from .dbutil import TemplateDatabase
from .jobhelpers import JOBS, finished_job, queue_api, queued, worker  # noqa: F401
from .livesrv import BIN, LiveServer
from .test_ledger import balance, minted


def later(seconds: float = 3600) -> datetime:
    """A moment after every lease in these tests has run out (instead of sleeping)."""
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


async def give_job(api: Api, amount: str = "3") -> tuple[str, str, str]:
    """alice holds 10 coins and has queued a give of `amount` to bob: (alice token, type, job id)."""
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10", smallest_unit=0)
    job = await queued(api, "/api/v1/ledger/give", {"type": type_id, "amount": amount, "to": "bob"}, alice)
    return alice, type_id, job["id"]


async def test_worker__a_claim_is_compare_and_set(queue_api: Api) -> None:
    _, _, job_id = await give_job(queue_api)
    first, second = worker(queue_api, "w1"), worker(queue_api, "w2")
    claimed = await first.claim()
    assert claimed is not None and claimed.id == job_id
    assert claimed.state == "running" and claimed.lease_owner == "w1" and claimed.attempts == 1
    assert claimed.lease_expires_at is not None and claimed.started_at is not None
    assert await second.claim() is None  # the compare-and-set matched no row for the second


async def test_worker__a_killed_worker_s_job_is_reaped_and_runs_exactly_once(queue_api: Api) -> None:
    alice, type_id, job_id = await give_job(queue_api)
    dying, healthy = worker(queue_api, "dying"), worker(queue_api, "healthy")
    job = await dying.claim()
    assert job is not None  # ... and then the process "dies": no heartbeat, no result
    assert await reap_expired() == 0  # its lease has not run out yet
    assert await reap_expired(now=later()) == 1
    assert (await Job.get(id=job_id)).state == "queued"
    assert await Event.filter(name="job.requeued", object_id=job_id).count() == 1
    assert await healthy.run_once()
    record = (await queue_api.get(f"{JOBS}/{job_id}", token=alice)).body
    assert record["state"] == "succeeded" and record["attempts"] == 2
    # The first worker wakes up and runs its stale copy: nothing it does is kept.
    assert await dying.run_job(job) == "lost"
    assert await balance(queue_api, type_id, "bob") == "3" and await balance(queue_api, type_id, "alice") == "7"
    assert await LedgerEntry.filter(kind="give").count() == 1
    assert (await Job.get(id=job_id)).lease_owner is None


async def test_worker__heartbeat_renews_the_lease_until_the_job_is_taken_away(queue_api: Api) -> None:
    _, _, job_id = await give_job(queue_api)
    owner = worker(queue_api, "owner")
    job = await owner.claim()
    assert job is not None
    first_deadline = job.lease_expires_at
    await asyncio.sleep(0.01)
    assert await owner.renew(job)
    assert (await Job.get(id=job_id)).lease_expires_at > first_deadline
    await reap_expired(now=later())
    assert await owner.renew(job) is False


def slow_balance(monkeypatch: pytest.MonkeyPatch, seconds: float, finished: list[str]) -> None:
    """Make ledger.balance (a read) take `seconds` and note when it really completes."""
    original = REGISTRY.get("ledger.balance")

    async def slow(ctx: Any, params: Any) -> Any:
        await asyncio.sleep(seconds)
        finished.append("done")
        return {"slow": True}

    monkeypatch.setitem(REGISTRY._operations, "ledger.balance", Operation(**{**original.__dict__, "run": slow}))


async def test_worker__a_job_longer_than_its_lease_keeps_it_by_heartbeat(
    queue_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, finished = await queue_api.user("alice"), []
    slow_balance(monkeypatch, 2.5, finished)
    job_id = (await queue_api.get("/api/v1/ledger/balance", token=alice, headers={"Prefer": "respond-async"})).body["id"]
    runner = worker(queue_api, "runner", lease_seconds=1)
    job = await runner.claim()
    assert job is not None
    running = asyncio.create_task(runner.run_job(job))
    while not running.done():
        assert await reap_expired() == 0, "a renewed lease must not be reaped"
        await asyncio.sleep(0.2)
    assert running.result() == "succeeded" and finished == ["done"]
    assert (await Job.get(id=job_id)).result == {"slow": True}


async def test_worker__the_heartbeat_stops_a_job_cancelled_while_running(
    queue_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, finished = await queue_api.user("alice"), []
    slow_balance(monkeypatch, 30, finished)
    job_id = (await queue_api.get("/api/v1/ledger/balance", token=alice, headers={"Prefer": "respond-async"})).body["id"]
    runner = worker(queue_api, "runner", lease_seconds=0.6)
    job = await runner.claim()
    assert job is not None
    running = asyncio.create_task(runner.run_job(job))
    assert (await queue_api.post(f"{JOBS}/{job_id}/cancel", token=alice)).status == 200
    assert await asyncio.wait_for(running, timeout=20) == "lost"
    assert finished == []  # stopped, not run to the end
    record = await Job.get(id=job_id)
    assert record.state == "cancelled" and record.result is None


async def test_worker__gives_up_after_max_attempts(queue_api: Api) -> None:
    alice, type_id, job_id = await give_job(queue_api)
    for attempt in range(3):  # FAST_JOBS: max_attempts = 3
        assert await worker(queue_api, f"w{attempt}").claim() is not None
        assert await reap_expired(now=later()) == 1
    record = (await queue_api.get(f"{JOBS}/{job_id}", token=alice)).body
    assert record["state"] == "failed" and record["attempts"] == 3
    assert record["error"]["code"] == "job-abandoned" and record["error"]["detail"]
    assert await worker(queue_api, "late").run_once() is False
    assert await balance(queue_api, type_id, "bob") == "0"
    assert await Event.filter(name="job.failed", object_id=job_id).count() == 1


async def test_worker__cancelling_a_running_job_keeps_none_of_its_changes(queue_api: Api) -> None:
    alice, type_id, job_id = await give_job(queue_api)
    runner = worker(queue_api, "runner")
    job = await runner.claim()
    assert job is not None
    reply = await queue_api.post(f"{JOBS}/{job_id}/cancel", token=alice)
    assert reply.status == 200 and reply.body["state"] == "cancelled"
    assert await runner.run_job(job) == "lost"
    assert await balance(queue_api, type_id, "bob") == "0"
    assert (await Job.get(id=job_id)).state == "cancelled"


async def test_worker__an_unexpected_error_is_a_failed_job_with_a_generic_problem(
    queue_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await queue_api.user("alice")
    original = REGISTRY.get("ledger.balance")

    async def boom(ctx: Any, params: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setitem(REGISTRY._operations, "ledger.balance", Operation(**{**original.__dict__, "run": boom}))
    job = (await queue_api.get("/api/v1/ledger/balance", token=alice, headers={"Prefer": "respond-async"})).body
    assert await worker(queue_api, "w1").run_once()
    record = (await queue_api.get(f"{JOBS}/{job['id']}", token=alice)).body
    assert record["state"] == "failed" and record["error"]["code"] == "internal-error"
    assert record["error"]["status"] == 500 and "secret" not in record["error"]["detail"]


async def test_workers__several_workers_drain_the_queue_running_each_job_once(queue_api: Api) -> None:
    alice, _ = await queue_api.user("alice"), await queue_api.user("bob")
    type_id = await minted(queue_api, alice, "30", smallest_unit=0)
    ids = [
        (await queued(queue_api, "/api/v1/ledger/give", {"type": type_id, "amount": "1", "to": "bob"}, alice))["id"]
        for _ in range(12)
    ]
    workers = [worker(queue_api, f"w{index}") for index in range(4)]

    async def drain(one: Any) -> int:
        ran = 0
        while await one.run_once():
            ran += 1
        return ran

    assert sum(await asyncio.gather(*(drain(one) for one in workers))) == 12
    jobs = await Job.filter(id__in=ids)
    assert {job.state for job in jobs} == {"succeeded"} and {job.attempts for job in jobs} == {1}
    assert await balance(queue_api, type_id, "bob") == "12"
    assert await LedgerEntry.filter(kind="give").count() == 12


# ---------------------------------------------------------------- real processes


@pytest.fixture
def live_server(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    url = template_database.new_database(tmp_path)
    server = LiveServer(tmp_path, url)
    server.env["TALLYSTICK_JOBS__POLL_INTERVAL_SECONDS"] = "0.1"
    yield server
    server.stop()
    template_database.drop(url)


def poll_job(server: LiveServer, token: str, job_id: str, *, limit: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = requests.get(f"{server.base_url}{JOBS}/{job_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def async_create_type(server: LiveServer, token: str) -> dict[str, Any]:
    reply = requests.post(
        f"{server.base_url}/api/v1/types",
        json={"name": "Live", "symbol": "LV", "fungible": True, "smallest_unit": 0},
        headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"},
        timeout=10,
    )
    assert reply.status_code == 202, reply.text
    return reply.json()


@pytest.mark.slow
def test_serve__embedded_workers_run_async_calls(live_server: LiveServer) -> None:
    token = live_server.create_user("alice")
    live_server.start()
    job = poll_job(live_server, token, async_create_type(live_server, token)["id"])
    assert job["state"] == "succeeded" and job["result"]["symbol"] == "LV"


@pytest.mark.slow
def test_worker_command__runs_jobs_queued_by_a_server_without_workers(live_server: LiveServer, tmp_path: Path) -> None:
    live_server.env["TALLYSTICK_EMBEDDED_WORKERS"] = "false"
    token = live_server.create_user("alice")
    live_server.start()
    job_id = async_create_type(live_server, token)["id"]
    time.sleep(0.3)  # no worker anywhere: the job waits in the queue
    state = requests.get(f"{live_server.base_url}{JOBS}/{job_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["state"]
    assert state == "queued"
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen([str(BIN / "tallystick"), "worker", "--workers", "2"], env=live_server.env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert poll_job(live_server, token, job_id)["state"] == "succeeded"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(timeout=15)
    assert code == 0, (tmp_path / "worker.log").read_text()
    assert "2 worker(s)" in (tmp_path / "worker.log").read_text()

