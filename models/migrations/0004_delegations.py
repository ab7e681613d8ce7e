"""Delegations (issue 14, item 5): a user's consent that another user may act for them.

A new table only: existing rows are untouched. Acting on behalf of someone now needs one of
these (or the admin role), so an agent that relied on its role alone must be granted one.
"""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0003_token_salts")]

    operations = [
        ops.CreateModel(
            name='Delegation',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('grantor', fields.ForeignKeyField('tallystick.User', source_field='grantor_id', db_constraint=True, to_field='id', related_name='delegations_given', on_delete=OnDelete.CASCADE)),
                ('delegate', fields.ForeignKeyField('tallystick.User', source_field='delegate_id', db_constraint=True, to_field='id', related_name='delegations_received', on_delete=OnDelete.CASCADE)),
                ('scopes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delegations', 'app': 'tallystick', 'indexes': [Index(fields=['delegate_id', 'grantor_id'])], 'pk_attr': 'id', 'table_description': 'A user lets another local user act for them, within scopes, until revoked or expired.'},
            bases=['Entity'],
        ),
    ]
