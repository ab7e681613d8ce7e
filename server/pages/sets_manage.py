"""Changing a set from its pages: edit its name and description, delete it (after a confirm
page), take a token out, and search its tokens by attribute (equals, between, matches)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.context import Context
from models.errors import DomainError, NotFound
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = [
    "delete_set",
    "delete_set_form",
    "edit_set",
    "edit_set_form",
    "labelled_tokens",
    "remove_set_token",
    "search_set",
]

FILTER_ROWS = 3
_TITLE_ATTRIBUTES = ("name", "title", "label")  # a value people call the token by, when it has one
_OPS = {"eq": "is", "range": "is between", "regex": "matches the pattern"}


async def labelled_tokens(ctx: Context, tokens: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tokens with a title people recognise: their type's name and first values, not their id."""
    names: dict[str, str] = {}
    for type_id in dict.fromkeys(token["type"] for token in tokens):
        try:
            names[type_id] = (await REGISTRY.call(ctx, "types.get", {"id": type_id}))["name"]
        except DomainError:  # a type the caller may not see: the token keeps a plain title
            names[type_id] = "Token"
    shown = []
    for token in tokens:
        attributes = token.get("attributes") or {}
        plain = {name: value for name, value in attributes.items()
                 if isinstance(value, (str, int, float)) and not isinstance(value, bool)}
        title = next((str(plain[name]) for name in _TITLE_ATTRIBUTES if name in plain), "")
        values = title or ", ".join(f"{name}: {value}" for name, value in list(plain.items())[:2])
        label = names.get(token["type"], "Token") + (f": {values}" if values else "")
        shown.append({**token, "label": label[:120]})
    return shown


async def _owned_set(request: web.Request) -> dict[str, Any]:
    """The set if the signed-in user owns it; the same 404 as a missing set otherwise."""
    ctx = request[CTX]
    token_set: dict[str, Any] = await REGISTRY.call(ctx, "sets.get", {"id": request.match_info["id"]})
    if ctx.actor is None or token_set["owner"]["id"] != ctx.actor.id:
        raise NotFound(f"you have no set with id {token_set['id']!r}", code="set-not-found")
    return token_set


