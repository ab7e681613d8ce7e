"""Periodic work: the scheduler only enqueues system jobs, one per operation and time slot however
many processes fire; workers run them (lease sweep, callback retries, purge); users can neither
call nor see them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from models.actors import AccessToken, User
from models.context import Context
from models.engine import Runner
from models.jobs import Job
from models.machines import CALLBACKS
from models.registry import REGISTRY
from server.app import create_app
from server.appkeys import SITE
from server.scheduler import Periodic, Scheduler, periodic_work, slot_of

from .conftest import Api, assert_problem
from .dbutil import test_settings as make_settings
from .jobhelpers import ASYNC, FAST_JOBS, JOBS, finished_job, queue_api, worker  # noqa: F401
from .test_callbacks import Receiver, queued_with_callback, receiver, user_with_secret  # noqa: F401

SWEEP = Periodic("system.jobs.sweep", 60, {})


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


async def test_scheduler__several_processes_enqueue_one_job_per_slot(queue_api: Api) -> None:
    first, second = Scheduler([SWEEP]), Scheduler([SWEEP])
    moment = 1_800_000_000.0
    assert await first.tick(SWEEP, moment) is True
    assert await second.tick(SWEEP, moment + 30) is False  # same minute: already queued
    assert await first.tick(SWEEP, moment) is False
    assert await second.tick(SWEEP, moment + 60) is True  # the next slot
    keys = (
        await Job.filter(operation="system.jobs.sweep").order_by("periodic_key").values_list("periodic_key", flat=True)
    )
    assert keys == [f"system.jobs.sweep@{slot_of(60, moment)}", f"system.jobs.sweep@{slot_of(60, moment + 60)}"]


def test_periodic_work__uses_the_job_settings(settings: Any) -> None:
    jobs = settings.jobs.model_copy(update={"retention_days": 7, "sweep_seconds": 2})
    work = {periodic.operation: periodic for periodic in periodic_work(jobs)}
    assert set(work) == {
        "system.jobs.sweep", "system.jobs.purge", "system.federation.prune", "system.accounts.prune",
    }
    assert work["system.jobs.purge"].input == {"retention_days": 7} and work["system.jobs.sweep"].seconds == 2


async def test_system_operations__are_not_callable_by_users(queue_api: Api) -> None:
    admin = await queue_api.user("root", roles=["admin"])
    steps = [{"id": "a", "operation": "system.jobs.purge", "input": {}}]
    assert_problem(await queue_api.post(JOBS, {"steps": steps}, token=admin), 404, "unknown-operation")


async def test_purge__forgets_finished_jobs_past_retention_and_keeps_the_rest(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    ids = [(await queue_api.get("/api/v1/ledger/balance", token=alice, headers=ASYNC)).body["id"] for _ in range(3)]
    old, recent, waiting = ids
    runner = worker(queue_api, "w")
    assert await runner.run_once() and await runner.run_once()
    await Job.filter(id=old).update(finished_at=days_ago(31))
    await Job.filter(id=recent).update(finished_at=days_ago(29))
    run_tokens = await AccessToken.filter(kind="job").order_by("id").values_list("id", flat=True)
    assert len(run_tokens) == 2  # one per run, revoked when it ended
    await AccessToken.filter(id=run_tokens[0]).update(revoked_at=days_ago(1 / 12))  # two hours ago
    await Scheduler([]).tick(Periodic("system.jobs.purge", 3600, {"retention_days": 30}))
    assert await runner.run_once() and await runner.run_once()  # the waiting job, then the purge (id order)
    assert set(await Job.filter(id__in=ids).values_list("id", flat=True)) == {recent, waiting}
    assert (await queue_api.get(f"{JOBS}/{old}", token=alice)).status == 404
    purge = await Job.get(operation="system.jobs.purge")
    assert purge.state == "succeeded" and purge.result["purged"] == 1 and purge.result["purged_system"] == 0
    assert purge.result["job_tokens"] == 1 and not await AccessToken.filter(id=run_tokens[0]).exists()
    assert await AccessToken.filter(kind="job").count() == 2  # the recent run's and the waiting job's
    listed = await queue_api.get(JOBS, token=alice)
    assert "system.jobs.purge" not in {job["operation"] for job in listed.body["items"]}


async def test_sweep__a_system_job_requeues_a_dead_worker_s_job(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    job_id = (await queue_api.get("/api/v1/ledger/balance", token=alice, headers=ASYNC)).body["id"]
    assert (await worker(queue_api, "dying", lease_seconds=0.05).claim()) is not None
    await asyncio.sleep(0.2)  # its lease runs out
    site = queue_api.client.app[SITE]
    # The periodic sweep reaps every machine; a worker also reaps as it claims (then this is 0).
    assert await REGISTRY.call(Context(site=site, system=True), "system.jobs.sweep", {}) == {"reaped": 1}
    healthy = worker(queue_api, "healthy")
    assert await healthy.run_once()  # the requeued job
    done = await finished_job(queue_api, alice, job_id)
    assert done["state"] == "succeeded" and done["attempts"] == 2


async def test_callback_retry__a_due_callback_is_delivered_by_the_engine_runner(
    aiohttp_client: Any, tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    """No periodic job: the callbacks machine's runner posts a callback as soon as it is due."""
    config = make_settings(
        tmp_path, database_url, jobs=FAST_JOBS, embedded_workers=False, federation={"allow_private_addresses": True}
    )
    api = Api(await aiohttp_client(create_app(config)), config)
    alice = await user_with_secret(api, receiver)
    job = await queued_with_callback(api, alice, receiver.url)
    runner = Runner(api.client.app[SITE], machines=[CALLBACKS], poll_seconds=0.05)
    runner.start()
    try:
        assert (await api.post(f"{JOBS}/{job['id']}/cancel", token=alice)).status == 200  # finished: due now
        for _ in range(400):  # a generous limit, not a timing check
            reply = await api.get(f"{JOBS}/{job['id']}", token=alice)
            assert reply.status == 200, reply
            if reply.body["callback"]["state"] == "delivered":
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert reply.body["callback"]["state"] == "delivered" and reply.body["callback"]["attempts"] == 1
    [hit] = receiver.received
    assert hit["verified"] and hit["payload"]["state"] == "cancelled"
    await api.client.close()


