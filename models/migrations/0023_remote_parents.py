"""Contracts across servers (issue 18, item 5).

On the licensor's server: `contracts.request_uri`, the id of the signed request by which a
licensee of another server accepted (a repeat of it answers the same contract). On the
licensee's server: `remote_contracts`, the contracts its users hold on other servers as their
servers last answered, and `remote_type_parents`, a type's parents that live on another server
with the contract (its URL) each is used under. `type_parents.parent` stays a foreign key to a
type of this server.
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
    dependencies = [('tallystick', '0022_remote_members')]

    initial = False

    operations = [
        ops.AddField(model_name='Contract', name='request_uri', field=fields.CharField(max_length=2048, null=True)),
        ops.CreateModel(
            name='RemoteContract',
            fields=[
                *_entity(),
                ('licensee', fields.ForeignKeyField('tallystick.Actor', source_field='licensee_id', db_constraint=True, to_field='id', related_name='remote_contracts', on_delete=OnDelete.CASCADE)),
                ('uri', fields.CharField(max_length=2048, unique=True)),
                ('type_uri', fields.CharField(max_length=2048)),
                ('offer_uri', fields.CharField(max_length=2048, default='')),
                ('state', fields.CharField(max_length=12)),
                ('document', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'remote_contracts', 'app': 'tallystick', 'indexes': [Index(fields=['licensee_id', 'type_uri'])], 'pk_attr': 'id', 'table_description': "A contract one of our users holds on another server (the licensee's side): its URL, the"},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RemoteTypeParent',
            fields=[
                *_entity(),
                ('child', fields.ForeignKeyField('tallystick.TokenType', source_field='child_id', db_constraint=True, to_field='id', related_name='remote_parent_links', on_delete=OnDelete.CASCADE)),
                ('parent_uri', fields.CharField(max_length=2048)),
                ('contract_uri', fields.CharField(max_length=2048)),
                ('position', fields.SmallIntField(default=0)),
            ],
            options={'table': 'remote_type_parents', 'app': 'tallystick', 'indexes': [Index(fields=['child_id'])], 'pk_attr': 'id', 'table_description': 'A parent that lives on another server (its URL), used under a contract held there (its'},
            bases=['Entity'],
        ),
    ]
