"""Fediverse sign-in (issue 21, item 1): identities linked to local users, our app's registration
per remote server, and sign-ins in flight (state and PKCE verifier kept server-side)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.ids import new_id
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('tallystick', '0029_email_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FediverseClient',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('provider', fields.CharField(max_length=255)),
                ('redirect_uri', fields.CharField(max_length=2048)),
                ('client_id', fields.CharField(max_length=255)),
                ('client_secret', fields.CharField(max_length=255)),
                ('authorize_url', fields.CharField(max_length=2048)),
                ('token_url', fields.CharField(max_length=2048)),
                ('revoke_url', fields.CharField(null=True, max_length=2048)),
            ],
            options={'table': 'fediverse_clients', 'app': 'tallystick', 'unique_together': (('provider', 'redirect_uri'),), 'pk_attr': 'id', 'table_description': 'Our app as registered on a remote server (one per server and callback address).'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='FediverseSignin',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('state_hash', fields.CharField(unique=True, max_length=64)),
                ('browser_hash', fields.CharField(max_length=64)),
                ('verifier', fields.CharField(max_length=128)),
                ('handle', fields.CharField(max_length=320)),
                ('client', fields.ForeignKeyField('tallystick.FediverseClient', source_field='client_id', db_constraint=True, to_field='id', related_name='signins', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='fediverse_signins', on_delete=OnDelete.CASCADE)),
                ('next_path', fields.CharField(default='/', max_length=2048)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'fediverse_signins', 'app': 'tallystick', 'pk_attr': 'id', 'table_description': 'A sign-in in flight, found by the digest of its state, only from the browser that started it.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='LinkedIdentity',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', db_constraint=True, to_field='id', related_name='identities', on_delete=OnDelete.CASCADE)),
                ('actor_url', fields.CharField(unique=True, max_length=2048)),
                ('acct', fields.CharField(max_length=320)),
                ('provider', fields.CharField(max_length=255)),
                ('linked_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'linked_identities', 'app': 'tallystick', 'pk_attr': 'id', 'table_description': 'A fediverse account that signs a local user in (acct is name@host, lowercased).'},
            bases=['Entity'],
        ),
    ]

