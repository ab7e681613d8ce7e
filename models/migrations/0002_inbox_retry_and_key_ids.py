"""Remote actors are found by their key id (GoToSocial's key ids are URLs of their own)."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0001_initial")]

    operations = [
        ops.AddIndex(model_name="RemoteActor", index=Index(fields=["key_id"])),
    ]
