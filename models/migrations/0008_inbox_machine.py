"""Inbox activities run on the engine (issue 15): the shared bookkeeping columns.

`lease_owner` says which worker holds a claimed row and `last_error` why the last try failed,
as on every durable model (models/engine). `outcome` stays: it is what processing did, as the
inbox list shows it. Existing rows keep working: a row whose try failed kept the reason in
`outcome` ("try N failed: ..." while it waits, "failed after N tries: ..." once it gave up);
that text moves to `last_error`, where the engine keeps it, and `outcome` is left for results.
A row claimed by a worker that is gone has no owner and an expired lease, so it is due again.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def move_errors(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(
        'UPDATE "inbox_activities" SET "last_error" = "outcome", "outcome" = NULL '
        "WHERE \"state\" IN ('queued', 'running', 'failed') "
        "AND (\"outcome\" LIKE 'try % failed: %' OR \"outcome\" LIKE 'failed after % tries: %')"
    )


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0006_jobs_machine")]

    operations = [
        ops.AddField(
            model_name="InboxActivity",
            name="lease_owner",
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name="InboxActivity",
            name="last_error",
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.RunPython(move_errors),
    ]
