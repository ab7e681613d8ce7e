"""An operator upgrading keeps their data: a database written by the release whose schema was
migration 0001 (rows in tests/upgrade/release_0001.json, made by tests/upgrade/make_release_data.py
with that release's code) is migrated to the current schema and read through today's API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from tortoise import Tortoise

from server.app import create_app
from server.database import open_database, run_migrations

from .conftest import Api
from . import dbutil
from .dbutil import is_postgres

RELEASE_ROWS = Path(__file__).parent / "upgrade" / "release_0001.json"
# Parents before children, so PostgreSQL's foreign keys hold at every insert.
TABLE_ORDER = ["actors", "users", "access_tokens", "token_types", "tokens", "ledger_entries", "ledger_sources",
               "token_sets", "events", "outbox_activities", "federation_cursors"]


async def _column_types(connection: Any, table: str) -> dict[str, str]:
    if not is_postgres():
        return {}
    rows = await connection.execute_query_dict(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", [table])
    return {row["column_name"]: row["data_type"] for row in rows}


def _value(raw: Any, data_type: str) -> Any:
    """A SQLite-written value as PostgreSQL's driver wants it (SQLite's own are used as they are)."""
    if raw is None or not data_type:
        return raw
    if data_type.startswith("timestamp"):
        return datetime.fromisoformat(raw)
    if data_type == "boolean":
        return bool(raw)
    return raw


async def _load_release(url: str, root: Path) -> None:
    settings = dbutil.test_settings(root, url)
    await run_migrations(settings, target="tallystick.0001_initial")
    data = orjson.loads(RELEASE_ROWS.read_bytes())
    assert set(data) <= set(TABLE_ORDER), f"add the new tables to TABLE_ORDER: {set(data) - set(TABLE_ORDER)}"
    orm = await open_database(settings)
    try:
        connection = Tortoise.get_connection("default")
        for table in TABLE_ORDER:
            types = await _column_types(connection, table)
            for row in data.get(table, []):
                columns = list(row)
                marks = ", ".join(f"${i + 1}" if is_postgres() else "?" for i in range(len(columns)))
                names = ", ".join(f'"{column}"' for column in columns)
                values = [_value(row[column], types.get(column, "")) for column in columns]
                await connection.execute_query(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', values)
    finally:
        await orm.close_connections()
    await run_migrations(settings)


@pytest.fixture
def upgraded_url(tmp_path: Path) -> Iterator[str]:
    with dbutil.empty_database(tmp_path) as url:
        asyncio.run(_load_release(url, tmp_path))
        yield url


@pytest.fixture
async def upgraded_api(aiohttp_client: Any, tmp_path: Path, upgraded_url: str) -> Any:
    settings = dbutil.test_settings(tmp_path, upgraded_url)
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def _login(api: Api, username: str) -> str:
    reply = await api.post("/api/v1/auth/login", {"username": username, "password": "correct horse"})
    assert reply.status == 200, reply
    return reply.body["token"]


async def test_upgrade__release_0001_data_reads_and_writes_after_migrating(upgraded_api: Api) -> None:
    carol = await _login(upgraded_api, "carol")
    alice = await _login(upgraded_api, "alice")

    types = await upgraded_api.get("/api/v1/types", token=carol)
    assert types.status == 200, types
    by_symbol = {item["symbol"]: item for item in types.body["items"]}
    assert set(by_symbol) == {"PIN", "CN"}
    coin = by_symbol["CN"]["id"]

    for who, expected in (("carol", "90.25"), ("alice", "10.25")):
        balance = await upgraded_api.get("/api/v1/ledger/balance", token=carol, params={"type": coin, "owner": who})
        assert balance.status == 200, balance
        assert balance.body["balance"] == expected

    tokens = await upgraded_api.get("/api/v1/tokens", token=carol)
    assert tokens.status == 200, tokens
    (token,) = tokens.body["items"]
    mine = await upgraded_api.get(f"/api/v1/tokens/{token['id']}", token=carol)
    assert mine.status == 200, mine
    assert mine.body["attributes"]["pin"] == 4821 and mine.body["attributes"]["label"] == "door"
    # Its old hash covered the pin itself; the upgrade moved it to a new version with a commitment.
    assert mine.body["version"] == 2 and "pin" in mine.body["commitments"], mine
    other = await upgraded_api.get(f"/api/v1/tokens/{token['id']}", token=alice)
    assert other.status == 200, other
    assert "pin" not in other.body["attributes"], "a private value must stay private after the upgrade"

    verify = await upgraded_api.post("/api/v1/verify", {"token": token["id"], "content_hash": mine.body["content_hash"]})
    assert verify.status == 200, verify
    assert verify.body["verdict"] == "accurate", verify

    entries = await upgraded_api.get("/api/v1/ledger/operations", token=alice, params={"type": coin, "owner": "alice"})
    assert entries.status == 200, entries
    (received,) = entries.body["items"]
    assert received["flags"] == ["disputed"]
    assert [(flag["label"], flag["by"]) for flag in received["flag_details"]] == [("disputed", None)]  # never recorded

    sets = await upgraded_api.get("/api/v1/sets", token=carol)
    assert sets.status == 200, sets
    assert [item["name"] for item in sets.body["items"]] == ["My things"]

    # The upgraded database takes new writes: a give from what the old release minted.
    give = await upgraded_api.post("/api/v1/ledger/give", {"type": coin, "amount": "0.25", "to": "carol"}, token=alice)
    assert give.status in (200, 201), give
    balance = await upgraded_api.get("/api/v1/ledger/balance", token=alice, params={"type": coin, "owner": "alice"})
    assert balance.status == 200 and balance.body["balance"] == "10.00", balance


async def test_migrations__describe_every_model_field() -> None:
    """A model change without its migration would pass on fresh test databases and break an
    operator's upgrade: the migrations must leave nothing for `tortoise makemigrations` to add."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    from models.db import tortoise_config

    config = tortoise_config("sqlite://:memory:")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        changes = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    assert changes == [], "\n".join(change.as_string() for change in changes)
