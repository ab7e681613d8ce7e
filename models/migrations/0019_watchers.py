"""Watchers (issue 19, item 5): saved queries, their firings, and the WATCHER_CHECKS machine's rows."""

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
    dependencies = [('tallystick', '0018_offer_groups')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Watcher',
            fields=[
                *_entity(),
                ('owner', fields.ForeignKeyField('tallystick.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='watchers', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('kind', fields.CharField(max_length=12)),
                ('query', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('every_seconds', fields.IntField()),
                ('fire_on', fields.CharField(max_length=8)),
                ('chain', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_checked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_digest', fields.CharField(null=True, max_length=64)),
                ('last_count', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('fired_digest', fields.CharField(null=True, max_length=64)),
                ('fired_count', fields.IntField(default=0)),
                ('last_fired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'watchers', 'app': 'tallystick', 'indexes': [Index(fields=['owner_id'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='WatcherFiring',
            fields=[
                *_entity(),
                ('watcher', fields.ForeignKeyField('tallystick.Watcher', source_field='watcher_id', db_constraint=True, to_field='id', related_name='firings', on_delete=OnDelete.CASCADE)),
                ('digest', fields.CharField(max_length=64)),
                ('count', fields.IntField()),
                ('items', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('job_id', fields.CharField(null=True, max_length=26)),
            ],
            options={'table': 'watcher_firings', 'app': 'tallystick', 'indexes': [Index(fields=['watcher_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One firing: the state it fired on (count and the first ids), and the job it queued.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='WatcherCheck',
            fields=[
                ('state', fields.CharField(max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                *_entity(),
                ('watcher', fields.ForeignKeyField('tallystick.Watcher', source_field='watcher_id', db_constraint=True, to_field='id', related_name='checks', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'watcher_checks', 'app': 'tallystick', 'indexes': [Index(fields=['state', 'next_at']), Index(fields=['watcher_id', 'state'])], 'pk_attr': 'id', 'table_description': 'The next check of a watcher: a row of the WATCHER_CHECKS machine, due at its time.'},
            bases=['Durable', 'Entity'],
        ),
    ]
