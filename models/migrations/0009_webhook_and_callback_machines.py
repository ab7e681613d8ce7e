"""Webhook deliveries and job callbacks become engine machines (issue 15, items 1-2).

`webhook_deliveries` gets the lease columns (lease_owner, lease_expires_at) the engine claims
with; its other bookkeeping columns (state, attempts, next_at, last_error) keep their names, so a
pending delivery stays due. Job callbacks move from seven `callback_*` columns on `jobs` to their
own `job_callbacks` table (a job row cannot carry two machines' bookkeeping): every job with a
callback URL gets a row (whose id is the job's id) with its state, tries, next try, last status
and error copied over. A callback of a job that has not finished is `waiting` (it becomes due
when the job finishes); a finished job's callback keeps `pending`, `delivered` or `failed`.
Then the columns are dropped.

On SQLite, dropping columns rebuilds `jobs` from the migrations' model state, so this migration
must come after every other migration that changes `jobs` (here: 0006; it follows 0008).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id

FINISHED = ("succeeded", "failed", "cancelled")
CALLBACK_COLUMNS = (
    "callback_url", "callback_state", "callback_attempts", "callback_last_status", "callback_last_error",
    "callback_next_at", "callback_delivered_at",
)


async def stage_callbacks(apps: Any, schema_editor: Any) -> None:
    """Keep the callback columns aside: on SQLite, dropping columns rebuilds `jobs`, and dropping
    the old table would cascade to rows already pointing at it."""
    await schema_editor.client.execute_script(
        'CREATE TABLE "job_callbacks_upgrade" AS SELECT "id", "state", "updated_at", "callback_url", '
        '"callback_state", "callback_attempts", "callback_last_status", "callback_last_error", '
        '"callback_next_at", "callback_delivered_at" FROM "jobs" WHERE "callback_url" IS NOT NULL'
    )


async def copy_callbacks(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"

    def params(count: int) -> str:
        return ", ".join(f"${index}" if postgres else "?" for index in range(1, count + 1))

    for row in await client.execute_query_dict('SELECT * FROM "job_callbacks_upgrade"'):
        if row["state"] not in FINISHED:
            state = "waiting"
        elif row["callback_state"] in ("delivered", "failed"):
            state = row["callback_state"]
        else:
            state = "pending"
        await client.execute_query(
            'INSERT INTO "job_callbacks" ("id", "created_at", "updated_at", "job_id", "url", "state", "attempts", '
            '"next_at", "lease_owner", "lease_expires_at", "last_error", "last_status", "delivered_at") '
            f"VALUES ({params(13)})",
            [
                row["id"], row["updated_at"], row["updated_at"], row["id"], row["callback_url"], state,
                row["callback_attempts"] or 0, row["callback_next_at"] if state == "pending" else None, None, None,
                row["callback_last_error"], row["callback_last_status"], row["callback_delivered_at"],
            ],
        )
    await client.execute_script('DROP TABLE "job_callbacks_upgrade"')


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0008_inbox_machine")]

    operations = [
        ops.AddField(
            model_name="WebhookDelivery",
            name="lease_owner",
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name="WebhookDelivery",
            name="lease_expires_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(stage_callbacks),
        *(ops.RemoveField(model_name="Job", name=column) for column in CALLBACK_COLUMNS),
        ops.CreateModel(
            name="JobCallback",
            fields=[
                ("id", fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ("job", fields.OneToOneField("tallystick.Job", source_field="job_id", db_constraint=True, to_field="id", related_name="callback", on_delete=OnDelete.CASCADE)),
                ("url", fields.CharField(max_length=2048)),
                ("state", fields.CharField(default="waiting", max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("next_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("lease_owner", fields.CharField(null=True, max_length=100)),
                ("lease_expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_error", fields.CharField(null=True, max_length=500)),
                ("last_status", fields.IntField(null=True)),
                ("delivered_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "job_callbacks", "app": "tallystick", "indexes": [Index(fields=["state", "next_at"])], "pk_attr": "id", "table_description": "Where to POST a finished job's record, and how that went."},
            bases=["Entity"],
        ),
        ops.RunPython(copy_callbacks),
    ]
