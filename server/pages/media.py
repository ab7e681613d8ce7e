"""Files for a token's media attributes: the token forms' file fields go through media.upload
(its checks on type, size and content answer beside the field), and the token page shows them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.context import Context
from models.errors import DomainError
from models.operations.media import ALLOWED_TYPES
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import page

__all__ = ["KINDS_IN_WORDS", "chosen_files", "file_field", "media_file", "size_in_words", "upload_files"]

KINDS_IN_WORDS = "a PNG, JPEG, GIF or WebP picture, or a PDF"


def size_in_words(size: int) -> str:
    """"512 bytes", "40 KB", "5 MB" (1024-based, as file managers count)."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def file_field(ctx: Context) -> dict[str, str]:
    """What a file field offers (the operation's kinds) and says (its limit), for _forms media_field."""
    limit = size_in_words(ctx.site.limits.max_media_bytes)
    return {"accept": ",".join(ALLOWED_TYPES), "hint": f"{KINDS_IN_WORDS}, at most {limit}"}


def chosen_files(form: Any, definitions: list[dict[str, Any]]) -> dict[str, web.FileField]:
    """The media attributes a file was chosen for (an empty file input has no filename)."""
    chosen = {}
    for definition in definitions:
        upload = form.get(f"a-{definition['name']}") if definition["type"] == "media" else None
        if isinstance(upload, web.FileField) and upload.filename:
            chosen[definition["name"]] = upload
    return chosen


def _in_words(error: DomainError, upload: web.FileField, limit: int) -> str:
    """The operation's refusal as a person reads it beside the file field."""
    code = error.code
    if code == "unsupported-media-type":
        return f"{upload.filename} is not a kind of file kept here; choose {KINDS_IN_WORDS}"
    if code == "media-too-large":
        return f"{upload.filename} is too big: files can be at most {size_in_words(limit)}"
    if code == "empty-upload":
        return f"{upload.filename} is empty"
    if code == "media-content-mismatch":
        return f"{upload.filename} is not really what its name says; save it in its real format and choose it again"
    return error.detail


async def upload_files(
    request: web.Request, token_id: str, chosen: dict[str, web.FileField]
) -> tuple[dict[str, str], int]:
    """Upload each chosen file as its attribute's value: form-field errors and the worst status.

    The first upload keeps the form's version check (If-Match); each one changes the version,
    so the next ones follow on without it.
    """
    ctx = request[CTX]
    errors: dict[str, str] = {}
    status = 200
    for name, upload in chosen.items():
        data = {"id": token_id, "attribute": name, "content": upload.file.read(),
                "content_type": upload.content_type or ""}
        try:
            await REGISTRY.call(ctx, "media.upload", data)
        except DomainError as error:
            if error.status >= 500 or error.code == "version-mismatch":
                raise
            errors[f"a-{name}"] = _in_words(error, upload, ctx.site.limits.max_media_bytes)
            status = max(status, error.status)
            continue
        ctx.if_match = None
    return errors, status


@page
async def media_file(request: web.Request) -> web.StreamResponse:
    """An uploaded file for the browser, with its session: an owner sees their private pictures too."""
    served = await REGISTRY.call(request[CTX], "media.get", {"id": request.match_info["id"]})
    headers = {"Content-Type": served.content_type, "X-Content-Type-Options": "nosniff", "Cache-Control": "private"}
    return web.FileResponse(served.path, headers=headers)
