"""Salts for the commitments to private attribute values (issue 14, item 6).

Every existing token gets a random salt seed (`{"*": seed}`, models/commitments.py), so its
private values are committed to with salts nobody outside can guess. The content hash of a
token whose type (or a parent type) has a private or owner-readable attribute changes: it no
longer covers the values. So that no hash goes wrong silently, such a token gets version + 1,
its stored hash is cleared (the old one hashed the values; the next write stores the new
one; views and verification answers always compute it), and a `token.updated` event is
written, which federates an Update with the new `contentHash` and `commitments` to every
server that follows it. A copy still holding the old hash is answered `outdated` (the old
hash is in the token's event history, at the old version).
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops
from orjson import loads

from models.ids import new_id
from models.tokens import new_salts


def _json(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value


def _hidden(definitions: Any) -> bool:
    return any(
        isinstance(item, dict) and (item.get("private") is True or item.get("read") == "owner")
        for item in (_json(definitions) or [])
    )


def _types_with_private_attributes(types: list[dict[str, Any]], links: list[dict[str, Any]]) -> set[str]:
    """Types with a private definition of their own or in any ancestor (a definition that a
    nearer public one overrides still counts: one version bump too many does no harm)."""
    parents: dict[str, list[str]] = {}
    for link in links:
        parents.setdefault(link["child_id"], []).append(link["parent_id"])
    own = {row["id"] for row in types if _hidden(row["attributes"])}
    found: set[str] = set()
    for row in types:
        seen, stack = set(), [row["id"]]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in own:
                found.add(row["id"])
                break
            stack += parents.get(current, [])
    return found


async def add_salts(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"

    def query(text: str) -> str:
        if not postgres:
            return text
        index = 0
        out = []
        for char in text:
            if char == "?":
                index += 1
                out.append(f"${index}")
            else:
                out.append(char)
        return "".join(out)

    types = await client.execute_query_dict('SELECT "id", "attributes" FROM "token_types"')
    links = await client.execute_query_dict('SELECT "child_id", "parent_id" FROM "type_parents"')
    private_types = _types_with_private_attributes(types, links)
    tokens = await client.execute_query_dict(
        'SELECT "id", "type_id", "owner_id", "version", "is_deleted" FROM "tokens"'
    )
    now = datetime.now(UTC)
    for token in tokens:
        seed = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")
        salts = orjson.dumps({"*": seed}).decode()
        if token["type_id"] not in private_types or token["is_deleted"]:
            await client.execute_query(query('UPDATE "tokens" SET "salts" = ? WHERE "id" = ?'), [salts, token["id"]])
            continue
        version = int(token["version"]) + 1
        await client.execute_query(
            query('UPDATE "tokens" SET "salts" = ?, "version" = ?, "content_hash" = ? WHERE "id" = ?'),
            [salts, version, "", token["id"]],
        )
        payload = {"version": version, "fields": [], "reason": "private values are now salted commitments"}
        await client.execute_query(
            query(
                'INSERT INTO "events" ("id", "created_at", "updated_at", "name", "actor_id", "object_type", '
                '"object_id", "payload") VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
            ),
            [new_id(), now, now, "token.updated", token["owner_id"], "token", token["id"], orjson.dumps(payload).decode()],
        )


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0002_inbox_retry_and_key_ids")]

    operations = [
        ops.AddField(
            model_name="Token",
            name="salts",
            field=fields.JSONField(default=new_salts, db_default="{}", encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.RunPython(add_salts),
    ]
