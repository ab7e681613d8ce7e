"""Signing what we serve and checking what others signed: proofs tied to their owners.

federation/proofs.py does the mathematics of FEP-8b32; this module adds the two things a
proof alone does not say. Who signed: `verificationMethod` names a key, which must be listed
in its controller's `assertionMethod` (FEP-521a Multikey). And whether that signer may speak
for the object (FEP-fe34 "origin-based security"): the signer lives on the object's origin
and, when the object names an owner (`attributedTo`), is that owner. A ledger entry is the
exception: the ledger of a type is kept by the type owner's server, which records entries
authored by holders anywhere (a remote holder gives onward), so an entry is signed by the owner
of its type, named in its `tokenOwner`, and one key checks a whole trace.

Actor documents are read through an `ActorDocuments` fetcher: ours from the database, others
with a remote fetch behind the SSRF guard and size limit; each is fetched once per fetcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import Field

from models.actors import INSTANCE_USERNAME, Actor, local_actor_url
from models.context import Context, Site
from models.errors import DomainError, Gone
from models.operations.entries import entry_rows
from models.operations.types import get_type
from models.registry import REGISTRY, Access, Input

from . import documents
from .actors import ID, ObjectInput, actor_keys, local_user_actor
from .as2 import as_id, as_list, domain_of, type_of
from .fetch import FetchError, fetch_json
from .keys import KeyFormatError, ed25519_from_multibase, load_private_key
from .objects import actor_url as object_actor_url
from .objects import read_object
from .outputs import CollectionDocument, ObjectDocument
from .proofs import ProofError, proof_of, sign_object, verify_object

__all__ = [
    "ActorDocuments", "ObjectRefused", "Verified", "key_in_actor", "sign_as", "signed_document", "signed_trace",
    "verify_remote_object",
]

KEY_FRAGMENT = "#ed25519-key"


class ObjectRefused(ValueError):
    """A signed object does not check out; `reason` says why in words a person can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """A proof that checked out: who signed it (actor URL) and the proof itself."""

    signer: str
    proof: dict[str, Any]


async def _signing_key(site: Site, actor: Actor) -> tuple[ed25519.Ed25519PrivateKey, str]:
    """A local actor's Ed25519 private key and its verificationMethod (`<actor url>#ed25519-key`)."""
    keys = await actor_keys(actor)
    private = load_private_key(keys.ed25519_private_pem)
    return private, local_actor_url(site.base_url, actor) + KEY_FRAGMENT  # type: ignore[return-value]  # the ed25519 column holds an Ed25519 key


async def sign_as(site: Site, actor: Actor, document: dict[str, Any]) -> dict[str, Any]:
    """The document with a proof by a local actor's Ed25519 key (`<actor url>#ed25519-key`)."""
    private, method = await _signing_key(site, actor)
    return sign_object(document, private, method)


def _local_username(site: Site, url: str) -> str | None:
    """The username of one of our actor URLs ("" for the instance actor), or None."""
    if url == documents.instance_actor_url(site.base_url):
        return ""
    prefix = documents.actor_url(site.base_url, "")
    name = url[len(prefix):] if url.startswith(prefix) else ""
    return name if name and "/" not in name else None


class ActorDocuments:
    """Actor documents by URL, read once each: local ones from the database, remote ones fetched.

    `signed=False` fetches without an HTTP signature and never touches the database, for
    the command-line verifier that runs without a server's keys.
    """

    def __init__(self, site: Site, *, signed: bool = True) -> None:
        self.site = site
        self.signed = signed
        self._seen: dict[str, dict[str, Any]] = {}

    async def __call__(self, url: str) -> dict[str, Any]:
        if url not in self._seen:
            self._seen[url] = await self._load(url)
        return self._seen[url]

    async def _load(self, url: str) -> dict[str, Any]:
        username = _local_username(self.site, url) if self.signed else None
        if username is not None:
            params = {} if username in ("", INSTANCE_USERNAME) else {"username": username}
            try:
                document: dict[str, Any] = await REGISTRY.call(Context(site=self.site), "federation.actor", params)
            except DomainError as error:  # NotFound/Gone: the signer is not (or no longer) ours
                raise ObjectRefused(f"the signer {url} is not an actor of this server: {error.detail}") from None
            return document
        try:
            return await fetch_json(self.site, url, signed=self.signed)
        except FetchError as error:
            raise ObjectRefused(f"cannot fetch the signer {url}: {error.detail}") from None


