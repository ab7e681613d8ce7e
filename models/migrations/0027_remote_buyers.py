"""Buyers on other servers (issue 20, item 5).

On the store's server: `store_requests`, the signed requests of remote buyers carried out, by
request id (a repeat answers the same order and moves nothing). On the buyer's server:
`remote_store_orders`, its users' orders with stores of other servers as those servers last
answered.
"""

from typing import Any

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


def _entity() -> list[tuple[str, Any]]:
    return [
        ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
        ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
        ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
    ]


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0026_promotions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StoreRequest',
            fields=[
                *_entity(),
                ('request_uri', fields.CharField(max_length=2048, unique=True)),
                ('actor', fields.ForeignKeyField('tallystick.Actor', source_field='actor_id', db_constraint=True, to_field='id', related_name='store_requests', on_delete=OnDelete.CASCADE)),
                ('order', fields.ForeignKeyField('tallystick.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='requests', on_delete=OnDelete.CASCADE)),
                ('entry_id', fields.CharField(max_length=26, null=True)),
            ],
            options={'table': 'store_requests', 'app': 'tallystick', 'pk_attr': 'id', 'table_description': "A remote buyer's signed request this store carried out, by the request's id: a repeat (the"},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RemoteOrder',
            fields=[
                *_entity(),
                ('buyer', fields.ForeignKeyField('tallystick.Actor', source_field='buyer_id', db_constraint=True, to_field='id', related_name='remote_store_orders', on_delete=OnDelete.CASCADE)),
                ('uri', fields.CharField(max_length=2048, unique=True)),
                ('store_uri', fields.CharField(max_length=2048)),
                ('store_title', fields.CharField(max_length=200, default='')),
                ('state', fields.CharField(max_length=16)),
                ('document', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'remote_store_orders', 'app': 'tallystick', 'indexes': [Index(fields=['buyer_id'])], 'pk_attr': 'id', 'table_description': 'An order one of our users has with a store of another server (the buyer\'s side): its URL'},
            bases=['Entity'],
        ),
    ]
