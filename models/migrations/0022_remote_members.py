"""Organization members and voters on other servers (issue 19, item 4).

Members and voters name an actor (a local user's, or a remote one) instead of a user: each
existing row gets its user's actor, and `user` stays for local members (null for remote ones).
The actor column is added nullable, filled from the users, then made required. A local user's
ballots on proposals of organizations elsewhere (copies of their `Question`s) get a table.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

from models.ids import new_id


def _actor(related_name: str, *, null: bool) -> Any:
    nullable: dict[str, Any] = {"null": null}
    return fields.ForeignKeyField(
        'tallystick.Actor', source_field='actor_id', db_constraint=True, to_field='id',
        related_name=related_name, on_delete=OnDelete.CASCADE, **nullable,
    )


def _user(related_name: str) -> Any:
    return fields.ForeignKeyField(
        'tallystick.User', source_field='user_id', null=True, db_constraint=True, to_field='id',
        related_name=related_name, on_delete=OnDelete.CASCADE,
    )


def _copy(table: str) -> str:
    return (f'UPDATE "{table}" SET "actor_id" = '
            f'(SELECT "users"."actor_id" FROM "users" WHERE "users"."id" = "{table}"."user_id")')


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0021_organizations')]

    initial = False

    operations = [
        ops.AddField(model_name='OrgMember', name='actor', field=_actor('organization_memberships', null=True)),
        ops.RunSQL(_copy('organization_members'), reverse_sql=ops.RunSQL.noop),
        ops.AlterField(model_name='OrgMember', name='actor', field=_actor('organization_memberships', null=False)),
        ops.AlterField(model_name='OrgMember', name='user', field=_user('organization_memberships')),
        ops.AddIndex(model_name='OrgMember', index=Index(fields=['actor_id'])),
        ops.AddConstraint(model_name='OrgMember', constraint=UniqueConstraint(fields=('organization', 'actor'), name=None)),
        ops.AddField(model_name='Voter', name='actor', field=_actor('proposal_votes', null=True)),
        ops.RunSQL(_copy('organization_voters'), reverse_sql=ops.RunSQL.noop),
        ops.AlterField(model_name='Voter', name='actor', field=_actor('proposal_votes', null=False)),
        ops.AlterField(model_name='Voter', name='user', field=_user('proposal_votes')),
        ops.AddConstraint(model_name='Voter', constraint=UniqueConstraint(fields=('proposal', 'actor'), name=None)),
        ops.CreateModel(
            name='RemoteBallot',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('copy', fields.ForeignKeyField('tallystick.RemoteObject', source_field='copy_id', db_constraint=True, to_field='id', related_name='ballots', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('tallystick.Actor', source_field='actor_id', db_constraint=True, to_field='id', related_name='remote_ballots', on_delete=OnDelete.CASCADE)),
                ('choice', fields.CharField(null=True, max_length=8)),
                ('voted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'organization_remote_ballots', 'app': 'tallystick', 'unique_together': (('copy', 'actor'),), 'indexes': [Index(fields=['actor_id', 'id'])], 'pk_attr': 'id', 'table_description': "A local user's ballot on a proposal of an organization on another server."},
            bases=['Entity'],
        ),
    ]
