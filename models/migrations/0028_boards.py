"""Boards (issue 22): boards, their entries (posts, replies, reviews) with earlier versions,
votes, members, invites (code hashes), bans and mutes."""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0027_remote_buyers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Board',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('owner', fields.ForeignKeyField('tallystick.Actor', source_field='owner_id', db_constraint=True, to_field='id', related_name='boards', on_delete=OnDelete.RESTRICT)),
                ('actor', fields.ForeignKeyField('tallystick.Actor', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='board_groups', on_delete=OnDelete.SET_NULL)),
                ('name', fields.CharField(max_length=100)),
                ('description', fields.TextField(default='', unique=False)),
                ('kind', fields.CharField(max_length=12)),
                ('visibility', fields.CharField(default='public', max_length=8)),
                ('members_only', fields.BooleanField(default=True)),
                ('replies_allowed', fields.BooleanField(default=True)),
                ('media_allowed', fields.BooleanField(default=True)),
                ('votes_allowed', fields.BooleanField(default=False)),
                ('member_count', fields.IntField(default=0)),
                ('entry_count', fields.IntField(default=0)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'boards', 'app': 'tallystick', 'indexes': [Index(fields=['visibility', 'id']), Index(fields=['owner_id'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BoardBan',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('board', fields.ForeignKeyField('tallystick.Board', source_field='board_id', db_constraint=True, to_field='id', related_name='bans', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('tallystick.Actor', source_field='actor_id', db_constraint=True, to_field='id', related_name='board_bans', on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharField(max_length=500)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('banned_by', fields.ForeignKeyField('tallystick.Actor', source_field='banned_by_id', null=True, db_constraint=True, to_field='id', related_name='board_bans_given', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'board_bans', 'app': 'tallystick', 'unique_together': (('board_id', 'actor_id'),), 'pk_attr': 'id', 'table_description': 'A banned actor reads what is public but cannot post, vote or join, until `expires_at` if set.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BoardEntry',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('board', fields.ForeignKeyField('tallystick.Board', source_field='board_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('tallystick.Actor', source_field='author_id', db_constraint=True, to_field='id', related_name='board_entries', on_delete=OnDelete.RESTRICT)),
                ('parent', fields.ForeignKeyField('tallystick.BoardEntry', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.CASCADE)),
                ('thread_id', fields.CharField(max_length=26)),
                ('depth', fields.IntField(default=0)),
                ('uri', fields.CharField(null=True, unique=True, max_length=2048)),
                ('body', fields.TextField(default='', unique=False)),
                ('media', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('subject_kind', fields.CharField(null=True, max_length=8)),
                ('subject_id', fields.CharField(null=True, max_length=64)),
                ('rating', fields.IntField(null=True)),
                ('review_key', fields.CharField(null=True, max_length=80)),
                ('up', fields.IntField(default=0)),
                ('down', fields.IntField(default=0)),
                ('reply_count', fields.IntField(default=0)),
                ('version', fields.IntField(default=1)),
                ('edited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('deleted_by', fields.ForeignKeyField('tallystick.Actor', source_field='deleted_by_id', null=True, db_constraint=True, to_field='id', related_name='board_entries_deleted', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'board_entries', 'app': 'tallystick', 'unique_together': (('board_id', 'author_id', 'review_key'),), 'indexes': [Index(fields=['board_id', 'parent_id', 'id']), Index(fields=['thread_id', 'id']), Index(fields=['subject_kind', 'subject_id'])], 'pk_attr': 'id', 'table_description': 'A post, a reply or a review. A deleted one keeps its row (a tombstone) and its place.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BoardEntryVersion',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('entry', fields.ForeignKeyField('tallystick.BoardEntry', source_field='entry_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('version', fields.IntField()),
                ('body', fields.TextField(default='', unique=False)),
                ('rating', fields.IntField(null=True)),
            ],
            options={'table': 'board_entry_versions', 'app': 'tallystick', 'unique_together': (('entry_id', 'version'),), 'pk_attr': 'id', 'table_description': 'What an entry said before an edit: one row per earlier version.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BoardInvite',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('board', fields.ForeignKeyField('tallystick.Board', source_field='board_id', db_constraint=True, to_field='id', related_name='invites', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('created_by', fields.ForeignKeyField('tallystick.Actor', source_field='created_by_id', db_constraint=True, to_field='id', related_name='board_invites', on_delete=OnDelete.CASCADE)),
                ('max_uses', fields.IntField(null=True)),
                ('uses', fields.IntField(default=0)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'board_invites', 'app': 'tallystick', 'indexes': [Index(fields=['board_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A link to join, single use (max_uses 1) or many. Only the SHA-256 of its code is kept.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BoardMember',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('board', fields.ForeignKeyField('tallystick.Board', source_field='board_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('tallystick.Actor', source_field='actor_id', db_constraint=True, to_field='id', related_name='board_memberships', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(default='member', max_length=12)),
            ],
            options={'table': 'board_members', 'app': 'tallystick', 'unique_together': (('board_id', 'actor_id'),), 'indexes': [Index(fields=['actor_id'])], 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BoardMute',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('board', fields.ForeignKeyField('tallystick.Board', source_field='board_id', db_constraint=True, to_field='id', related_name='mutes', on_delete=OnDelete.CASCADE)),
                ('muter', fields.ForeignKeyField('tallystick.Actor', source_field='muter_id', db_constraint=True, to_field='id', related_name='board_mutes', on_delete=OnDelete.CASCADE)),
                ('muted', fields.ForeignKeyField('tallystick.Actor', source_field='muted_id', db_constraint=True, to_field='id', related_name='board_muted_by', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'board_mutes', 'app': 'tallystick', 'unique_together': (('board_id', 'muter_id', 'muted_id'),), 'pk_attr': 'id', 'table_description': "Someone no longer sees a member's entries on a board (only for themselves)."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BoardVote',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('entry', fields.ForeignKeyField('tallystick.BoardEntry', source_field='entry_id', db_constraint=True, to_field='id', related_name='votes', on_delete=OnDelete.CASCADE)),
                ('voter', fields.ForeignKeyField('tallystick.Actor', source_field='voter_id', db_constraint=True, to_field='id', related_name='board_votes', on_delete=OnDelete.CASCADE)),
                ('value', fields.SmallIntField()),
            ],
            options={'table': 'board_votes', 'app': 'tallystick', 'unique_together': (('entry_id', 'voter_id'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
    ]
