"""Media uploads on media attributes: content-addressed files under data_dir/media.

The declared Content-Type must be one we serve and the bytes must start with that format's
magic number, so a file is never served under a type it is not (nosniff does the rest).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from ..attributes import NAME_PATTERN, TextInput, is_hidden
from ..context import Context
from ..errors import BadInput, NotFound, TooLarge, Unprocessable, UnsupportedMediaType
from ..registry import REGISTRY, Access
from ..results import FileResult
from ..tokens import Media, Token
from .tokens import (
    Resolver,
    TokenOut,
    check_token_if_match,
    get_visible_token,
    require_token_owner,
    save_token_change,
    token_view,
)

__all__ = ["ALLOWED_TYPES", "media_path", "sniff_matches", "store_file"]

ALLOWED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


def sniff_matches(content_type: str, content: bytes) -> bool:
    """Whether the bytes start with the magic number of the declared type."""
    if content_type == "image/webp":  # RIFF <size> WEBP
        return len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP"
    return any(content.startswith(magic) for magic in _MAGIC.get(content_type, ()))


def media_path(ctx: Context, sha256: str) -> Path:
    return ctx.site.data_dir / "media" / sha256


def store_file(path: Path, content: bytes) -> None:
    """Write once, atomically: a reader never sees half a file, and equal content is shared."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


class UploadInput(TextInput):
    id: str = Field(min_length=1, max_length=64, description="the token")
    attribute: str = Field(pattern=NAME_PATTERN, description="a media attribute of the token's type")
    content: bytes
    content_type: str = Field(max_length=200)


class MediaIdInput(TextInput):
    id: str = Field(min_length=1, max_length=64)


def checked_upload(ctx: Context, declared_type: str, content: bytes) -> str:
    """The upload's media type once it is one we accept, not empty, within the size limit, and
    its bytes really are that type (every upload: media attributes and board entries)."""
    content_type = declared_type.split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise UnsupportedMediaType(
            f"{content_type or 'no Content-Type'} is not accepted; send one of {', '.join(ALLOWED_TYPES)}",
            code="unsupported-media-type",
        )
    size = len(content)
    if size == 0:
        raise BadInput("the upload is empty; send the file as the request body", code="empty-upload")
    if size > ctx.site.limits.max_media_bytes:
        raise TooLarge(f"the file is {size} bytes; the limit is {ctx.site.limits.max_media_bytes}", code="media-too-large")
    if not sniff_matches(content_type, content):
        raise Unprocessable(
            f"the file's content is not {content_type}; declare the type it really has", code="media-content-mismatch"
        )
    return content_type


@REGISTRY.operation("media.upload", UploadInput, output=TokenOut)
async def upload(ctx: Context, params: UploadInput) -> dict[str, Any]:
    """Upload a file (the raw body) as the value of a token's media attribute (owner only)."""
    token = await get_visible_token(ctx, params.id)
    require_token_owner(ctx, token)
    resolver = Resolver()
    schema = await resolver.schema(token.type_id)
    definition = schema.definitions.get(params.attribute)
    if definition is None:
        raise NotFound(f"this token's type has no attribute {params.attribute!r}", code="attribute-not-found")
    if definition.type != "media":
        raise Unprocessable(
            f"{params.attribute!r} is a {definition.type} attribute, not a media attribute",
            code="not-a-media-attribute",
        )
    content_type = checked_upload(ctx, params.content_type, params.content)
    size = len(params.content)
    await check_token_if_match(ctx, token)
    digest = hashlib.sha256(params.content).hexdigest()
    await asyncio.to_thread(store_file, media_path(ctx, digest), params.content)
    media = await Media.create(
        owner_id=ctx.actor.id if ctx.actor else token.owner_id,
        token=token,
        attribute=params.attribute,
        content_type=content_type,
        size=size,
        sha256=digest,
    )
    value = {"media": media.id, "content_type": content_type, "size": size, "sha256": digest}
    own = {**(token.attributes or {}), params.attribute: value}
    await save_token_change(ctx, token, own, token.shareable, resolver)
    await ctx.emit(
        "media.uploaded", "media", media.id,
        {"token": token.id, "attribute": params.attribute, "content_type": content_type, "size": size,
         "sha256": digest},
    )
    await ctx.emit(
        "token.updated", "token", token.id,
        {"version": token.version, "content_hash": token.content_hash, "fields": [params.attribute]},
    )
    return await token_view(token, ctx, resolver)


@REGISTRY.operation("media.get", MediaIdInput, output=FileResult, access=Access.PUBLIC)
async def read_media(ctx: Context, params: MediaIdInput) -> FileResult:
    """The uploaded file, served with its content type."""
    media = await Media.get_or_none(id=params.id)
    missing = NotFound(f"there is no media with id {params.id!r}", code="media-not-found")
    if media is None:
        raise missing
    token = await Token.get_or_none(id=media.token_id) if media.token_id else None
    caller = ctx.actor.id if ctx.actor else None
    if not ctx.system:
        if token is None or token.is_deleted:
            if caller != media.owner_id:
                raise missing
        elif caller != token.owner_id:
            schema = await Resolver().schema(token.type_id)
            definition = schema.definitions.get(media.attribute)
            if definition is None or is_hidden(definition):
                raise missing
    path = media_path(ctx, media.sha256)
    if not path.is_file():
        raise NotFound("the file of this media is missing from storage", code="media-file-missing")
    return FileResult(path=path, content_type=media.content_type)
