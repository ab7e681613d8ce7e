"""Failed sign-ins counted in the database (issue 25), so every process sharing it enforces one
limit; they were counted in each process's memory. A new table; existing rows are untouched."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('tallystick', '0031_networks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginFailure',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=400)),
                ('failures', fields.IntField(default=0)),
                ('last_failed_at', fields.FloatField(db_index=True)),
                ('locked_until', fields.FloatField(default=0)),
            ],
            options={'table': 'login_failures', 'app': 'tallystick', 'pk_attr': 'key', 'table_description': 'Recent failed sign-ins for one account (`account:<name>`) or address (`address:<ip>`).'},
            bases=['Model'],
        ),
    ]
