"""Answers to verification queries about our own tokens (the origin side of the tally stick).

A holder of a copy asks the origin one of four things:
- is this copy accurate? (its content hash, or the token document itself) -> `accurate`,
  `outdated` (we issued that content once; the answer names the current version),
  `withdrawn` (the token was deleted) or `unknown` (we never issued that content);
- is attribute X within [min, max]?
- does attribute X match /pattern/?
- does this disclosure (salt and value of a private attribute, handed over by the owner)
  open the token's current commitment to that attribute? (models/commitments.py)
Range, pattern and disclosure answers are true/false and never contain the value. Attributes that are
private or owner-readable can be checked only when their definition says `verifiable: true`.
Every answer carries the token's current content hash as `checksum`: presented later in
If-Match, it makes a change to the token fail with 409 if the token changed meanwhile.
Signing the answer is federation's part (federation/verify_service.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import Field, StrictInt, model_validator

from . import sql
from .attributes import NAME_PATTERN, content_hash, is_hidden
from .base import iso
from .bounds import MAX_VERSION
from .commitments import open_disclosure
from .context import Context
from .errors import Forbidden, Unprocessable
from .events import Event
from .operations.tokens import Resolver, token_document
from .operations.types import resolve_schema, stored_definitions
from .registry import Input
from .set_search import MAX_PATTERN_LENGTH, Matcher, Number, SearchFilter, check_range
from .tokens import Token, TokenType

__all__ = ["HASH_PATTERN", "VerifyInput", "assess"]

HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"
_TOKEN_PATH = re.compile(r"^/(?:api/v1/)?tokens/(?P<id>[^/]{1,64})/?$")


class VerifyInput(Input):
    """Exactly one question: a copy (`content_hash`, or the token document as `copy`),
    a range (`attribute` with `min` and/or `max`), a pattern (`attribute` with `pattern`) or
    a `disclosure` of a private value."""

    token: str = Field(min_length=1, max_length=2048, description="the token's id or its URL on this server")
    content_hash: str | None = Field(None, pattern=HASH_PATTERN, description="the copy's content hash")
    copy_document: dict[str, Any] | None = Field(
        None,
        alias="copy",
        description="the token document the content hash covers: {id, type, owner, version, attributes, commitments?}",
    )
    attribute: str | None = Field(None, pattern=NAME_PATTERN)
    min: Number | None = Field(None, description="range: lowest value, inclusive")
    max: Number | None = Field(None, description="range: highest value, inclusive")
    pattern: str | None = Field(
        None, min_length=1, max_length=MAX_PATTERN_LENGTH, description="regex searched in the value"
    )
    disclosure: str | None = Field(
        None,
        min_length=1,
        max_length=200_000,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="a private value's disclosure from its owner: base64url of the JSON array [salt, name, value]",
    )
    version: StrictInt | None = Field(None, ge=1, le=MAX_VERSION, description="the copy's version, if known")

    @model_validator(mode="after")
    def _one_question(self) -> VerifyInput:
        asks_copy = self.content_hash is not None or self.copy_document is not None
        asks_range = self.min is not None or self.max is not None
        asks_pattern = self.pattern is not None
        asks_disclosure = self.disclosure is not None
        if sum((asks_copy, asks_range, asks_pattern, asks_disclosure)) != 1:
            raise ValueError(
                "ask exactly one thing: content_hash (or copy), a range (min/max), a pattern or a disclosure"
            )
        if asks_disclosure:
            open_disclosure(self.disclosure or "")  # a ValueError here is a 400 naming the field
        if self.content_hash is not None and self.copy_document is not None:
            raise ValueError("send content_hash or copy, not both")
        if (asks_range or asks_pattern) != (self.attribute is not None):
            raise ValueError("range and pattern questions need an attribute, and only they take one")
        if asks_range:  # the same checks a set search applies (numbers, min <= max)
            check_range(self.min, self.max)
        return self

    @property
    def search_filter(self) -> SearchFilter:
        """A range or pattern question as the set-search filter that answers it. Built without a
        second validation: the fields above carry the filter's own constraints (name pattern,
        pattern length) and the validator its range check."""
        attribute = self.attribute or ""  # set for these questions (checked in _one_question)
        if self.pattern is not None:
            return SearchFilter.model_construct(attribute=attribute, op="regex", pattern=self.pattern)
        bounds: dict[str, Any] = {name: value for name, value in (("min", self.min), ("max", self.max)) if value is not None}
        return SearchFilter.model_construct(attribute=attribute, op="range", **bounds)

    @property
    def question(self) -> str:
        if self.disclosure is not None:
            return "disclosure"
        if self.pattern is not None:
            return "pattern"
        if self.attribute is not None:
            return "range"
        return "copy"


def token_id_of(reference: str, ctx: Context) -> str:
    """A bare id, or the id in one of our token URLs; 422 for another server's URL."""
    if "/" not in reference:
        return reference
    parts = urlsplit(reference)
    ours = urlsplit(ctx.site.base_url)
    if parts.scheme and (parts.scheme, parts.netloc.lower()) != (ours.scheme, ours.netloc.lower()):
        raise Unprocessable(
            f"{reference} is not a token of this server: ask the server that issued it", code="not-our-token"
        )
    match = _TOKEN_PATH.match(parts.path)
    if match is None:
        raise Unprocessable(f"{reference} is not a token URL of this server", code="not-our-token")
    return match["id"]


