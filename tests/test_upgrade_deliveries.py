"""An operator upgrading keeps their queued deliveries: rows written before deliveries moved onto
the engine (migration 0007 renamed `lease` to `lease_owner` and added `lease_expires_at`) are
still sent, and a try a sweep had claimed when the server stopped waits for its claim deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from federation.delivery import deliver_due
from models.federation import Delivery
from server.app import create_app
from server.database import open_database, run_migrations

from . import dbutil
from .conftest import Api
from .dbutil import is_postgres
from .fedhelpers import Remote, remote, site_of  # noqa: F401

BEFORE = "tallystick.0005_ledger_flag_authors"
CLAIM_DEADLINE = timedelta(seconds=120)  # how long a claim held a try before the engine


def _settings(root: Path, url: str) -> Any:
    return dbutil.test_settings(root, url, embedded_workers=False, federation={"allow_private_addresses": True})


async def _write_old_rows(url: str, root: Path, inbox: str, now: datetime) -> None:
    """Alice and three deliveries as the release before the engine wrote them, at `now`."""
    settings = _settings(root, url)
    await run_migrations(settings, target=BEFORE)
    orm = await open_database(settings)
    try:
        connection = Tortoise.get_connection("default")

        def marks(count: int) -> str:
            return ", ".join(f"${i + 1}" if is_postgres() else "?" for i in range(count))

        def moment(value: datetime | None) -> Any:
            return value if value is None or is_postgres() else str(value)

        await connection.execute_query(
            'INSERT INTO "actors" ("id", "created_at", "updated_at", "username", "domain", "kind", "display_name", "summary") '
            f"VALUES ({marks(8)})",
            ["01alice0000000000000000000", moment(now), moment(now), "alice", "", "Person", "Alice", ""],
        )
        rows = [
            ("01due00000000000000000000a", None, None),  # queued, never tried: due now
            ("01dead0000000000000000000b", "01sweep000000000000000000x", now - timedelta(seconds=5)),  # claimer died
            ("01held0000000000000000000c", "01sweep000000000000000000y", now + CLAIM_DEADLINE),  # claimed just now
        ]
        for row_id, lease, next_at in rows:
            await connection.execute_query(
                'INSERT INTO "deliveries" ("id", "created_at", "updated_at", "signer_id", "activity_uri", "inbox", '
                '"domain", "body", "state", "attempts", "next_at", "lease") '
                f"VALUES ({marks(12)})",
                [row_id, moment(now), moment(now), "01alice0000000000000000000", f"http://127.0.0.1:8080/activities/{row_id}",
                 inbox, inbox.split("/")[2], f'{{"id": "{row_id}"}}', "pending", 1 if lease else 0, moment(next_at), lease],
            )
    finally:
        await orm.close_connections()
    await run_migrations(settings)


@pytest.fixture
def written_at() -> datetime:
    """When the old release wrote its rows. The test reads the queue as of then: migrating takes
    tens of seconds on a busy machine, which must not move the held try past its deadline."""
    return datetime.now(UTC)


@pytest.fixture
def upgraded_url(tmp_path: Path, remote: Remote, written_at: datetime) -> Iterator[str]:  # noqa: F811
    with dbutil.empty_database(tmp_path) as url:
        asyncio.run(_write_old_rows(url, tmp_path, remote.actor("bob").inbox, written_at))
        yield url


@pytest.fixture
async def upgraded_api(aiohttp_client: Any, tmp_path: Path, upgraded_url: str) -> AsyncIterator[Api]:
    settings = _settings(tmp_path, upgraded_url)
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def test_upgrade__deliveries_queued_before_the_engine_are_sent(
    upgraded_api: Api, remote: Remote, written_at: datetime  # noqa: F811
) -> None:
    site = site_of(upgraded_api)
    # The due one and the one whose claimer died.
    assert await deliver_due(site, now=written_at + timedelta(seconds=1)) == 2
    assert sorted(post["json"]["id"] for post in remote.posts()) == ["01dead0000000000000000000b", "01due00000000000000000000a"]
    held = await Delivery.get(id="01held0000000000000000000c")
    assert (held.state, held.lease_owner) == ("pending", None)

    later = written_at + CLAIM_DEADLINE + timedelta(seconds=1)
    assert await deliver_due(site, now=later) == 1  # after its old claim deadline
    assert remote.posts()[-1]["json"]["id"] == "01held0000000000000000000c"
    states = {row.id: (row.state, row.attempts) for row in await Delivery.all()}
    assert states == {
        "01due00000000000000000000a": ("delivered", 1),
        "01dead0000000000000000000b": ("delivered", 2),
        "01held0000000000000000000c": ("delivered", 2),
    }
