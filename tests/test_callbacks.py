"""Job callbacks: signed with Standard Webhooks (verified by the `standardwebhooks` package in a
real local receiver), retried with backoff by the sweep, redelivered by hand, SSRF re-checked."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from federation.callbacks import MAX_TRIES, deliver, deliver_due_callbacks
from models.events import Event
from models.job_callbacks import JobCallback
from server.app import create_app
from server.appkeys import SITE

from .conftest import Api, assert_problem
from .dbutil import test_settings as make_settings
from .jobhelpers import ASYNC, FAST_JOBS, JOBS, finished_job, worker

COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2}
SECRET = "/api/v1/me/webhook-secret"
PRIVATE_OK = {"allow_private_addresses": True}


class Receiver:
    """A real HTTP server on 127.0.0.1 that verifies each callback's signature."""

    def __init__(self) -> None:
        self.port = 0
        self.status = 200
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
            verified = True
        except WebhookVerificationError:
            payload, verified = None, False
        self.received.append({"headers": dict(request.headers), "payload": payload, "verified": verified})
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.stop()


async def _api(aiohttp_client: Any, tmp_path: Path, database_url: str, **settings: Any) -> Api:
    config = make_settings(tmp_path, database_url, jobs=FAST_JOBS, federation=PRIVATE_OK, **settings)
    return Api(await aiohttp_client(create_app(config)), config)


@pytest.fixture
async def hook_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """No embedded workers (tests drive workers and the sweep); private addresses allowed."""
    api = await _api(aiohttp_client, tmp_path, database_url, embedded_workers=False)
    yield api
    await api.client.close()


@pytest.fixture
async def hook_fast_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    api = await _api(aiohttp_client, tmp_path, database_url)
    yield api
    await api.client.close()


async def user_with_secret(api: Api, receiver: Receiver, name: str = "alice") -> str:
    token = await api.user(name)
    reply = await api.get(SECRET, token=token)
    assert reply.status == 200 and reply.body["secret"].startswith("whsec_"), reply
    receiver.secret = reply.body["secret"]
    return token


async def queued_with_callback(api: Api, token: str, url: str) -> dict[str, Any]:
    reply = await api.post("/api/v1/types", COIN, token=token, headers={"X-Callback-Url": url})
    assert reply.status == 202, reply
    assert reply.body["callback"]["url"] == url and reply.body["callback"]["state"] == "pending"
    return reply.body


