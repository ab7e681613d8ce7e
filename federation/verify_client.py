"""The verification client: check a token (by URL) or every token of an export file at its origin,
or a ledger trace offline.

For each token: its proof by its owner (the key read from the owner's actor document), then
the origin's `/api/v1/verify` answer for its content hash, whose proof must come from the
origin's instance actor. The verdict is the origin's (`accurate`, `outdated`, `withdrawn`,
`unknown`), or `refused` when a proof or a fetch fails. Nothing here needs a database: keys
are fetched unsigned, so `tallystick verify` runs anywhere.

A ledger trace (`GET /ledger/{id}/trace`: an entry and all its ancestors, each signed by the
owner of its type) is checked without asking anyone when the owner's key is given (a PEM file
or the owner's actor document saved to a file): every proof by that key, and every edge
consistent (each source in the file, given to the one who spends it, not spent beyond its
amount, the sources of an entry adding up to its amount, roots being creates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric import ed25519

from models.attributes import content_hash
from models.context import Site

from .as2 import as_id, type_of
from .documents import instance_actor_url
from .exports import EXPORT_TYPE
from .fetch import FetchError, fetch_json
from .keys import KeyFormatError, ed25519_to_multibase, load_public_key
from .signed_objects import KEY_FRAGMENT, ActorDocuments, ObjectRefused, verify_remote_object

__all__ = ["GivenKey", "Verdict", "check_document", "check_token_url", "check_trace", "is_trace", "read_key_file"]


@dataclass(frozen=True)
class Verdict:
    """What the client concluded about one token."""

    token: str
    verdict: str  # accurate | outdated | withdrawn | unknown | refused
    detail: str
    version: int | None = None

    @property
    def accurate(self) -> bool:
        return self.verdict == "accurate"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def ask_origin(site: Site, token_url: str, claimed_hash: str, actors: ActorDocuments) -> Verdict:
    """The origin's signed answer about a content hash of one of its tokens."""
    origin = _origin_of(token_url)
    query = f"token={quote(token_url, safe='')}&content_hash={quote(claimed_hash, safe='')}"
    try:
        url = f"{origin}/api/v1/verify?{query}"
        answer = await fetch_json(site, url, signed=actors.signed, accept="application/json")
        checked = await verify_remote_object(site, answer, actors=actors, origin=token_url)
    except FetchError as error:
        return Verdict(token_url, "refused", f"the origin did not answer: {error.detail}")
    except ObjectRefused as error:
        return Verdict(token_url, "refused", f"the origin's answer is not signed by it: {error.reason}")
    if checked.signer != instance_actor_url(origin):
        signer = checked.signer
        return Verdict(token_url, "refused", f"the answer was signed by {signer}, not the origin's instance actor")
    if answer.get("token") not in (token_url, None):  # None: the origin has no such token (verdict unknown)
        return Verdict(token_url, "refused", "the origin answered about another token")
    verdict = str(answer.get("verdict"))
    version = answer.get("version") if isinstance(answer.get("version"), int) else None
    detail = str(answer.get("reason") or f"matches the origin's version {version}")
    return Verdict(token_url, verdict, detail, version)


async def check_token(
    site: Site,
    token: Mapping[str, Any],
    actors: ActorDocuments,
    *,
    content: Any = None,
    claimed_hash: str | None = None,
) -> Verdict:
    """Check a signed token document (and the content it came with), then ask its origin."""
    url = str(token.get("id") or "?")
    try:
        await verify_remote_object(site, token, actors=actors)
    except ObjectRefused as error:
        return Verdict(url, "refused", f"its proof does not hold: {error.reason}")
    if isinstance(content, Mapping):
        try:
            recomputed = content_hash(dict(content))
        except (TypeError, ValueError):
            recomputed = ""
        if recomputed != token.get("contentHash") or content.get("attributes") != token.get("attributes"):
            return Verdict(url, "refused", "the content carried with it does not match its content hash")
    wanted = claimed_hash or token.get("contentHash")
    if not isinstance(wanted, str):
        return Verdict(url, "refused", "the token document carries no content hash")
    return await ask_origin(site, url, wanted, actors)


