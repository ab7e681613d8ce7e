"""Import an export document from another server as read-only copies (`POST /api/v1/imports`).

Everything is checked before anything is stored: the export's proof by its exporter, the
set's, every type's and every token's proof by its owner (keys fetched from the origin's
actor documents), that they all live on the exporter's server, and every token's content
hash: recomputed from the `content` the export carries, or, for tokens with private values,
confirmed by the origin's signed verification answer. One failure refuses the whole
document with a 422 that says which object and why; nothing is kept.

Tokens become `RemoteObject` copies (the same rows federation's Create/Update/Delete keep
current) with an `ImportedCopy` per token naming origin server, token id and version. Then
the importer follows each owner at the origin, so later changes arrive as signed Updates.
A copy that missed an Update is found out by `copies.verify`, which asks the origin and
brings the copy forward from the origin's signed document. Reading imports and copies is a plain
query: models/operations/imports.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, model_validator
from tortoise.transactions import in_transaction

from models.actors import Actor
from models.attributes import content_hash
from models.context import Context, Site
from models.errors import DomainError, NotFound, Unprocessable
from models.exports import ImportedCopy, ImportRecord
from models.federation import RemoteObject
from models.operations.imports import copy_views, record_view
from models.registry import REGISTRY, Access, Input, Transaction

from .as2 import as_id, domain_of
from .exports import EXPORT_TYPE
from .fetch import FetchError, fetch_json
from .outputs import CopyVerdictOut, ImportedOut
from .proofs import canonicalize
from .remote_actors import remote_actor
from .signed_objects import ActorDocuments, ObjectRefused, verify_remote_object
from .verify_client import ask_origin

__all__ = ["CheckedExport", "check_export"]

ID = Field(min_length=1, max_length=64)


class ImportInput(Input):
    """The export document itself, or the URL to fetch it from (not both)."""

    document: dict[str, Any] | None = None
    url: str | None = Field(None, min_length=8, max_length=2048, description="an export's download URL")

    @model_validator(mode="after")
    def _one_source(self) -> ImportInput:
        if (self.document is None) == (self.url is None):
            raise ValueError("send either document or url")
        return self


def _refuse(detail: str) -> Unprocessable:
    return Unprocessable(f"the export was refused: {detail}; nothing was imported", code="import-refused")


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _refuse(f"{what} is missing or not an object")
    return dict(value)


def _token_id(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


class CheckedExport:
    """An export whose every proof and hash checked out, with what the import stores."""

    def __init__(self, document: dict[str, Any], exporter: str) -> None:
        self.document = document
        self.exporter = exporter
        self.origin = domain_of(str(document["id"]))
        self.set: dict[str, Any] = document["set"]
        self.types: list[dict[str, Any]] = document["types"]
        self.tokens: list[tuple[dict[str, Any], bool]] = []  # (signed token document, hash recomputed here)


def _check_content(token: Mapping[str, Any], content: Any) -> None:
    """The carried content is what the signed document says, and hashes to its contentHash."""
    content = _mapping(content, f"the content of {token['id']}")
    expected = {
        "id": _token_id(str(token["id"])),
        "type": _token_id(str(token.get("tokenType", ""))),
        "version": token.get("version"),
        "attributes": token.get("attributes"),
    }
    for name, value in expected.items():
        if content.get(name) != value:
            raise _refuse(f"the content of {token['id']} does not match its signed document ({name})")
    try:
        recomputed = content_hash(content)
    except (TypeError, ValueError):
        recomputed = ""
    if recomputed != token.get("contentHash"):
        raise _refuse(f"the content hash of {token['id']} does not match its content")


async def _origin_confirms(site: Site, token: Mapping[str, Any], actors: ActorDocuments) -> None:
    """For a token whose private values stay at the origin: its signed word that it issued this hash."""
    origin = f"{urlsplit(str(token['id'])).scheme}://{urlsplit(str(token['id'])).netloc}"
    query = f"token={quote(str(token['id']), safe='')}&content_hash={quote(str(token.get('contentHash')), safe='')}"
    url = f"{origin}/api/v1/verify?{query}"
    try:
        answer = await fetch_json(site, url)
    except FetchError as error:
        raise _refuse(f"the origin could not confirm {token['id']}: {error.detail}") from None
    try:
        checked = await verify_remote_object(site, answer, actors=actors, origin=str(token["id"]))
    except ObjectRefused as error:
        raise _refuse(f"the origin's answer about {token['id']} is not signed by it: {error.reason}") from None
    if answer.get("token") != token["id"] or not checked.signer:
        raise _refuse(f"the origin answered about another token than {token['id']}")
    if answer.get("verdict") not in ("accurate", "outdated"):  # outdated: issued once; Updates bring it forward
        raise _refuse(f"the origin says the copy of {token['id']} is {answer.get('verdict')}: it never issued it")


async def check_export(site: Site, raw: Mapping[str, Any], actors: ActorDocuments | None = None) -> CheckedExport:
    """Check every proof and hash of an export document; 422 import-refused at the first failure."""
    actors = actors or ActorDocuments(site)
    if raw.get("type") != EXPORT_TYPE or not isinstance(raw.get("id"), str):
        raise _refuse(f"this is not a {EXPORT_TYPE} document")
    document = dict(raw)
    if not isinstance(document.get("tokens"), list) or not isinstance(document.get("types"), list):
        raise _refuse("the document has no tokens or types list")
    try:
        exporter = (await verify_remote_object(site, document, actors=actors)).signer
    except ObjectRefused as error:
        raise _refuse(f"the export's own proof: {error.reason}") from None
    checked = CheckedExport(document, exporter)
    token_set = _mapping(document.get("set"), "the set")
    parts: list[tuple[str, dict[str, Any]]] = [("the set", token_set)]
    parts += [(f"the type {_mapping(item, 'a type').get('id')}", dict(item)) for item in document["types"]]
    entries = [_mapping(item, "a token entry") for item in document["tokens"]]
    parts += [(f"the token {_mapping(entry.get('object'), 'a token').get('id')}", entry["object"]) for entry in entries]
    for what, part in parts:
        if domain_of(str(as_id(part) or "")) != checked.origin:
            raise _refuse(f"{what} does not live on the exporter's server {checked.origin}")
        try:
            await verify_remote_object(site, part, actors=actors)
        except ObjectRefused as error:
            raise _refuse(f"{what}: {error.reason}") from None
    if token_set.get("attributedTo") != exporter:
        raise _refuse("the exporter does not own the exported set")
    type_ids = {str(as_id(item)) for item in document["types"]}
    for entry in entries:
        token = entry["object"]
        if token.get("type") != "Token" or token.get("tokenType") not in type_ids:
            raise _refuse(f"{token.get('id')} is not a token whose type the export carries")
        if entry.get("content") is None:
            await _origin_confirms(site, token, actors)
            checked.tokens.append((token, False))
        else:
            _check_content(token, entry["content"])
            checked.tokens.append((token, True))
    return checked


async def _source(ctx: Context, params: ImportInput) -> dict[str, Any]:
    if params.document is not None:
        return params.document
    try:
        return await fetch_json(ctx.site, str(params.url), accept="application/json")
    except FetchError as error:
        raise Unprocessable(f"cannot fetch the export: {error.detail}", code="import-source-unavailable") from None


async def _owner_actors(site: Site, checked: CheckedExport) -> dict[str, Actor]:
    """Local actor rows for every owner named (fetched and cached before any transaction)."""
    uris = {checked.exporter, *(str(doc["attributedTo"]) for doc, _ in checked.tokens)}
    uris |= {str(doc["attributedTo"]) for doc in checked.types}
    found: dict[str, Actor] = {}
    for uri in sorted(uris):
        try:
            remote = await remote_actor(site, uri)
        except FetchError as error:
            raise _refuse(f"cannot fetch the owner {uri}: {error.detail}") from None
        found[uri] = await Actor.get(id=remote.actor_id)
    return found


async def _keep(uri: str, kind: str, owner: Actor, document: dict[str, Any]) -> RemoteObject:
    """The copy row for an object: created, or brought forward when ours is older."""
    row = await RemoteObject.get_or_none(uri=uri)
    if row is None:
        return await RemoteObject.create(uri=uri, type=kind, owner=owner, document=document)
    held = row.document.get("version") if isinstance(row.document, Mapping) else None
    if not isinstance(held, int) or (isinstance(document.get("version"), int) and document["version"] >= held):
        await RemoteObject.filter(id=row.id).update(document=document, is_deleted=False)
    return row


# Transaction.NONE: it fetches keys and follows owners over the network, so no caller (HTTP or job
# worker) may wrap it in a transaction; it opens its own, only for storing (as follows.create does).
@REGISTRY.operation("imports.create", ImportInput, output=ImportedOut, transaction=Transaction.NONE)
async def import_export(ctx: Context, params: ImportInput) -> dict[str, Any]:
    """Import another server's export as read-only copies, after checking every proof and hash."""
    me = ctx.require_actor()
    raw = await _source(ctx, params)
    checked = await check_export(ctx.site, raw)
    if checked.origin == domain_of(ctx.site.base_url):
        raise Unprocessable(
            "these tokens live on this server already: there is nothing to copy", code="import-from-self"
        )
    document_hash = "sha256:" + hashlib.sha256(canonicalize(checked.document)).hexdigest()
    earlier = await ImportRecord.get_or_none(importer_id=me.id, document_hash=document_hash)
    if earlier is not None:  # the same document again: the same import, not a second set of copies
        return {**await record_view(ctx, earlier), "following": [], "not_following": []}
    owners = await _owner_actors(ctx.site, checked)
    async with in_transaction():
        record = await ImportRecord.create(
            importer=me, source_url=params.url, export_uri=checked.document["id"], origin=checked.origin,
            set_uri=str(checked.set["id"]), set_name=str(checked.set.get("name", ""))[:200],
            exporter_uri=checked.exporter, token_count=len(checked.tokens), document_hash=document_hash,
        )
        await _keep(str(checked.set["id"]), "TokenSet", owners[checked.exporter], checked.set)
        for type_document in checked.types:
            type_owner = owners[str(type_document["attributedTo"])]
            await _keep(str(type_document["id"]), "TokenType", type_owner, type_document)
        for token, hash_checked in checked.tokens:
            row = await _keep(str(token["id"]), "Token", owners[str(token["attributedTo"])], token)
            await ImportedCopy.create(
                record=record, importer=me, remote_object=row, token_uri=token["id"], origin=checked.origin,
                origin_token_id=_token_id(str(token["id"])), version=int(token.get("version") or 0),
                content_hash=str(token.get("contentHash") or ""), hash_checked=hash_checked,
            )
        await ctx.emit("import.created", "import", record.id,
                       {"export": record.export_uri, "origin": record.origin, "tokens": record.token_count})
    following, not_following = [], []
    for uri in sorted({str(token["attributedTo"]) for token, _ in checked.tokens} | {checked.exporter}):
        try:
            await REGISTRY.call(ctx, "follows.create", {"target": uri})
            following.append(uri)
        except DomainError as error:  # the copies stand; following can be retried with POST /api/v1/follows
            not_following.append({"actor": uri, "reason": error.detail[:300]})
    view = await record_view(ctx, record)
    return {**view, "following": following, "not_following": not_following}


