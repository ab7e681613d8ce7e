"""Changing one token or type from its pages: edit a token's values (enum values from a list),
delete a token or a type after a confirm page that says what deleting does."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.errors import DomainError, NotFound
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, read_form, redirect, render, require_signed_in
from .media import chosen_files, file_field, size_in_words, upload_files
from .tokens import _attribute_value

__all__ = [
    "delete_token",
    "delete_token_form",
    "delete_type",
    "delete_type_form",
    "edit_page_for",
    "edit_token",
    "edit_token_form",
]

_CONFLICT = "Someone changed this token while you were editing. Here are its values now; make your change again."


async def _owned_token(request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signed-in user's token and its type; the same 404 as a missing token otherwise."""
    ctx = request[CTX]
    token = await REGISTRY.call(ctx, "tokens.get", {"id": request.match_info["id"]})
    if ctx.actor is None or token["owner"].get("id") != ctx.actor.id:
        raise NotFound(f"you have no token with id {token['id']!r}", code="token-not-found")
    return token, await REGISTRY.call(ctx, "types.get", {"id": token["type"]})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _current_values(token: dict[str, Any]) -> dict[str, str]:
    own = token.get("own_attributes") or {}
    values = {f"a-{name}": _text(value) for name, value in own.items()}
    values["shareable"] = "on" if token.get("shareable") else ""
    values["version"] = str(token["version"])
    return values


def _edit_page(
    request: web.Request,
    token: dict[str, Any],
    token_type: dict[str, Any],
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    editable = [definition for definition in token_type["attributes"] if definition["type"] != "script"]
    has_media = any(definition["type"] == "media" for definition in editable)
    return render(
        request, "token_edit.html.j2", status=status, token=token, type=token_type, definitions=editable,
        values=values, errors=errors or {}, error=error, has_media=has_media, media=file_field(request[CTX]),
        size_in_words=size_in_words,
    )


async def edit_page_for(
    request: web.Request, token_id: str, *, errors: dict[str, str], error: str, status: int
) -> web.Response:
    """The edit page of a token as it is now, with messages (a file refused after other changes were saved)."""
    ctx = request[CTX]
    token = await REGISTRY.call(ctx, "tokens.get", {"id": token_id})
    token_type = await REGISTRY.call(ctx, "types.get", {"id": token["type"]})
    return _edit_page(request, token, token_type, _current_values(token), errors=errors, error=error, status=status)


@page
async def edit_token_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    token, token_type = await _owned_token(request)
    return _edit_page(request, token, token_type, _current_values(token))


@page
async def edit_token(request: web.Request) -> web.StreamResponse:
    """Save changed values only; an emptied field removes the token's own value (it then inherits).
    Chosen files are uploaded after the other changes, each as its media attribute's value."""
    require_signed_in(request)
    token, token_type = await _owned_token(request)
    form = await read_form(request)
    files = chosen_files(await request.post(), token_type["attributes"])
    own = token.get("own_attributes") or {}
    changes: dict[str, Any] = {}
    for definition in token_type["attributes"]:
        name, kind = definition["name"], definition["type"]
        key = f"a-{name}"
        if kind == "media":
            if form.get(f"{key}-remove") and name not in files and own.get(name) is not None:
                changes[name] = None
            continue
        if key not in form or kind == "script":
            continue
        text = form[key].strip()
        if text == _text(own.get(name)):
            continue
        if not text:
            changes[name] = None
        elif kind == "boolean":
            changes[name] = text == "true"
        else:
            changes[name] = _attribute_value(kind, text)
    shareable = bool(form.get("shareable"))
    data: dict[str, Any] = {"id": token["id"], "attributes": changes}
    if shareable != bool(token.get("shareable")):
        data["shareable"] = shareable
    request[CTX].if_match = form.get("version") or None
    names = {f"attributes.{name}": f"a-{name}" for name in changes} | {name: f"a-{name}" for name in changes}
    try:
        if changes or "shareable" in data or not files:  # a file alone is one change, made by its upload
            await call(request, "tokens.update", data, names)
            request[CTX].if_match = None  # checked once; the uploads follow on from this version
        problems, status = await upload_files(request, token["id"], files)
    except FormError as error:
        if error.problem.code in ("version-mismatch", "precondition-failed", "checksum-mismatch"):
            return _edit_page(request, token, token_type, _current_values(token), error=_CONFLICT, status=409)
        values = {**form, "version": form.get("version", "")}
        return _edit_page(request, token, token_type, values, errors=error.fields,
                          error="" if error.fields else error.general, status=error.status)
    except DomainError as error:  # upload_files lets only a version conflict through (and 5xx)
        if error.code != "version-mismatch":
            raise
        return _edit_page(request, token, token_type, _current_values(token), error=_CONFLICT, status=409)
    if problems:
        saved = "Your other changes are saved, but a file" if changes or "shareable" in data else "A file"
        return await edit_page_for(request, token["id"], errors=problems, status=status,
                                   error=f"{saved} was not taken. Choose another one below.")
    raise redirect(f"/app/tokens/{token['id']}", "Token saved.")


@page
async def delete_token_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    token, token_type = await _owned_token(request)
    return render(request, "token_delete.html.j2", token=token, type=token_type, error="")


@page
async def delete_token(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    token, token_type = await _owned_token(request)
    try:
        await call(request, "tokens.delete", {"id": token["id"]})
    except FormError as error:
        return render(request, "token_delete.html.j2", status=error.status, token=token, type=token_type,
                      error=error.problem.detail)
    raise redirect(f"/app/types/{token_type['id']}", "Token deleted.")


async def _owned_type(request: web.Request) -> dict[str, Any]:
    ctx = request[CTX]
    token_type: dict[str, Any] = await REGISTRY.call(ctx, "types.get", {"id": request.match_info["id"]})
    if ctx.actor is None or token_type["owner"].get("id") != ctx.actor.id:
        raise NotFound(f"you have no token type with id {token_type['id']!r}", code="type-not-found")
    return token_type


@page
async def delete_type_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return render(request, "type_delete.html.j2", type=await _owned_type(request), error="")


@page
async def delete_type(request: web.Request) -> web.StreamResponse:
    """Delete a type nobody uses; when it is in use the page says what still uses it."""
    require_signed_in(request)
    token_type = await _owned_type(request)
    try:
        await call(request, "types.delete", {"id": token_type["id"]})
    except FormError as error:
        return render(request, "type_delete.html.j2", status=error.status, type=token_type,
                      error=f"It cannot be deleted: {error.problem.detail}.")
    raise redirect("/", f"Token type {token_type['name']} deleted.")
