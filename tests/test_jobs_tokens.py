"""Job tokens: a running job acts with its own bearer token, as the user it runs for, and the token
is dead once the run ends (finished, cancelled or reaped), so a copy that leaks is useless."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from models.actors import AccessToken
from models.jobs import Job
from models.registry import REGISTRY, Operation
from models.security import token_digest
from server.appkeys import SITE
from server.jobs import LostLease, _run, reap_expired

from .conftest import Api, assert_problem
from .jobhelpers import JOBS, delegate, queue_api, worker  # noqa: F401

BALANCE = "/api/v1/ledger/balance"


@dataclass
class Spy:
    """Replaces ledger.balance: keeps the job's token and holds the run until released."""

    tokens: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, ctx: Any, params: Any) -> Any:
        self.tokens.append(ctx.extra["job_token"])
        await self.release.wait()
        return {"user": ctx.require_user().username}

    async def token(self) -> str:
        for _ in range(400):
            if self.tokens:
                return self.tokens[-1]
            await asyncio.sleep(0.05)
        raise AssertionError("the job never started")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    spy = Spy()
    original = REGISTRY.get("ledger.balance")
    monkeypatch.setitem(REGISTRY._operations, "ledger.balance", Operation(**{**original.__dict__, "run": spy.run}))
    return spy


async def _me(api: Api, token: str) -> Any:
    return await api.get("/api/v1/me", token=token)


async def test_job_token__works_while_the_job_runs_and_is_useless_after(queue_api: Api, spy: Spy) -> None:
    alice = await queue_api.user("alice")
    job = (await queue_api.get(BALANCE, token=alice, headers={"Prefer": "respond-async"})).body
    running = asyncio.create_task(worker(queue_api, "w1").run_once())
    leaked = await spy.token()
    assert leaked != alice
    during = await _me(queue_api, leaked)
    assert during.status == 200 and during.body["username"] == "alice"
    spy.release.set()
    assert await asyncio.wait_for(running, timeout=30) is True
    assert (await queue_api.get(f"{JOBS}/{job['id']}", token=alice)).body["state"] == "succeeded"
    assert_problem(await _me(queue_api, leaked), 401, "invalid-token")
    assert (await _me(queue_api, alice)).status == 200  # the caller's own token is untouched


async def test_job_token__is_stored_only_as_a_hash_and_expires_with_the_lease(queue_api: Api, spy: Spy) -> None:
    alice = await queue_api.user("alice")
    job = (await queue_api.get(BALANCE, token=alice, headers={"Prefer": "respond-async"})).body
    running = asyncio.create_task(worker(queue_api, "w1").run_once())
    leaked = await spy.token()
    record = await Job.get(id=job["id"])
    stored = await AccessToken.get(id=record.job_token_id)
    assert stored.kind == "job" and stored.token_hash == token_digest(leaked) and leaked not in stored.token_hash
    assert stored.expires_at is not None and stored.expires_at <= record.lease_expires_at + timedelta(seconds=1)
    spy.release.set()
    await asyncio.wait_for(running, timeout=30)


async def test_job_token__acts_for_the_behalf_user_only(queue_api: Api, spy: Spy) -> None:
    agent = await queue_api.user("agent", roles=["agent"])
    await delegate(queue_api, await queue_api.user("bob"), "agent", "read")
    reply = await queue_api.get(BALANCE, token=agent, headers={"X-On-Behalf-Of": "bob"})
    assert reply.status == 202, reply
    running = asyncio.create_task(worker(queue_api, "w1").run_once())
    leaked = await spy.token()
    me = await _me(queue_api, leaked)
    assert me.body["username"] == "bob" and "agent" not in me.body.get("roles", [])
    # agent has not delegated to bob: the job token cannot act on behalf of anyone else.
    assert_problem(
        await queue_api.get(BALANCE, token=leaked, headers={"X-On-Behalf-Of": "agent"}), 403, "on-behalf-of-forbidden"
    )
    spy.release.set()
    await asyncio.wait_for(running, timeout=30)
    assert (await queue_api.get(f"{JOBS}/{reply.body['id']}", token=agent)).body["result"] == {"user": "bob"}
    assert_problem(await _me(queue_api, leaked), 401)


async def test_job_token__cannot_queue_jobs_nor_use_the_callers_roles(queue_api: Api, spy: Spy) -> None:
    boss = await queue_api.user("boss", roles=["agent", "admin", "job-read"])
    await queue_api.user("bob")
    reply = await queue_api.get(BALANCE, token=boss, headers={"X-On-Behalf-Of": "bob"})
    assert reply.status == 202, reply
    running = asyncio.create_task(worker(queue_api, "w1").run_once())
    leaked = await spy.token()
    assert (await _me(queue_api, leaked)).status == 200  # alive while the job runs
    # It acts as bob, who has none of the caller's roles.
    assert_problem(await queue_api.get("/api/v1/admin/users", token=leaked), 403, "role-required")
    assert_problem(await queue_api.get("/api/v1/admin/jobs/metrics", token=leaked), 403)
    # Nor can it queue work that would outlive it, async or as a chain.
    queued = await queue_api.get("/api/v1/me", token=leaked, headers={"Prefer": "respond-async"})
    assert_problem(queued, 403, "job-token-cannot-queue")
    chain = {"steps": [{"id": "a", "operation": "users.me", "input": {}}]}
    assert_problem(await queue_api.post(JOBS, chain, token=leaked), 403, "job-token-cannot-queue")
    assert await Job.all().count() == 1
    spy.release.set()
    await asyncio.wait_for(running, timeout=30)
    assert (await queue_api.get(f"{JOBS}/{reply.body['id']}", token=boss)).body["result"] == {"user": "bob"}


async def test_job_token__cancelling_the_job_revokes_it_at_once(queue_api: Api, spy: Spy) -> None:
    alice = await queue_api.user("alice")
    job = (await queue_api.get(BALANCE, token=alice, headers={"Prefer": "respond-async"})).body
    running = asyncio.create_task(worker(queue_api, "w1", lease_seconds=0.6).run_once())
    leaked = await spy.token()
    assert (await queue_api.post(f"{JOBS}/{job['id']}/cancel", token=alice)).status == 200
    assert_problem(await _me(queue_api, leaked), 401, "invalid-token")
    await asyncio.wait_for(running, timeout=30)  # the heartbeat notices and stops the run


async def test_job_token__a_reaped_run_loses_its_token_and_the_next_run_gets_a_new_one(
    queue_api: Api, spy: Spy
) -> None:
    alice = await queue_api.user("alice")
    await queue_api.get(BALANCE, token=alice, headers={"Prefer": "respond-async"})
    dying = worker(queue_api, "dying")
    job = await dying.claim()
    assert job is not None
    lease = dying._leases.pop(job.id)
    first = asyncio.create_task(_run(queue_api.client.app[SITE], job, lease))  # runs, but nobody renews the lease
    leaked = await spy.token()
    assert await reap_expired(now=datetime.now(timezone.utc) + timedelta(hours=1)) == 1
    assert_problem(await _me(queue_api, leaked), 401, "invalid-token")
    second = asyncio.create_task(worker(queue_api, "healthy").run_once())
    for _ in range(400):
        if len(spy.tokens) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(spy.tokens) == 2 and spy.tokens[1] != leaked
    assert (await _me(queue_api, spy.tokens[1])).status == 200
    spy.release.set()
    with pytest.raises(LostLease):  # it cannot record anything: the job is no longer its
        await asyncio.wait_for(first, timeout=30)
    assert await asyncio.wait_for(second, timeout=30) is True
    assert_problem(await _me(queue_api, spy.tokens[1]), 401)