def key_in_actor(actor: Mapping[str, Any], method: str) -> ed25519.Ed25519PublicKey:
    """The Ed25519 key `method` if the actor lists it in `assertionMethod` as its own Multikey."""
    actor_id = as_id(actor)
    for entry in as_list(actor.get("assertionMethod")):
        if not isinstance(entry, Mapping) or entry.get("id") != method:
            continue
        if type_of(entry) != "Multikey" or as_id(entry.get("controller")) != actor_id:
            raise ObjectRefused(f"the key {method} is not a Multikey controlled by {actor_id}")
        try:
            return ed25519_from_multibase(str(entry.get("publicKeyMultibase", "")))
        except (KeyFormatError, ValueError) as error:
            raise ObjectRefused(f"the key {method} cannot be read: {error}") from None
    raise ObjectRefused(f"{actor_id} does not list the key {method} in its assertionMethod")


def _check_signer_speaks_for(document: Mapping[str, Any], signer: str) -> None:
    """The signer (already on the object's origin) is its owner: a ledger entry's `tokenOwner`
    when it names one, any other object's `attributedTo` when it names one."""
    token_owner = as_id(document.get("tokenOwner")) if type_of(document) == "LedgerEntry" else None
    if token_owner is not None:
        if domain_of(token_owner) != domain_of(str(as_id(document) or "")):
            raise ObjectRefused(f"the entry's token owner {token_owner} does not live on the entry's server")
        if token_owner != signer:
            raise ObjectRefused(f"the entry is of a type owned by {token_owner} but was signed by {signer}")
        return
    owner = as_id(document.get("attributedTo"))
    if owner is not None and owner != signer:
        raise ObjectRefused(f"the object belongs to {owner} but was signed by {signer}")


async def verify_remote_object(
    site: Site,
    document: Mapping[str, Any],
    *,
    actors: ActorDocuments | None = None,
    origin: str | None = None,
) -> Verified:
    """Check a signed object: its proof, the signer's key, and that the signer may speak for it.

    The object's origin is its `id`'s (or `origin` for objects without an id, such as
    verification answers); the signer must live there, and must be the `attributedTo`
    owner when the object names one (for a ledger entry naming its `tokenOwner`: that owner).
    ObjectRefused (with the reason) otherwise.
    """
    try:
        proof = proof_of(document)
    except ProofError as error:
        raise ObjectRefused(str(error)) from None
    method = proof["verificationMethod"]
    signer = method.split("#", 1)[0]
    if not signer.startswith(("https://", "http://")) or "#" not in method:
        raise ObjectRefused(f"the verificationMethod {method!r} is not a key URL")
    object_origin = domain_of(str(as_id(document) or origin or ""))
    if not object_origin:
        raise ObjectRefused("the object has no id, so nobody can be its signer")
    if domain_of(signer) != object_origin:
        raise ObjectRefused(f"the object lives on {object_origin} but was signed by {signer}")
    _check_signer_speaks_for(document, signer)
    actor = await (actors or ActorDocuments(site))(signer)
    if as_id(actor) != signer:
        raise ObjectRefused(f"{signer} answered with the document of another actor")
    key = key_in_actor(actor, method)
    try:
        verify_object(document, key)
    except ProofError as error:
        raise ObjectRefused(str(error)) from None
    return Verified(signer=signer, proof=proof)


SIGNED_KINDS = ("token", "type", "set", "ledger", "lot", "contract", "offer", "store", "store_item")


