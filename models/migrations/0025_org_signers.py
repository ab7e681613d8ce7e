"""Organization rules (issue 19, item 3): a rule per organization, `shares` (a majority of the
shares cast with a quorum) or `signers` (M of N named member signers, like a Safe); the rule and
M are snapshotted on each proposal when it opens."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0024_stores')]

    initial = False

    operations = [
        ops.AddField(model_name='Organization', name='rule', field=fields.CharField(default='shares', db_default='shares', max_length=8)),
        ops.AddField(model_name='Organization', name='threshold', field=fields.IntField(default=1, db_default=1)),
        ops.AddField(model_name='OrgMember', name='signer', field=fields.BooleanField(default=False, db_default=False)),
        ops.AddField(model_name='Proposal', name='rule', field=fields.CharField(default='shares', db_default='shares', max_length=8)),
        ops.AddField(model_name='Proposal', name='threshold', field=fields.IntField(null=True)),
    ]
