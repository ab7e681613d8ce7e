"""Imports and imported copies read from the database: `imports.get`, `imports.list`, `copies.list`.

Importing and checking a copy at its origin need the network and live in federation/imports.py;
these views are shared with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from models.base import iso
from models.context import Context
from models.errors import NotFound
from models.exports import ImportedCopy, ImportRecord
from models.federation import RemoteObject
from models.outputs import CopyOut, ImportOut, Paged
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access, Input

__all__ = ["copy_views", "record_view"]

ID = Field(min_length=1, max_length=64)


async def copy_views(rows: list[ImportedCopy]) -> list[dict[str, Any]]:
    held_ids = [row.remote_object_id for row in rows]
    objects = {obj.id: obj for obj in await RemoteObject.filter(id__in=held_ids)}
    views = []
    for row in rows:
        held = objects.get(row.remote_object_id)
        current: Mapping[str, Any] = held.document if held is not None and isinstance(held.document, Mapping) else {}
        views.append({
            "id": row.id,
            "import": row.record_id,
            "token": row.token_uri,
            "origin": row.origin,
            "origin_token_id": row.origin_token_id,
            "imported_version": row.version,
            "imported_content_hash": row.content_hash,
            "hash_checked_on_import": row.hash_checked,
            "version": current.get("version"),
            "content_hash": current.get("contentHash"),
            "name": current.get("name"),
            "attributes": current.get("attributes"),
            "withdrawn": bool(held is None or held.is_deleted),
            "created_at": iso(row.created_at),
            "updated_at": iso(held.updated_at if held is not None else row.updated_at),
        })
    return views


async def record_view(ctx: Context, record: ImportRecord, *, with_copies: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": record.id,
        "export": record.export_uri,
        "source_url": record.source_url,
        "origin": record.origin,
        "set": {"id": record.set_uri, "name": record.set_name},
        "exporter": record.exporter_uri,
        "document_hash": record.document_hash,
        "token_count": record.token_count,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
    if with_copies:
        view["copies"] = await copy_views(await ImportedCopy.filter(record_id=record.id).order_by("id"))
    return view


class ImportIdInput(Input):
    id: str = ID


@REGISTRY.operation("imports.get", ImportIdInput, output=ImportOut, access=Access.USER)
async def read_import(ctx: Context, params: ImportIdInput) -> dict[str, Any]:
    """One of your imports with its copies and their current versions."""
    record = await ImportRecord.get_or_none(id=params.id, importer_id=ctx.require_actor().id)
    if record is None:
        raise NotFound(f"you have no import with id {params.id!r}", code="import-not-found")
    return await record_view(ctx, record)


@REGISTRY.operation("imports.list", ListInput, output=Paged[ImportOut], access=Access.USER)
async def list_imports(ctx: Context, params: ListInput) -> Page:
    """Your imports, newest first."""
    page = await paginate(ImportRecord.filter(importer_id=ctx.require_actor().id), params)
    page.items = [await record_view(ctx, record, with_copies=False) for record in page.items]
    return page


class CopiesInput(ListInput):
    origin: str | None = Field(None, max_length=255, description="only copies from this server (host[:port])")


@REGISTRY.operation("copies.list", CopiesInput, output=Paged[CopyOut], access=Access.USER)
async def list_copies(ctx: Context, params: CopiesInput) -> Page:
    """Your imported copies: origin, the version imported, the version held now, withdrawn or not."""
    query = ImportedCopy.filter(importer_id=ctx.require_actor().id)
    if params.origin:
        query = query.filter(origin=params.origin.lower())
    page = await paginate(query, params)
    page.items = await copy_views(page.items)
    return page
