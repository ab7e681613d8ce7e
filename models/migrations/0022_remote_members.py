"""Organization members and voters on other servers (issue 19, item 4).

Members and voters name an actor (a local user's, or a remote one) instead of a user: each
existing row gets its user's actor, and `user` stays for local members (null for remote ones).
The actor column is added nullable, filled from the users, then made required.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


def _actor(related_name: str, *, null: bool) -> fields.ForeignKeyField:  # type: ignore[type-arg]
    return fields.ForeignKeyField(
        'tallystick.Actor', source_field='actor_id', null=null, db_constraint=True, to_field='id',
        related_name=related_name, on_delete=OnDelete.CASCADE,
    )


def _user(related_name: str) -> fields.ForeignKeyField:  # type: ignore[type-arg]
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
    ]
