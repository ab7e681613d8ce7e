"""Store promotions (issue 20, item 4): campaigns (rows of PROMO_CAMPAIGNS), their promoters,
counted hits (unique per campaign, kind and nonce), per-minute rate counts, and payouts
(PROMO_PAYOUTS)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.ids import new_id
from models.promotions import new_beacon_key
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('tallystick', '0025_org_signers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PromoCampaign',
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
                ('store', fields.ForeignKeyField('tallystick.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='campaigns', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('items', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('price_type', fields.ForeignKeyField('tallystick.TokenType', source_field='price_type_id', db_constraint=True, to_field='id', related_name='promo_campaigns', on_delete=OnDelete.RESTRICT)),
                ('impression_price', fields.BigIntField(default=0)),
                ('click_price', fields.BigIntField(default=0)),
                ('budget', fields.BigIntField()),
                ('spent', fields.BigIntField(default=0)),
                ('paid', fields.BigIntField(default=0)),
                ('refunded', fields.BigIntField(default=0)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('payout_seconds', fields.IntField(default=3600)),
                ('tags', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('regions', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('text', fields.TextField(default='', unique=False)),
                ('image', fields.CharField(null=True, max_length=26)),
                ('link', fields.CharField(max_length=2000)),
                ('per_promoter_per_minute', fields.IntField(default=600)),
                ('per_address_per_minute', fields.IntField(default=30)),
                ('beacon_key', fields.CharField(default=new_beacon_key, max_length=64)),
                ('escrow', fields.OneToOneField('tallystick.Actor', source_field='escrow_id', db_constraint=True, to_field='id', related_name='campaign_escrow', on_delete=OnDelete.RESTRICT)),
                ('budget_hold_id', fields.CharField(null=True, max_length=26)),
                ('ended_reason', fields.CharField(null=True, max_length=200)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'promo_campaigns', 'app': 'tallystick', 'indexes': [Index(fields=['store_id', 'state']), Index(fields=['state', 'next_at'])], 'pk_attr': 'id', 'table_description': "A store's campaign: a PROMO_CAMPAIGNS row, due at ends_at while running (see the module)."},
            bases=['Durable', 'Entity'],
        ),
        ops.CreateModel(
            name='PromoPayout',
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
                ('campaign', fields.ForeignKeyField('tallystick.PromoCampaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.CASCADE)),
                ('amount', fields.BigIntField(default=0)),
                ('entries', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'promo_payouts', 'app': 'tallystick', 'indexes': [Index(fields=['state', 'next_at']), Index(fields=['campaign_id'])], 'pk_attr': 'id', 'table_description': "A campaign's next payout: a PROMO_PAYOUTS row, due at next_at."},
            bases=['Durable', 'Entity'],
        ),
        ops.CreateModel(
            name='PromoRate',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('key', fields.CharField(max_length=80)),
                ('minute', fields.BigIntField()),
                ('count', fields.IntField(default=0)),
            ],
            options={'table': 'promo_rates', 'app': 'tallystick', 'unique_together': (('key', 'minute'),), 'indexes': [Index(fields=['minute'])], 'pk_attr': 'id', 'table_description': 'Hits counted for one key (promoter or client address) in one minute.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Promoter',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('campaign', fields.ForeignKeyField('tallystick.PromoCampaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='promoters', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', db_constraint=True, to_field='id', related_name='promotions', on_delete=OnDelete.CASCADE)),
                ('is_active', fields.BooleanField(default=True)),
                ('earned', fields.BigIntField(default=0)),
            ],
            options={'table': 'promo_promoters', 'app': 'tallystick', 'unique_together': (('campaign', 'user'),), 'indexes': [Index(fields=['user_id'])], 'pk_attr': 'id', 'table_description': 'A user who accepted a campaign: their beacons name this row.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PromoHit',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('campaign', fields.ForeignKeyField('tallystick.PromoCampaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='hits', on_delete=OnDelete.CASCADE)),
                ('promoter', fields.ForeignKeyField('tallystick.Promoter', source_field='promoter_id', db_constraint=True, to_field='id', related_name='hits', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=10)),
                ('nonce', fields.CharField(max_length=32)),
                ('amount', fields.BigIntField()),
                ('payout_entry_id', fields.CharField(null=True, max_length=26)),
            ],
            options={'table': 'promo_hits', 'app': 'tallystick', 'unique_together': (('campaign', 'kind', 'nonce'),), 'indexes': [Index(fields=['campaign_id', 'created_at']), Index(fields=['promoter_id', 'payout_entry_id'])], 'pk_attr': 'id', 'table_description': 'One counted impression or click: its price is reserved from the budget, paid by a payout.'},
            bases=['Entity'],
        ),
    ]
