"""Email and password lifecycle (issue 21, item 2): when an address was verified, single-use
mailed links (stored hashed), outgoing mail (the MAIL machine's rows), and request counts that
limit password reset requests across processes."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.ids import new_id


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0028_boards')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EmailLink',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', db_constraint=True, to_field='id', related_name='email_links', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharField(max_length=16)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('email', fields.CharField(max_length=254)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'email_links', 'app': 'tallystick', 'indexes': [Index(fields=['user_id', 'purpose'])], 'pk_attr': 'id', 'table_description': 'A link mailed to `email` for `user`, usable once before `expires_at`.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='OutgoingMail',
            fields=[
                ('state', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('user', fields.ForeignKeyField('tallystick.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='mail', on_delete=OnDelete.SET_NULL)),
                ('to_address', fields.CharField(max_length=254)),
                ('purpose', fields.CharField(max_length=32)),
                ('subject', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outgoing_mail', 'app': 'tallystick', 'indexes': [Index(fields=['state', 'next_at']), Index(fields=['user_id'])], 'pk_attr': 'id', 'table_description': 'One message to one address, with its tries (the Durable columns belong to the engine).'},
            bases=['Durable', 'Entity'],
        ),
        ops.CreateModel(
            name='RequestCount',
            fields=[
                ('id', fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('scope', fields.CharField(max_length=32)),
                ('key', fields.CharField(max_length=64)),
            ],
            options={'table': 'request_counts', 'app': 'tallystick', 'indexes': [Index(fields=['scope', 'key', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One counted request under `scope` for a key (a digest), at created_at.'},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='User',
            name='email_verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]

