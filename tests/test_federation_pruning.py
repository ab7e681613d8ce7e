"""Pruning: finished inbox activities and deliveries older than their retention are deleted in
bounded batches by a periodic system job; newer and unfinished rows stay; the retention cannot
be set below one day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.actors import Actor
from models.errors import BadInput
from models.federation import Delivery, InboxActivity
from server.app import create_app
from server.cli import system_call
from server.scheduler import Periodic, Scheduler
from server.settings import SettingsError, load_settings

from .conftest import Api, assert_problem
from .dbutil import test_settings as make_settings
from .fedhelpers import fed_api  # noqa: F401
from .jobhelpers import worker

PRUNE = "system.federation.prune"


async def inbox_row(name: str, state: str, age_days: float) -> str:
    row = await InboxActivity.create(
        activity_uri=f"https://remote.example/activities/{name}", type="Follow",
        actor_uri="https://remote.example/users/bob", payload={}, state=state,
    )
    await InboxActivity.filter(id=row.id).update(created_at=datetime.now(UTC) - timedelta(days=age_days))
    return name


async def delivery_row(signer: Actor, name: str, state: str, age_days: float) -> str:
    row = await Delivery.create(
        signer=signer, activity_uri=f"http://127.0.0.1:8080/activities/{name}", inbox="https://remote.example/inbox",
        domain="remote.example", body="{}", state=state,
    )
    await Delivery.filter(id=row.id).update(created_at=datetime.now(UTC) - timedelta(days=age_days))
    return name


async def names(model: Any) -> set[str]:
    return {uri.rsplit("/", 1)[1] for uri in await model.all().values_list("activity_uri", flat=True)}


async def test_prune__removes_finished_rows_past_retention_and_keeps_the_rest(fed_api: Api) -> None:
    await fed_api.user("alice")
    alice = await Actor.get(username="alice")
    for state in ("done", "ignored", "failed"):
        await inbox_row(f"old-{state}", state, 31)
    kept_inbox = {await inbox_row("recent-done", "done", 29), await inbox_row("old-queued", "queued", 90),
                  await inbox_row("old-running", "running", 90)}
    for state in ("delivered", "failed", "skipped"):
        await delivery_row(alice, f"old-{state}", state, 15)
    kept_sent = {await delivery_row(alice, "recent-delivered", "delivered", 13),
                 await delivery_row(alice, "old-pending", "pending", 90)}

    result = await system_call(fed_api.settings, PRUNE, {})  # the defaults: 30 and 14 days
    assert result == {"inbox_activities": 3, "deliveries": 3, "more": False}
    assert await names(InboxActivity) == kept_inbox
    assert await names(Delivery) == kept_sent


async def test_prune__works_in_bounded_batches_and_leaves_the_rest_for_the_next_run(fed_api: Api) -> None:
    for n in range(5):
        await inbox_row(f"old-{n}", "done", 40 + n)
    bounded = {"batch_size": 2, "max_batches": 2}
    first = await system_call(fed_api.settings, PRUNE, bounded)
    assert first == {"inbox_activities": 4, "deliveries": 0, "more": True}
    assert await names(InboxActivity) == {"old-0"}  # the oldest went first
    second = await system_call(fed_api.settings, PRUNE, bounded)
    assert second == {"inbox_activities": 1, "deliveries": 0, "more": False}
    assert await InboxActivity.all().count() == 0


async def test_prune__runs_as_a_periodic_system_job_with_the_configured_retention(
    aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, embedded_workers=False, federation={"inbox_retention_days": 2})
    api = Api(await aiohttp_client(create_app(settings)), settings)
    await inbox_row("three-days", "done", 3)
    await inbox_row("one-day", "done", 1)
    assert await Scheduler([]).tick(Periodic(PRUNE, 3600, {}))
    assert await worker(api, "w").run_once()
    assert await names(InboxActivity) == {"one-day"}
    await api.client.close()


async def test_prune__users_cannot_call_it_and_retention_is_at_least_a_day(fed_api: Api, tmp_path: Path) -> None:
    admin = await fed_api.user("root", roles=["admin"])
    steps = [{"id": "a", "operation": PRUNE, "input": {}}]
    assert_problem(await fed_api.post("/api/v1/jobs", {"steps": steps}, token=admin), 404, "unknown-operation")
    for key in ("INBOX_RETENTION_DAYS", "DELIVERY_RETENTION_DAYS"):
        with pytest.raises(SettingsError, match="retention_days"):
            load_settings({"TALLYSTICK_DATA_DIR": str(tmp_path), f"TALLYSTICK_FEDERATION__{key}": "0"})
    with pytest.raises(BadInput, match="greater than or equal to 1"):
        await system_call(fed_api.settings, PRUNE, {"inbox_retention_days": 0})
