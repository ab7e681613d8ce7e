"""Organizations (issue 19, items 1-3): an organization (an actor of kind Organization), its
members and roles, its proposals (rows of the ORGANIZATION_PROPOSALS machine) and each
proposal's voters with the shares they held when it opened."""

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
    dependencies = [('tallystick', '0020_moderators')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Organization',
            fields=[
                *_entity(),
                ('actor', fields.OneToOneField('tallystick.Actor', source_field='actor_id', db_constraint=True, to_field='id', related_name='organization', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('tallystick.User', source_field='created_by_id', db_constraint=True, to_field='id', related_name='organizations_created', on_delete=OnDelete.RESTRICT)),
                ('share_type', fields.ForeignKeyField('tallystick.TokenType', source_field='share_type_id', null=True, db_constraint=True, to_field='id', related_name='organizations', on_delete=OnDelete.RESTRICT)),
                ('quorum_percent', fields.IntField(default=50)),
                ('voting_seconds', fields.IntField(default=259200)),
            ],
            options={'table': 'organizations', 'app': 'tallystick', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='OrgMember',
            fields=[
                *_entity(),
                ('organization', fields.ForeignKeyField('tallystick.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', db_constraint=True, to_field='id', related_name='organization_memberships', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(default='member', max_length=8)),
            ],
            options={'table': 'organization_members', 'app': 'tallystick', 'unique_together': (('organization', 'user'),), 'indexes': [Index(fields=['user_id'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Proposal',
            fields=[
                ('state', fields.CharField(max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                *_entity(),
                ('organization', fields.ForeignKeyField('tallystick.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='proposals', on_delete=OnDelete.CASCADE)),
                ('proposer', fields.ForeignKeyField('tallystick.User', source_field='proposer_id', db_constraint=True, to_field='id', related_name='proposals', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='')),
                ('steps', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('deadline', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('quorum_percent', fields.IntField()),
                ('total_shares', fields.BigIntField(default=0)),
                ('yes', fields.BigIntField(default=0)),
                ('no', fields.BigIntField(default=0)),
                ('abstain', fields.BigIntField(default=0)),
                ('outcome', fields.CharField(null=True, max_length=32)),
                ('results', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('error', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'organization_proposals', 'app': 'tallystick', 'indexes': [Index(fields=['organization_id', 'state']), Index(fields=['state', 'next_at'])], 'pk_attr': 'id', 'table_description': 'A chain to run as the organization if the members\' shares approve it by the deadline.'},
            bases=['Durable', 'Entity'],
        ),
        ops.CreateModel(
            name='Voter',
            fields=[
                *_entity(),
                ('proposal', fields.ForeignKeyField('tallystick.Proposal', source_field='proposal_id', db_constraint=True, to_field='id', related_name='voters', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', db_constraint=True, to_field='id', related_name='proposal_votes', on_delete=OnDelete.CASCADE)),
                ('shares', fields.BigIntField()),
                ('choice', fields.CharField(null=True, max_length=8)),
                ('voted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'organization_voters', 'app': 'tallystick', 'unique_together': (('proposal', 'user'),), 'pk_attr': 'id', 'table_description': 'A member\'s weight on one proposal, snapshotted when it opened, and their current vote.'},
            bases=['Entity'],
        ),
    ]
