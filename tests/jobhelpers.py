"""Helpers for the job tests: an app without embedded workers, polling, workers in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.appkeys import SITE
from server.jobs import Worker

from .conftest import Api
from .dbutil import test_settings

JOBS = "/api/v1/jobs"
ASYNC = {"Prefer": "respond-async"}
FAST_JOBS = {"lease_seconds": 5, "poll_interval_seconds": 0.05, "max_attempts": 3, "workers": 2}


@pytest.fixture
async def queue_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app with no embedded workers: jobs stay queued until a test runs a Worker."""
    settings = test_settings(tmp_path, database_url, embedded_workers=False, jobs=FAST_JOBS)
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


@pytest.fixture
async def fast_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app with embedded workers polling often (a job also wakes them at once)."""
    settings = test_settings(tmp_path, database_url, jobs=FAST_JOBS)
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


def worker(api: Api, name: str, **jobs: Any) -> Worker:
    settings = api.settings.jobs.model_copy(update=jobs)
    return Worker(api.client.app[SITE], settings, name=name)


async def finished_job(api: Api, token: str, job_id: str, *, limit: float = 20) -> dict[str, Any]:
    """Poll the job until it has finished (a generous limit, not a timing assertion)."""
    for _ in range(int(limit / 0.05)):
        reply = await api.get(f"{JOBS}/{job_id}", token=token)
        assert reply.status == 200, reply
        if reply.body["state"] in ("succeeded", "failed", "cancelled"):
            return reply.body
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {reply.body}")


async def queued(api: Api, path: str, body: Any, token: str, **headers: str) -> dict[str, Any]:
    """POST asking for async; assert the 202 and return the job record."""
    reply = await api.post(path, body, token=token, headers={**ASYNC, **headers})
    assert reply.status == 202, reply
    assert reply.headers["Location"] == f"{JOBS}/{reply.body['id']}"
    return reply.body


async def delegate(api: Api, grantor: str, to: str, *scopes: str, **fields: Any) -> dict[str, Any]:
    """The grantor lets `to` act for them (X-On-Behalf-Of) with these scopes; assert the 201."""
    reply = await api.post("/api/v1/delegations", {"to": to, "scopes": list(scopes), **fields}, token=grantor)
    assert reply.status == 201, reply
    return reply.body
