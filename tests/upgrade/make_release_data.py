"""Make tests/upgrade/release_0001.json: the rows of a database written by a release whose schema
is migration 0001, for tests/test_upgrade.py.

Run it with that release's code (it was run at 5ec426d, the last commit with only 0001):
    git worktree add /tmp/rel 5ec426d && cd /tmp/rel && PYTHONPATH=$PWD python tests/upgrade/make_release_data.py
It uses the release's own API, so the rows are what that release really wrote, then dumps every
table (except tortoise's migration bookkeeping) as JSON.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from pathlib import Path

import orjson
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.cli import system_call
from server.database import run_migrations
from tests.dbutil import test_settings

OUT = Path(__file__).with_name("release_0001.json")


async def make(root: Path) -> Path:
    path = root / "release.sqlite3"
    settings = test_settings(root, f"sqlite://{path}")
    await run_migrations(settings)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    tokens = {}
    for name, roles in (("carol", []), ("alice", []), ("mod", ["moderator"])):
        result = await system_call(settings, "admin.users.create", {
            "username": name, "password": "correct horse", "email": f"{name}@example.org", "roles": roles})
        tokens[name] = result["token"]

    async def call(method: str, url: str, who: str, body: object = None) -> dict:
        reply = await client.request(method, url, json=body, headers={"Authorization": f"Bearer {tokens[who]}"})
        assert reply.status in (200, 201, 202), (url, reply.status, await reply.text())
        return await reply.json()

    try:
        kind = await call("POST", "/api/v1/types", "carol", {
            "name": "Pins", "symbol": "PIN", "fungible": False, "smallest_unit": 0,
            "attributes": [{"name": "label", "type": "string"},
                           {"name": "pin", "type": "integer", "private": True}]})
        await call("POST", "/api/v1/tokens", "carol", {"type": kind["id"], "attributes": {"label": "door", "pin": 4821}})
        coin = await call("POST", "/api/v1/types", "carol", {
            "name": "Coins", "symbol": "CN", "fungible": True, "smallest_unit": 2, "supply_limit": "1000"})
        await call("POST", "/api/v1/ledger/create", "carol", {"type": coin["id"], "amount": "100.50"})
        give = await call("POST", "/api/v1/ledger/give", "carol", {"type": coin["id"], "amount": "10.25", "to": "alice"})
        await call("POST", f"/api/v1/ledger/operations/{give['id']}/flags", "alice", {"flag": "disputed"})
        await call("POST", "/api/v1/sets", "carol", {"name": "My things"})
    finally:
        await client.close()
    return path


def dump(path: Path) -> dict[str, list[dict]]:
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    tables = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'tortoise%'"
        " ORDER BY name")]
    data = {table: [dict(row) for row in connection.execute(f'SELECT * FROM "{table}"')] for table in tables}
    connection.close()
    return {table: rows for table, rows in data.items() if rows}


def main() -> int:
    with tempfile.TemporaryDirectory() as root:
        path = asyncio.run(make(Path(root)))
        OUT.write_bytes(orjson.dumps(dump(path), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
