"""Pools (issue 18): pools and sub-pools, their members, batches with their scheduled slices
(machine rows), reservations (machine rows) and the outputs pools generated. New tables only."""

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


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0015_lot_visibility")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Pool",
            fields=[
                *_entity(),
                ("parent", _fk("Pool", "parent_id", "subpools", null=True)),
                ("owner", _fk("Actor", "owner_id", "pools")),
                ("type", _fk("TokenType", "type_id", "pools")),
                ("name", fields.CharField(max_length=200)),
                ("capacity", fields.BigIntField()),
                ("generated", fields.BigIntField(default=0)),
                ("reserved", fields.BigIntField(default=0)),
                ("allotted", fields.BigIntField(default=0)),
                ("no_resale", fields.BooleanField(default=False)),
                ("template", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ("max_per_user", fields.BigIntField(null=True)),
                ("reservers", fields.CharField(default="anyone", max_length=8)),
            ],
            options={"table": "pools", "app": "tallystick", "pk_attr": "id",
                     "indexes": [Index(fields=["type_id"]), Index(fields=["owner_id"]), Index(fields=["parent_id"])]},
            bases=["Entity"],
        ),
        ops.CreateModel(
            name="PoolMember",
            fields=[
                *_entity(),
                ("pool", _fk("Pool", "pool_id", "members", OnDelete.CASCADE)),
                ("actor", _fk("Actor", "actor_id", "pool_memberships", OnDelete.CASCADE)),
                ("listed", fields.BooleanField(default=False)),
                ("taken", fields.BigIntField(default=0)),
            ],
            options={"table": "pool_members", "table_description": "A user's standing in one part: listed or not, and what they took from it.", "app": "tallystick", "pk_attr": "id", "unique_together": (("pool", "actor"),),
                     "indexes": [Index(fields=["actor_id"])]},
            bases=["Entity"],
        ),
        ops.CreateModel(
            name="Batch",
            fields=[
                *_entity(),
                ("pool", _fk("Pool", "pool_id", "batches")),
                ("owner", _fk("Actor", "owner_id", "pool_batches")),
                ("quantity", fields.BigIntField()),
                ("generated", fields.BigIntField(default=0)),
                ("size", fields.BigIntField(null=True)),
                ("period", fields.IntField(null=True)),
                ("state", fields.CharField(default="done", max_length=12)),
                ("reservation_id", fields.CharField(null=True, max_length=26)),
            ],
            options={"table": "pool_batches", "table_description": "A quantity of a part assigned to one owner: generated at once, or `size` every `period` seconds.", "app": "tallystick", "pk_attr": "id",
                     "indexes": [Index(fields=["pool_id"]), Index(fields=["owner_id"])]},
            bases=["Entity"],
        ),
        ops.CreateModel(
            name="Generation",
            fields=[
                *_durable(),
                *_entity(),
                ("batch", _fk("Batch", "batch_id", "generations", OnDelete.CASCADE)),
                ("quantity", fields.BigIntField()),
            ],
            options={"table": "pool_generations", "app": "tallystick", "pk_attr": "id",
                     "indexes": [Index(fields=["state", "next_at"])],
                     "table_description": "One slice of a scheduled batch: a row of the POOL_GENERATIONS machine, due at its time."},
            bases=["Durable", "Entity"],
        ),
        ops.CreateModel(
            name="Reservation",
            fields=[
                *_durable(),
                *_entity(),
                ("pool", _fk("Pool", "pool_id", "reservations")),
                ("actor", _fk("Actor", "actor_id", "pool_reservations")),
                ("quantity", fields.BigIntField()),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("batch_id", fields.CharField(null=True, max_length=26)),
            ],
            options={"table": "pool_reservations", "app": "tallystick", "pk_attr": "id",
                     "indexes": [Index(fields=["pool_id", "state"]), Index(fields=["actor_id", "state"]),
                                 Index(fields=["state", "next_at"])],
                     "table_description": "A quantity a user reserved from a part until it expires: a POOL_RESERVATIONS row."},
            bases=["Durable", "Entity"],
        ),
        ops.CreateModel(
            name="PoolOutput",
            fields=[
                *_entity(),
                ("entry", fields.OneToOneField("tallystick.LedgerEntry", source_field="entry_id", db_constraint=True,
                                               to_field="id", related_name="pool_output", on_delete=OnDelete.CASCADE)),
                ("pool", _fk("Pool", "pool_id", "outputs")),
                ("batch", _fk("Batch", "batch_id", "outputs")),
                ("holder_id", fields.CharField(max_length=26)),
                ("type_id", fields.CharField(max_length=26)),
                ("pool_owner_id", fields.CharField(max_length=26)),
                ("no_resale", fields.BooleanField(default=False)),
            ],
            options={"table": "pool_outputs", "table_description": "An output a pool generated (a create entry), and whether it may be resold (see the module).", "app": "tallystick", "pk_attr": "id",
                     "indexes": [Index(fields=["holder_id", "type_id"])]},
            bases=["Entity"],
        ),
    ]
