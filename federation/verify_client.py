"""The verification client: check a token (by URL) or every token of an export file at its origin.

For each token: its proof by its owner (the key read from the owner's actor document), then
the origin's `/api/v1/verify` answer for its content hash, whose proof must come from the
origin's instance actor. The verdict is the origin's (`accurate`, `outdated`, `withdrawn`,
`unknown`), or `refused` when a proof or a fetch fails. Nothing here needs a database: keys
are fetched unsigned, so `tallystick verify` runs anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from models.attributes import content_hash
from models.context import Site

from .documents import instance_actor_url
from .exports import EXPORT_TYPE
from .fetch import FetchError, fetch_json
from .signed_objects import ActorDocuments, ObjectRefused, verify_remote_object

__all__ = ["Verdict", "check_document", "check_token_url"]


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
