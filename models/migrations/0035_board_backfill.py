"""A board's history copied to a mirror (issue 22): a backfill of a group counts the threads it
copied and how many the group lists. Existing rows get 0 and NULL (no board history)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0034_board_refusals")]

    operations = [
        ops.AddField(model_name="Backfill", name="threads", field=fields.IntField(default=0)),
        ops.AddField(model_name="Backfill", name="total", field=fields.IntField(null=True)),
    ]
