"""Event webhooks: subscribe a URL to the events you may see, filtered; deliveries come from the
outbox, signed (verified by the `standardwebhooks` package in real local receivers), retried
with backoff; an endpoint that keeps failing is disabled with the reason, and re-enabled."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from federation.callbacks import MAX_TRIES
from federation.webhooks import WEBHOOK_DELIVERIES, run_webhooks
from models import webhooks as webhook_models
from models.engine import Runner
from models.urls import is_public
from models.webhooks import WebhookDelivery, fan_out
from server.app import create_app
from server.appkeys import SITE

from .conftest import Api, assert_problem
from .dbutil import test_settings as make_settings
from .jobhelpers import ASYNC, FAST_JOBS, finished_job, worker
from .test_callbacks import Receiver, user_with_secret

HOOKS = "/api/v1/webhooks"
COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0}


@pytest.fixture
async def hook_api(
    aiohttp_client: Any, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """No embedded workers (tests run the webhook pass); private addresses allowed for receivers;
    events are fanned out at once (no settle window)."""
    monkeypatch.setattr(webhook_models, "SETTLE_SECONDS", 0)
    config = make_settings(
        tmp_path, database_url, jobs=FAST_JOBS, embedded_workers=False, federation={"allow_private_addresses": True}
    )
    api = Api(await aiohttp_client(create_app(config)), config)
    yield api
    await api.client.close()


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    """Three real receivers (one per user: each verifies with its user's secret)."""
    started = [Receiver() for _ in range(3)]
    for receiver in started:
        await receiver.start()
    yield started
    for receiver in started:
        await receiver.stop()


def later(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


async def subscribe(api: Api, token: str, url: str, **filters: Any) -> dict[str, Any]:
    reply = await api.post(HOOKS, {"url": url, **filters}, token=token)
    assert reply.status == 201, reply
    assert reply.headers["Location"] == f"{HOOKS}/{reply.body['id']}"
    return reply.body


async def deliver(api: Api, **kwargs: Any) -> dict[str, int]:
    return await run_webhooks(api.client.app[SITE], **kwargs)


def received(receiver: Receiver) -> list[str]:
    assert all(hit["verified"] for hit in receiver.received), receiver.received
    return [hit["payload"]["type"] for hit in receiver.received]


async def coin(api: Api, token: str, amount: str = "10") -> str:
    reply = await api.post("/api/v1/types", COIN, token=token)
    assert reply.status == 201, reply
    assert (
        await api.post("/api/v1/ledger/create", {"type": reply.body["id"], "amount": amount}, token=token)
    ).status == 201
    return str(reply.body["id"])


async def test_webhooks__crud_and_only_the_owner_sees_them(hook_api: Api, receivers: list[Receiver]) -> None:
    alice, bob = await hook_api.user("alice"), await hook_api.user("bob")
    hook = await subscribe(hook_api, alice, receivers[0].url, events=["ledger.*"], description="books")
    assert hook["enabled"] and hook["events"] == ["ledger.*"] and hook["disabled_reason"] is None
    listed = await hook_api.get(HOOKS, token=alice)
    assert [item["id"] for item in listed.body["items"]] == [hook["id"]]
    assert (await hook_api.get(HOOKS, token=bob)).body["items"] == []
    assert_problem(await hook_api.get(f"{HOOKS}/{hook['id']}", token=bob), 404, "webhook-not-found")
    assert_problem(await hook_api.delete(f"{HOOKS}/{hook['id']}", token=bob), 404, "webhook-not-found")

    changed = await hook_api.patch(f"{HOOKS}/{hook['id']}", {"events": ["type.created"]}, token=alice)
    assert changed.status == 200 and changed.body["events"] == ["type.created"] and changed.body["version"] == 2
    stale = await hook_api.patch(
        f"{HOOKS}/{hook['id']}", {"description": "x"}, token=alice, headers={"If-Match": '"1"'}
    )
    assert_problem(stale, 409, "version-mismatch")
    got = await hook_api.get(f"{HOOKS}/{hook['id']}", token=alice)
    assert got.body["deliveries"] == {"pending": 0, "delivered": 0, "failed": 0}
    assert (await hook_api.delete(f"{HOOKS}/{hook['id']}", token=alice)).status == 204
    assert_problem(await hook_api.get(f"{HOOKS}/{hook['id']}", token=alice), 404)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "ftp://example.org/hook"}, 422, "callback-url-refused"),
        ({"url": "http://user:pw@example.org/hook"}, 422, "callback-url-refused"),
        ({"url": "https://example.org/hook", "events": ["Ledger Give"]}, 400, "validation-failed"),
        ({"url": "https://example.org/hook", "object_type": "planet"}, 400, "validation-failed"),
        ({"url": "https://example.org/hook", "object_id": "01abc"}, 400, "object-type-required"),
        ({"url": "https://example.org/hook", "secret": "mine"}, 400, "validation-failed"),
    ],
)
async def test_webhooks__bad_subscriptions_are_refused(
    hook_api: Api, body: dict[str, Any], status: int, code: str
) -> None:
    alice = await hook_api.user("alice")
    assert_problem(await hook_api.post(HOOKS, body, token=alice), status, code)


