"""Any operation as a job over HTTP: 202 + polling, job records, visibility, cancel, delete,
Idempotency-Key, X-On-Behalf-Of and the tester's Prefer: wait."""

from __future__ import annotations

from typing import Any

from models.events import Event
from models.jobs import Job
from models.ledger import LedgerEntry
from models.tokens import TokenType

from .conftest import Api, assert_problem
from .jobhelpers import ASYNC, JOBS, delegate, fast_api, finished_job, queue_api, queued, worker  # noqa: F401
from .test_ledger import balance, minted

COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2}


async def counts() -> tuple[int, int]:
    return await Job.all().count(), await Event.all().count()


# ---------------------------------------------------------------- async calls


async def test_async_call__202_then_poll_gives_the_result(fast_api: Api) -> None:
    alice = await fast_api.user("alice")
    reply = await fast_api.post("/api/v1/types", COIN, token=alice, headers=ASYNC)
    assert reply.status == 202, reply
    assert reply.headers["Location"] == f"{JOBS}/{reply.body['id']}"
    assert reply.headers["Retry-After"] == "1"
    assert reply.body["state"] in ("queued", "running", "succeeded")
    assert reply.body["operation"] == "types.create" and reply.body["caller"] == "alice"
    job = await finished_job(fast_api, alice, reply.body["id"])
    assert job["state"] == "succeeded" and job["error"] is None and job["attempts"] == 1
    assert job["finished_at"] and job["started_at"]
    created = await fast_api.get(f"/api/v1/types/{job['result']['id']}")
    assert created.status == 200 and created.body["symbol"] == "CN"
    names = set(await Event.filter(object_id=job["id"]).values_list("name", flat=True))
    assert names == {"job.queued", "job.succeeded"}
    assert await Event.filter(name="type.created", object_id=job["result"]["id"]).count() == 1


async def test_async_call__run_async_in_the_body_or_the_query(fast_api: Api) -> None:
    alice = await fast_api.user("alice")
    type_id = await minted(fast_api, alice, "5.00")
    reply = await fast_api.post("/api/v1/types", {**COIN, "run": "async"}, token=alice)
    assert reply.status == 202, reply
    assert (await finished_job(fast_api, alice, reply.body["id"]))["state"] == "succeeded"
    reply = await fast_api.get("/api/v1/ledger/balance", token=alice, params={"type": type_id, "run": "async"})
    assert reply.status == 202, reply
    job = await finished_job(fast_api, alice, reply.body["id"])
    assert job["result"]["balance"] == "5.00" and job["input"] == {"type": type_id}
    reply = await fast_api.post("/api/v1/types", COIN, token=alice, params={"run": "async"})
    assert reply.status == 202, reply
    # run=sync is the ordinary direct call.
    assert (await fast_api.post("/api/v1/types", {**COIN, "run": "sync"}, token=alice)).status == 201