def later(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


async def callback_of(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = await api.get(f"{JOBS}/{job_id}", token=token)
    assert reply.status == 200, reply
    return reply.body["callback"]


# ------------------------------------------------------------------ delivery


async def test_callback__a_finished_async_call_is_posted_and_the_signature_verifies(
    hook_fast_api: Api, receiver: Receiver
) -> None:
    alice = await user_with_secret(hook_fast_api, receiver)
    job = await queued_with_callback(hook_fast_api, alice, receiver.url)
    done = await finished_job(hook_fast_api, alice, job["id"])
    assert done["state"] == "succeeded"
    for _ in range(400):  # the worker posts right after finishing (generous limit, not a timing check)
        if (await callback_of(hook_fast_api, alice, job["id"]))["state"] != "pending":
            break
        await asyncio.sleep(0.05)
    callback = await callback_of(hook_fast_api, alice, job["id"])
    assert callback["state"] == "delivered" and callback["attempts"] == 1 and callback["last_status"] == 200
    assert callback["delivered_at"] and callback["next_attempt_at"] is None
    [hit] = receiver.received
    assert hit["verified"] and hit["headers"]["webhook-id"] == job["id"]
    assert hit["payload"]["id"] == job["id"] and hit["payload"]["state"] == "succeeded"
    assert hit["payload"]["result"]["symbol"] == "CN"
    assert await Event.filter(object_id=job["id"], name="job.callback_delivered").count() == 1


async def test_callback__a_chain_posts_its_steps(hook_api: Api, receiver: Receiver) -> None:
    alice = await user_with_secret(hook_api, receiver)
    steps = [
        {"id": "coin", "operation": "types.create", "input": COIN},
        {"id": "mint", "operation": "ledger.create", "input": {"type": {"$ref": "coin#/id"}, "amount": "1.00"}},
    ]
    reply = await hook_api.post(JOBS, {"steps": steps, "callback_url": receiver.url}, token=alice)
    assert reply.status == 202, reply
    assert await worker(hook_api, "w").run_once()
    assert await deliver_due_callbacks(hook_api.client.app[SITE]) == 1  # its end queued the callback
    [hit] = receiver.received
    assert hit["verified"] and [step["state"] for step in hit["payload"]["steps"]] == ["succeeded", "succeeded"]
    assert (await callback_of(hook_api, alice, reply.body["id"]))["state"] == "delivered"


async def test_callback__a_cancelled_job_is_reported_by_the_sweep(hook_api: Api, receiver: Receiver) -> None:
    alice = await user_with_secret(hook_api, receiver)
    job = await queued_with_callback(hook_api, alice, receiver.url)
    assert await deliver_due_callbacks(hook_api.client.app[SITE]) == 0  # not finished: nothing to send
    assert (await hook_api.post(f"{JOBS}/{job['id']}/cancel", token=alice)).status == 200
    assert await deliver_due_callbacks(hook_api.client.app[SITE]) == 1
    [hit] = receiver.received
    assert hit["verified"] and hit["payload"]["state"] == "cancelled"


async def test_callback__receiver_down_is_retried_with_backoff_then_delivered(hook_api: Api, receiver: Receiver) -> None:
    alice = await user_with_secret(hook_api, receiver)
    site = hook_api.client.app[SITE]
    await receiver.stop()  # nothing listens on the port now
    job = await queued_with_callback(hook_api, alice, receiver.url)
    assert await worker(hook_api, "w").run_once()  # runs the job, which queues its callback
    assert await deliver_due_callbacks(site) == 1  # the first try fails
    first = await callback_of(hook_api, alice, job["id"])
    assert first["state"] == "pending" and first["attempts"] == 1
    assert first["last_status"] is None and "cannot reach" in first["last_error"]
    assert first["next_attempt_at"] > datetime.now(timezone.utc).isoformat()[:19]
    assert await deliver_due_callbacks(site) == 0  # not due yet
    await receiver.start()  # same port, answering 500
    receiver.status = 500
    assert await deliver_due_callbacks(site, now=later(11)) == 1
    second = await callback_of(hook_api, alice, job["id"])
    assert second["state"] == "pending" and second["attempts"] == 2 and second["last_status"] == 500
    assert await deliver_due_callbacks(site, now=later(30)) == 0  # the second wait is longer (1 min)
    receiver.status = 204
    assert await deliver_due_callbacks(site, now=later(11 + 61)) == 1
    third = await callback_of(hook_api, alice, job["id"])
    assert third["state"] == "delivered" and third["attempts"] == 3 and third["last_status"] == 204
    assert third["last_error"] is None
    assert len(receiver.received) == 2 and all(hit["verified"] for hit in receiver.received)
    assert {hit["headers"]["webhook-id"] for hit in receiver.received} == {job["id"]}
    names = await Event.filter(object_id=job["id"], name__startswith="job.callback").values_list("name", flat=True)
    assert sorted(names) == ["job.callback_delivered", "job.callback_retrying", "job.callback_retrying"]


async def test_callback__gives_up_after_the_last_try_then_manual_redelivery(hook_api: Api, receiver: Receiver) -> None:
    alice = await user_with_secret(hook_api, receiver)
    site = hook_api.client.app[SITE]
    receiver.status = 503
    job = await queued_with_callback(hook_api, alice, receiver.url)
    assert await worker(hook_api, "w").run_once()
    assert await deliver_due_callbacks(hook_api.client.app[SITE]) == 1  # its end queued the callback
    for day in range(1, MAX_TRIES + 2):
        await deliver_due_callbacks(site, now=later(day * 86400))
    callback = await callback_of(hook_api, alice, job["id"])
    assert callback["state"] == "failed" and callback["attempts"] == MAX_TRIES and callback["last_status"] == 503
    assert callback["next_attempt_at"] is None and len(receiver.received) == MAX_TRIES
    assert await Event.filter(object_id=job["id"], name="job.callback_failed").count() == 1
    receiver.status = 200
    reply = await hook_api.post(f"{JOBS}/{job['id']}/callback", token=alice)
    assert reply.status == 200, reply
    assert reply.body["callback"]["state"] == "delivered" and reply.body["callback"]["attempts"] == MAX_TRIES + 1
    assert receiver.received[-1]["verified"]


async def test_callback__the_address_is_checked_again_before_each_try(hook_api: Api, receiver: Receiver) -> None:
    alice = await user_with_secret(hook_api, receiver)
    job = await queued_with_callback(hook_api, alice, receiver.url)  # allowed at submission here
    assert (await hook_api.post(f"{JOBS}/{job['id']}/cancel", token=alice)).status == 200
    site = hook_api.client.app[SITE]
    strict = dataclasses.replace(site, federation=site.federation.model_copy(update={"allow_private_addresses": False}))
    assert await deliver(strict, job["id"]) is not None
    callback = await callback_of(hook_api, alice, job["id"])
    assert callback["state"] == "pending" and "not a public address" in callback["last_error"]
    assert receiver.received == []


async def test_callback__a_requeued_job_posts_again_only_when_it_finishes_again(
    hook_api: Api, receiver: Receiver
) -> None:
    alice = await user_with_secret(hook_api, receiver)
    writer = await hook_api.user("ops", roles=["job-write"])
    site = hook_api.client.app[SITE]
    job = await queued_with_callback(hook_api, alice, receiver.url)
    failed = await hook_api.put(f"/api/v1/admin/jobs/{job['id']}/state", {"state": "failed", "reason": "x"}, token=writer)
    assert failed.status == 200 and failed.body["callback"]["state"] == "pending", failed
    assert await deliver_due_callbacks(site) == 1  # the failed job is reported
    requeued = await hook_api.put(
        f"/api/v1/admin/jobs/{job['id']}/state", {"state": "queued", "reason": "retry after fix"}, token=writer
    )
    assert requeued.status == 200, requeued
    assert requeued.body["callback"]["state"] == "pending" and requeued.body["callback"]["attempts"] == 1
    assert await deliver_due_callbacks(site) == 0  # not before the new run has finished
    assert await worker(hook_api, "w").run_once()
    assert await deliver_due_callbacks(site) == 1  # its end queued the callback again
    assert [hit["payload"]["state"] for hit in receiver.received] == ["failed", "succeeded"]
    callback = await callback_of(hook_api, alice, job["id"])
    assert callback["state"] == "delivered" and callback["attempts"] == 2


# ------------------------------------------------------------------ redeliver and secrets


async def test_redeliver__refused_without_callback_unfinished_or_invisible(hook_api: Api, receiver: Receiver) -> None:
    alice = await user_with_secret(hook_api, receiver)
    bob = await hook_api.user("bob")
    plain = (await hook_api.post("/api/v1/types", COIN, token=alice, headers=ASYNC)).body
    hooked = await queued_with_callback(hook_api, alice, receiver.url)
    before = (await Event.all().count(), await JobCallback.filter(attempts__gt=0).count())
    assert_problem(await hook_api.post(f"{JOBS}/{plain['id']}/callback", token=alice), 422, "no-callback")
    assert_problem(await hook_api.post(f"{JOBS}/{hooked['id']}/callback", token=alice), 409, "job-not-finished")
    assert_problem(await hook_api.post(f"{JOBS}/{hooked['id']}/callback", token=bob), 404, "job-not-found")
    assert_problem(await hook_api.post(f"{JOBS}/nope/callback", token=alice), 404, "job-not-found")
    assert_problem(await hook_api.post(f"{JOBS}/{'x' * 65}/callback", token=alice), 400, "validation-failed")
    assert_problem(await hook_api.post(f"{JOBS}/{hooked['id']}/callback"), 401)
    assert (await Event.all().count(), await JobCallback.filter(attempts__gt=0).count()) == before
    assert receiver.received == []


async def test_webhook_secret__stable_until_rotated_and_rotation_signs_new_callbacks(
    hook_api: Api, receiver: Receiver
) -> None:
    alice = await user_with_secret(hook_api, receiver)
    first = receiver.secret
    assert (await hook_api.get(SECRET, token=alice)).body["secret"] == first
    bob = await hook_api.user("bob")
    assert (await hook_api.get(SECRET, token=bob)).body["secret"] != first
    assert await Event.filter(name="webhook_secret.created").count() == 2
    rotated = await hook_api.post(SECRET, token=alice)
    assert rotated.status == 200 and rotated.body["secret"].startswith("whsec_") and rotated.body["secret"] != first
    assert (await hook_api.get(SECRET, token=alice)).body["secret"] == rotated.body["secret"]
    assert await Event.filter(name="webhook_secret.rotated").count() == 1
    job = await queued_with_callback(hook_api, alice, receiver.url)
    assert await worker(hook_api, "w").run_once()
    assert await deliver_due_callbacks(hook_api.client.app[SITE]) == 1  # its end queued the callback
    assert receiver.received[-1]["verified"] is False  # the receiver still has the old secret
    receiver.secret = rotated.body["secret"]
    assert (await hook_api.post(f"{JOBS}/{job['id']}/callback", token=alice)).status == 200
    assert receiver.received[-1]["verified"] is True
    assert_problem(await hook_api.get(SECRET), 401)
    assert_problem(await hook_api.post(SECRET), 401)
