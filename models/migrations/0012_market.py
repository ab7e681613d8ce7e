"""The marketplace, first slice (issue 17): lots, their bids and offers, and the close of a lot
at its closing time (a machine row). New tables only; existing rows are untouched."""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0011_backfill')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Lot',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('seller', fields.ForeignKeyField('tallystick.Actor', source_field='seller_id', db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.RESTRICT)),
                ('escrow', fields.ForeignKeyField('tallystick.Actor', source_field='escrow_id', db_constraint=True, to_field='id', related_name='escrow_lots', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(max_length=20)),
                ('state', fields.CharField(default='open', max_length=16)),
                ('title', fields.CharField(default='', max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('item_type', fields.ForeignKeyField('tallystick.TokenType', source_field='item_type_id', db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.RESTRICT)),
                ('item_amount', fields.BigIntField()),
                ('tokens', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('set_id', fields.CharField(null=True, max_length=26)),
                ('item_hold', fields.ForeignKeyField('tallystick.LedgerEntry', source_field='item_hold_id', null=True, db_constraint=True, to_field='id', related_name='lot_holds', on_delete=OnDelete.RESTRICT)),
                ('price_type', fields.ForeignKeyField('tallystick.TokenType', source_field='price_type_id', db_constraint=True, to_field='id', related_name='priced_lots', on_delete=OnDelete.RESTRICT)),
                ('price', fields.BigIntField(null=True)),
                ('start_price', fields.BigIntField(null=True)),
                ('reserve', fields.BigIntField(null=True)),
                ('buy_now', fields.BigIntField(null=True)),
                ('min_increment', fields.BigIntField(null=True)),
                ('opens_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closes_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('bid_count', fields.IntField(default=0)),
                ('best_bid_id', fields.CharField(null=True, max_length=26)),
                ('best_amount', fields.BigIntField(null=True)),
                ('winner', fields.ForeignKeyField('tallystick.Actor', source_field='winner_id', null=True, db_constraint=True, to_field='id', related_name='won_lots', on_delete=OnDelete.RESTRICT)),
                ('sold_price', fields.BigIntField(null=True)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'market_lots', 'app': 'tallystick', 'indexes': [Index(fields=['state', 'closes_at']), Index(fields=['seller_id', 'state']), Index(fields=['item_type_id', 'state'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Bid',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('lot', fields.ForeignKeyField('tallystick.Lot', source_field='lot_id', db_constraint=True, to_field='id', related_name='bids', on_delete=OnDelete.CASCADE)),
                ('bidder', fields.ForeignKeyField('tallystick.Actor', source_field='bidder_id', db_constraint=True, to_field='id', related_name='market_bids', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(max_length=8)),
                ('amount', fields.BigIntField()),
                ('max_amount', fields.BigIntField(null=True)),
                ('state', fields.CharField(default='held', max_length=16)),
                ('hold', fields.ForeignKeyField('tallystick.LedgerEntry', source_field='hold_id', db_constraint=True, to_field='id', related_name='bid_holds', on_delete=OnDelete.RESTRICT)),
                ('settled', fields.ForeignKeyField('tallystick.LedgerEntry', source_field='settled_id', null=True, db_constraint=True, to_field='id', related_name='bid_settlements', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'market_bids', 'app': 'tallystick', 'indexes': [Index(fields=['lot_id', 'state']), Index(fields=['bidder_id', 'state'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='LotClose',
            fields=[
                ('state', fields.CharField(max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('lot', fields.OneToOneField('tallystick.Lot', source_field='lot_id', db_constraint=True, to_field='id', related_name='close', on_delete=OnDelete.CASCADE)),
                ('outcome', fields.CharField(null=True, max_length=16)),
            ],
            options={'table': 'market_closes', 'app': 'tallystick', 'indexes': [Index(fields=['state', 'next_at'])], 'pk_attr': 'id', 'table_description': 'The close of a lot with a closing time: a row of the MARKET_CLOSES machine, due at closes_at.'},
            bases=['Durable', 'Entity'],
        ),
    ]
