"""Delegations: acting for someone (X-On-Behalf-Of) needs their consent, scoped, revocable, expiring."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from models.delegations import Delegation
from models.events import Event
from models.jobs import Job

from .conftest import Api, assert_problem
from .jobhelpers import ASYNC, JOBS, delegate, fast_api, finished_job, queue_api, worker  # noqa: F401
from .pagehelpers import Browser
from .test_ledger import balance, minted
from .test_oauth import authorize, exchange, pkce, register_app
from .test_pages_session import assert_labelled

DELEGATIONS = "/api/v1/delegations"
GIVE = "/api/v1/ledger/give"
BALANCE = "/api/v1/ledger/balance"


def _later(**delta: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


async def _coins(api: Api) -> tuple[str, str, str, dict[str, str]]:
    """alice holds 10.00 coins; an agent-role user and bob exist; the give body moves 4 of them to bob."""
    alice, agent = await api.user("alice"), await api.user("agent", roles=["agent"])
    await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    return alice, agent, type_id, {"type": type_id, "amount": "4", "to": "bob"}


# ---------------------------------------------------------------- consent when queueing


async def test_on_behalf_of__the_agent_role_alone_cannot_give_a_users_coins(queue_api: Api) -> None:
    _, agent, type_id, give = await _coins(queue_api)
    jobs_before = await Job.all().count()
    reply = await queue_api.post(GIVE, give, token=agent, headers={"X-On-Behalf-Of": "alice"})
    problem = assert_problem(reply, 403, "on-behalf-of-forbidden")
    assert "alice has not allowed you" in problem["detail"] and "/app/delegations" in problem["detail"]
    assert await Job.all().count() == jobs_before  # nothing queued
    assert await worker(queue_api, "w1").run_once() is False
    assert await balance(queue_api, type_id, "alice") == "10.00"
    assert await balance(queue_api, type_id, "bob") == "0.00"


async def test_on_behalf_of__a_write_delegation_lets_any_user_give_and_the_job_records_both(fast_api: Api) -> None:
    alice, _, type_id, give = await _coins(fast_api)
    helper = await fast_api.user("helper")  # no role at all: the consent is what counts
    granted = await delegate(fast_api, alice, "helper", "read", "write")
    assert granted["grantor"] == "alice" and granted["delegate"] == "helper" and granted["state"] == "active"
    reply = await fast_api.post(GIVE, give, token=helper, headers={"X-On-Behalf-Of": "alice"})
    assert reply.status == 202, reply
    job = await finished_job(fast_api, helper, reply.body["id"])
    assert job["state"] == "succeeded", job
    assert job["caller"] == "helper" and job["on_behalf_of"] == "alice"
    assert await balance(fast_api, type_id, "alice") == "6.00" and await balance(fast_api, type_id, "bob") == "4.00"


async def test_on_behalf_of__a_read_delegation_reads_but_cannot_give(fast_api: Api) -> None:
    alice, agent, type_id, give = await _coins(fast_api)
    await delegate(fast_api, alice, "agent", "read")
    before = await Job.all().count()
    refused = await fast_api.post(GIVE, give, token=agent, headers={"X-On-Behalf-Of": "alice"})
    problem = assert_problem(refused, 403, "delegation-scope-insufficient")
    assert problem["required_scope"] == "write" and "alice allowed you only read" in problem["detail"]
    assert await Job.all().count() == before
    read = await fast_api.get(BALANCE, token=agent, params={"type": type_id}, headers={"X-On-Behalf-Of": "alice"})
    assert read.status == 202, read
    job = await finished_job(fast_api, agent, read.body["id"])
    assert job["state"] == "succeeded" and job["result"]["balance"] == "10.00", job
    assert await balance(fast_api, type_id, "alice") == "10.00"


async def test_on_behalf_of__revoking_stops_new_and_already_queued_jobs(queue_api: Api) -> None:
    alice, agent, type_id, give = await _coins(queue_api)
    granted = await delegate(queue_api, alice, "agent", "write")
    early = await queue_api.post(GIVE, give, token=agent, headers={"X-On-Behalf-Of": "alice"})
    assert early.status == 202, early
    revoked = await queue_api.delete(f"{DELEGATIONS}/{granted['id']}", token=alice)
    assert revoked.status == 200 and revoked.body["state"] == "revoked" and revoked.body["revoked_at"], revoked
    late = await queue_api.post(GIVE, give, token=agent, headers={"X-On-Behalf-Of": "alice"})
    assert_problem(late, 403, "on-behalf-of-forbidden")
    # The job queued before the revocation is checked again when it starts, and refused.
    assert await worker(queue_api, "w1").run_once() is True
    job = (await queue_api.get(f"{JOBS}/{early.body['id']}", token=agent)).body
    assert job["state"] == "failed" and job["error"]["code"] == "on-behalf-of-forbidden", job
    assert await balance(queue_api, type_id, "alice") == "10.00"


async def test_on_behalf_of__an_expired_delegation_stops_it(queue_api: Api) -> None:
    alice, agent, type_id, give = await _coins(queue_api)
    granted = await delegate(queue_api, alice, "agent", "write", expires_at=_later(days=1))
    assert granted["expires_at"] and granted["state"] == "active"
    early = await queue_api.post(GIVE, give, token=agent, headers={"X-On-Behalf-Of": "alice"})
    assert early.status == 202, early
    # A day passes.
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert await Delegation.filter(id=granted["id"]).update(expires_at=past) == 1
    assert_problem(await queue_api.post(GIVE, give, token=agent, headers={"X-On-Behalf-Of": "alice"}), 403,
                   "on-behalf-of-forbidden")
    assert await worker(queue_api, "w1").run_once() is True
    job = (await queue_api.get(f"{JOBS}/{early.body['id']}", token=agent)).body
    assert job["state"] == "failed" and job["error"]["code"] == "on-behalf-of-forbidden", job
    listed = (await queue_api.get(DELEGATIONS, token=alice)).body["items"]
    assert [(item["id"], item["state"]) for item in listed] == [(granted["id"], "expired")]
    assert await balance(queue_api, type_id, "alice") == "10.00"


async def test_on_behalf_of__an_admin_still_may_without_a_delegation(fast_api: Api) -> None:
    _, _, type_id, give = await _coins(fast_api)
    admin = await fast_api.user("root", roles=["admin"])
    reply = await fast_api.post(GIVE, give, token=admin, headers={"X-On-Behalf-Of": "alice"})
    assert reply.status == 202, reply
    job = await finished_job(fast_api, admin, reply.body["id"])
    assert job["state"] == "succeeded" and job["caller"] == "root" and job["on_behalf_of"] == "alice", job
    assert await balance(fast_api, type_id, "alice") == "6.00"


async def test_on_behalf_of__delegations_cannot_be_managed_for_someone_else(queue_api: Api) -> None:
    alice, agent = await queue_api.user("alice"), await queue_api.user("agent")
    await queue_api.user("mallory")
    await delegate(queue_api, alice, "agent", "read", "write")
    before = (await Delegation.all().count(), await Job.all().count())
    grant = {"to": "mallory", "scopes": ["write"]}
    reply = await queue_api.post(DELEGATIONS, grant, token=agent, headers={"X-On-Behalf-Of": "alice"})
    assert_problem(reply, 403, "on-behalf-of-not-allowed")
    # Nor does a read delegation hand out the secret that signs alice's job callbacks.
    secret = await queue_api.get("/api/v1/me/webhook-secret", token=agent, headers={"X-On-Behalf-Of": "alice"})
    assert_problem(secret, 403, "on-behalf-of-not-allowed")
    assert (await Delegation.all().count(), await Job.all().count()) == before


# ---------------------------------------------------------------- grant, list, revoke


async def test_delegations__bad_grants_are_refused_and_nothing_is_saved(queue_api: Api) -> None:
    alice = await queue_api.user("alice")
    await queue_api.user("bob")
    cases = [
        ({"to": "ghost", "scopes": ["read"]}, 422, "unknown-user"),
        ({"to": "alice", "scopes": ["read"]}, 422, "self-delegation"),
        ({"to": "bob", "scopes": ["read"], "expires_at": _later(hours=-1)}, 422, "expiry-in-past"),
        ({"to": "bob", "scopes": ["admin:write"]}, 400, "validation-failed"),
        ({"to": "bob", "scopes": ["sudo"]}, 400, "validation-failed"),
        ({"to": "bob", "scopes": []}, 400, "validation-failed"),
        ({"to": "bob", "scopes": ["read"], "expires_at": "next tuesday"}, 400, "validation-failed"),
        ({"to": "bob"}, 400, "validation-failed"),
    ]
    for body, status, code in cases:
        problem = assert_problem(await queue_api.post(DELEGATIONS, body, token=alice), status, code)
        assert problem["detail"], body
    assert await Delegation.all().count() == 0
    assert await Event.filter(name="delegation.granted").count() == 0
    assert_problem(await queue_api.post(DELEGATIONS, {"to": "bob", "scopes": ["read"]}), 401)
    # One active delegation per pair: change it by revoking first.
    first = await delegate(queue_api, alice, "bob", "read")
    again = assert_problem(await queue_api.post(DELEGATIONS, {"to": "bob", "scopes": ["write"]}, token=alice), 409,
                           "delegation-exists")
    assert again["id"] == first["id"] and await Delegation.all().count() == 1


async def test_delegations__listed_for_both_users_and_revocable_only_by_them(queue_api: Api) -> None:
    alice, bob, carol = await queue_api.user("alice"), await queue_api.user("bob"), await queue_api.user("carol")
    given = await delegate(queue_api, alice, "bob", "write", "read", expires_at="2099-01-01T00:00:00")
    assert given["scopes"] == ["read", "write"] and given["expires_at"].startswith("2099-01-01T00:00:00")
    to_carol = await delegate(queue_api, bob, "carol", "read")
    mine = (await queue_api.get(DELEGATIONS, token=bob)).body["items"]
    assert {(item["grantor"], item["delegate"]) for item in mine} == {("alice", "bob"), ("bob", "carol")}
    granted = (await queue_api.get(DELEGATIONS, token=bob, params={"role": "grantor"})).body["items"]
    assert [item["id"] for item in granted] == [to_carol["id"]]
    received = (await queue_api.get(DELEGATIONS, token=bob, params={"role": "delegate"})).body["items"]
    assert [item["id"] for item in received] == [given["id"]]
    assert (await queue_api.get(DELEGATIONS, token=alice)).body["items"][0]["id"] == given["id"]
    # Someone else's delegation is not there for carol to see or revoke.
    assert [item["id"] for item in (await queue_api.get(DELEGATIONS, token=carol)).body["items"]] == [to_carol["id"]]
    assert_problem(await queue_api.delete(f"{DELEGATIONS}/{given['id']}", token=carol), 404, "delegation-not-found")
    assert_problem(await queue_api.delete(f"{DELEGATIONS}/nope", token=alice), 404, "delegation-not-found")
    # The delegate may give it up; a second revoke changes nothing.
    gave_up = await queue_api.delete(f"{DELEGATIONS}/{given['id']}", token=bob)
    assert gave_up.status == 200 and gave_up.body["state"] == "revoked", gave_up
    again = await queue_api.delete(f"{DELEGATIONS}/{given['id']}", token=alice)
    assert again.status == 200 and again.body["revoked_at"] == gave_up.body["revoked_at"]
    assert [item["state"] for item in (await queue_api.get(DELEGATIONS, token=alice)).body["items"]] == ["revoked"]
    assert await Event.filter(name="delegation.revoked").count() == 1


async def test_delegations__the_openapi_header_says_it_needs_a_delegation(queue_api: Api) -> None:
    spec = (await queue_api.get("/api/v1/openapi.json")).body
    assert {"/api/v1/delegations", "/api/v1/delegations/{id}"} <= set(spec["paths"])
    headers = [p for op in spec["paths"]["/api/v1/ledger/give"].values() for p in op.get("parameters", [])]
    behalf = next(p for p in headers if p.get("name") == "X-On-Behalf-Of")
    assert "delegation" in behalf["description"] and "agent role" not in behalf["description"]


# ---------------------------------------------------------------- the page


async def test_delegations_page__grant_give_up_and_revoke_without_javascript(api: Api) -> None:
    browser = Browser(api.client)
    bob = await api.user("bob")
    assert (await browser.sign_up("ann")).status == 200
    opened = await browser.get("/app/delegations")
    assert opened.status == 200 and 'href="/app/delegations"' in opened.text  # in the navigation
    assert "No one may act for you." in opened and "No one has allowed you to act for them." in opened
    assert_labelled(opened.text)
    form = [("to", "bob"), ("scopes", "read"), ("scopes", "write"), ("expires_at", "2099-01-01T12:00")]
    granted = await browser.post("/app/delegations", form, csrf=opened.csrf())
    assert granted.status == 200 and "bob may now act for you (read, write)." in granted, granted.text[:2000]
    seen_by_bob = (await api.get(DELEGATIONS, token=bob)).body["items"]
    assert [(item["grantor"], item["scopes"], item["state"]) for item in seen_by_bob] == [("ann", ["read", "write"], "active")]
    assert seen_by_bob[0]["expires_at"].startswith("2099-01-01T12:00")
    # Refusals are shown beside the field, and nothing is saved.
    unknown = await browser.post("/app/delegations", {"to": "ghost", "scopes": "read"}, csrf=granted.csrf())
    assert unknown.status == 422 and "there is no user named 'ghost'" in (unknown.field_error("to") or "")
    no_scope = await browser.post("/app/delegations", {"to": "bob"}, csrf=granted.csrf())
    assert no_scope.status == 400 and no_scope.field_error("scopes"), no_scope.text[:2000]
    again = await browser.post("/app/delegations", {"to": "bob", "scopes": "read"}, csrf=granted.csrf())
    assert again.status == 409 and "revoke that delegation first" in (again.field_error("to") or "")
    myself = await browser.post("/app/delegations", {"to": "ann", "scopes": "read"}, csrf=granted.csrf())
    assert myself.status == 422 and "yourself" in (myself.field_error("to") or "")
    past = await browser.post("/app/delegations", {"to": "bob", "scopes": "read", "expires_at": "2001-01-01T00:00"},
                              csrf=granted.csrf())
    assert past.status == 422 and "in the past" in (past.field_error("expires_at") or "")
    assert await Delegation.all().count() == 1
    # bob lets ann act for him; ann sees it under "People you may act for" and gives it up.
    await delegate(api, bob, "ann", "read")
    listed = await browser.get("/app/delegations")
    ids = re.findall(r'action="/app/delegations/([0-9a-z]+)/revoke"', listed.text)
    received = (await api.get(DELEGATIONS, token=bob, params={"role": "grantor"})).body["items"][0]["id"]
    assert received in ids and "Give up" in listed and len(ids) == 2
    gave_up = await browser.post(f"/app/delegations/{received}/revoke", {}, csrf=listed.csrf())
    assert gave_up.status == 200 and "Delegation ended." in gave_up
    revoked = await browser.post(f"/app/delegations/{seen_by_bob[0]['id']}/revoke", {}, csrf=gave_up.csrf())
    assert revoked.status == 200 and "Delegation ended." in revoked
    assert not re.findall(r'action="/app/delegations/[0-9a-z]+/revoke"', revoked.text)
    assert {item["state"] for item in (await api.get(DELEGATIONS, token=bob)).body["items"]} == {"revoked"}
    # Without the CSRF token nothing happens.
    assert (await browser.post("/app/delegations", {"to": "bob", "scopes": "read"})).status == 403
    assert await Delegation.filter(revoked_at=None).count() == 0


async def test_delegations__an_apps_token_cannot_grant_them(api: Api) -> None:
    """Consent comes from the person: an app holding ann's write token cannot hand her account on."""
    browser = Browser(api.client)
    await api.user("mallory")
    assert (await browser.sign_up("ann")).status == 200
    app = await register_app(api)
    verifier, challenge = pkce()
    status, body = await exchange(api, app, await authorize(browser, app, challenge=challenge), verifier)
    assert status == 200 and "write" in body["scope"], body
    reply = await api.post(DELEGATIONS, {"to": "mallory", "scopes": ["write"]}, token=body["access_token"])
    assert_problem(reply, 403, "consent-required")
    assert await Delegation.all().count() == 0
