"""Boards across servers (issue 22): a refused entry and the attachments of an entry from elsewhere.

Two nullable columns on board_entries: `refused` (our user's post the group refused: the words the
author sees) and `remote_media` (links to the attachments of an entry from elsewhere, never
fetched). Existing rows stay null: standing, and without links.
"""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0033_store_collections")]

    operations = [
        ops.AddField(model_name="BoardEntry", name="remote_media",
                     field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
        ops.AddField(model_name="BoardEntry", name="refused", field=fields.TextField(null=True, unique=False)),
    ]
