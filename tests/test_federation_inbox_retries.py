"""Inbox activities whose processing fails wait before the next try, with delivery's backoff and
attempt limit: a give whose origin is down for a while is credited once the origin is back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from federation.delivery import retry_delay
from federation.inbox import process_due
from models.engine import claim
from models.federation import InboxActivity, RemoteCredit
from models.machines import INBOX

from .conftest import Api
from .fedhelpers import Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .test_federation_give import remote_give


async def test_inbox__a_give_is_credited_when_its_origin_comes_back_after_being_down(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    assert (await signed_post(fed_api, "/users/alice/inbox", remote_give(remote, "3"), bob)).status == 202
    site = site_of(fed_api)
    remote.objects_down = True  # the origin cannot confirm the give for an hour
    moment = datetime.now(UTC)
    assert await process_due(site, now=moment) == 1
    assert await process_due(site, now=moment) == 0  # not again at once
    for _ in range(60):  # a sweep every minute
        moment += timedelta(minutes=1)
        await process_due(site, now=moment)
    row = await InboxActivity.get()
    assert row.state == "queued" and 1 < row.attempts < 10, (row.state, row.attempts, row.last_error)
    assert row.last_error is not None and "503" in row.last_error
    assert await RemoteCredit.all().count() == 0

    remote.objects_down = False
    moment += timedelta(hours=2)
    assert await process_due(site, now=moment) == 1
    assert (await InboxActivity.get()).state == "done"
    held = await fed_api.get("/api/v1/federation/holdings", token=token)
    assert [(item["symbol"], item["amount"]) for item in held.body["items"]] == [("GLD", "3")]


async def test_inbox__retries_wait_longer_each_time_and_stop_at_deliverys_limit(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    assert (await signed_post(fed_api, "/users/alice/inbox", remote_give(remote, "3"), bob)).status == 202
    site = site_of(fed_api)
    remote.objects_down = True
    moment = datetime.now(UTC)
    waits: list[float] = []
    for _ in range(site.federation.delivery_max_attempts):
        assert await process_due(site, now=moment) == 1
        row = await InboxActivity.get()
        if row.next_at is None:
            break
        waits.append((row.next_at - moment).total_seconds())
        assert await process_due(site, now=row.next_at - timedelta(seconds=1)) == 0  # not before it is due
        moment = row.next_at
    assert waits == [retry_delay(n) for n in range(1, site.federation.delivery_max_attempts)]
    assert all(later > earlier for earlier, later in zip(waits, waits[1:], strict=False))
    assert waits[0] < 60 and sum(waits) > 2 * 86_400  # from seconds to days, as deliveries
    row = await InboxActivity.get()
    assert (row.state, row.attempts) == ("failed", site.federation.delivery_max_attempts)
    assert row.last_error is not None and row.last_error.startswith(f"gave up after {row.attempts} tries")
    assert await process_due(site, now=moment + timedelta(days=30)) == 0
    listed = await fed_api.get("/api/v1/federation/inbox", token=token)  # alice sees why it stopped
    assert listed.status == 200, listed
    assert [(item["state"], item["outcome"], item["last_error"]) for item in listed.body["items"]] == [
        ("failed", None, row.last_error)
    ]


async def test_inbox__the_attempt_limit_is_deliverys_setting(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob = remote.actor("bob")
    assert (await signed_post(fed_api, "/users/alice/inbox", remote_give(remote, "3"), bob)).status == 202
    site = site_of(fed_api)
    few = dataclasses.replace(site, federation=site.federation.model_copy(update={"delivery_max_attempts": 2}))
    remote.objects_down = True
    moment = datetime.now(UTC)
    assert await process_due(few, now=moment) == 1
    assert await process_due(few, now=moment + timedelta(days=1)) == 1
    assert (await InboxActivity.get()).state == "failed"


async def test_inbox__an_activity_left_running_by_a_dead_worker_is_processed_once_its_lease_expires(
    fed_api: Api, remote: Remote
) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    follow = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{bob.uri}/follows/1", "type": "Follow",
              "actor": bob.uri, "object": "http://127.0.0.1:8080/users/alice"}
    assert (await signed_post(fed_api, "/users/alice/inbox", follow, bob)).status == 202
    site = site_of(fed_api)
    _, taken = await claim(INBOX, site)  # a worker takes it, then is killed (-9) before it finishes
    assert [(row.state, row.attempts) for row in taken] == [("running", 1)]
    assert (await claim(INBOX, site))[1] == []  # nobody else takes it while the lease holds
    assert await process_due(site, now=datetime.now(UTC) + timedelta(seconds=INBOX.lease_seconds(site) + 1)) == 1
    row = await InboxActivity.get()
    assert (row.state, row.attempts, row.lease_owner) == ("done", 2, None)
    followers = await fed_api.get("/api/v1/followers", token=token)
    assert [(f["follower_uri"], f["state"]) for f in followers.body["items"]] == [(bob.uri, "accepted")]
