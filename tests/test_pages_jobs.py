"""The jobs pages: a job's detail in words (state, "step x of n" with its bar, result or
problem), cancelling a waiting job, forgetting a finished one, sending a callback again (and
not without a URL), another user's job as a 404, and the admin's "queue it again"."""

from __future__ import annotations

import re

import pytest

from federation.callbacks import deliver_due_callbacks
from models.jobs import Job
from server.appkeys import SITE

from .conftest import Api
from .jobhelpers import ASYNC, JOBS, queue_api, worker  # noqa: F401
from .pagehelpers import Browser
from .test_callbacks import Receiver, hook_api, queued_with_callback, receiver, user_with_secret  # noqa: F401
from .test_chains import COIN, ref, submit
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(queue_api: Api) -> Browser:  # noqa: F811
    return Browser(queue_api.client)


async def run_all(api: Api) -> None:
    runner = worker(api, "page-worker")
    while await runner.run_once():
        pass


async def queued_type(api: Api, token: str) -> str:
    """A types.create queued as a job (no worker runs it until the test says so)."""
    reply = await api.post("/api/v1/types", COIN, token=token, headers=ASYNC, expect=202)
    return str(reply.body["id"])


async def test_pages_jobs__a_chain_shows_its_steps_and_its_outcome_in_words(
    browser: Browser, queue_api: Api  # noqa: F811
) -> None:
    await browser.sign_up("alice")
    alice = (await queue_api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"},
                                  expect=200)).body["token"]
    steps = [
        {"id": "coin", "operation": "types.create", "input": COIN},
        {"id": "mint", "operation": "ledger.create", "input": {"type": ref("coin#/id"), "amount": "1.001"}},
        {"id": "shelf", "operation": "sets.create", "input": {"name": "Shelf"}},
    ]
    job = await submit(queue_api, alice, steps)
    waiting = await browser.get(f"/app/jobs/{job['id']}", expect=200)
    assert "Several steps in a row" in waiting and "waiting to start" in waiting
    assert "Step 1 of 3" in waiting and '<svg' in waiting.text and 'role="img"' in waiting.text
    assert 'http-equiv="refresh"' in waiting.text and "Cancel this job" in waiting
    await run_all(queue_api)
    done = await browser.get(f"/app/jobs/{job['id']}", expect=200)
    assert "failed" in done and "Step 2 of 3" in done and "1 done, 2 failed or not run, 0 to go; took " in done
    assert "It failed at step 2 (Mint): amount must be a multiple of the smallest unit 0.01; 1 later step(s)" in done
    made = r"New token type</strong>: done \(<a href=\"/app/types/\w+\">See the new token type Coin</a>"
    assert re.search(made, done.text)
    assert "Mint</strong>: failed" in done and "not run: an earlier step failed" in done
    assert "http-equiv" not in done.text and "Forget this job" in done
    for raw in ("ledger.create", "types.create", '{"', "chain-step-failed"):
        assert raw not in done.text, raw
    shown = re.sub(r"<[^>]+>", " ", done.text)  # what people read, not the machine-readable <time datetime>
    assert not re.search(r"\d{2}:\d{2}:\d{2}", shown) and "just now" in shown  # no raw timestamps
    listed = await browser.get("/app/jobs", expect=200)
    assert "Several steps in a row" in listed and "step 2 of 3" in listed and "It failed at step 2 (Mint)" in listed
    assert_labelled(listed.text)


async def test_pages_jobs__cancel_a_waiting_job_then_forget_it(browser: Browser, queue_api: Api) -> None:  # noqa: F811
    await browser.sign_up("alice")
    alice = (await queue_api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"},
                                  expect=200)).body["token"]
    job_id = await queued_type(queue_api, alice)
    page = await browser.get(f"/app/jobs/{job_id}", expect=200)
    assert "New token type" in page and "waiting to start" in page
    cancelled = await browser.post(f"/app/jobs/{job_id}/cancel", {}, csrf=page.csrf(), expect=200)
    assert "Job cancelled." in cancelled and "This job is" in cancelled and ">cancelled<" in cancelled.text
    assert (await Job.get(id=job_id)).state == "cancelled"
    again = await browser.post(f"/app/jobs/{job_id}/cancel", {}, csrf=page.csrf(), expect=409)
    assert "the job has already cancelled" in again
    no_callback = await browser.post(f"/app/jobs/{job_id}/redeliver", {}, csrf=page.csrf(), expect=422)
    assert "this job has no callback URL" in no_callback
    forgotten = await browser.post(f"/app/jobs/{job_id}/delete", {}, csrf=page.csrf(), expect=200)
    assert "Job forgotten." in forgotten and forgotten.url.endswith("/app/jobs")
    assert not await Job.filter(id=job_id).exists()
    await browser.get(f"/app/jobs/{job_id}", expect=404)