async def check_token_url(site: Site, url: str, *, claimed_hash: str | None = None) -> Verdict:
    """Fetch a token's ActivityPub document and check it; with `claimed_hash`, check that copy instead."""
    actors = ActorDocuments(site, signed=False)
    try:
        document = await fetch_json(site, url, signed=False)
    except FetchError as error:
        return Verdict(url, "refused", f"cannot fetch it: {error.detail}")
    if document.get("type") != "Token":
        return Verdict(url, "refused", f"{url} is not a token")
    return await check_token(site, document, actors, claimed_hash=claimed_hash)


async def check_document(site: Site, document: Mapping[str, Any]) -> list[Verdict]:
    """Every token of an export file (after the export's own proof), or the one token of a token file."""
    actors = ActorDocuments(site, signed=False)
    if document.get("type") == "Token":
        return [await check_token(site, document, actors)]
    if document.get("type") != EXPORT_TYPE or not isinstance(document.get("tokens"), list):
        return [Verdict(str(document.get("id") or "the file"), "refused", "neither a token nor an export document")]
    try:
        await verify_remote_object(site, document, actors=actors)
    except ObjectRefused as error:
        return [Verdict(str(document.get("id")), "refused", f"the export's own proof does not hold: {error.reason}")]
    verdicts = []
    for entry in document["tokens"]:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("object"), Mapping):
            verdicts.append(Verdict("?", "refused", "a token entry is malformed"))
            continue
        verdicts.append(await check_token(site, entry["object"], actors, content=entry.get("content")))
    return verdicts


# ---------------------------------------------------------------- ledger traces


class GivenKey(ActorDocuments):
    """The one signer a file is checked against, from a key file: nothing is fetched.

    From an actor document, that actor (its `assertionMethod` key); from a bare Ed25519 PEM,
    whoever the entries name as their signer, with that key as `<actor>#ed25519-key`."""

    def __init__(self, site: Site, *, actor: Mapping[str, Any] | None = None, key: ed25519.Ed25519PublicKey | None = None) -> None:
        super().__init__(site, signed=False)
        self.actor = dict(actor) if actor is not None else None
        self.key = key

    async def __call__(self, url: str) -> dict[str, Any]:
        if self.actor is not None:
            if as_id(self.actor) != url:
                raise ObjectRefused(f"it was signed by {url}, not by {as_id(self.actor)} whose key was given")
            return self.actor
        assert self.key is not None
        method = {"id": url + KEY_FRAGMENT, "type": "Multikey", "controller": url,
                  "publicKeyMultibase": ed25519_to_multibase(self.key)}
        return {"id": url, "assertionMethod": [method]}


def read_key_file(site: Site, data: bytes) -> GivenKey:
    """A key file: an Ed25519 public key in PEM, or an actor document (JSON) listing its Multikey.
    ValueError (saying what is wrong) otherwise."""
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = load_public_key(data)
        except KeyFormatError as error:
            raise ValueError(str(error)) from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError("the key is not an Ed25519 key (entries are signed with the owner's Ed25519 key)")
        return GivenKey(site, key=key)
    try:
        actor = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ValueError("neither a PEM public key nor a JSON actor document") from None
    if not isinstance(actor, dict) or not as_id(actor) or not actor.get("assertionMethod"):
        raise ValueError("the JSON is not an actor document with an assertionMethod key")
    return GivenKey(site, actor=actor)


def is_trace(document: Mapping[str, Any]) -> bool:
    """Whether a file is a ledger trace (`GET /ledger/{id}/trace`)."""
    return type_of(document) == "OrderedCollection" and "traceOf" in document


def _amount(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value)) if isinstance(value, (str, int)) else None
    except InvalidOperation:
        return None
    return amount if amount is not None and amount.is_finite() and amount > 0 else None


