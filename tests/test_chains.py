"""Chains: POST /api/v1/jobs with steps, $ref between steps, per-step results, failed steps,
and everything refused at submission (nothing queued)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from models.errors import BadInput
from models.events import Event
from models.jobs import Job
from models.ledger import LedgerEntry
from models.operations.chains import parse_ref, resolve_refs
from models.sets import SetMember, TokenSet
from models.tokens import Token, TokenType
from server.appkeys import SITE
from server.jobs import LostLease, _job_context, _run_step, reap_expired

from .conftest import Api, assert_problem
from .jobhelpers import JOBS, fast_api, finished_job, queue_api, worker  # noqa: F401
from .test_ledger import balance

COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2}
GEM = {"name": "Gem", "symbol": "GEM", "fungible": False, "smallest_unit": 0}


def ref(target: str) -> dict[str, str]:
    return {"$ref": target}


def full_chain(to: str = "bob", amount: str = "3.00") -> list[dict[str, Any]]:
    return [
        {"id": "coin", "operation": "types.create", "input": COIN},
        {"id": "mint", "operation": "ledger.create", "input": {"type": ref("coin#/id"), "amount": "10.00"}},
        {"id": "gemtype", "operation": "types.create", "input": GEM},
        {"id": "gem", "operation": "tokens.create", "input": {"type": ref("gemtype#/id")}},
        {"id": "shelf", "operation": "sets.create", "input": {"name": "Shelf"}},
        {"id": "add", "operation": "sets.add_tokens", "input": {"id": ref("shelf#/id"), "tokens": [ref("gem#/id")]}},
        {"id": "give", "operation": "ledger.give", "input": {"type": ref("coin#/id"), "amount": amount, "to": to}},
    ]


async def submit(api: Api, token: str, steps: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    reply = await api.post(JOBS, {"steps": steps, **body}, token=token)
    assert reply.status == 202, reply
    assert reply.headers["Location"] == f"{JOBS}/{reply.body['id']}"
    return reply.body


async def run_all(api: Api) -> None:
    runner = worker(api, "chain-worker")
    while await runner.run_once():
        pass


async def counts() -> tuple[int, ...]:
    return (await Job.all().count(), await Event.all().count(), await TokenType.all().count())


# ------------------------------------------------------------------ running


async def test_chain__every_step_runs_in_order_with_refs(queue_api: Api) -> None:
    alice, _ = await queue_api.user("alice"), await queue_api.user("bob")
    job = await submit(queue_api, alice, full_chain())
    assert job["state"] == "queued" and job["operation"] == "chain"
    assert [step["state"] for step in job["steps"]] == ["queued"] * 7
    await run_all(queue_api)
    done = (await queue_api.get(f"{JOBS}/{job['id']}", token=alice)).body
    assert done["state"] == "succeeded", done
    assert [step["state"] for step in done["steps"]] == ["succeeded"] * 7
    results = {step["id"]: step["result"] for step in done["steps"]}
    assert done["result"] == results
    coin, gem, shelf = results["coin"]["id"], results["gem"]["id"], results["shelf"]["id"]
    assert results["gem"]["type"] == results["gemtype"]["id"]
    assert await SetMember.filter(set_id=shelf, token_id=gem).exists()
    assert await balance(queue_api, coin, "alice") == "7.00"
    assert await balance(queue_api, coin, "bob") == "3.00"
    names = await Event.filter(object_id=job["id"]).values_list("name", flat=True)
    assert set(names) == {"job.queued", "job.succeeded"}
    assert await Event.filter(name="type.created").count() == 2


async def test_chain__a_failing_middle_step_keeps_earlier_steps_and_skips_later(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    job = await submit(queue_api, alice, full_chain(to="nobody-here"))  # give fails: unknown user
    await run_all(queue_api)
    done = (await queue_api.get(f"{JOBS}/{job['id']}", token=alice)).body
    assert done["state"] == "failed" and done["error"]["code"] == "chain-step-failed"
    assert done["error"]["step"] == "give" and done["error"]["step_problem"]["status"] == 404
    states = [step["state"] for step in done["steps"]]
    assert states == ["succeeded"] * 6 + ["failed"]
    coin = done["steps"][0]["result"]["id"]
    assert await balance(queue_api, coin, "alice") == "10.00"  # earlier steps are kept
    assert await Token.all().count() == 1 and await TokenSet.all().count() == 1


async def test_chain__dependents_of_a_failed_step_are_failed_dependency(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    steps = [
        {"id": "coin", "operation": "types.create", "input": COIN},
        {"id": "mint", "operation": "ledger.create", "input": {"type": ref("coin#/id"), "amount": "1.001"}},
        {"id": "shelf", "operation": "sets.create", "input": {"name": "Shelf"}},
        {"id": "burn", "operation": "ledger.burn", "input": {"type": ref("coin#/id"), "amount": "1.00"}},
    ]
    job = await submit(queue_api, alice, steps)
    await run_all(queue_api)
    done = (await queue_api.get(f"{JOBS}/{job['id']}", token=alice)).body
    assert done["state"] == "failed"
    assert [step["state"] for step in done["steps"]] == ["succeeded", "failed", "failed_dependency", "failed_dependency"]
    assert done["steps"][1]["error"]["status"] in (400, 422) and done["steps"][2]["result"] is None
    assert await TokenType.all().count() == 1 and await TokenSet.all().count() == 0
    assert await LedgerEntry.all().count() == 0  # the failed step itself rolled back
    assert await Event.filter(object_id=job["id"], name="job.failed").count() == 1


async def test_chain__a_ref_to_a_missing_result_value_fails_the_step(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    steps = [
        {"id": "coin", "operation": "types.create", "input": COIN},
        {"id": "mint", "operation": "ledger.create", "input": {"type": ref("coin#/no/such"), "amount": "1.00"}},
    ]
    job = await submit(queue_api, alice, steps)
    await run_all(queue_api)
    done = (await queue_api.get(f"{JOBS}/{job['id']}", token=alice)).body
    assert done["state"] == "failed" and done["steps"][1]["error"]["code"] == "ref-unresolved"


async def test_chain__runs_with_embedded_workers_and_only_the_caller_sees_it(fast_api: Api) -> None:
    alice, bob = await fast_api.user("alice"), await fast_api.user("bob")
    job = await submit(fast_api, alice, full_chain())
    assert_problem(await fast_api.get(f"{JOBS}/{job['id']}", token=bob), 404, "job-not-found")
    assert (await finished_job(fast_api, alice, job["id"]))["state"] == "succeeded"


# ------------------------------------------------------------------ refused at submission


@pytest.mark.parametrize(
    "steps, status, code",
    [
        ([{"id": "a", "operation": "no.such", "input": {}}], 422, "unknown-operation"),
        ([{"id": "a", "operation": "auth.login", "input": {}}], 422, "async-not-supported"),
        ([{"id": "a", "operation": "jobs.submit", "input": {}}], 422, "async-not-supported"),
        ([{"id": "a", "operation": "types.create", "input": COIN}] * 2, 422, "duplicate-step-id"),
        ([{"id": "a", "operation": "types.create", "input": {**COIN, "name": ref("a#/id")}}], 422, "ref-to-self"),
        ([{"id": "a", "operation": "tokens.create", "input": {"type": ref("zz#/id")}}], 422, "ref-unknown-step"),
        (
            [
                {"id": "a", "operation": "tokens.create", "input": {"type": ref("b#/id")}},
                {"id": "b", "operation": "types.create", "input": COIN},
            ],
            422,
            "ref-to-later-step",
        ),
        (
            [
                {"id": "a", "operation": "tokens.create", "input": {"type": ref("b#/id")}},
                {"id": "b", "operation": "tokens.create", "input": {"type": ref("a#/id")}},
            ],
            422,
            "ref-cycle",
        ),
        ([{"id": "a", "operation": "tokens.create", "input": {"type": {"$ref": 5}}}], 400, "malformed-ref"),
        ([{"id": "a", "operation": "tokens.create", "input": {"type": ref("#/id")}}], 400, "malformed-ref"),
        ([{"id": "a", "operation": "tokens.create", "input": {"type": ref("a#id")}}], 400, "malformed-ref"),
        ([{"id": "a", "operation": "tokens.create", "input": {"type": ref("a#/~2")}}], 400, "malformed-ref"),
        ([{"id": "a", "operation": "tokens.create", "input": {"type": {"$ref": "a#/id", "x": 1}}}], 400, "malformed-ref"),
        ([{"id": "a", "operation": "types.create", "input": {**COIN, "fungible": "maybe"}}], 400, "validation-failed"),
        ([{"id": "a", "operation": "types.create", "input": {"name": "x" * 20000}}], 400, "validation-failed"),
        ([{"id": "bad id!", "operation": "types.create", "input": COIN}], 400, "validation-failed"),
        ([{"id": "a", "input": COIN}], 400, "validation-failed"),
        ([], 400, "validation-failed"),
        ([{"id": f"s{n}", "operation": "users.me", "input": {}} for n in range(21)], 413, "chain-too-long"),
    ],
)
async def test_chain__bad_chains_are_refused_and_nothing_is_queued(
    queue_api: Api, steps: list[dict[str, Any]], status: int, code: str
) -> None:
    alice = await queue_api.user("alice")
    before = await counts()
    assert_problem(await queue_api.post(JOBS, {"steps": steps}, token=alice), status, code)
    assert await counts() == before


async def test_chain__input_errors_name_the_step_but_ref_fields_are_not_checked(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    steps = [
        {"id": "coin", "operation": "types.create", "input": COIN},
        {"id": "mint", "operation": "ledger.create", "input": {"type": ref("coin#/id"), "amount": 5}},
    ]
    problem = assert_problem(await queue_api.post(JOBS, {"steps": steps}, token=alice), 400, "validation-failed")
    assert problem["step"] == "mint" and [e["field"] for e in problem["errors"]] == ["steps.mint.input.amount"]
    steps[1]["input"]["amount"] = "5.00"  # the $ref in "type" is not validated before it runs
    await submit(queue_api, alice, steps)


async def test_chain__needs_a_user_and_the_role_of_each_step(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    chain = {"steps": [{"id": "a", "operation": "admin.users.list", "input": {}}]}
    assert_problem(await queue_api.post(JOBS, chain, token=alice), 403, "role-required")
    assert_problem(await queue_api.post(JOBS, chain), 401)
    assert_problem(await queue_api.post(JOBS, {"steps": "nope"}, token=alice), 400, "validation-failed")
    assert await Job.all().count() == 0


def test_refs__parse_and_resolve_rfc6901_pointers() -> None:
    assert parse_ref("a") == ("a", [])
    assert parse_ref("a#") == ("a", [])
    assert parse_ref("a#/x~1y/~0z/0") == ("a", ["x/y", "~z", "0"])
    results = {"a": {"x/y": {"~z": ["first"]}, "n": 1}}
    value = {"k": [{"$ref": "a#/x~1y/~0z/0"}, {"$ref": "a#/n"}], "whole": {"$ref": "a"}}
    assert resolve_refs(value, results) == {"k": ["first", 1], "whole": results["a"]}
    with pytest.raises(BadInput):
        parse_ref("")


async def test_chain__async_headers_on_submission(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    await queue_api.user("agent", roles=["agent"])
    chain = {"steps": [{"id": "a", "operation": "users.me", "input": {}}]}
    reply = await queue_api.post(JOBS, chain, token=alice, headers={"Prefer": "respond-async"})
    assert reply.status == 202 and reply.body["operation"] == "chain"  # not a job that queues a job
    reply = await queue_api.post(JOBS, chain, token=alice, headers={"X-On-Behalf-Of": "agent"})
    assert_problem(reply, 422, "on-behalf-of-not-supported")
    reply = await queue_api.post(JOBS, chain, token=alice, headers={"X-Callback-Url": "http://10.0.0.1/hook"})
    assert_problem(reply, 422, "callback-url-refused")
    assert await Job.all().count() == 1


async def test_chain__a_reaped_chain_resumes_after_its_last_committed_step(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    steps = [
        {"id": "coin", "operation": "types.create", "input": COIN},
        {"id": "mint", "operation": "ledger.create", "input": {"type": ref("coin#/id"), "amount": "2.00"}},
    ]
    submitted = await submit(queue_api, alice, steps)
    first = worker(queue_api, "first")
    job = await first.claim()
    assert job is not None and job.id == submitted["id"]
    ctx = await _job_context(queue_api.client.app[SITE], job)
    mine = [dict(step) for step in job.steps or []]
    lease = first._leases[job.id]
    await _run_step(ctx, job, lease, mine, mine[0])  # step 1 commits, then the worker "dies"
    await Job.filter(id=job.id).update(lease_expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert await reap_expired() == 1
    with pytest.raises(LostLease):  # the old worker can no longer commit anything
        await _run_step(ctx, job, lease, mine, mine[1])
    assert await LedgerEntry.all().count() == 0
    assert await worker(queue_api, "second").run_once()
    done = (await queue_api.get(f"{JOBS}/{job.id}", token=alice)).body
    assert done["state"] == "succeeded" and done["attempts"] == 2
    assert await TokenType.all().count() == 1  # step 1 ran exactly once
    assert await balance(queue_api, done["result"]["coin"]["id"], "alice") == "2.00"
