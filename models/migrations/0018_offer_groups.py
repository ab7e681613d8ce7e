"""Contract offers listing groups (issue 18): `contract_offer_groups`, one row per group an offer
is made to; any member of a listed group (its owner too) may accept, as a listed user may."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0017_contracts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OfferGroup',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('offer', fields.ForeignKeyField('tallystick.ContractOffer', source_field='offer_id', db_constraint=True, to_field='id', related_name='group_rows', on_delete=OnDelete.CASCADE)),
                ('group', fields.ForeignKeyField('tallystick.UserGroup', source_field='group_id', db_constraint=True, to_field='id', related_name='contract_offers_to', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'contract_offer_groups', 'app': 'tallystick', 'unique_together': (('offer', 'group'),), 'indexes': [Index(fields=['group_id'])], 'pk_attr': 'id', 'table_description': 'One group a `listed` offer is made to: whoever is in it when they accept (its owner too).'},
            bases=['Entity'],
        ),
    ]
