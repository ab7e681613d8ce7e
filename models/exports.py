"""Exports of token sets, and imports of them on another server as read-only copies.

An export is the signed, self-contained document of one set, kept so that it can be
downloaded (and fetched by the importing server) later. An import records where a document
came from; each token in it becomes an `ImportedCopy` that points at the `RemoteObject`
holding the copy, which federation keeps current when the origin sends an Update.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields

from .actors import Actor
from .base import APP, Entity
from .federation import RemoteObject
from .sets import TokenSet

__all__ = ["ImportRecord", "ImportedCopy", "SetExport"]


class SetExport(Entity):
    """The signed export document of a set, as it was when the export job ran"""

    set_id: str
    set: fields.ForeignKeyRelation[TokenSet] = fields.ForeignKeyField(
        f"{APP}.TokenSet", related_name="exports", on_delete=fields.CASCADE
    )
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="exports", on_delete=fields.CASCADE
    )
    job_id = fields.CharField(max_length=26, null=True, unique=True)
    token_count = fields.IntField(default=0)
    document: fields.JSONField[dict[str, Any]] = fields.JSONField()

    class Meta:
        app = APP
        table = "set_exports"


class ImportRecord(Entity):
    """One import of an export document by a local user, and where the document came from"""

    importer_id: str
    importer: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="imports", on_delete=fields.CASCADE
    )
    source_url = fields.CharField(max_length=2048, null=True)
    export_uri = fields.CharField(max_length=2048)
    origin = fields.CharField(max_length=255)
    set_uri = fields.CharField(max_length=2048)
    set_name = fields.CharField(max_length=200)
    exporter_uri = fields.CharField(max_length=2048)
    document_hash = fields.CharField(max_length=71)
    token_count = fields.IntField(default=0)

    class Meta:
        app = APP
        table = "imports"


class ImportedCopy(Entity):
    """A read-only copy of a token brought in by an import, with the origin facts it was checked against"""

    record_id: str
    record: fields.ForeignKeyRelation[ImportRecord] = fields.ForeignKeyField(
        f"{APP}.ImportRecord", related_name="copies", on_delete=fields.CASCADE
    )
    importer_id: str
    importer: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="imported_copies", on_delete=fields.CASCADE
    )
    remote_object_id: str
    remote_object: fields.ForeignKeyRelation[RemoteObject] = fields.ForeignKeyField(
        f"{APP}.RemoteObject", related_name="imported_copies", on_delete=fields.CASCADE
    )
    token_uri = fields.CharField(max_length=2048)
    origin = fields.CharField(max_length=255)
    origin_token_id = fields.CharField(max_length=255)
    version = fields.IntField()
    content_hash = fields.CharField(max_length=71)
    hash_checked = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "imported_copies"
        unique_together = (("record", "token_uri"),)
