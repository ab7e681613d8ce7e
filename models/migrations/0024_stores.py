"""Stores (issue 20, items 1-3): stores of an organization, their staff and items, orders (rows of
the STORE_ORDERS machine) with their lines and payment deadlines (STORE_PAYMENT_DEADLINES), and
the feedback on an order."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.ids import new_id
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tallystick', '0023_remote_parents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Store',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('organization', fields.ForeignKeyField('tallystick.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='stores', on_delete=OnDelete.RESTRICT)),
                ('slug', fields.CharField(unique=True, max_length=40)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('categories', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('base_type', fields.ForeignKeyField('tallystick.TokenType', source_field='base_type_id', db_constraint=True, to_field='id', related_name='stores', on_delete=OnDelete.RESTRICT)),
                ('escrow', fields.OneToOneField('tallystick.Actor', source_field='escrow_id', db_constraint=True, to_field='id', related_name='store_escrow', on_delete=OnDelete.RESTRICT)),
                ('returns', fields.CharField(default='returns', max_length=8)),
                ('commission_percent', fields.IntField(default=0)),
                ('confirm_seconds', fields.IntField(default=1209600)),
                ('pay_within_seconds', fields.IntField(default=86400)),
                ('is_open', fields.BooleanField(default=True)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'stores', 'app': 'tallystick', 'indexes': [Index(fields=['organization_id'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Order',
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
                ('store', fields.ForeignKeyField('tallystick.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.RESTRICT)),
                ('buyer', fields.ForeignKeyField('tallystick.Actor', source_field='buyer_id', db_constraint=True, to_field='id', related_name='store_orders', on_delete=OnDelete.RESTRICT)),
                ('salesman', fields.ForeignKeyField('tallystick.User', source_field='salesman_id', null=True, db_constraint=True, to_field='id', related_name='store_sales', on_delete=OnDelete.RESTRICT)),
                ('price_type', fields.ForeignKeyField('tallystick.TokenType', source_field='price_type_id', db_constraint=True, to_field='id', related_name='store_orders', on_delete=OnDelete.RESTRICT)),
                ('total', fields.BigIntField(default=0)),
                ('commission_percent', fields.IntField(default=0)),
                ('payment_hold_id', fields.CharField(null=True, max_length=26)),
                ('resolution', fields.CharField(null=True, max_length=12)),
                ('history', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('settled', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('ordered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('fulfilled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'store_orders', 'app': 'tallystick', 'indexes': [Index(fields=['store_id', 'state']), Index(fields=['buyer_id', 'state']), Index(fields=['salesman_id']), Index(fields=['state', 'next_at'])], 'pk_attr': 'id', 'table_description': "A buyer's order from one store: a STORE_ORDERS row (see the module)."},
            bases=['Durable', 'Entity'],
        ),
        ops.CreateModel(
            name='OrderFeedback',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('order', fields.OneToOneField('tallystick.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='feedback', on_delete=OnDelete.CASCADE)),
                ('store', fields.ForeignKeyField('tallystick.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='feedback', on_delete=OnDelete.CASCADE)),
                ('rating', fields.IntField()),
                ('review', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'store_feedback', 'app': 'tallystick', 'indexes': [Index(fields=['store_id'])], 'pk_attr': 'id', 'table_description': "The buyer's rating and review of an order that ended: shown on its items and its store."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PaymentDeadline',
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
                ('order', fields.OneToOneField('tallystick.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='payment_deadline', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'store_payment_deadlines', 'app': 'tallystick', 'indexes': [Index(fields=['state', 'next_at'])], 'pk_attr': 'id', 'table_description': 'When a placed order must be paid by: a STORE_PAYMENT_DEADLINES row, due at next_at.'},
            bases=['Durable', 'Entity'],
        ),
        ops.CreateModel(
            name='StoreItem',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('store', fields.ForeignKeyField('tallystick.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.CASCADE)),
                ('type', fields.OneToOneField('tallystick.TokenType', source_field='type_id', db_constraint=True, to_field='id', related_name='store_item', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('category', fields.CharField(null=True, max_length=60)),
                ('price', fields.BigIntField()),
                ('price_type', fields.ForeignKeyField('tallystick.TokenType', source_field='price_type_id', db_constraint=True, to_field='id', related_name='priced_store_items', on_delete=OnDelete.RESTRICT)),
                ('variant_of', fields.ForeignKeyField('tallystick.StoreItem', source_field='variant_of_id', null=True, db_constraint=True, to_field='id', related_name='variants', on_delete=OnDelete.RESTRICT)),
                ('variant', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('is_listed', fields.BooleanField(default=True)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'store_items', 'app': 'tallystick', 'indexes': [Index(fields=['store_id', 'is_listed'])], 'pk_attr': 'id', 'table_description': "Something a store sells: a token type derived from the store's base type, and its price."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='OrderLine',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('order', fields.ForeignKeyField('tallystick.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='lines', on_delete=OnDelete.CASCADE)),
                ('item', fields.ForeignKeyField('tallystick.StoreItem', source_field='item_id', db_constraint=True, to_field='id', related_name='order_lines', on_delete=OnDelete.RESTRICT)),
                ('quantity', fields.BigIntField()),
                ('unit_price', fields.BigIntField()),
                ('amount', fields.BigIntField()),
                ('holds', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('tokens', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'store_order_lines', 'app': 'tallystick', 'indexes': [Index(fields=['order_id']), Index(fields=['item_id'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='StoreStaff',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('store', fields.ForeignKeyField('tallystick.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='staff', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', db_constraint=True, to_field='id', related_name='store_roles', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(max_length=10)),
            ],
            options={'table': 'store_staff', 'app': 'tallystick', 'unique_together': (('store', 'user'),), 'indexes': [Index(fields=['user_id'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
    ]

