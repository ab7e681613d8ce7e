"""Sets, and the admin pages (users, roles, freeze, regenerate token)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from models.actors import Role
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .sets_manage import labelled_tokens

__all__ = [
    "apps_page",
    "revoke_app",
    "sets_page",
    "create_set",
    "set_page",
    "add_set_tokens",
    "admin_users",
    "admin_action",
    "admin_create_user",
    "admin_delete_form",
    "admin_delete_user",
]


async def _sets_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    mine = await REGISTRY.call(ctx, "sets.list", {"owner": ctx.require_user().username, "page_size": page_size(ctx)})
    return render(
        request, "sets.html.j2", status=status, sets=mine.items, values=values or {}, errors=errors or {}, error=error
    )


@page
async def sets_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _sets_page(request)


@page
async def create_set(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    data = {key: form.get(key, "").strip() for key in ("name", "description")}
    try:
        created = await call(request, "sets.create", data)
    except FormError as error:
        if error.problem.code.endswith("taken") or error.problem.status == 409:
            error.fields.setdefault("name", error.problem.detail)
        return await _sets_page(
            request, values=data, errors=error.fields, error="" if error.fields else error.general, status=error.status
        )
    raise redirect(f"/app/sets/{created['id']}", f"Set {created['name']} created.")


async def _set_page(
    request: web.Request,
    set_id: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    token_set = await REGISTRY.call(ctx, "sets.get", {"id": set_id})
    tokens = await labelled_tokens(
        ctx, (await REGISTRY.call(ctx, "sets.tokens", {"id": set_id, "page_size": page_size(ctx)})).items
    )
    is_owner = ctx.actor is not None and token_set["owner"]["id"] == ctx.actor.id
    pickable: list[dict[str, Any]] = []
    if is_owner:  # the owner adds tokens by ticking them in a list of their own, not by pasting ids
        present = {token["id"] for token in tokens}
        listing = {"owner": ctx.require_user().username, "page_size": page_size(ctx, 100)}
        mine = await REGISTRY.call(ctx, "tokens.list", listing)
        pickable = await labelled_tokens(ctx, [token for token in mine.items if token["id"] not in present])
    return render(
        request,
        "set.html.j2",
        status=status,
        set=token_set,
        tokens=tokens,
        pickable=pickable,
        picked=set((values or {}).get("picked", "").split()),
        is_owner=is_owner,
        errors=errors or {},
        values=values or {},
    )


@page
async def set_page(request: web.Request) -> web.StreamResponse:
    return await _set_page(request, request.match_info["id"])


@page
async def add_set_tokens(request: web.Request) -> web.StreamResponse:
    """Add the tokens ticked in the list, and any ids pasted (for tokens others share)."""
    require_signed_in(request)
    set_id = request.match_info["id"]
    form = await request.post()
    picked = [value for value in form.getall("pick", []) if isinstance(value, str)]
    pasted = str(form.get("tokens") or "")
    ids = list(dict.fromkeys([*picked, *(item for item in re.split(r"[\s,]+", pasted) if item)]))
    if not ids:
        fields = {"tokens": "tick at least one token, or paste the id of a token someone shares"}
        return await _set_page(request, set_id, errors=fields, values={"tokens": pasted}, status=422)
    try:
        await call(request, "sets.add_tokens", {"id": set_id, "tokens": ids}, {"tokens": "tokens"})
    except FormError as error:
        fields = {"tokens": next(iter(error.fields.values()), error.general)}
        return await _set_page(
            request, set_id, errors=fields, values={"tokens": pasted, "picked": " ".join(picked)}, status=error.status
        )
    raise redirect(f"/app/sets/{set_id}", f"Added {len(ids)} token(s).")


async def _admin_page(
    request: web.Request,
    *,
    issued: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> web.Response:
    users = await REGISTRY.call(
        request[CTX], "admin.users.list", {"page_size": page_size(request[CTX]), "page": request.query.get("page", "1")}
    )
    return render(
        request,
        "admin_users.html.j2",
        status=status,
        users=users.items,
        roles=[role.value for role in Role],
        issued=issued,
        error=error,
        values=values or {},
        errors=errors or {},
        next_page=users.page + 1 if users.has_next else None,
        mail_configured=request[CTX].site.mail.configured,
    )


@page
async def admin_users(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _admin_page(request)


_ADMIN_ACTIONS = {
    "freeze": "admin.users.freeze",
    "unfreeze": "admin.users.unfreeze",
    "token": "admin.users.regenerate_token",
    "roles": "admin.users.set_roles",
}


@page
async def admin_action(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    username, action = request.match_info["username"], request.match_info["action"]
    form = await request.post()
    data: dict[str, Any] = {"username": username}
    if action == "roles":
        data["roles"] = [value for value in form.getall("roles", []) if isinstance(value, str)]
    try:
        result = await call(request, _ADMIN_ACTIONS[action], data)
    except FormError as error:
        return await _admin_page(request, error=f"{username}: {error.problem.detail}", status=error.status)
    if action == "token":  # the new secret is shown once, on this response, never stored in a cookie
        return await _admin_page(request, issued={"username": username, "token": result["token"]})
    raise redirect("/app/admin/users", f"{username}: done ({action}).")


_NEW_USER_FIELDS = ("username", "email", "password")


@page
async def admin_create_user(request: web.Request) -> web.StreamResponse:
    """An admin makes an account with roles; its personal token is shown once, on this response."""
    require_signed_in(request)
    form = await request.post()
    data: dict[str, Any] = {key: str(form.get(key) or "").strip() for key in _NEW_USER_FIELDS}
    data["roles"] = [value for value in form.getall("roles", []) if isinstance(value, str)]
    try:
        created = await call(request, "admin.users.create", data)
    except FormError as error:
        fields = dict(error.fields)
        if error.problem.code == "username-taken":
            fields["username"] = error.problem.detail
        kept = {key: value for key, value in data.items() if key != "password"}  # a password is never sent back
        return await _admin_page(request, values=kept, errors=fields, error="" if fields else error.general,
                                 status=error.status)
    username = created["user"]["username"]
    return await _admin_page(request, issued={"username": username, "token": created["token"], "new": "yes"})


@page
async def admin_delete_form(request: web.Request) -> web.StreamResponse:
    """A confirm step: what deleting an account does, before it is done."""
    require_signed_in(request)
    await REGISTRY.call(request[CTX], "admin.users.list", {"page_size": 1})  # refuses whoever is not an admin
    return render(request, "admin_user_delete.html.j2", username=request.match_info["username"], error="")


@page
async def admin_delete_user(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    username = request.match_info["username"]
    try:
        await call(request, "admin.users.delete", {"username": username})
    except FormError as error:
        if error.status == 403:
            raise error.problem from None
        return render(request, "admin_user_delete.html.j2", status=error.status, username=username,
                      error=error.problem.detail)
    raise redirect("/app/admin/users", f"{username} is deleted; their history stays and their tokens no longer work.")


@page
async def apps_page(request: web.Request) -> web.StreamResponse:
    """The apps you have authorized, each with a button to take its access back."""
    require_signed_in(request)
    authorizations = await REGISTRY.call(request[CTX], "oauth.authorizations.list", {})
    return render(request, "apps.html.j2", authorizations=authorizations)


@page
async def revoke_app(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    try:
        await call(request, "oauth.authorizations.revoke", {"app": request.match_info["app"]})
    except FormError as error:
        raise redirect("/app/apps", error.problem.detail) from None
    raise redirect("/app/apps", "Access revoked.")
