"""Inbox activities wait before a retry (next_at); remote actors are found by their key id.

Existing rows keep working: a NULL next_at means "due now", as before.
"""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0001_initial")]

    operations = [
        ops.AddField(
            model_name="InboxActivity",
            name="next_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(model_name="InboxActivity", index=Index(fields=["state", "next_at"])),
        ops.AddIndex(model_name="RemoteActor", index=Index(fields=["key_id"])),
    ]
