"""Export a token set as one signed, self-contained document (`POST /api/v1/sets/{id}/export`).

The document holds the set, its tokens and their types (with parent types), each in its
ActivityPub form with its owner's proof, and for every token whose values are all public
the exact `content` its content hash covers, so an importer can recompute the hash. A
ledger summary (the set owner's balance of each type), the exporter and the time complete
it, and the exporter signs the whole (FEP-8b32). Anyone holding the document can check it
offline against the actors' published keys.

Exports always run as jobs: `exports.create` checks the caller owns the set and queues
`exports.build`, which writes the document once per job (a retried job finds its row).
`GET /api/v1/exports/{id}` serves the stored document as a file; its id is the capability.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import Field

from models.actors import local_actor_url
from models.attributes import is_hidden
from models.base import iso
from models.context import Context
from models.errors import NotFound, Unprocessable
from models.exports import SetExport
from models.ids import new_id
from models.operations.jobs import JobRequest, enqueue, render_job
from models.operations.ledger import balance_of
from models.operations.sets import get_visible_set
from models.operations.tokens import Resolver, hashed_document
from models.outputs import JobOut
from models.registry import REGISTRY, Access, Input
from models.results import FileResult
from models.sets import SetMember, TokenSet
from models.tokens import Token, TokenType, TypeParent

from . import documents
from .outputs import ExportOut
from .proofs import DATA_INTEGRITY_CONTEXT
from .signed_objects import sign_as, signed_document

__all__ = ["EXPORT_TYPE", "MAX_EXPORT_TOKENS", "export_url"]

EXPORT_TYPE = "TokenSetExport"
MAX_EXPORT_TOKENS = 1000
MAX_TYPE_DEPTH = 32
ID = Field(min_length=1, max_length=64)


def export_url(base_url: str, export_id: str) -> str:
    return f"{base_url}/api/v1/exports/{export_id}"


async def _owned_set(ctx: Context, set_id: str) -> TokenSet:
    """The caller's live set; 404 for sets of others too (an export reveals what they chose)."""
    token_set = await get_visible_set(set_id)
    if not ctx.system and ctx.require_actor().id != token_set.owner_id:
        raise NotFound(f"you have no set with id {set_id!r}", code="set-not-found")
    return token_set


class ExportInput(Input):
    id: str = ID


@REGISTRY.operation("exports.create", ExportInput, output=JobOut)
async def create_export(ctx: Context, params: ExportInput) -> dict[str, Any]:
    """Export one of your sets as a signed document; always a job (poll it, then download)."""
    token_set = await _owned_set(ctx, params.id)
    job, _ = await enqueue(ctx, JobRequest(operation="exports.build", input={"set": token_set.id}))
    return await render_job(job)


class BuildInput(Input):
    set: str = ID


async def _content(token: Token, resolver: Resolver) -> dict[str, Any] | None:
    """What the content hash covers, when every value is public (else it stays at the origin)."""
    schema = await resolver.schema(token.type_id)
    if any(is_hidden(definition) for definition in schema.definitions.values()):
        return None
    return await hashed_document(token, resolver)


async def _type_ids_with_parents(type_ids: list[str]) -> list[str]:
    """The types and, transitively, their parent types, in first-seen order."""
    found = list(dict.fromkeys(type_ids))
    frontier = list(found)
    for _ in range(MAX_TYPE_DEPTH):
        if not frontier:
            break
        links = TypeParent.filter(child_id__in=frontier).order_by("position")
        parents = [str(parent) for parent in await links.values_list("parent_id", flat=True)]
        frontier = [parent for parent in dict.fromkeys(parents) if parent not in found]
        found += frontier
    return found


