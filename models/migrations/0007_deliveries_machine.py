"""Deliveries run on the engine (issue 15): the shared lease columns of `Durable`.

`lease` (which sweep claimed the current try) becomes `lease_owner`, and the lease gets its
own deadline, `lease_expires_at`, instead of borrowing `next_at`. Existing rows keep working:
a pending row stays due when it was due; a row a sweep had claimed when the server stopped
keeps its claim deadline in `next_at`, so its lease marker is dropped and it is tried again
once that deadline passes, as before.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0006_jobs_machine")]

    operations = [
        ops.RenameField(model_name="Delivery", old_name="lease", new_name="lease_owner"),
        ops.AlterField(model_name="Delivery", name="lease_owner", field=fields.CharField(null=True, max_length=100)),
        ops.AddField(
            model_name="Delivery",
            name="lease_expires_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunSQL('UPDATE "deliveries" SET "lease_owner" = NULL', reverse_sql=ops.RunSQL.noop),
    ]
