"""Jobs run on the engine (models/engine): they take the shared bookkeeping columns.

Two columns are new: next_at (null: due now, as every queued job was) and last_error. Existing
jobs keep working unchanged.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0005_ledger_flag_authors")]

    operations = [
        ops.AddField(
            model_name="Job",
            name="next_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(model_name="Job", name="last_error", field=fields.CharField(max_length=500, null=True)),
    ]