@REGISTRY.operation("federation.signed_object", ObjectInput, output=ObjectDocument, access=Access.PUBLIC)
async def signed_object(ctx: Context, params: ObjectInput) -> dict[str, Any]:
    """The ActivityPub form of a token, type, set, ledger entry or market lot with a proof by its owner
    (FEP-8b32); a ledger entry's is by the owner of its type.

    Objects whose owner lives on another server (we hold no key of theirs) are served
    without a proof.
    """
    return await signed_document(ctx.site, params.kind, params.id)


async def signed_document(site: Site, kind: str, object_id: str, *, reveal: bool = False) -> dict[str, Any]:
    """An object's public document, with its local owner's proof for the kinds that carry one
    (re-signed on every read, so the proof covers the current document: an entry's flags change).
    `reveal`: see read_object."""
    found = await read_object(site, kind, object_id, reveal=reveal)
    signer = found.signer or found.owner
    if kind not in SIGNED_KINDS or signer.domain:  # we hold no key of a remote owner
        return found.document
    owner = await _entry_signer(signer) if found.signer else await local_user_actor(signer.username)
    if owner is None:
        return found.document
    return await sign_as(site, owner, found.document)  # an owner's own object is 410 once the account is deleted


async def _entry_signer(type_owner: Actor) -> Actor | None:
    """The type owner who signs a ledger entry; None when that account was deleted: the ledger's
    history stays and its units still move, served and published without a proof (nobody could
    fetch the key any more)."""
    try:
        return await local_user_actor(type_owner.username)
    except Gone:
        return None


class TraceInput(Input):
    id: str = ID
    limit: int = Field(10_000, ge=1, le=100_000, description="at most this many ancestors")


SIGN_BATCH = 200  # entries signed between two yields to the event loop (about 25 ms)


@REGISTRY.operation("federation.signed_trace", TraceInput, output=CollectionDocument, access=Access.PUBLIC)
async def signed_trace(ctx: Context, params: TraceInput) -> dict[str, Any]:
    """A ledger entry and all its ancestors back to the creates, each the entry's ActivityPub
    document signed by the owner of its type: a copy that checks offline against that one key
    (`tallystick verify trace.json --key owner.pem`).

    Read through `ledger.trace` (its limit and truncation), then rendered in bulk: the
    documents are the ones `/ledger/{id}` serves.
    """
    site = ctx.site
    public = Context(site=site)
    traced = await REGISTRY.call(public, "ledger.trace", {"id": params.id, "limit": params.limit})
    views = [traced["operation"], *traced["ancestors"]]
    rows = {row.id: row for row in await entry_rows([view["id"] for view in views])}
    actor_ids = {row.author_id for row in rows.values()} | {row.recipient_id for row in rows.values() if row.recipient_id}
    actors = {actor.id: actor for actor in await Actor.filter(id__in=list(actor_ids))}
    token_type = await get_type(views[0]["type"])  # a trace never leaves its type: sources are of the same type
    owner_url = object_actor_url(site, token_type.owner)
    entries = []
    for view in views:
        row = rows[view["id"]]
        recipient = actors.get(row.recipient_id) if row.recipient_id else None
        entries.append(documents.entry_document(
            view, base_url=site.base_url, author_url=object_actor_url(site, actors[row.author_id]),
            recipient_url=object_actor_url(site, recipient) if recipient is not None else None,
            type_symbol=token_type.symbol, token_owner_url=owner_url,
        ))
    owner = None if token_type.owner.domain else await _entry_signer(token_type.owner)
    if owner is not None:
        private, method = await _signing_key(site, owner)
        for start in range(0, len(entries), SIGN_BATCH):
            if start:
                await asyncio.sleep(0)  # a long trace does not hold up other requests
            for index in range(start, min(start + SIGN_BATCH, len(entries))):
                entries[index] = sign_object(entries[index], private, method)
    return documents.trace_document(site.base_url, params.id, entries, truncated=bool(traced["truncated"]))
