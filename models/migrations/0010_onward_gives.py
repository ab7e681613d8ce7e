"""Tokens that travel (issue 16): gives onward from holdings on other servers.

Three new tables, nothing existing changes. `onward_gives` (a machine on the engine) holds the
gives and burns our users ask of a remote origin; `remote_debits` what an origin spent of our
users' remote holdings; `ledger_requests` the remote holders' requests this server, as origin,
carried out, so a repeat gets the same entry.
"""

from __future__ import annotations

from typing import Any

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


def _entity() -> list[tuple[str, fields.Field[Any]]]:
    return [
        ("id", fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
        ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
        ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
    ]


def _actor(name: str, related: str) -> tuple[str, fields.Field[Any]]:
    return (name, fields.ForeignKeyField(
        "tallystick.Actor", source_field=f"{name}_id", db_constraint=True, to_field="id", related_name=related,
        on_delete=OnDelete.CASCADE,
    ))


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0009_webhook_and_callback_machines")]

    operations = [
        ops.CreateModel(
            name="OnwardGive",
            fields=[
                *_entity(),
                ("state", fields.CharField(max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("next_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("lease_owner", fields.CharField(null=True, max_length=100)),
                ("lease_expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_error", fields.CharField(null=True, max_length=500)),
                _actor("holder", "onward_gives"),
                ("kind", fields.CharField(max_length=8)),
                ("type_uri", fields.CharField(max_length=2048)),
                ("symbol", fields.CharField(default="", max_length=64)),
                ("endpoint", fields.CharField(max_length=2048)),
                ("amount", fields.CharField(max_length=40)),
                ("target_uri", fields.CharField(null=True, max_length=2048)),
                ("target_handle", fields.CharField(default="", max_length=320)),
                ("sources", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("description", fields.TextField(default="")),
                ("request_uri", fields.CharField(unique=True, max_length=2048)),
                ("entry_uri", fields.CharField(null=True, max_length=2048)),
                ("answer", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ("last_status", fields.IntField(null=True)),
            ],
            options={
                "table": "onward_gives", "app": "tallystick", "pk_attr": "id",
                "indexes": [Index(fields=["state", "next_at"]), Index(fields=["holder_id", "type_uri"])],
                "table_description": "A give or burn of units held on another server, asked of their origin in the holder's name.",
            },
            bases=["Durable", "Entity"],
        ),
        ops.CreateModel(
            name="RemoteDebit",
            fields=[
                *_entity(),
                ("entry_uri", fields.CharField(unique=True, max_length=2048)),
                _actor("holder", "remote_spends"),
                ("type_uri", fields.CharField(max_length=2048)),
                ("kind", fields.CharField(max_length=8)),
                ("amount", fields.CharField(max_length=40)),
                ("sources", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={
                "table": "remote_debits", "app": "tallystick", "pk_attr": "id",
                "indexes": [Index(fields=["holder_id", "type_uri"])],
                "table_description": "Units of a remote holding the origin spent: a give or burn it recorded in our user's name",
            },
            bases=["Entity"],
        ),
        ops.CreateModel(
            name="LedgerRequest",
            fields=[
                *_entity(),
                ("request_uri", fields.CharField(unique=True, max_length=2048)),
                _actor("actor", "ledger_requests"),
                ("entry", fields.ForeignKeyField(
                    "tallystick.LedgerEntry", source_field="entry_id", db_constraint=True, to_field="id",
                    related_name="requests", on_delete=OnDelete.CASCADE,
                )),
            ],
            options={
                "table": "ledger_requests", "app": "tallystick", "pk_attr": "id",
                "table_description": "A remote holder's signed request this origin carried out, by the request's id: a repeat",
            },
            bases=["Entity"],
        ),
    ]