@pytest.fixture
async def scheduled_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """Embedded workers with the real APScheduler firing every 0.2 s."""
    jobs = {**FAST_JOBS, "sweep_seconds": 0.2, "purge_seconds": 0.2}
    config = make_settings(tmp_path, database_url, jobs=jobs)
    api = Api(await aiohttp_client(create_app(config)), config)
    yield api
    await api.client.close()


async def test_scheduler__embedded_workers_reap_a_dead_worker_s_job_on_their_own(scheduled_api: Api) -> None:
    alice = await scheduled_api.user("alice")
    # A job claimed by a worker of a "dead" process: nobody will renew its lease.
    # Written as running in one insert: a queued row would be claimed by the live workers first.
    job = await Job.create(
        caller=await User.get(username="alice"), operation="ledger.balance", input={},
        state="running", lease_owner="dead", lease_expires_at=days_ago(1), attempts=1,
    )
    done = await finished_job(scheduled_api, alice, job.id)
    assert done["state"] == "succeeded" and done["attempts"] == 2
    slots = await Job.filter(operation="system.jobs.sweep").values_list("periodic_key", flat=True)
    assert len(slots) == len(set(slots)) >= 1


async def test_scheduler__stopping_mid_enqueue_lets_it_finish_and_logs_no_error(
    queue_api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A stop while a tick is writing used to cancel it, and APScheduler logged that as an ERROR."""
    import server.scheduler as scheduler_module

    real_enqueue = scheduler_module.enqueue_periodic
    writing = asyncio.Event()

    async def slow_enqueue(*args: Any) -> Any:
        writing.set()
        await asyncio.sleep(0.3)  # stop() arrives while the INSERT is under way
        return await real_enqueue(*args)

    monkeypatch.setattr(scheduler_module, "enqueue_periodic", slow_enqueue)
    scheduler = Scheduler([Periodic("system.jobs.sweep", 0.1, {})])
    scheduler.start()
    await asyncio.wait_for(writing.wait(), 5)
    await scheduler.stop()
    await asyncio.sleep(0.2)  # anything the executor would log about the tick has been logged
    assert await Job.filter(operation="system.jobs.sweep").count() == 1  # the slot was enqueued
    errors = [r for r in caplog.records if r.levelno >= 40]
    assert not errors, [r.getMessage() for r in errors]
