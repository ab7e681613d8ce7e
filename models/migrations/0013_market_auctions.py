"""Dutch and sealed auctions and the english auction's soft close (issue 17): three columns on
lots, all null for existing lots (which keep working unchanged), and an index to find the lot
of an escrow (the ledger asks which escrows belong to open sealed lots). Bids may now also be
"withdrawn" (a state value: no schema change)."""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0012_market')]

    initial = False

    operations = [
        ops.AddField(model_name='Lot', name='price_drop', field=fields.BigIntField(null=True)),
        ops.AddField(model_name='Lot', name='drop_every', field=fields.IntField(null=True)),
        ops.AddField(model_name='Lot', name='extend_by', field=fields.IntField(null=True)),
        ops.AddIndex(model_name='Lot', index=Index(fields=['escrow_id', 'state'])),
    ]