@REGISTRY.operation("exports.build", BuildInput, output=ExportOut)
async def build_export(ctx: Context, params: BuildInput) -> dict[str, Any]:
    """Write the signed export document of a set (runs in the job `exports.create` queued)."""
    token_set = await _owned_set(ctx, params.set)
    job_id = ctx.extra.get("job_id")
    if job_id is not None:
        done = await SetExport.get_or_none(job_id=job_id)
        if done is not None:  # a retried job: the document was written by the first run
            return _summary(ctx, done)
    in_set = SetMember.filter(set_id=token_set.id, token__is_deleted=False).order_by("id").limit(MAX_EXPORT_TOKENS + 1)
    members = [str(token_id) for token_id in await in_set.values_list("token_id", flat=True)]
    if len(members) > MAX_EXPORT_TOKENS:
        raise Unprocessable(
            f"a set of more than {MAX_EXPORT_TOKENS} tokens cannot be exported in one document", code="export-too-large"
        )
    tokens = {token.id: token for token in await Token.filter(id__in=list(members))}
    resolver = Resolver()
    entries: list[dict[str, Any]] = []
    omitted: list[dict[str, str]] = []
    for token_id in members:
        token = tokens[token_id]
        signed = await signed_document(ctx.site, "token", token.id)
        if "proof" not in signed:  # its owner lives elsewhere: we cannot sign for them
            omitted.append({"id": signed["id"], "reason": "owned by an actor on another server"})
            continue
        entries.append({"object": signed, "content": await _content(token, resolver)})
    own_types = [tokens[token_id].type_id for token_id in members]
    type_ids = await _type_ids_with_parents(own_types)
    types = [await signed_document(ctx.site, "type", type_id) for type_id in type_ids]
    owner = token_set.owner
    ledger = [await balance_of(owner, kind) for kind in await TokenType.filter(id__in=type_ids).order_by("id")]
    export_id = new_id()
    owner_url = local_actor_url(ctx.site.base_url, owner)
    document: dict[str, Any] = {
        "@context": [documents.AS_CONTEXT, documents.vocabulary_url(ctx.site.base_url), DATA_INTEGRITY_CONTEXT],
        "id": export_url(ctx.site.base_url, export_id),
        "type": EXPORT_TYPE,
        "name": f"Export of the set {token_set.name}",
        "attributedTo": owner_url,
        "exporter": owner_url,
        "origin": ctx.site.base_url,
        "published": iso(datetime.now(UTC)),
        "set": await signed_document(ctx.site, "set", token_set.id),
        "tokens": entries,
        "types": types,
        "ledger": {
            "owner": owner.handle(ctx.site.domain),
            "balances": [
                {**row, "type": documents.object_url(ctx.site.base_url, "type", row["type"])} for row in ledger
            ],
        },
        "omitted": omitted,
    }
    signed_export = await sign_as(ctx.site, owner, document)
    row = await SetExport.create(
        id=export_id, set=token_set, owner=owner, job_id=job_id, token_count=len(entries), document=signed_export
    )
    await ctx.emit("export.created", "export", row.id, {"set": token_set.id, "tokens": len(entries)})
    return _summary(ctx, row)


def _summary(ctx: Context, row: SetExport) -> dict[str, Any]:
    return {
        "id": row.id,
        "set": row.set_id,
        "token_count": row.token_count,
        "url": export_url(ctx.site.base_url, row.id),
        "created_at": iso(row.created_at),
    }


class ExportIdInput(Input):
    id: str = ID


def _filename(name: str, export_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "set"
    return f"tallystick-{slug}-{export_id}.json"


@REGISTRY.operation("exports.get", ExportIdInput, output=FileResult, access=Access.PUBLIC)
async def download_export(ctx: Context, params: ExportIdInput) -> FileResult:
    """Download an export document (its id is the link to share)."""
    row = await SetExport.get_or_none(id=params.id)
    if row is None:
        raise NotFound(f"there is no export with id {params.id!r}", code="export-not-found")
    folder = ctx.site.data_dir / "exports"
    path = folder / f"{row.id}.json"
    if not path.exists():  # written once from the stored document; the row stays the source of truth
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{row.id}.{os.getpid()}.tmp"
        partial.write_bytes(orjson.dumps(row.document))
        partial.replace(path)
    name = str(row.document.get("name", "")).removeprefix("Export of the set ")
    return FileResult(path=path, content_type="application/json", filename=_filename(name, row.id))
