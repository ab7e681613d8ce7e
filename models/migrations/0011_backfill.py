"""Backfill on follow (issue 16, item 3): one row per accepted follow of a remote actor or
object, copying what it held before the follow. A new table only; existing rows are untouched
(follows accepted before this upgrade get no backfill: they were already receiving changes)."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0010_onward_gives")]

    operations = [
        ops.CreateModel(
            name="Backfill",
            fields=[
                ("id", fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ("follow", fields.OneToOneField("tallystick.Follow", source_field="follow_id", db_constraint=True, to_field="id", related_name="backfill", on_delete=OnDelete.CASCADE)),
                ("state", fields.CharField(default="pending", max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("next_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("lease_owner", fields.CharField(null=True, max_length=100)),
                ("lease_expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_error", fields.CharField(null=True, max_length=500)),
                ("next_url", fields.CharField(null=True, max_length=2048)),
                ("pages", fields.IntField(default=0)),
                ("copied", fields.IntField(default=0)),
                ("refused", fields.IntField(default=0)),
                ("members", fields.JSONField(default=list)),
                ("note", fields.CharField(null=True, max_length=500)),
            ],
            options={"table": "federation_backfills", "app": "tallystick", "indexes": [Index(fields=["state", "next_at"])], "pk_attr": "id", "table_description": "Copying what a followed remote actor (or one followed object) held before the follow"},
            bases=["Entity"],
        ),
    ]
