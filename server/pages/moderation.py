"""Moderation pages: the moderator's queue (changed values under their dominion, an edit form per
token), the audit log (for owners and for moderators), and the assignments page (owners set up
moderators of their types and sets; admins see every assignment and change ownership)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.actors import Role
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .tokens import _attribute_value

__all__ = ["queue_page", "edit_token", "audit_page", "assignments_page", "create_assignment", "revoke_assignment",
           "change_ownership"]


async def _queue(request: web.Request, *, errors: dict[str, dict[str, str]] | None = None,
                 values: dict[str, dict[str, str]] | None = None, status: int = 200) -> web.Response:
    ctx = request[CTX]
    feed = await REGISTRY.call(ctx, "moderation.feed", {"page_size": page_size(ctx)})
    mine = await REGISTRY.call(ctx, "moderation.assignments.list", {"page_size": page_size(ctx)})
    kinds: dict[str, dict[str, str]] = {}
    for item in feed.items:
        if item["type"] not in kinds:
            token_type = await REGISTRY.call(ctx, "types.get", {"id": item["type"]})
            kinds[item["type"]] = {definition["name"]: definition["type"] for definition in token_type["attributes"]}
    return render(request, "moderation_queue.html.j2", status=status, changes=feed.items, assignments=mine.items,
                  kinds=kinds, errors=errors or {}, values=values or {})


@page
async def queue_page(request: web.Request) -> web.StreamResponse:
    """What changed under your dominion, newest first, with a form to correct each token."""
    require_signed_in(request)
    return await _queue(request)


@page
async def edit_token(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    token_id = request.match_info["id"]
    form = await read_form(request)
    token = await REGISTRY.call(request[CTX], "tokens.get", {"id": token_id})
    token_type = await REGISTRY.call(request[CTX], "types.get", {"id": token["type"]})
    kinds = {definition["name"]: definition["type"] for definition in token_type["attributes"]}
    attributes = {
        name[2:]: _attribute_value(kinds.get(name[2:], "string"), value.strip())
        for name, value in form.items() if name.startswith("a-") and value.strip()
    }
    names = {f"attributes.{name}": f"a-{name}" for name in attributes} | {"attributes": "_form"}
    data = {"token": token_id, "attributes": attributes, "reason": form.get("reason", "").strip()}
    try:
        await call(request, "moderation.tokens.edit", data, names)
    except FormError as error:
        fields = error.fields | {"_form": error.fields.get("_form") or error.general}
        return await _queue(request, errors={token_id: fields}, values={token_id: form}, status=error.status)
    raise redirect("/app/moderation", f"Token {token_id} changed; the edit is in the audit log.")


@page
async def audit_page(request: web.Request) -> web.StreamResponse:
    """The audit log: edits and ownership changes about your things, or the ones you made."""
    require_signed_in(request)
    ctx = request[CTX]
    role = request.query.get("role", "owner")
    if role not in ("owner", "actor", "all"):
        role = "owner"
    log = await REGISTRY.call(ctx, "moderation.audit", {"role": role, "page_size": page_size(ctx)})
    return render(request, "moderation_audit.html.j2", actions=log.items, role=role)


async def _assignments(request: web.Request, *, errors: dict[str, str] | None = None,
                       values: dict[str, str] | None = None, status: int = 200) -> web.Response:
    ctx = request[CTX]
    admin = ctx.has_role(Role.ADMIN)
    listed = await REGISTRY.call(ctx, "moderation.assignments.list",
                                 {"role": "all" if admin else "set_up", "page_size": page_size(ctx)})
    return render(request, "moderation_assignments.html.j2", status=status, assignments=listed.items, admin=admin,
                  errors=errors or {}, values=values or {})


@page
async def assignments_page(request: web.Request) -> web.StreamResponse:
    """Moderators you set up (every one, for admins), a form to add one, and (admins) ownership changes."""
    require_signed_in(request)
    return await _assignments(request)


@page
async def create_assignment(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    target = form.get("target", "").strip()
    data: dict[str, Any] = {
        "moderator": form.get("moderator", "").strip(),
        "attributes": [name.strip() for name in form.get("attributes", "").split(",") if name.strip()],
        "can_edit": form.get("can_edit") == "on",
    }
    data["set" if form.get("kind") == "set" else "type"] = target or None
    names = {"type": "target", "set": "target", "body": "target"}
    try:
        await call(request, "moderation.assignments.create", data, names)
    except FormError as error:
        return await _assignments(request, errors=error.fields | {"_form": error.general}, values=form, status=error.status)
    raise redirect("/app/moderation/assignments", f"{data['moderator']} is now a moderator.")


@page
async def revoke_assignment(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    try:
        await call(request, "moderation.assignments.revoke", {"id": request.match_info["id"]})
    except FormError as error:
        raise redirect("/app/moderation/assignments", error.problem.detail) from None
    raise redirect("/app/moderation/assignments", "The assignment is revoked.")


@page
async def change_ownership(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    data = {key: form.get(key, "").strip() for key in ("object_type", "id", "owner", "reason")}
    try:
        await call(request, "admin.ownership.change", data, {"body": "id"})
    except FormError as error:
        return await _assignments(request, errors=error.fields | {"_ownership": error.general}, values=data,
                                  status=error.status)
    raise redirect("/app/moderation/assignments", f"The {data['object_type']} now belongs to {data['owner']}.")
