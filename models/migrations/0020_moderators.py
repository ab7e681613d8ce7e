"""Moderators (issue 19, item 6): moderator assignments, the attribute changes their feeds read,
and the audit log of moderators' edits and admins' changes of ownership."""

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


def _json(default: type) -> Any:
    return fields.JSONField(default=default, encoder=JSON_DUMPS, decoder=loads)


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0019_watchers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ModeratorAssignment',
            fields=[
                *_entity(),
                ('moderator', fields.ForeignKeyField('tallystick.Actor', source_field='moderator_id', db_constraint=True, to_field='id', related_name='moderations', on_delete=OnDelete.CASCADE)),
                ('type', fields.ForeignKeyField('tallystick.TokenType', source_field='type_id', null=True, db_constraint=True, to_field='id', related_name='moderator_assignments', on_delete=OnDelete.CASCADE)),
                ('set', fields.ForeignKeyField('tallystick.TokenSet', source_field='set_id', null=True, db_constraint=True, to_field='id', related_name='moderator_assignments', on_delete=OnDelete.CASCADE)),
                ('attributes', _json(list)),
                ('can_edit', fields.BooleanField(default=False)),
                ('set_up_by', fields.ForeignKeyField('tallystick.Actor', source_field='set_up_by_id', null=True, db_constraint=True, to_field='id', related_name='moderations_set_up', on_delete=OnDelete.SET_NULL)),
                ('by_admin', fields.BooleanField(default=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_by', fields.ForeignKeyField('tallystick.Actor', source_field='revoked_by_id', null=True, db_constraint=True, to_field='id', related_name='moderations_revoked', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'moderator_assignments', 'app': 'tallystick', 'indexes': [Index(fields=['moderator_id', 'revoked_at']), Index(fields=['set_up_by_id'])], 'pk_attr': 'id', 'table_description': "A moderator's dominion: a type (and its descendants) or a set, attributes, see or edit."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='AttributeChange',
            fields=[
                *_entity(),
                ('token', fields.ForeignKeyField('tallystick.Token', source_field='token_id', db_constraint=True, to_field='id', related_name='attribute_changes', on_delete=OnDelete.CASCADE)),
                ('type', fields.ForeignKeyField('tallystick.TokenType', source_field='type_id', db_constraint=True, to_field='id', related_name='attribute_changes', on_delete=OnDelete.CASCADE)),
                ('changed_by', fields.ForeignKeyField('tallystick.Actor', source_field='changed_by_id', null=True, db_constraint=True, to_field='id', related_name='attribute_changes', on_delete=OnDelete.SET_NULL)),
                ('version', fields.IntField()),
                ('values', _json(dict)),
            ],
            options={'table': 'attribute_changes', 'app': 'tallystick', 'indexes': [Index(fields=['type_id', 'id']), Index(fields=['token_id', 'id'])], 'pk_attr': 'id', 'table_description': "One token update's changed values, before and after: a row of moderators' feeds."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ModerationAction',
            fields=[
                *_entity(),
                ('actor', fields.ForeignKeyField('tallystick.Actor', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='moderation_actions', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharField(max_length=8)),
                ('object_type', fields.CharField(max_length=8)),
                ('object_id', fields.CharField(max_length=64)),
                ('owner', fields.ForeignKeyField('tallystick.Actor', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='moderation_actions_on', on_delete=OnDelete.SET_NULL)),
                ('new_owner', fields.ForeignKeyField('tallystick.Actor', source_field='new_owner_id', null=True, db_constraint=True, to_field='id', related_name='moderation_actions_to', on_delete=OnDelete.SET_NULL)),
                ('assignment', fields.ForeignKeyField('tallystick.ModeratorAssignment', source_field='assignment_id', null=True, db_constraint=True, to_field='id', related_name='actions', on_delete=OnDelete.SET_NULL)),
                ('reason', fields.CharField(max_length=500)),
                ('before', _json(dict)),
                ('after', _json(dict)),
            ],
            options={'table': 'moderation_actions', 'app': 'tallystick', 'indexes': [Index(fields=['owner_id', 'id']), Index(fields=['new_owner_id', 'id']), Index(fields=['actor_id', 'id']), Index(fields=['object_type', 'object_id'])], 'pk_attr': 'id', 'table_description': 'The audit log: who did what to whose thing, when, the values before and after, and why.'},
            bases=['Entity'],
        ),
    ]