class CopyIdInput(Input):
    id: str = ID


async def _refresh(site: Site, held: RemoteObject, token_uri: str, actors: ActorDocuments) -> str | None:
    """Bring an outdated copy forward to the origin's current signed document; None, or why not."""
    try:
        document = await fetch_json(site, token_uri)
        await verify_remote_object(site, document, actors=actors)
    except FetchError as error:
        return f"cannot fetch the current version: {error.detail}"
    except ObjectRefused as error:
        return f"the current version's proof does not hold: {error.reason}"
    if document.get("attributedTo") != held.document.get("attributedTo"):
        return "the token has a new owner: import it again from its new owner's export"
    version, held_version = document.get("version"), held.document.get("version")
    if not isinstance(version, int) or (isinstance(held_version, int) and version <= held_version):
        return "the origin serves no newer version than the copy"
    await RemoteObject.filter(id=held.id).update(document=document, is_deleted=False)
    return None


@REGISTRY.operation("copies.verify", CopyIdInput, output=CopyVerdictOut, access=Access.USER)
async def verify_copy(ctx: Context, params: CopyIdInput) -> dict[str, Any]:
    """Ask the origin about your copy; an outdated copy is refreshed, a withdrawn one marked."""
    row = await ImportedCopy.get_or_none(id=params.id, importer_id=ctx.require_actor().id)
    if row is None:
        raise NotFound(f"you have no copy with id {params.id!r}", code="copy-not-found")
    held = await RemoteObject.get(id=row.remote_object_id)
    actors = ActorDocuments(ctx.site)
    verdict = await ask_origin(ctx.site, row.token_uri, str(held.document.get("contentHash")), actors)
    problem = None
    if verdict.verdict == "outdated":
        problem = await _refresh(ctx.site, held, row.token_uri, actors)
    elif verdict.verdict == "withdrawn":
        await RemoteObject.filter(id=held.id).update(is_deleted=True)
    return {
        "verdict": verdict.verdict,
        "detail": verdict.detail,
        "origin_version": verdict.version,
        "refreshed": verdict.verdict == "outdated" and problem is None,
        "refresh_problem": problem,
        "copy": (await copy_views([row]))[0],
    }
