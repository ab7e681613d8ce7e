"""Flags on ledger entries record who set them (issue 14, item 16).

A `ledger_flags` row per (entry, label, author); `ledger_entries.flags` stays as the list of
distinct labels that views show. Who set an existing flag was never recorded, and naming a
party who may not have set it would tell users something false: an existing flag gets no
author (shown as set before flags were attributed), dated when the entry last changed. Either
party of the entry (the only ones who could set flags then) or a moderator may remove it.
"""

from __future__ import annotations

from typing import Any

import orjson
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from models.ids import new_id


async def attribute_flags(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    mark = "$" if client.capabilities.dialect == "postgres" else "?"

    def params(count: int) -> str:
        return ", ".join(f"${index}" if mark == "$" else "?" for index in range(1, count + 1))

    rows = await client.execute_query_dict(
        'SELECT "id", "flags", "updated_at" FROM "ledger_entries" WHERE "flags" IS NOT NULL'
    )
    for row in rows:
        labels = orjson.loads(row["flags"]) if isinstance(row["flags"], (str, bytes)) else row["flags"]
        for label in sorted({str(label) for label in labels or [] if isinstance(label, str)}):
            await client.execute_query(
                'INSERT INTO "ledger_flags" ("id", "created_at", "updated_at", "entry_id", "label", "author_id") '
                f"VALUES ({params(6)})",
                [new_id(), row["updated_at"], row["updated_at"], row["id"], label[:50], None],
            )


class Migration(migrations.Migration):
    dependencies = [("tallystick", "0004_delegations")]

    operations = [
        ops.CreateModel(
            name="LedgerFlag",
            fields=[
                ("id", fields.CharField(primary_key=True, default=new_id, unique=True, db_index=True, max_length=26)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ("entry", fields.ForeignKeyField("tallystick.LedgerEntry", source_field="entry_id", db_constraint=True, to_field="id", related_name="flag_rows", on_delete=OnDelete.CASCADE)),
                ("label", fields.CharField(max_length=50)),
                ("author", fields.ForeignKeyField("tallystick.Actor", source_field="author_id", db_constraint=True, to_field="id", related_name="ledger_flags", on_delete=OnDelete.RESTRICT, null=True)),
            ],
            options={"table": "ledger_flags", "app": "tallystick", "unique_together": (("entry", "label", "author"),), "pk_attr": "id", "table_description": "One label set on an entry by one actor: each party owns the flags they set."},
            bases=["Entity"],
        ),
        ops.RunPython(attribute_flags),
    ]