def _edit_page(
    request: web.Request,
    token_set: dict[str, Any],
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    return render(
        request, "set_edit.html.j2", status=status, set=token_set, values=values, errors=errors or {}, error=error
    )


@page
async def edit_set_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    token_set = await _owned_set(request)
    values = {"name": token_set["name"], "description": token_set["description"], "version": str(token_set["version"])}
    return _edit_page(request, token_set, values)


@page
async def edit_set(request: web.Request) -> web.StreamResponse:
    """Save a new name or description; a change made meanwhile elsewhere is shown, not overwritten."""
    require_signed_in(request)
    token_set = await _owned_set(request)
    form = await read_form(request)
    values = {key: form.get(key, "").strip() for key in ("name", "description", "version")}
    request[CTX].if_match = values["version"] or None
    data = {"id": token_set["id"], "name": values["name"], "description": values["description"]}
    try:
        saved = await call(request, "sets.update", data)
    except FormError as error:
        if error.problem.code == "version-mismatch":
            message = ("Someone changed this set while you were editing. Here is their version; "
                       "make your change again if you still want it.")
            current = {"name": token_set["name"], "description": token_set["description"],
                       "version": str(token_set["version"])}
            return _edit_page(request, token_set, current, error=message, status=409)
        fields = dict(error.fields)
        if error.problem.code == "set-name-taken":
            fields["name"] = error.problem.detail
        return _edit_page(request, token_set, values, errors=fields, error="" if fields else error.general,
                          status=error.status)
    raise redirect(f"/app/sets/{saved['id']}", "Set saved.")


@page
async def delete_set_form(request: web.Request) -> web.StreamResponse:
    """The confirm page: what deleting does, and the button that does it."""
    require_signed_in(request)
    token_set = await _owned_set(request)
    return render(request, "set_delete.html.j2", set=token_set, error="")


@page
async def delete_set(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    token_set = await _owned_set(request)
    try:
        await call(request, "sets.delete", {"id": token_set["id"]})
    except FormError as error:
        return render(request, "set_delete.html.j2", status=error.status, set=token_set, error=error.problem.detail)
    raise redirect("/app/sets", f"Set {token_set['name']} deleted. Its tokens are untouched.")


@page
async def remove_set_token(request: web.Request) -> web.StreamResponse:
    """Take one token out of a set (the set's owner, or the token's owner for their own token)."""
    require_signed_in(request)
    set_id, token_id = request.match_info["id"], request.match_info["token"]
    try:
        await call(request, "sets.remove_token", {"id": set_id, "token_id": token_id})
    except FormError as error:
        if error.status in (403, 404):  # another's set or token: as if it were not there
            raise NotFound(f"token {token_id!r} is not in a set of yours", code="token-not-in-set") from None
        raise redirect(f"/app/sets/{set_id}", error.problem.detail) from None
    raise redirect(f"/app/sets/{set_id}", "Token taken out of the set.")


def _filters(query: dict[str, str], kinds: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The search form's rows as API filters, with each row's place (for errors beside it)."""
    filters: list[dict[str, Any]] = []
    places: dict[str, str] = {}
    for row in range(FILTER_ROWS):
        attribute = query.get(f"f{row}-attribute", "").strip()
        op = query.get(f"f{row}-op", "eq")
        if not attribute:
            continue
        spec: dict[str, Any] = {"attribute": attribute, "op": op if op in _OPS else "eq"}
        if spec["op"] == "eq":
            value: Any = query.get(f"f{row}-value", "")
            if kinds.get(attribute) == "boolean" and value.lower() in ("true", "false", "yes", "no"):
                value = value.lower() in ("true", "yes")
            spec["value"] = value
        elif spec["op"] == "range":
            for bound in ("min", "max"):
                if query.get(f"f{row}-{bound}", "").strip():
                    spec[bound] = query[f"f{row}-{bound}"].strip()
        else:
            spec["pattern"] = query.get(f"f{row}-pattern", "")
        index = len(filters)
        for key in ("attribute", "op", "value", "min", "max", "pattern"):
            places[f"filters.{index}.{key}"] = f"f{row}-{key}"
        places[f"filters.{index}"] = f"f{row}-attribute"
        filters.append(spec)
    return filters, places


@page
async def search_set(request: web.Request) -> web.StreamResponse:
    """Search a set's tokens by their attributes; the form keeps what was asked."""
    ctx = request[CTX]
    token_set = await REGISTRY.call(ctx, "sets.get", {"id": request.match_info["id"]})
    in_set = (await REGISTRY.call(ctx, "sets.tokens", {"id": token_set["id"], "page_size": page_size(ctx)})).items
    kinds: dict[str, str] = {}
    for type_id in dict.fromkeys(token["type"] for token in in_set):
        try:
            token_type = await REGISTRY.call(ctx, "types.get", {"id": type_id})
        except DomainError:
            continue
        for definition in token_type["attributes"]:
            kinds.setdefault(definition["name"], definition["type"])
    query = dict(request.query)
    filters, places = _filters(query, kinds)
    found: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    error, status = "", 200
    if "searched" in query:
        data = {"id": token_set["id"], "filters": filters, "include_children": "children" in query,
                "page_size": page_size(ctx)}
        try:
            found = await call(request, "sets.search", data, places)
        except FormError as refused:
            errors = {key: message for key, message in refused.fields.items() if key.startswith("f")}
            error = "" if errors else refused.problem.detail
            status = refused.status
        else:
            found = {**found, "items": await labelled_tokens(ctx, found["items"])}
    return render(
        request,
        "set_search.html.j2",
        status=status,
        set=token_set,
        rows=range(FILTER_ROWS),
        ops=_OPS,
        attributes=sorted(kinds),
        values=query,
        errors=errors,
        error=error,
        found=found,
    )
