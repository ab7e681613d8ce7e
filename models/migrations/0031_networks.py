"""Networks, discoveries and distributions (issue 21, items 3-5): networks of external accounts
(token sets of network-entry tokens), their entries by actor URL, discoveries (machine rows),
distributions (machine rows: the allocation run) and their allocations (machine rows: the
expiry). New tables only."""

from typing import Any

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


def _entity() -> list[tuple[str, Any]]:
    return [
        ("id", fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
        ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
        ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
    ]


def _durable() -> list[tuple[str, Any]]:
    return [
        ("state", fields.CharField(max_length=16)),
        ("attempts", fields.IntField(default=0)),
        ("next_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ("lease_owner", fields.CharField(null=True, max_length=100)),
        ("lease_expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ("last_error", fields.CharField(null=True, max_length=500)),
    ]


def _fk(model: str, column: str, related: str, on_delete: OnDelete = OnDelete.RESTRICT, null: bool = False) -> Any:
    field: Any = fields.ForeignKeyField
    return field(f"tallystick.{model}", source_field=column, null=null, db_constraint=True, to_field="id",
                 related_name=related, on_delete=on_delete)


def _json(default: Any) -> Any:
    return fields.JSONField(default=default, encoder=JSON_DUMPS, decoder=loads)


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0030_identities")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Network",
            fields=[
                *_entity(),
                ("set", fields.OneToOneField("tallystick.TokenSet", source_field="set_id", db_constraint=True,
                                             to_field="id", related_name="network", on_delete=OnDelete.RESTRICT)),
                ("owner", _fk("Actor", "owner_id", "networks")),
                ("entry_type", _fk("TokenType", "entry_type_id", "networks")),
                ("parent", _fk("Network", "parent_id", "subnetworks", null=True)),
                ("filters", _json(list)),
            ],
            options={"table": "networks", "app": "tallystick", "pk_attr": "id",
                     "indexes": [Index(fields=["owner_id"]), Index(fields=["parent_id"])]},
            bases=["Entity"],
        ),
        ops.CreateModel(
            name="NetworkEntry",
            fields=[
                *_entity(),
                ("network", _fk("Network", "network_id", "entries", OnDelete.CASCADE)),
                ("token", _fk("Token", "token_id", "network_entries", OnDelete.CASCADE)),
                ("actor_url", fields.CharField(max_length=2048)),
                ("handle", fields.CharField(default="", max_length=300)),
            ],
            options={"table": "network_entries", "app": "tallystick", "pk_attr": "id",
                     "table_description": "One external account in one network: the token that stands for it, and its actor URL.",
                     "unique_together": (("network", "actor_url"),), "indexes": [Index(fields=["actor_url"])]},
            bases=["Entity"],
        ),
        ops.CreateModel(
            name="Discovery",
            fields=[
                *_durable(),
                *_entity(),
                ("network", _fk("Network", "network_id", "discoveries", OnDelete.CASCADE)),
                ("owner", _fk("Actor", "owner_id", "discoveries")),
                ("plugin", fields.CharField(default="fediverse", max_length=64)),
                ("start", fields.CharField(max_length=2048)),
                ("actor_url", fields.CharField(null=True, max_length=2048)),
                ("collections", _json(list)),
                ("next_url", fields.CharField(null=True, max_length=2048)),
                ("pages", fields.IntField(default=0)),
                ("found", fields.IntField(default=0)),
                ("seen", fields.IntField(default=0)),
                ("skipped", fields.IntField(default=0)),
                ("note", fields.CharField(null=True, max_length=500)),
            ],
            options={"table": "network_discoveries", "app": "tallystick", "pk_attr": "id",
                     "table_description": "Reading an account's followers/following into a network: a row of networks.discoveries.",
                     "indexes": [Index(fields=["state", "next_at"]), Index(fields=["network_id"])]},
            bases=["Durable", "Entity"],
        ),
        ops.CreateModel(
            name="Distribution",
            fields=[
                *_durable(),
                *_entity(),
                ("owner", _fk("Actor", "owner_id", "distributions")),
                ("network", _fk("Network", "network_id", "distributions")),
                ("escrow", _fk("Actor", "escrow_id", "escrow_distributions")),
                ("type", _fk("TokenType", "type_id", "distributions")),
                ("name", fields.CharField(max_length=200)),
                ("amount", fields.BigIntField()),
                ("entries", fields.IntField()),
                ("entry_cursor", fields.CharField(default="", max_length=26)),
                ("max_entry_id", fields.CharField(max_length=26)),
                ("allocated", fields.IntField(default=0)),
                ("claimed", fields.IntField(default=0)),
                ("expired", fields.IntField(default=0)),
                ("hold_id", fields.CharField(max_length=26)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("note", fields.CharField(null=True, max_length=500)),
            ],
            options={"table": "distributions", "app": "tallystick", "pk_attr": "id",
                     "table_description": "A distribution and its run (the machine distributions.runs): state, progress, note.",
                     "indexes": [Index(fields=["owner_id"]), Index(fields=["state", "next_at"]), Index(fields=["network_id"])]},
            bases=["Durable", "Entity"],
        ),
        ops.CreateModel(
            name="Allocation",
            fields=[
                *_durable(),
                *_entity(),
                ("distribution", _fk("Distribution", "distribution_id", "allocations")),
                ("actor_url", fields.CharField(max_length=2048)),
                ("handle", fields.CharField(default="", max_length=300)),
                ("entry_token_id", fields.CharField(max_length=26)),
                ("amount", fields.BigIntField()),
                ("claimed_by_id", fields.CharField(null=True, max_length=26)),
                ("entry_id", fields.CharField(null=True, max_length=26)),
            ],
            options={"table": "distribution_allocations", "app": "tallystick", "pk_attr": "id",
                     "table_description": "What one external identity (an actor URL) is owed by a distribution: a distributions.expiries row.",
                     "unique_together": (("distribution", "actor_url"),),
                     "indexes": [Index(fields=["actor_url", "state"]), Index(fields=["state", "next_at"])]},
            bases=["Durable", "Entity"],
        ),
    ]
