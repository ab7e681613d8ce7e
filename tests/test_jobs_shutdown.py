"""Stopping a worker pool: it returns even when handing a job back cannot reach the database
(a cancelled transaction may leave SQLite's lock taken); the lease then expires as if it died."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models.engine import runner as engine_runner
from models.jobs import Job
from models.registry import REGISTRY, Operation
from server.appkeys import SITE
from server.jobs import WorkerPool

from .conftest import Api
from .jobhelpers import ASYNC, queue_api  # noqa: F401


async def test_pool_stop__returns_when_the_job_cannot_be_handed_back(
    queue_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()
    original = REGISTRY.get("ledger.balance")

    async def forever(ctx: Any, params: Any) -> Any:
        started.set()
        await asyncio.Event().wait()

    async def stuck_release(lease: Any) -> int:
        await asyncio.Event().wait()  # as if the database lock were never released

    monkeypatch.setitem(REGISTRY._operations, "ledger.balance", Operation(**{**original.__dict__, "run": forever}))
    monkeypatch.setattr(engine_runner, "release", stuck_release)
    monkeypatch.setattr(engine_runner, "RELEASE_SECONDS", 0.2)
    alice = await queue_api.user("alice")
    job_id = (await queue_api.get("/api/v1/ledger/balance", token=alice, headers=ASYNC)).body["id"]
    settings = queue_api.settings.jobs.model_copy(update={"scheduler": False})
    pool = WorkerPool(queue_api.client.app[SITE], settings, count=1)
    pool.start()
    await asyncio.wait_for(started.wait(), timeout=30)
    await asyncio.wait_for(pool.stop(), timeout=30)  # would hang without the bound
    job = await Job.get(id=job_id)
    assert job.state == "running" and job.lease_expires_at is not None  # the reaper takes it from here
