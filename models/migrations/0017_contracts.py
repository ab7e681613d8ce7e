"""Contracts (issue 18, items 1-4): a licensing policy on every type, contract offers, contracts,
their steps (a machine's rows) and the admin's audit trail.

Existing types get `contract`, the default for new ones: nobody consented to future derivations,
so from now on using another owner's type takes its owner's consent. Every derived type that
exists keeps working: its links to another owner's parent are marked `grandfathered` (shown in
the type's view and page); links between types of one owner are `own`.
"""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id

_GRANDFATHER = (
    'UPDATE "type_parents" SET "basis" = \'grandfathered\' WHERE "basis" = \'own\' AND (SELECT "owner_id" FROM'
    ' "token_types" WHERE "id" = "type_parents"."child_id") <> (SELECT "owner_id" FROM "token_types"'
    ' WHERE "id" = "type_parents"."parent_id")'
)


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0016_pools')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ContractOffer',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('price_per_type', fields.BigIntField(default=0)),
                ('rate_per_unit', fields.BigIntField(default=0)),
                ('fee', fields.BigIntField(default=0)),
                ('period_seconds', fields.IntField()),
                ('max_types', fields.IntField(null=True)),
                ('max_units_per_period', fields.BigIntField(null=True)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('notice_seconds', fields.IntField(default=0)),
                ('cancel_by', fields.CharField(default='licensee', max_length=10)),
                ('penalty', fields.BigIntField(default=0)),
                ('grace_seconds', fields.IntField(default=0)),
                ('type', fields.ForeignKeyField('tallystick.TokenType', source_field='type_id', db_constraint=True, to_field='id', related_name='contract_offers', on_delete=OnDelete.RESTRICT)),
                ('licensor', fields.ForeignKeyField('tallystick.Actor', source_field='licensor_id', db_constraint=True, to_field='id', related_name='contract_offers', on_delete=OnDelete.RESTRICT)),
                ('payment_type', fields.ForeignKeyField('tallystick.TokenType', source_field='payment_type_id', null=True, db_constraint=True, to_field='id', related_name='offers_paid_in', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(default='', max_length=200)),
                ('takers', fields.CharField(default='anyone', max_length=10)),
                ('state', fields.CharField(default='open', max_length=12)),
            ],
            options={'table': 'contract_offers', 'app': 'tallystick', 'indexes': [Index(fields=['type_id', 'state'])], 'pk_attr': 'id'},
            bases=['_Terms'],
        ),
        ops.CreateModel(
            name='Contract',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('price_per_type', fields.BigIntField(default=0)),
                ('rate_per_unit', fields.BigIntField(default=0)),
                ('fee', fields.BigIntField(default=0)),
                ('period_seconds', fields.IntField()),
                ('max_types', fields.IntField(null=True)),
                ('max_units_per_period', fields.BigIntField(null=True)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('notice_seconds', fields.IntField(default=0)),
                ('cancel_by', fields.CharField(default='licensee', max_length=10)),
                ('penalty', fields.BigIntField(default=0)),
                ('grace_seconds', fields.IntField(default=0)),
                ('offer', fields.ForeignKeyField('tallystick.ContractOffer', source_field='offer_id', db_constraint=True, to_field='id', related_name='contracts', on_delete=OnDelete.RESTRICT)),
                ('type', fields.ForeignKeyField('tallystick.TokenType', source_field='type_id', db_constraint=True, to_field='id', related_name='contracts', on_delete=OnDelete.RESTRICT)),
                ('licensor', fields.ForeignKeyField('tallystick.Actor', source_field='licensor_id', db_constraint=True, to_field='id', related_name='contracts_granted', on_delete=OnDelete.RESTRICT)),
                ('licensee', fields.ForeignKeyField('tallystick.Actor', source_field='licensee_id', db_constraint=True, to_field='id', related_name='contracts_held', on_delete=OnDelete.RESTRICT)),
                ('payment_type', fields.ForeignKeyField('tallystick.TokenType', source_field='payment_type_id', null=True, db_constraint=True, to_field='id', related_name='contracts_paid_in', on_delete=OnDelete.RESTRICT)),
                ('state', fields.CharField(default='active', max_length=12)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('owed', fields.BigIntField(default=0)),
                ('arrears', fields.BigIntField(default=0)),
                ('paid', fields.BigIntField(default=0)),
                ('period_index', fields.IntField(default=0)),
                ('period_units', fields.DecimalField(default=0, max_digits=40, decimal_places=18)),
                ('derived_types', fields.IntField(default=0)),
                ('cancel_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_by', fields.ForeignKeyField('tallystick.Actor', source_field='cancelled_by_id', null=True, db_constraint=True, to_field='id', related_name='contracts_cancelled', on_delete=OnDelete.SET_NULL)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'contracts', 'app': 'tallystick', 'indexes': [Index(fields=['licensee_id', 'state']), Index(fields=['licensor_id', 'state']), Index(fields=['type_id', 'licensee_id'])], 'pk_attr': 'id'},
            bases=['_Terms'],
        ),
        ops.CreateModel(
            name='ContractChange',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('contract', fields.ForeignKeyField('tallystick.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='changes', on_delete=OnDelete.CASCADE)),
                ('admin', fields.ForeignKeyField('tallystick.Actor', source_field='admin_id', null=True, db_constraint=True, to_field='id', related_name='contract_changes', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=12)),
                ('reason', fields.CharField(max_length=500)),
                ('before', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('after', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'contract_changes', 'app': 'tallystick', 'indexes': [Index(fields=['contract_id'])], 'pk_attr': 'id', 'table_description': "The audit trail of an admin's change to a contract: who, why, the terms before and after."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ContractStep',
            fields=[
                ('state', fields.CharField(max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('contract', fields.ForeignKeyField('tallystick.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='steps', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=12)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('outcome', fields.CharField(null=True, max_length=16)),
                ('amount', fields.BigIntField(null=True)),
                ('entry', fields.ForeignKeyField('tallystick.LedgerEntry', source_field='entry_id', null=True, db_constraint=True, to_field='id', related_name='contract_payments', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'contract_steps', 'app': 'tallystick', 'indexes': [Index(fields=['state', 'next_at']), Index(fields=['contract_id', 'due_at'])], 'pk_attr': 'id', 'table_description': 'One thing due on a contract at `due_at`: a row of the CONTRACT_STEPS machine.'},
            bases=['Durable', 'Entity'],
        ),
        ops.CreateModel(
            name='OfferTaker',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('offer', fields.ForeignKeyField('tallystick.ContractOffer', source_field='offer_id', db_constraint=True, to_field='id', related_name='taker_rows', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('tallystick.Actor', source_field='actor_id', db_constraint=True, to_field='id', related_name='contract_offers_to', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'contract_offer_takers', 'app': 'tallystick', 'unique_together': (('offer', 'actor'),), 'indexes': [Index(fields=['actor_id'])], 'pk_attr': 'id', 'table_description': 'One user a `listed` offer is made to.'},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='TokenType',
            name='licensing',
            field=fields.CharField(default='contract', db_default='contract', max_length=10),
        ),
        ops.AddField(
            model_name='TypeParent',
            name='basis',
            field=fields.CharField(default='own', db_default='own', max_length=16),
        ),
        ops.AddField(
            model_name='TypeParent',
            name='contract',
            field=fields.ForeignKeyField('tallystick.Contract', source_field='contract_id', null=True, db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.RESTRICT),
        ),
        ops.RunSQL(_GRANDFATHER, reverse_sql=ops.RunSQL.noop),
    ]