async def test_pages_jobs__a_job_is_forgotten_only_once_finished_and_links_what_it_made(
    browser: Browser, queue_api: Api  # noqa: F811
) -> None:
    await browser.sign_up("alice")
    alice = (await queue_api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"},
                                  expect=200)).body["token"]
    job_id = await queued_type(queue_api, alice)
    page = await browser.get(f"/app/jobs/{job_id}", expect=200)
    assert "Step 1 of 1: 0 done, 0 failed or not run, 1 to go" in page  # one operation: its progress too
    refused = await browser.post(f"/app/jobs/{job_id}/delete", {}, csrf=page.csrf(), expect=409)
    assert "cancel it first or wait for it to finish" in refused and await Job.filter(id=job_id).exists()
    await run_all(queue_api)
    done = await browser.get(f"/app/jobs/{job_id}", expect=200)
    assert re.search(r'Done\. <a href="/app/types/\w+">See the new token type Coin</a>', done.text), done.text[:3000]
    assert re.search(r"Step 1 of 1: 1 done, 0 failed or not run, 0 to go; took \d+ seconds?", done.text), done.text[:3000]
    await browser.post(f"/app/jobs/{job_id}/delete", {}, csrf=page.csrf(), expect=200)


async def test_pages_jobs__another_users_job_is_not_found_and_csrf_is_checked(
    browser: Browser, queue_api: Api  # noqa: F811
) -> None:
    bob = await queue_api.user("bob")
    theirs = await queued_type(queue_api, bob)
    page = await browser.sign_up("alice")
    await browser.get(f"/app/jobs/{theirs}", expect=404)
    for action in ("cancel", "delete", "redeliver"):
        await browser.post(f"/app/jobs/{theirs}/{action}", {}, csrf=page.csrf(), expect=404)
    assert (await Job.get(id=theirs)).state == "queued"
    await browser.post(f"/app/jobs/{theirs}/cancel", {}, csrf="forged", expect=403)
    mine = await queued_type(queue_api, (await queue_api.post(
        "/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)).body["token"])
    await browser.post(f"/app/jobs/{mine}/cancel", {}, expect=403)  # no CSRF token at all
    assert (await Job.get(id=mine)).state == "queued"


async def test_pages_jobs__an_admin_queues_a_failed_job_again(browser: Browser, queue_api: Api) -> None:  # noqa: F811
    await queue_api.user("root", roles=["admin"])
    alice = await queue_api.user("alice")
    job_id = await queued_type(queue_api, alice)
    await queue_api.post(f"{JOBS}/{job_id}/cancel", token=alice, expect=200)
    await browser.sign_in("root")
    page = await browser.get("/app/admin/jobs", expect=200)
    assert_labelled(page.text)
    blank = await browser.post("/app/admin/jobs/set-state", {"job": job_id, "state": "queued", "reason": ""},
                               csrf=page.csrf(), expect=400)
    assert job_id in blank and (await Job.get(id=job_id)).state == "cancelled"
    form = {"job": job_id, "state": "queued", "reason": "worker fixed"}
    again = await browser.post("/app/admin/jobs/set-state", form, csrf=page.csrf(), expect=200)
    assert f"Job {job_id} is now waiting to start." in again
    assert (await Job.get(id=job_id)).state == "queued"
    await browser.post("/app/admin/jobs/set-state", {"job": "nosuchjob", "state": "failed", "reason": "x"},
                       csrf=page.csrf(), expect=404)


async def test_pages_jobs__send_a_finished_jobs_callback_again(hook_api: Api, receiver: Receiver) -> None:  # noqa: F811
    alice = await user_with_secret(hook_api, receiver)
    job = await queued_with_callback(hook_api, alice, receiver.url)
    assert await worker(hook_api, "w").run_once()
    assert await deliver_due_callbacks(hook_api.client.app[SITE]) == 1
    browser = Browser(hook_api.client)
    await browser.sign_in("alice")
    page = await browser.get(f"/app/jobs/{job['id']}", expect=200)
    assert f"{receiver.url}: delivered" in page and "Send the callback again" in page
    again = await browser.post(f"/app/jobs/{job['id']}/redeliver", {}, csrf=page.csrf(), expect=200)
    assert "Callback sent again." in again
    assert len(receiver.received) == 2 and receiver.received[-1]["verified"]