def _edge_problems(
    entry: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]], spent: dict[str, Decimal]
) -> str | None:
    """What is wrong with an entry's place in the trace (its sources), or None; adds what it
    spends from each source to `spent`."""
    amount = _amount(entry.get("amount"))
    if amount is None:
        return f"its amount {entry.get('amount')!r} is not a positive number"
    kind = entry.get("entryKind")
    sources = entry.get("sources")
    if not isinstance(sources, list):
        return "its sources are not a list"
    if kind == "create":
        return "a create spends nothing, yet it names sources" if sources else None
    if kind not in ("give", "burn"):
        return f"it is neither a create, a give nor a burn ({kind!r})"
    if not sources:
        return f"a {kind} must spend earlier entries, yet it names no sources (only creates are roots)"
    total = Decimal(0)
    author = as_id(entry.get("attributedTo"))
    for source in sources:
        source_id = as_id(source)
        source_amount = _amount(source.get("amount")) if isinstance(source, Mapping) else None
        if source_id is None or source_amount is None:
            return f"a source is malformed: {source!r}"
        held = entries.get(source_id)
        if held is None:
            return f"its source {source_id} is not in the file"
        if as_id(held.get("target")) != author:
            return f"its source {source_id} was given to {as_id(held.get('target'))}, not to {author} who spends it"
        total += source_amount
        spent[source_id] = spent.get(source_id, Decimal(0)) + source_amount
    if total != amount:
        return f"its sources add up to {total}, not to its amount {entry.get('amount')}"
    return None


async def check_trace(site: Site, document: Mapping[str, Any], key: ActorDocuments | None = None) -> list[Verdict]:
    """One verdict per entry of a trace file ("valid" or "refused"), each naming the entry.

    With a `GivenKey` nothing is fetched: every proof must be by that key. Without `key`, the
    type owner's actor document is fetched from the origin unsigned (the command-line client
    has no keys); a server passes its own `ActorDocuments(site)`, which signs the fetch."""
    items = document.get("orderedItems")
    traced = as_id(document.get("traceOf")) or "the trace"
    if not isinstance(items, list) or not items or not all(isinstance(item, Mapping) for item in items):
        return [Verdict(traced, "refused", "the trace lists no entries")]
    if document.get("truncated") is not False:
        return [Verdict(traced, "refused", "the trace is truncated (or does not say it is whole): fetch it with a larger limit")]
    entries = {str(as_id(item) or "?"): item for item in items}
    if traced not in entries:
        return [Verdict(traced, "refused", "the traced entry itself is not in the file")]
    first = entries[traced]
    owner, token_type = as_id(first.get("tokenOwner")), as_id(first.get("tokenType"))
    actors = key or ActorDocuments(site, signed=False)
    spent: dict[str, Decimal] = {}
    problems: dict[str, str] = {}
    for url, entry in entries.items():
        if type_of(entry) != "LedgerEntry":
            problems[url] = "it is not a ledger entry"
            continue
        if owner is None or as_id(entry.get("tokenOwner")) != owner:
            problems[url] = f"it names {as_id(entry.get('tokenOwner'))} as its token owner, not {owner}"
            continue
        if as_id(entry.get("tokenType")) != token_type:
            problems[url] = f"it is of the type {as_id(entry.get('tokenType'))}, not {token_type}"
            continue
        try:
            await verify_remote_object(site, entry, actors=actors)
        except ObjectRefused as error:
            problems[url] = f"its proof does not hold: {error.reason}"
            continue
        problem = _edge_problems(entry, entries, spent)
        if problem is not None:
            problems[url] = problem
    for source_id, total in spent.items():  # what the file shows spent of each output
        amount = _amount(entries[source_id].get("amount"))
        if source_id not in problems and amount is not None and total > amount:
            problems[source_id] = f"entries in the file spend {total} of it, more than its amount {entries[source_id].get('amount')}"
    return [
        Verdict(url, "refused", problems[url]) if url in problems
        else Verdict(url, "valid", f"{entry.get('entryKind')} of {entry.get('amount')}, signed by {owner}")
        for url, entry in entries.items()
    ]
