"""My groups (issue 23, item 1): the groups I own or belong to, a form to make one, and a group's
page with its members, where the owner and admins add and remove people, edit the description,
and the owner hands the group on or deletes it (after a confirm step). Members can leave."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in, signed_in_user
from .wording import moment

__all__ = ["act", "add_member", "create_group", "group_page", "my_groups_page", "remove_member"]

MINE = "/app/groups"
ROLE_WORDS = {
    "owner": "Owner",
    "admin": "Admin",
    "member": "Member",
}
YOUR_ROLE = {
    "owner": "You own it: you may do everything, including deleting it.",
    "admin": "You are an admin: you add and remove members and edit the description.",
    "member": "You are a member: you see who is in it, and you may leave.",
}
_NEED_USERNAME = "Enter the username of someone on this server."


def _refused(problem: FormError) -> DomainError | None:
    """A group the caller is not in is a plain 404 page, as the API answers."""
    return problem.problem if problem.problem.code == "group-not-found" else None


async def _mine(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    groups = await REGISTRY.call(ctx, "groups.list", {"page_size": page_size(ctx)})
    return render(request, "groups.html.j2", status=status, groups=groups.items, values=values or {},
                  errors=errors or {}, error=error, roles=ROLE_WORDS, moment=moment)


@page
async def my_groups_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _mine(request)


@page
async def create_group(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in ("name", "description")}
    if not values["name"]:
        return await _mine(request, values=values, errors={"name": "Give the group a name."}, status=400)
    try:
        made = await call(request, "groups.create", values)
    except FormError as problem:
        fields = problem.fields or ({"name": problem.general} if problem.problem.code == "group-name-taken" else {})
        return await _mine(request, values=values, errors=fields, error="" if fields else problem.general,
                           status=problem.status)
    raise redirect(f"{MINE}/{made['id']}", f"Group {made['name']} made. Add people below.")


async def _group(request: web.Request, group_id: str, *, values: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    group = await REGISTRY.call(request[CTX], "groups.get", {"id": group_id})
    shown = {"description": group["description"], "role": "member"} | (values or {})
    return render(request, "group.html.j2", status=status, group=group, values=shown, errors=errors or {},
                  error=error, roles=ROLE_WORDS, your_role=YOUR_ROLE[group["my_role"]], moment=moment,
                  confirm=request.query.get("confirm", ""), who=request.query.get("username", ""))


@page
async def group_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _group(request, request.match_info["id"])


async def _try(request: web.Request, operation: str, data: dict[str, Any], values: dict[str, str],
               names: dict[str, str] | None = None) -> web.Response | None:
    """Run the operation; on a refusal, the group's page again with the messages and the input kept."""
    try:
        await call(request, operation, data, names)
    except FormError as problem:
        if (missing := _refused(problem)) is not None:
            raise missing from None
        return await _group(request, data["id"], values=values, errors=problem.fields,
                            error="" if problem.fields else problem.general, status=problem.status)
    return None


@page
async def add_member(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    group_id = request.match_info["id"]
    form = await read_form(request)
    values = {"username": form.get("username", "").strip().lstrip("@"), "role": form.get("role", "member")}
    if not values["username"]:
        return await _group(request, group_id, values=values, errors={"username": _NEED_USERNAME}, status=400)
    refused = await _try(request, "groups.add_member", {"id": group_id, **values}, values)
    if refused is not None:
        return refused
    words = "an admin" if values["role"] == "admin" else "a member"
    raise redirect(f"{MINE}/{group_id}", f"{values['username']} is now {words} of the group.")


@page
async def remove_member(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    group_id, username = request.match_info["id"], request.match_info["username"]
    refused = await _try(request, "groups.remove_member", {"id": group_id, "username": username}, {})
    if refused is not None:
        return refused
    if username == signed_in_user(request).username:
        raise redirect(MINE, "You left the group.")
    raise redirect(f"{MINE}/{group_id}", f"{username} is no longer in the group.")


@page
async def act(request: web.Request) -> web.StreamResponse:
    """The owner's and admins' changes to the group itself: description, owner, deletion."""
    require_signed_in(request)
    group_id, action = request.match_info["id"], request.match_info["action"]
    form = await read_form(request)
    if action == "description":
        values = {"description": form.get("description", "").strip()}
        refused = await _try(request, "groups.update", {"id": group_id, **values}, values)
        done = "Description saved."
    elif action == "owner":
        values = {"owner": form.get("owner", "").strip()}
        if not values["owner"]:
            return await _group(request, group_id, values=values, errors={"owner": "Pick the member who takes over."},
                                status=400)
        refused = await _try(request, "groups.update", {"id": group_id, **values}, values)
        done = f"{values['owner']} owns the group now; you stay on as an admin."
    else:
        refused = await _try(request, "groups.delete", {"id": group_id}, {})
        if refused is None:
            raise redirect(MINE, "Group deleted.")
    if refused is not None:
        return refused
    raise redirect(f"{MINE}/{group_id}", done)
