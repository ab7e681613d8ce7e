"""An operator upgrading keeps their data: rows written under 0001 survive the later migrations
(issue 14: token salts in 0003, attributed ledger flags in 0005)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate

from models.db import tortoise_config

from . import dbutil

PRIVATE = '[{"name": "pin", "type": "string", "private": true}, {"name": "label", "type": "string"}]'


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    with dbutil.empty_database(tmp_path) as url:
        yield url


async def _execute(sql: str, *values: Any) -> None:
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        parts = sql.split("?")
        sql = "".join(part + (f"${index}" if index < len(parts) else "") for index, part in enumerate(parts, 1))
    await connection.execute_query(sql, list(values))


async def _rows(sql: str) -> list[dict[str, Any]]:
    return list(await connections.get("default").execute_query_dict(sql))


async def test_upgrade_from_0001__tokens_get_salts_and_flags_keep_an_author(empty_database: str) -> None:
    config = tortoise_config(empty_database)
    await migrate(config=config, target="tallystick.0001_initial")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        now = datetime.now(UTC)
        await _execute(
            'INSERT INTO "actors" ("id", "created_at", "updated_at", "kind", "username", "domain", "display_name", '
            '"summary") VALUES (?, ?, ?, ?, ?, ?, ?, ?)', "a1", now, now, "Person", "alice", "", "", "",
        )
        for type_id, attributes in (("t1", PRIVATE), ("t2", "[]")):
            await _execute(
                'INSERT INTO "token_types" ("id", "created_at", "updated_at", "owner_id", "name", "symbol", '
                '"description", "fungible", "smallest_unit", "minted", "attributes", "version", "is_deleted") '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                type_id, now, now, "a1", "Card", "C", "", False, 0, 1, attributes, 1, False,
            )
        for token_id, type_id, values in (("k1", "t1", '{"pin": "4821"}'), ("k2", "t2", "{}")):
            await _execute(
                'INSERT INTO "tokens" ("id", "created_at", "updated_at", "type_id", "owner_id", "attributes", '
                '"shareable", "version", "content_hash", "is_deleted") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                token_id, now, now, type_id, "a1", values, False, 1, "sha256:" + "0" * 64, False,
            )
        await _execute(
            'INSERT INTO "ledger_entries" ("id", "created_at", "updated_at", "kind", "type_id", "token_id", '
            '"author_id", "amount", "remaining", "description", "flags") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            "e1", now, now, "create", "t1", "k1", "a1", 1, 1, "", '["disputed"]',
        )
    finally:
        await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        tokens = {row["id"]: row for row in await _rows('SELECT "id", "version", "salts" FROM "tokens"')}
        flags = await _rows('SELECT "entry_id", "label", "author_id" FROM "ledger_flags"')
        events = await _rows('SELECT "name", "object_id" FROM "events"')
    finally:
        await Tortoise.close_connections()
    salts = {key: orjson.loads(row["salts"]) for key, row in tokens.items()}
    assert all(len(value["*"]) >= 22 for value in salts.values()) and salts["k1"] != salts["k2"]  # 128-bit seeds
    assert tokens["k1"]["version"] == 2 and tokens["k2"]["version"] == 1  # only the hash that changed moves on
    assert events == [{"name": "token.updated", "object_id": "k1"}]
    assert flags == [{"entry_id": "e1", "label": "disputed", "author_id": None}]  # who set it was never known


async def test_upgrade_to_0008__inbox_retry_reasons_move_to_last_error(empty_database: str) -> None:
    config = tortoise_config(empty_database)
    await migrate(config=config, target="tallystick.0005_ledger_flag_authors")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    rows = (
        ("i1", "queued", 2, "try 2 failed: the origin answered 503"),
        ("i2", "failed", 8, "failed after 8 tries: the origin answered 503"),
        ("i3", "done", 1, "stored"),
        ("i4", "ignored", 1, "ignored: not the owner"),
        ("i5", "queued", 0, None),
    )
    try:
        now = datetime.now(UTC)
        for row_id, state, attempts, outcome in rows:
            await _execute(
                'INSERT INTO "inbox_activities" ("id", "created_at", "updated_at", "activity_uri", "type", '
                '"actor_uri", "payload", "state", "attempts", "outcome") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                row_id, now, now, f"https://remote.example/activities/{row_id}", "Create",
                "https://remote.example/users/bob", "{}", state, attempts, outcome,
            )
    finally:
        await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        found = await _rows('SELECT "id", "state", "attempts", "outcome", "last_error", "lease_owner" '
                            'FROM "inbox_activities" ORDER BY "id"')
    finally:
        await Tortoise.close_connections()
    assert [(r["id"], r["state"], r["attempts"], r["outcome"], r["last_error"], r["lease_owner"]) for r in found] == [
        ("i1", "queued", 2, None, "try 2 failed: the origin answered 503", None),
        ("i2", "failed", 8, None, "failed after 8 tries: the origin answered 503", None),
        ("i3", "done", 1, "stored", None, None),
        ("i4", "ignored", 1, "ignored: not the owner", None, None),
        ("i5", "queued", 0, None, None, None),
    ]


async def test_upgrade_to_0009__job_callbacks_move_to_their_own_rows_and_keep_their_state(
    empty_database: str,
) -> None:
    config = tortoise_config(empty_database)
    await migrate(config=config, target="tallystick.0005_ledger_flag_authors")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    try:
        now = datetime.now(UTC)
        columns = (
            '"id", "created_at", "updated_at", "operation", "input", "state", "attempts", "max_attempts", '
            '"callback_url", "callback_state", "callback_attempts", "callback_last_status", "callback_last_error", '
            '"callback_next_at"'
        )
        for job_id, state, url, callback, tries, status, error, next_at in (
            ("j1", "queued", "https://a.example/hook", "pending", 0, None, None, None),
            ("j2", "succeeded", "https://b.example/hook", "pending", 2, 503, "the receiver answered 503", later),
            ("j3", "failed", "https://c.example/hook", "delivered", 1, 200, None, None),
            ("j4", "succeeded", None, None, 0, None, None, None),
        ):
            await _execute(
                f'INSERT INTO "jobs" ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                job_id, now, now, "ledger.balance", "{}", state, 1, 3, url, callback, tries, status, error, next_at,
            )
    finally:
        await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        rows = await _rows(
            'SELECT "job_id", "url", "state", "attempts", "last_status", "last_error", "next_at" FROM "job_callbacks"'
        )
        job_columns = await _rows('SELECT * FROM "jobs" WHERE "id" = \'j2\'')
    finally:
        await Tortoise.close_connections()
    callbacks = {row.pop("job_id"): row for row in rows}
    assert set(callbacks) == {"j1", "j2", "j3"}  # the job without a callback has no row
    assert callbacks["j1"]["state"] == "waiting" and callbacks["j1"]["attempts"] == 0  # sent when the job ends
    retrying = callbacks["j2"]
    assert (retrying["state"], retrying["attempts"], retrying["last_status"]) == ("pending", 2, 503)
    assert retrying["url"] == "https://b.example/hook" and retrying["last_error"] == "the receiver answered 503"
    assert str(retrying["next_at"]).startswith("2030-01-01")  # still waits for its next try
    assert callbacks["j3"]["state"] == "delivered" and callbacks["j3"]["last_status"] == 200
    assert job_columns and not [column for column in job_columns[0] if column.startswith("callback_")]


async def test_upgrade_to_0017__types_become_contract_and_others_children_are_grandfathered(empty_database: str) -> None:
    config = tortoise_config(empty_database)
    await migrate(config=config, target="tallystick.0016_pools")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        now = datetime.now(UTC)
        for actor_id, name in (("a1", "alice"), ("a2", "bob")):
            await _execute(
                'INSERT INTO "actors" ("id", "created_at", "updated_at", "kind", "username", "domain", "display_name", '
                '"summary") VALUES (?, ?, ?, ?, ?, ?, ?, ?)', actor_id, now, now, "Person", name, "", "", "",
            )
        for type_id, owner in (("base", "a1"), ("own_kid", "a1"), ("bobs_kid", "a2")):
            await _execute(
                'INSERT INTO "token_types" ("id", "created_at", "updated_at", "owner_id", "name", "symbol", '
                '"description", "fungible", "smallest_unit", "minted", "attributes", "version", "is_deleted") '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                type_id, now, now, owner, "T", "T", "", True, 0, 0, "[]", 1, False,
            )
        for link_id, child in (("l1", "own_kid"), ("l2", "bobs_kid")):
            await _execute(
                'INSERT INTO "type_parents" ("id", "created_at", "updated_at", "child_id", "parent_id", "position") '
                "VALUES (?, ?, ?, ?, ?, ?)", link_id, now, now, child, "base", 0,
            )
    finally:
        await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        links = await _rows('SELECT "id", "basis", "contract_id" FROM "type_parents" ORDER BY "id"')
        policies = {row["licensing"] for row in await _rows('SELECT "licensing" FROM "token_types"')}
    finally:
        await Tortoise.close_connections()
    assert links == [
        {"id": "l1", "basis": "own", "contract_id": None},  # same owner
        {"id": "l2", "basis": "grandfathered", "contract_id": None},  # bob's child of alice's type keeps working
    ]
    assert policies == {"contract"}


async def test_upgrade_to_0022__organization_members_and_voters_keep_their_user_and_get_its_actor(
    empty_database: str,
) -> None:
    config = tortoise_config(empty_database)
    await migrate(config=config, target="tallystick.0021_organizations")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        now = datetime.now(UTC)
        for actor_id, name, kind in (("a1", "alice", "Person"), ("a2", "bob", "Person"), ("a3", "acme", "Organization")):
            await _execute(
                'INSERT INTO "actors" ("id", "created_at", "updated_at", "kind", "username", "domain", "display_name", '
                '"summary") VALUES (?, ?, ?, ?, ?, ?, ?, ?)', actor_id, now, now, kind, name, "", "", "",
            )
        for user_id, actor_id, name in (("u1", "a1", "alice"), ("u2", "a2", "bob")):
            await _execute(
                'INSERT INTO "users" ("id", "created_at", "updated_at", "actor_id", "username", "email", "password_hash", '
                '"roles", "status") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', user_id, now, now, actor_id, name, "", "x", "[]",
                "active",
            )
        await _execute(
            'INSERT INTO "organizations" ("id", "created_at", "updated_at", "actor_id", "created_by_id", "quorum_percent", '
            '"voting_seconds") VALUES (?, ?, ?, ?, ?, ?, ?)', "o1", now, now, "a3", "u1", 50, 3600,
        )
        for member_id, user_id, role in (("m1", "u1", "owner"), ("m2", "u2", "member")):
            await _execute(
                'INSERT INTO "organization_members" ("id", "created_at", "updated_at", "organization_id", "user_id", "role") '
                "VALUES (?, ?, ?, ?, ?, ?)", member_id, now, now, "o1", user_id, role,
            )
        await _execute(
            'INSERT INTO "organization_proposals" ("id", "created_at", "updated_at", "state", "attempts", "organization_id", '
            '"proposer_id", "title", "description", "steps", "deadline", "quorum_percent", "total_shares", "yes", "no", '
            '"abstain") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            "p1", now, now, "open", 0, "o1", "u1", "Pay", "", "[]", now, 50, 10, 0, 0, 0,
        )
        await _execute(
            'INSERT INTO "organization_voters" ("id", "created_at", "updated_at", "proposal_id", "user_id", "shares", "choice") '
            "VALUES (?, ?, ?, ?, ?, ?, ?)", "v1", now, now, "p1", "u2", 10, "yes",
        )
    finally:
        await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        members = await _rows('SELECT "id", "user_id", "actor_id", "role" FROM "organization_members" ORDER BY "id"')
        voters = await _rows('SELECT "user_id", "actor_id", "shares", "choice" FROM "organization_voters"')
    finally:
        await Tortoise.close_connections()
    assert members == [
        {"id": "m1", "user_id": "u1", "actor_id": "a1", "role": "owner"},
        {"id": "m2", "user_id": "u2", "actor_id": "a2", "role": "member"},
    ]
    assert voters == [{"user_id": "u2", "actor_id": "a2", "shares": 10, "choice": "yes"}]
