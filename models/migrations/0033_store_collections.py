"""Store collections (issue 20 item 2): items a store promotes together. A new table; existing
rows are untouched."""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0032_scale')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StoreCollection',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('store', fields.ForeignKeyField('tallystick.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='collections', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('item_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'store_collections', 'app': 'tallystick', 'unique_together': (('store', 'name'),), 'pk_attr': 'id', 'table_description': 'Items a store promotes together (issue 20 item 2), shown as a section of its storefront.'},
            bases=['Entity'],
        ),
    ]