async def test_webhooks__private_addresses_are_refused_unless_allowed(api: Api) -> None:
    alice = await api.user("alice")
    assert_problem(await api.post(HOOKS, {"url": "http://127.0.0.1:9/hook"}, token=alice), 422, "callback-url-refused")


def _private_host_name() -> str:
    """A host name (not `localhost`, which is refused by name) that resolves to a non-public
    address without leaving the machine: this machine's own name, from /etc/hosts."""
    name = socket.gethostname()
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if not found or any(is_public(ipaddress.ip_address(address.split("%")[0])) for address in found):
        pytest.skip(f"this machine's name {name!r} resolves to a public address")
    return name


async def test_webhooks__a_host_name_resolving_to_a_private_address_is_refused_when_saved(api: Api) -> None:
    """The name passes the syntax check; its DNS answer is what is refused, at create and update."""
    host = _private_host_name()
    alice = await api.user("alice")
    refused = assert_problem(await api.post(HOOKS, {"url": f"http://{host}:9/hook"}, token=alice), 422, "callback-url-refused")
    assert "non-public address" in refused["detail"]
    assert (await api.get(HOOKS, token=alice)).body["items"] == []
    created = await api.post(HOOKS, {"url": "http://93.184.215.14/hook"}, token=alice)  # a public literal: no DNS
    assert created.status == 201, created
    moved = await api.patch(f"{HOOKS}/{created.body['id']}", {"url": f"http://{host}:9/hook"}, token=alice)
    assert_problem(moved, 422, "callback-url-refused")
    assert (await api.get(f"{HOOKS}/{created.body['id']}", token=alice)).body["url"] == "http://93.184.215.14/hook"


async def test_webhooks__events_are_delivered_signed_and_filtered(hook_api: Api, receivers: list[Receiver]) -> None:
    alice = await user_with_secret(hook_api, receivers[0])
    everything = await subscribe(hook_api, alice, receivers[0].url)
    receivers[1].secret = receivers[0].secret  # same owner, same secret
    await subscribe(hook_api, alice, receivers[1].url, events=["ledger.*"])
    type_id = await coin(hook_api, alice)
    await hook_api.post("/api/v1/sets", {"name": "shelf"}, token=alice, expect=201)

    result = await deliver(hook_api)
    assert result["tried"] == result["queued"]
    # the second subscription's creation is news about alice too
    assert received(receivers[0]) == ["webhook.created", "type.created", "ledger.create", "set.created"]
    assert received(receivers[1]) == ["ledger.create"]
    data = receivers[1].received[0]["payload"]["data"]
    assert data["object_type"] == "ledger_entry" and data["payload"]["type"] == type_id, data
    deliveries = await hook_api.get(f"{HOOKS}/{everything['id']}/deliveries", token=alice)
    assert [d["event"] for d in deliveries.body["items"]] == [
        "set.created",
        "ledger.create",
        "type.created",
        "webhook.created",
    ]
    assert all(
        d["state"] == "delivered" and d["attempts"] == 1 and d["last_status"] == 200 for d in deliveries.body["items"]
    )
    assert {d["id"] for d in deliveries.body["items"]} == {h["headers"]["webhook-id"] for h in receivers[0].received}
    assert await deliver(hook_api) == {"queued": 0, "tried": 0}  # nothing is sent twice
    assert await fan_out() == 0


