"""Who sees a lot (issue 17): a visibility column on lots (every existing lot stays public) and
the users a `listed` lot is shown to. Existing rows are untouched."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0014_remote_bids")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Lot", name="visibility", field=fields.CharField(max_length=12, default="public", db_default="public"),
        ),
        ops.CreateModel(
            name="LotViewer",
            fields=[
                ("id", fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ("lot", fields.ForeignKeyField("tallystick.Lot", source_field="lot_id", db_constraint=True, to_field="id",
                                               related_name="viewers", on_delete=OnDelete.CASCADE)),
                ("actor", fields.ForeignKeyField("tallystick.Actor", source_field="actor_id", db_constraint=True, to_field="id",
                                                 related_name="listed_lots", on_delete=OnDelete.CASCADE)),
            ],
            options={"table": "market_lot_viewers", "app": "tallystick", "unique_together": (("lot", "actor"),),
                     "indexes": [Index(fields=["actor_id"])], "pk_attr": "id", "table_description": "One user a `listed` lot is shown to."},
            bases=["Entity"],
        ),
    ]
