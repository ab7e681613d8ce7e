"""Watchers (issue 19, item 5): fire once per state, not on every tick; hit, empty and change;
a regex watcher on RE2; expiry; off; the per-user limit; bad input and permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.actors import User
from models.engine import run_due
from models.events import Event
from models.jobs import Job
from models.machines import WATCHER_CHECKS
from models.webhooks import can_see
from server.settings import Settings

from .conftest import Api, assert_problem
from .dbutil import test_settings as settings_for
from .fedhelpers import site_of
from .test_ledger import minted
from .test_market import lot, users
from .test_sets import gem_shelf

WATCHERS = "/api/v1/watchers"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """No embedded runner: the tests drive watchers.checks themselves (run_due), check by check."""
    return settings_for(tmp_path, database_url, embedded_workers=False)


async def tick(api: Api, minutes: float) -> int:
    """Run the checks due `minutes` from now (the machine, as the runner would)."""
    return await run_due(site_of(api), WATCHER_CHECKS, now=datetime.now(UTC) + timedelta(minutes=minutes))


async def fired(watcher_id: str) -> int:
    return await Event.filter(name="watcher.fired", object_id=watcher_id).count()


async def give(api: Api, token: str, coin: str, amount: str, to: str = "bob") -> None:
    await api.post("/api/v1/ledger/give", {"type": coin, "amount": amount, "to": to}, token=token, expect=201)


async def balance_watcher(api: Api, token: str, coin: str, **body: Any) -> dict[str, Any]:
    spec = {"name": "low", "kind": "balance", "query": {"type": coin, "actor": "alice", "below": "50.00"},
            "every_seconds": 60, **body}
    made = await api.post(WATCHERS, spec, token=token, expect=201)
    assert made.headers["Location"] == f"{WATCHERS}/{made.body['id']}"
    return dict(made.body)


async def test_watcher__fires_once_per_state_not_on_every_tick(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    coin = await minted(api, alice, "100.00")
    watcher = await balance_watcher(api, alice, coin)
    assert await tick(api, 0) == 1 and await fired(watcher["id"]) == 0  # 100 is not below 50
    await give(api, alice, coin, "60.00")
    for minute in range(1, 6):  # five checks, one state (40): one firing
        assert await tick(api, minute * 1.01 + 0.01) == 1
    assert await fired(watcher["id"]) == 1
    event = await Event.filter(name="watcher.fired", object_id=watcher["id"]).first()
    assert event is not None and event.payload["items"] == ["40.00"] and event.payload["kind"] == "balance"
    await give(api, alice, coin, "10.00")  # a new state (30): fires again
    assert await tick(api, 7) == 1 and await fired(watcher["id"]) == 2
    firings = (await api.get(f"{WATCHERS}/{watcher['id']}/firings", token=alice, expect=200)).body["items"]
    assert [item["items"] for item in firings] == [["30.00"], ["40.00"]]
    view = (await api.get(f"{WATCHERS}/{watcher['id']}", token=alice, expect=200)).body
    assert view["fired_count"] == 2 and view["last_count"] == 1 and view["next_check_at"] is not None


async def test_watcher__empty_and_change(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    coin = await minted(api, alice, "100.00")
    empty = await balance_watcher(api, alice, coin, fire_on="empty")
    change = await api.post(WATCHERS, {"name": "gives", "kind": "ledger", "fire_on": "change", "every_seconds": 60,
                                       "query": {"type": coin, "actor": "bob"}}, token=alice, expect=201)
    assert await tick(api, 0) == 2
    assert await fired(empty["id"]) == 1  # 100 is not below 50: the result is empty
    assert await fired(change.body["id"]) == 0  # the first check is the baseline
    assert await tick(api, 1.1) == 2 and await fired(change.body["id"]) == 0 and await fired(empty["id"]) == 1
    await give(api, alice, coin, "60.00")  # bob got a give; alice is below 50 now
    assert await tick(api, 2.2) == 2
    assert await fired(change.body["id"]) == 1 and await fired(empty["id"]) == 1
    assert await tick(api, 3.3) == 2 and await fired(change.body["id"]) == 1  # nothing new


async def test_watcher__regex_tokens_and_backtracking_patterns(api: Api) -> None:
    alice = await api.user("alice")
    shelf, _ = await gem_shelf(api, alice)
    body = {"name": "gems", "kind": "tokens", "every_seconds": 60,
            "query": {"set": shelf["id"], "filters": [{"attribute": "label", "op": "regex", "pattern": "(a+)+$|^[A-Z]"}]}}
    made = await api.post(WATCHERS, body, token=alice, expect=201)  # nested quantifiers: linear on RE2
    assert await tick(api, 0) == 1 and await fired(made.body["id"]) == 1
    event = await Event.filter(name="watcher.fired", object_id=made.body["id"]).first()
    assert event is not None and event.payload["count"] == 2
    backref = {**body, "query": {"set": shelf["id"], "filters": [{"attribute": "label", "op": "regex", "pattern": "(a)\\1"}]}}
    assert_problem(await api.post(WATCHERS, backref, token=alice), 422, "unsupported-regex")
    broken = {**body, "query": {"set": shelf["id"], "filters": [{"attribute": "label", "op": "regex", "pattern": "(["}]}}
    assert_problem(await api.post(WATCHERS, broken, token=alice), 400, "invalid-regex")


async def test_watcher__chain_is_queued_as_a_job_of_the_owner(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    coin = await minted(api, alice, "40.00")
    chain = [{"id": "pay", "operation": "ledger.give", "input": {"type": coin, "amount": "1.00", "to": "bob"}}]
    watcher = await balance_watcher(api, alice, coin, chain=chain)
    assert await tick(api, 0) == 1
    firing = (await api.get(f"{WATCHERS}/{watcher['id']}/firings", token=alice, expect=200)).body["items"][0]
    job = await Job.get(id=firing["job"])
    assert job.operation == "chain" and [step["id"] for step in job.steps] == ["pay"]
    bad = [{"id": "x", "operation": "no.such", "input": {}}]
    assert_problem(await api.post(WATCHERS, {"name": "b", "kind": "balance", "chain": bad,
                                             "query": {"type": coin, "actor": "alice", "below": "1"}}, token=alice),
                   422, "unknown-operation")


async def test_watcher__off_and_expiry_stop_the_checks(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    coin = await minted(api, alice, "10.00")
    watcher = await balance_watcher(api, alice, coin)
    off = await api.patch(f"{WATCHERS}/{watcher['id']}", {"enabled": False}, token=alice, expect=200)
    assert off.body["enabled"] is False and off.body["next_check_at"] is None
    assert await tick(api, 5) == 0 and await fired(watcher["id"]) == 0
    on = await api.patch(f"{WATCHERS}/{watcher['id']}", {"enabled": True}, token=alice, expect=200)
    assert on.body["next_check_at"] is not None
    assert await tick(api, 0) == 1 and await fired(watcher["id"]) == 1
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    short = await balance_watcher(api, alice, coin, expires_at=soon)
    assert await tick(api, 0) == 1 and await fired(short["id"]) == 1
    assert await tick(api, 10) == 2  # its second check (due before the expiry) runs after it: no evaluation
    assert await tick(api, 20) == 1  # only the first watcher is still checked
    assert await fired(short["id"]) == 1
    view = (await api.get(f"{WATCHERS}/{short['id']}", token=alice, expect=200)).body
    assert view["next_check_at"] is None
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert_problem(await api.post(WATCHERS, {"name": "p", "kind": "balance", "expires_at": past,
                                             "query": {"type": coin, "actor": "alice", "below": "1"}}, token=alice),
                   400, "expires-in-past")


async def test_watcher__limit_per_user(api: Api) -> None:
    alice = await api.user("alice")
    coin = await minted(api, alice, "10.00")
    limit = site_of(api).limits.max_watchers_per_user
    for _ in range(limit):
        await balance_watcher(api, alice, coin)
    assert_problem(await api.post(WATCHERS, {"name": "one more", "kind": "balance",
                                             "query": {"type": coin, "actor": "alice", "below": "1"}}, token=alice),
                   409, "too-many-watchers")


async def test_watcher__bad_input_and_permissions(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    coin = await minted(api, alice, "10.00")
    watcher = await balance_watcher(api, alice, coin)
    path = f"{WATCHERS}/{watcher['id']}"
    for bad in (
        {"name": "x", "kind": "balance", "query": {"type": coin, "actor": "alice"}},  # no bound
        {"name": "x", "kind": "balance", "query": {"type": coin, "actor": "alice", "below": "lots"}},
        {"name": "x", "kind": "lots", "query": {"type": coin}},  # no within_minutes
        {"name": "x", "kind": "tokens", "query": {"set": "s", "type": coin}},  # type does not apply
        {"name": "x", "kind": "balance", "every_seconds": 59, "query": {"type": coin, "actor": "alice", "below": "1"}},
        {"name": "", "kind": "balance", "query": {"type": coin, "actor": "alice", "below": "1"}},
        {"name": "x", "kind": "weather", "query": {}},
    ):
        assert_problem(await api.post(WATCHERS, bad, token=alice), 400)
    assert_problem(await api.post(WATCHERS, {"name": "x", "kind": "lots", "query": {"type": "nope", "within_minutes": 5}},
                                  token=alice), 404)
    assert_problem(await api.post(WATCHERS, {"name": "x", "kind": "tokens", "query": {"set": "nope"}}, token=alice),
                   404, "set-not-found")
    assert_problem(await api.post(WATCHERS, {"name": "x", "kind": "balance",
                                             "query": {"type": coin, "actor": "nobody", "below": "1"}}, token=alice), 404)
    assert_problem(await api.post(WATCHERS, {"name": "x", "kind": "balance",
                                             "query": {"type": coin, "actor": "alice", "below": "1"}}), 401)
    assert_problem(await api.get(WATCHERS), 401)
    for call in (api.get(path, token=bob), api.patch(path, {"enabled": False}, token=bob),
                 api.delete(path, token=bob), api.get(f"{path}/firings", token=bob)):
        assert_problem(await call, 404, "watcher-not-found")
    assert_problem(await api.patch(path, {"enabled": "yes"}, token=alice), 400)
    assert_problem(await api.patch(path, {"every_seconds": 5}, token=alice), 400)  # not a field of update
    assert_problem(await api.get(f"{WATCHERS}/nope", token=alice), 404, "watcher-not-found")
    assert (await api.get(WATCHERS, token=bob, expect=200)).body["items"] == []
    assert [item["id"] for item in (await api.get(WATCHERS, token=alice, expect=200)).body["items"]] == [watcher["id"]]
    await api.delete(path, token=alice, expect=204)
    assert_problem(await api.get(path, token=alice), 404, "watcher-not-found")
    assert await tick(api, 5) == 0


async def test_watcher__lots_closing_soon_and_only_its_owner_sees_the_event(api: Api) -> None:
    m = await users(api)
    watch = {"name": "closing", "kind": "lots", "every_seconds": 60, "query": {"type": m["gem"], "within_minutes": 90}}
    made = await api.post(WATCHERS, watch, token=m["bob"], expect=201)
    assert await tick(api, 0) == 1 and await fired(made.body["id"]) == 0  # no lot yet
    far = await lot(api, m, "english_auction", start_price="10", closes_at=(datetime.now(UTC) + timedelta(hours=5)).isoformat())
    assert await tick(api, 1.1) == 1 and await fired(made.body["id"]) == 0  # closes in 5 h, not within 90 min
    soon = await lot(api, m, "english_auction", start_price="10", closes_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert await tick(api, 2.2) == 1 and await fired(made.body["id"]) == 1
    event = await Event.get(name="watcher.fired", object_id=made.body["id"])
    assert event.payload["items"] == [soon["id"]] and far["id"] not in event.payload["items"]
    owners = {user.username: user for user in await User.filter(username__in=["bob", "carol"])}
    assert await can_see(owners["bob"], event) and not await can_see(owners["carol"], event)


async def test_watcher__a_deleted_set_is_reported_not_fired(api: Api) -> None:
    alice = await api.user("alice")
    shelf, _ = await gem_shelf(api, alice)
    made = await api.post(WATCHERS, {"name": "gems", "kind": "tokens", "fire_on": "empty", "every_seconds": 60,
                                     "query": {"set": shelf["id"]}}, token=alice, expect=201)
    await api.delete(f"/api/v1/sets/{shelf['id']}", token=alice, expect=204)
    assert await tick(api, 0) == 1 and await fired(made.body["id"]) == 0
    view = (await api.get(f"{WATCHERS}/{made.body['id']}", token=alice, expect=200)).body
    assert view["last_error"].startswith("set-not-found") and view["next_check_at"] is not None
