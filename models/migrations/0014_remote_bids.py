"""Bids from other servers (issue 17): a give onward may be a bid on a lot of the origin's.

Two columns on onward_gives: is_bid (false for every existing row: they are gives and burns)
and bid_amount (a proxy bid's opening bid; null otherwise). Existing rows are untouched.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0013_market_auctions")]

    operations = [
        ops.AddField(model_name="OnwardGive", name="is_bid", field=fields.BooleanField(default=False, db_default=False)),
        ops.AddField(model_name="OnwardGive", name="bid_amount", field=fields.CharField(max_length=40, null=True)),
    ]