async def test_async_call__bad_input_is_refused_at_once_and_queues_nothing(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    before = await counts()
    for body in [{**COIN, "fungible": "maybe"}, {"name": "x"}, {**COIN, "extra": 1}, {**COIN, "name": "n" * 20_000}]:
        assert_problem(await queue_api.post("/api/v1/types", body, token=alice, headers=ASYNC), 400, "validation-failed")
    assert_problem(await queue_api.post("/api/v1/types", COIN, headers=ASYNC), 401)
    assert_problem(await queue_api.get("/api/v1/admin/users", token=alice, headers=ASYNC), 403, "role-required")
    assert_problem(await queue_api.post("/api/v1/types", {**COIN, "run": "later"}, token=alice), 400, "invalid-run")
    upload = await queue_api.call("POST", "/api/v1/tokens/x/media/picture", data=b"png", token=alice,
                                  headers={**ASYNC, "Content-Type": "image/png"})
    assert_problem(upload, 422, "async-not-supported")
    assert await counts() == before


async def test_async_call__operations_with_passwords_or_tokens_only_run_directly(queue_api: Api) -> None:
    admin = await queue_api.user("root", roles=["admin"])
    before = await counts()
    login = {"username": "root", "password": "correct horse"}
    assert_problem(await queue_api.post("/api/v1/auth/login", login, headers=ASYNC), 422, "async-not-supported")
    new_user = {"username": "carol", "password": "long password", "email": "carol@example.org"}
    reply = await queue_api.post("/api/v1/admin/users", new_user, token=admin, headers=ASYNC)
    assert_problem(reply, 422, "async-not-supported")
    reply = await queue_api.post("/api/v1/admin/users/root/token", token=admin, headers=ASYNC)
    assert_problem(reply, 422, "async-not-supported")
    assert_problem(await queue_api.post("/api/v1/auth/logout", token=admin, headers=ASYNC), 422, "async-not-supported")
    assert await counts() == before


async def test_async_call__a_failing_operation_is_a_failed_job_with_its_problem(fast_api: Api) -> None:
    alice, bob = await fast_api.user("alice"), await fast_api.user("bob")
    type_id = await minted(fast_api, alice, "1.00")
    job = await queued(fast_api, "/api/v1/ledger/create", {"type": type_id, "amount": "7"}, bob)
    job = await finished_job(fast_api, bob, job["id"])
    assert job["state"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "not-owner" and job["error"]["status"] == 403 and job["error"]["detail"]
    assert await LedgerEntry.all().count() == 1  # only alice's mint
    assert await Event.filter(name="job.failed", object_id=job["id"]).count() == 1


# ---------------------------------------------------------------- job records


async def test_jobs_get__only_the_caller_sees_the_job(queue_api: Api) -> None:
    alice, bob = await queue_api.user("alice"), await queue_api.user("bob")
    job = await queued(queue_api, "/api/v1/types", COIN, alice)
    assert (await queue_api.get(f"{JOBS}/{job['id']}", token=alice)).body["state"] == "queued"
    assert_problem(await queue_api.get(f"{JOBS}/{job['id']}", token=bob), 404, "job-not-found")
    assert_problem(await queue_api.get(f"{JOBS}/{job['id']}"), 401)
    assert_problem(await queue_api.get(f"{JOBS}/nope", token=alice), 404, "job-not-found")
    assert_problem(await queue_api.get(f"{JOBS}/{'x' * 65}", token=alice), 400, "validation-failed")
    assert (await queue_api.get(JOBS, token=bob)).body["items"] == []


async def test_jobs_list__my_jobs_newest_first_filtered_by_state_and_operation(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    first = await queued(queue_api, "/api/v1/types", COIN, alice)
    second = await queued(queue_api, "/api/v1/types", {**COIN, "symbol": "C2"}, alice)
    balance_job = (await queue_api.get("/api/v1/ledger/balance", token=alice, headers=ASYNC)).body
    await queue_api.post(f"{JOBS}/{first['id']}/cancel", token=alice, expect=200)
    listed = await queue_api.get(JOBS, token=alice)
    assert [item["id"] for item in listed.body["items"]] == [balance_job["id"], second["id"], first["id"]]
    only = await queue_api.get(JOBS, token=alice, params={"state": "cancelled"})
    assert [item["id"] for item in only.body["items"]] == [first["id"]]
    only = await queue_api.get(JOBS, token=alice, params={"operation": "types.create", "state": "queued"})
    assert [item["id"] for item in only.body["items"]] == [second["id"]]
    paged = await queue_api.get(JOBS, token=alice, params={"page_size": "1"})
    assert len(paged.body["items"]) == 1 and paged.body["next"]
    for params in [{"state": "done"}, {"page_size": "0"}, {"operation": "o" * 101}]:
        assert_problem(await queue_api.get(JOBS, token=alice, params=params), 400, "validation-failed")
    assert_problem(await queue_api.get(JOBS), 401)


async def test_jobs_cancel__a_queued_job_never_runs(queue_api: Api) -> None:
    alice, bob = await queue_api.user("alice"), await queue_api.user("bob")
    job = await queued(queue_api, "/api/v1/types", COIN, alice)
    assert_problem(await queue_api.post(f"{JOBS}/{job['id']}/cancel", token=bob), 404, "job-not-found")
    reply = await queue_api.post(f"{JOBS}/{job['id']}/cancel", token=alice)
    assert reply.status == 200 and reply.body["state"] == "cancelled" and reply.body["finished_at"]
    assert await Event.filter(name="job.cancelled", object_id=job["id"]).count() == 1
    assert await worker(queue_api, "w1").run_once() is False
    assert await TokenType.all().count() == 0
    events = await Event.all().count()
    assert_problem(await queue_api.post(f"{JOBS}/{job['id']}/cancel", token=alice), 409, "job-finished")
    assert await Event.all().count() == events


async def test_jobs_delete__forgets_only_finished_jobs(queue_api: Api) -> None:
    alice, bob = await queue_api.user("alice"), await queue_api.user("bob")
    job = await queued(queue_api, "/api/v1/types", COIN, alice)
    assert_problem(await queue_api.delete(f"{JOBS}/{job['id']}", token=alice), 409, "job-not-finished")
    await queue_api.post(f"{JOBS}/{job['id']}/cancel", token=alice, expect=200)
    assert_problem(await queue_api.delete(f"{JOBS}/{job['id']}", token=bob), 404, "job-not-found")
    assert (await queue_api.delete(f"{JOBS}/{job['id']}", token=alice)).status == 204
    assert_problem(await queue_api.get(f"{JOBS}/{job['id']}", token=alice), 404, "job-not-found")
    assert await Job.all().count() == 0
    assert await Event.filter(name="job.deleted", object_id=job["id"]).count() == 1


# ---------------------------------------------------------------- Idempotency-Key


async def test_idempotency__same_key_same_request_is_the_same_job(queue_api: Api) -> None:
    alice, bob = await queue_api.user("alice"), await queue_api.user("bob")
    key = {"Idempotency-Key": "create-coin-1"}
    job = await queued(queue_api, "/api/v1/types", COIN, alice, **key)
    again = await queue_api.post("/api/v1/types", COIN, token=alice, headers={**ASYNC, **key})
    problem = assert_problem(again, 409, "idempotency-key-in-flight")
    assert problem["job"] == job["id"]
    assert await worker(queue_api, "w1").run_once()
    again = await queue_api.post("/api/v1/types", COIN, token=alice, headers={**ASYNC, **key})
    assert again.status == 200 and again.body["id"] == job["id"] and again.body["state"] == "succeeded"
    assert again.headers["Location"] == f"{JOBS}/{job['id']}"
    # Keys belong to their caller: bob's same key is bob's own new job.
    assert (await queued(queue_api, "/api/v1/types", COIN, bob, **key))["id"] != job["id"]
    assert await Job.all().count() == 2 and await TokenType.all().count() == 1


async def test_idempotency__same_key_different_request_is_refused(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    key = {"Idempotency-Key": "k1"}
    await queued(queue_api, "/api/v1/types", COIN, alice, **key)
    before = await counts()
    other = await queue_api.post("/api/v1/types", {**COIN, "symbol": "XX"}, token=alice, headers={**ASYNC, **key})
    assert_problem(other, 422, "idempotency-key-reused")
    other_path = await queue_api.get("/api/v1/ledger/balance", token=alice, headers={**ASYNC, **key})
    assert_problem(other_path, 422, "idempotency-key-reused")
    for bad in ["x" * 256, "with space", "tab\tkey"]:
        reply = await queue_api.post("/api/v1/types", COIN, token=alice, headers={**ASYNC, "Idempotency-Key": bad})
        assert_problem(reply, 400, "invalid-idempotency-key")
    assert await counts() == before


# ---------------------------------------------------------------- on behalf of


async def test_on_behalf_of__an_agent_acts_as_the_user_and_the_job_records_both(fast_api: Api) -> None:
    alice, agent = await fast_api.user("alice"), await fast_api.user("agent", roles=["agent"])
    bob, admin = await fast_api.user("bob"), await fast_api.user("root", roles=["admin"])
    type_id = await minted(fast_api, alice, "10.00")
    give = {"type": type_id, "amount": "4", "to": "bob"}
    await delegate(fast_api, alice, "agent", "read", "write")  # alice's consent (tests/test_delegations.py)
    reply = await fast_api.post("/api/v1/ledger/give", give, token=agent, headers={"X-On-Behalf-Of": "alice"})
    assert reply.status == 202, reply  # acting for someone is always a recorded job
    job = await finished_job(fast_api, agent, reply.body["id"])
    assert job["state"] == "succeeded", job
    assert job["caller"] == "agent" and job["on_behalf_of"] == "alice"
    assert await balance(fast_api, type_id, "alice") == "6.00" and await balance(fast_api, type_id, "bob") == "4.00"
    assert (await fast_api.get(f"{JOBS}/{job['id']}", token=alice)).body["on_behalf_of"] == "alice"
    assert_problem(await fast_api.get(f"{JOBS}/{job['id']}", token=bob), 404, "job-not-found")
    assert [item["id"] for item in (await fast_api.get(JOBS, token=alice)).body["items"]] == [job["id"]]
    reply = await fast_api.post("/api/v1/ledger/give", give, token=admin, headers={**ASYNC, "X-On-Behalf-Of": "alice"})
    assert (await finished_job(fast_api, admin, reply.body["id"]))["on_behalf_of"] == "alice"


async def test_on_behalf_of__refused_without_consent_or_for_unknown_users(queue_api: Api) -> None:
    alice, bob = await queue_api.user("alice"), await queue_api.user("bob")
    agent = await queue_api.user("agent", roles=["agent"])
    type_id = await minted(queue_api, alice, "10.00")
    give = {"type": type_id, "amount": "4", "to": "bob"}
    await delegate(queue_api, bob, "agent", "read", "write")
    root = await queue_api.user("root", roles=["admin"])
    await delegate(queue_api, root, "agent", "read", "write")
    before = await counts()
    forbidden = await queue_api.post("/api/v1/ledger/give", give, token=bob, headers={"X-On-Behalf-Of": "alice"})
    assert_problem(forbidden, 403, "on-behalf-of-forbidden")
    unknown = await queue_api.post("/api/v1/ledger/give", give, token=agent, headers={"X-On-Behalf-Of": "ghost"})
    assert_problem(unknown, 404, "user-not-found")
    long_name = await queue_api.post("/api/v1/ledger/give", give, token=agent, headers={"X-On-Behalf-Of": "a" * 65})
    assert_problem(long_name, 400, "invalid-on-behalf-of")
    # Acting for an admin (who consented) does not lend an agent admin-only operations.
    as_admin = await queue_api.get("/api/v1/admin/users", token=agent, headers={"X-On-Behalf-Of": "root"})
    assert_problem(as_admin, 403, "role-required")
    # The behalf user's own rights apply: bob cannot be made to give alice's coins.
    give_as_bob = await queue_api.post("/api/v1/ledger/give", {**give, "to": "alice"}, token=agent,
                                       headers={"X-On-Behalf-Of": "bob"})
    assert give_as_bob.status == 202
    await worker(queue_api, "w1").run_once()
    job = (await queue_api.get(f"{JOBS}/{give_as_bob.body['id']}", token=agent)).body
    assert job["state"] == "failed" and job["error"]["code"] == "insufficient", job
    assert await Job.all().count() == before[0] + 1
    assert await Event.filter(name="job.queued").count() == 1
    assert await balance(queue_api, type_id, "alice") == "10.00"


# ---------------------------------------------------------------- tester wait


async def test_tester_wait__gets_the_result_inline_others_get_202(fast_api: Api) -> None:
    tester, alice = await fast_api.user("tess", roles=["tester"]), await fast_api.user("alice")
    reply = await fast_api.post("/api/v1/types", COIN, token=tester, headers={"Prefer": "wait=5"})
    assert reply.status == 201, reply
    assert reply.body["symbol"] == "CN" and reply.headers["Location"] == f"/api/v1/types/{reply.body['id']}"
    job_url = reply.headers["Link"].split(";")[0].strip("<>")
    job = (await fast_api.get(job_url, token=tester)).body
    assert job["state"] == "succeeded" and job["result"]["id"] == reply.body["id"]
    inline = await fast_api.get("/api/v1/ledger/balance", token=tester, headers={"Prefer": "wait=5"})
    assert inline.status == 200 and inline.headers["Location"].startswith(f"{JOBS}/"), inline
    assert inline.body["owner"].startswith("tess@")
    failed = await fast_api.get("/api/v1/ledger/balance", token=tester, params={"type": "nope"}, headers={"Prefer": "wait=5"})
    assert_problem(failed, 404, "type-not-found")
    assert failed.headers["Location"].startswith(f"{JOBS}/")
    other = await fast_api.post("/api/v1/types", COIN, token=alice, headers={"Prefer": "wait=5"})
    assert other.status == 202 and other.body["state"] in ("queued", "running", "succeeded")


async def test_tester_wait__without_workers_the_wait_ends_with_a_202(queue_api: Api) -> None:
    tester = await queue_api.user("tess", roles=["tester"])
    for prefer in ["wait=0", "wait=abc", "respond-async, wait=0.1"]:
        reply = await queue_api.post("/api/v1/types", COIN, token=tester, headers={"Prefer": prefer})
        assert reply.status == 202 and reply.body["state"] == "queued", (prefer, reply)