async def _issued_hashes(token_id: str) -> dict[str, int]:
    """Every content hash this token has had, with its version (from the outbox history)."""
    issued: dict[str, int] = {}
    (rows,) = await sql.fetch_together(  # a read on the loop's thread: an outdated copy is a common question
        (f'SELECT "payload" FROM "{Event._meta.db_table}" WHERE "object_type" = ? AND "object_id" = ?', "token", token_id),
    )
    for row in rows:
        payload = orjson.loads(row["payload"]) if isinstance(row["payload"], (str, bytes)) else row["payload"]
        if isinstance(payload, dict) and isinstance(payload.get("content_hash"), str):
            issued[payload["content_hash"]] = int(payload.get("version") or 0)
    return issued


async def _copy_verdict(params: VerifyInput, token: Token, current_hash: str) -> dict[str, Any]:
    claimed = params.content_hash
    if params.copy_document is not None:
        try:
            claimed = content_hash(params.copy_document)
        except TypeError:
            claimed = "sha256:" + "0" * 64  # not canonical JSON: cannot be anything we issued
    if claimed == current_hash:
        return {"verdict": "accurate"}
    issued = await _issued_hashes(token.id)
    if claimed in issued:
        return {
            "verdict": "outdated",
            "copy_version": issued[claimed],
            "reason": f"the copy is version {issued[claimed]}; the token is now at version {token.version}",
        }
    return {"verdict": "unknown", "reason": "this server never issued that content for this token"}


def _disclosure_verdict(params: VerifyInput, document: dict[str, Any]) -> dict[str, Any]:
    """Whether the disclosure opens the commitment the token's current document carries."""
    _, name, _, opened = open_disclosure(params.disclosure or "")
    committed = (document.get("commitments") or {}).get(name)
    if committed is None:
        return {"attribute": name, "result": False, "reason": f"the token commits to no private attribute {name!r}"}
    if opened != committed:
        reason = "the disclosure does not open the current commitment (a wrong salt or value, or the value changed)"
        return {"attribute": name, "result": False, "reason": reason}
    return {"attribute": name, "result": True}


async def _attribute_verdict(
    params: VerifyInput, token: Token, effective: dict[str, Any], resolver: Resolver
) -> dict[str, Any]:
    schema = await resolver.schema(token.type_id)
    name = params.attribute or ""
    definition = schema.definitions.get(name)
    if definition is None:
        raise Unprocessable(f"tokens of this type have no attribute {name!r}", code="unknown-attribute")
    if is_hidden(definition) and not definition.verifiable:
        raise Forbidden(
            f"the owner keeps {name!r} private and does not allow checks on it", code="attribute-not-verifiable"
        )
    (holds,) = await Matcher([params.search_filter]).select([({name: effective.get(name)}, {name: definition.type})])
    return {"result": holds}


_TOKEN_COLUMNS = ("id", "type_id", "owner_id", "parent_id", "version", "attributes", "salts", "is_deleted")


async def _token_and_schema(token_id: str) -> tuple[Token | None, Resolver]:
    """The token and its type's schema, read in one trip to the database (verification clients
    ask often; most of an answer's cost was separate small reads)."""
    token_rows, parent_rows = await sql.fetch_together(
        (f'SELECT {sql.columns(Token, "t", _TOKEN_COLUMNS)}, {sql.columns(TokenType, "y", ("id", "attributes"))} '
         'FROM "tokens" t '
         'LEFT JOIN "token_types" y ON y."id" = t."type_id" WHERE t."id" = ?', token_id),
        ('SELECT p."parent_id" FROM "type_parents" p JOIN "tokens" t ON t."type_id" = p."child_id" '
         'WHERE t."id" = ? ORDER BY p."position"', token_id),
    )
    resolver = Resolver()
    if not token_rows:
        return None, resolver
    token = sql.load(Token, token_rows[0], "t")
    type_id = token_rows[0]["y__id"]
    if type_id is not None:
        parents = [row["parent_id"] for row in parent_rows]
        resolver.prime(type_id, await resolve_schema(stored_definitions(token_rows[0]["y__attributes"]), parents, type_id))
    return token, resolver


async def assess(ctx: Context, params: VerifyInput) -> dict[str, Any]:
    """The unsigned answer to one verification question about one of our tokens."""
    token_id = token_id_of(params.token, ctx)
    question: dict[str, Any] = params.model_dump(mode="json", by_alias=True, exclude_none=True)
    question.pop("copy", None)  # echo the question, not a possibly large document
    question.pop("disclosure", None)  # nor a private value
    answer: dict[str, Any] = {"question": question, "answered_at": iso(datetime.now(UTC))}
    token, resolver = await _token_and_schema(token_id)
    if token is None:
        return {**answer, "verdict": "unknown", "reason": f"this server has no token {token_id!r}"}
    answer.update(token_id=token.id, version=token.version)
    if token.is_deleted:
        return {**answer, "verdict": "withdrawn", "reason": "the owner deleted this token"}
    effective = await resolver.effective(token)
    document = token_document(token, effective, await resolver.schema(token.type_id))
    current_hash = content_hash(document)
    answer["checksum"] = current_hash
    if params.question == "copy":
        return {**answer, **await _copy_verdict(params, token, current_hash)}
    if params.question == "disclosure":
        return {**answer, **_disclosure_verdict(params, document)}
    return {**answer, **await _attribute_verdict(params, token, effective, resolver)}