async def test_webhooks__each_user_receives_only_what_concerns_them(hook_api: Api, receivers: list[Receiver]) -> None:
    alice = await user_with_secret(hook_api, receivers[0], "alice")
    bob = await user_with_secret(hook_api, receivers[1], "bob")
    carol = await user_with_secret(hook_api, receivers[2], "carol")
    for token, receiver in ((alice, receivers[0]), (bob, receivers[1]), (carol, receivers[2])):
        await subscribe(hook_api, token, receiver.url)
    type_id = await coin(hook_api, alice)
    give = await hook_api.post("/api/v1/ledger/give", {"type": type_id, "amount": "3", "to": "bob"}, token=alice)
    assert give.status == 201, give
    await deliver(hook_api)
    assert received(receivers[0]) == ["type.created", "ledger.create", "ledger.give"]
    assert received(receivers[1]) == ["ledger.give"]  # bob received the coins; alice's type is not his
    assert received(receivers[2]) == []


async def test_webhooks__object_filter_and_job_events(hook_api: Api, receivers: list[Receiver]) -> None:
    alice = await user_with_secret(hook_api, receivers[0])
    receivers[1].secret = receivers[0].secret
    shelf = (await hook_api.post("/api/v1/sets", {"name": "shelf"}, token=alice)).body
    await hook_api.post("/api/v1/sets", {"name": "other"}, token=alice, expect=201)
    await subscribe(hook_api, alice, receivers[0].url, object_type="set", object_id=shelf["id"])
    await subscribe(hook_api, alice, receivers[1].url, events=["job.succeeded"])
    renamed = await hook_api.patch(f"/api/v1/sets/{shelf['id']}", {"description": "mine"}, token=alice)
    assert renamed.status == 200, renamed
    job = (await hook_api.get("/api/v1/ledger/balance", token=alice, headers=ASYNC)).body
    assert await worker(hook_api, "w").run_once()
    assert (await finished_job(hook_api, alice, job["id"]))["state"] == "succeeded"
    await deliver(hook_api)
    assert received(receivers[0]) == ["set.updated"]
    assert received(receivers[1]) == ["job.succeeded"]
    assert receivers[1].received[0]["payload"]["data"]["object_id"] == job["id"]


async def test_webhooks__a_failing_endpoint_is_retried_then_disabled_and_re_enabled(
    hook_api: Api, receivers: list[Receiver]
) -> None:
    alice = await user_with_secret(hook_api, receivers[0])
    hook = await subscribe(hook_api, alice, receivers[0].url, events=["type.*"])
    receivers[0].status = 500
    await hook_api.post("/api/v1/types", COIN, token=alice, expect=201)
    assert (await deliver(hook_api))["tried"] == 1
    [first] = (await hook_api.get(f"{HOOKS}/{hook['id']}/deliveries", token=alice)).body["items"]
    assert first["state"] == "pending" and first["attempts"] == 1 and first["last_status"] == 500
    assert first["next_attempt_at"] is not None
    assert (await deliver(hook_api))["tried"] == 0  # not due yet: backoff
    for day in range(1, MAX_TRIES + 2):
        await deliver(hook_api, now=later(day * 86400))
    assert len(receivers[0].received) == MAX_TRIES
    got = (await hook_api.get(f"{HOOKS}/{hook['id']}", token=alice)).body
    assert got["enabled"] is False and got["disabled_at"] and got["deliveries"]["failed"] == 1
    assert f"{MAX_TRIES} tries" in got["disabled_reason"] and "500" in got["disabled_reason"]

    await hook_api.post("/api/v1/types", {**COIN, "name": "Ignored"}, token=alice, expect=201)  # while disabled
    assert await deliver(hook_api) == {"queued": 0, "tried": 0}
    receivers[0].status = 200
    again = await hook_api.patch(f"{HOOKS}/{hook['id']}", {"enabled": True}, token=alice)
    assert again.body["enabled"] is True and again.body["disabled_reason"] is None
    await hook_api.post("/api/v1/types", {**COIN, "name": "Seen"}, token=alice, expect=201)
    await deliver(hook_api)
    payloads = [hit["payload"]["data"]["payload"] for hit in receivers[0].received[MAX_TRIES:]]
    assert [p["name"] for p in payloads] == ["Seen"]  # from re-enabling on, not the missed ones


async def test_webhooks__410_gone_disables_at_once(hook_api: Api, receivers: list[Receiver]) -> None:
    alice = await user_with_secret(hook_api, receivers[0])
    hook = await subscribe(hook_api, alice, receivers[0].url)
    receivers[0].status = 410
    await hook_api.post("/api/v1/types", COIN, token=alice, expect=201)
    await deliver(hook_api)
    got = (await hook_api.get(f"{HOOKS}/{hook['id']}", token=alice)).body
    assert got["enabled"] is False and "410" in got["disabled_reason"]


async def test_webhooks__the_engine_runner_fans_out_and_delivers(hook_api: Api, receivers: list[Receiver]) -> None:
    """No periodic job: the runner's pump turns the event into a delivery and the machine posts it."""
    alice = await user_with_secret(hook_api, receivers[0])
    await subscribe(hook_api, alice, receivers[0].url, events=["type.created"])
    await hook_api.post("/api/v1/types", COIN, token=alice, expect=201)
    runner = Runner(hook_api.client.app[SITE], machines=[WEBHOOK_DELIVERIES], poll_seconds=0.05)
    runner.start()
    try:
        for _ in range(400):  # a generous limit, not a timing check
            if await WebhookDelivery.filter(state="delivered").exists():
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    [delivery] = await WebhookDelivery.all()
    assert (delivery.state, delivery.attempts, delivery.lease_owner) == ("delivered", 1, None)
    assert received(receivers[0]) == ["type.created"]


async def test_webhooks__a_delivery_left_for_a_disabled_endpoint_is_not_sent(
    hook_api: Api, receivers: list[Receiver]
) -> None:
    alice = await user_with_secret(hook_api, receivers[0])
    hook = await subscribe(hook_api, alice, receivers[0].url, events=["type.created"])
    assert (await hook_api.post("/api/v1/types", COIN, token=alice)).status == 201
    assert await fan_out() == 1
    off = await hook_api.patch(f"{HOOKS}/{hook['id']}", {"enabled": False}, token=alice)
    assert off.status == 200 and off.body["enabled"] is False, off
    assert (await deliver(hook_api))["tried"] == 1
    assert receivers[0].received == []
    [left] = (await hook_api.get(f"{HOOKS}/{hook['id']}/deliveries", token=alice)).body["items"]
    assert left["state"] == "failed" and left["last_error"] == "not sent: the endpoint was disabled"


async def test_fan_out__leaves_the_newest_events_for_the_next_pass(hook_api: Api, receivers: list[Receiver]) -> None:
    """An event whose transaction may still be open elsewhere is not passed by the cursor yet."""
    alice = await user_with_secret(hook_api, receivers[0])
    await subscribe(hook_api, alice, receivers[0].url, events=["type.created"])
    await hook_api.post("/api/v1/types", COIN, token=alice, expect=201)
    assert await fan_out(settle_seconds=60) == 0
    assert await fan_out(settle_seconds=0) == 1
