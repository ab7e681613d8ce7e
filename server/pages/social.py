"""Following and followers: the lists, the follow form (user@host or URL), approve/reject and unfollow."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.registry import REGISTRY

from ..keys import CTX
from .base import FormError, call, page, read_form, redirect, render, require_signed_in

__all__ = ["follows_page", "follow", "unfollow", "answer_follower"]


async def _follows_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    following = await REGISTRY.call(ctx, "follows.list", {"page_size": 50})
    followers = await REGISTRY.call(ctx, "followers.list", {"page_size": 50})
    return render(
        request,
        "follows.html.j2",
        status=status,
        following=following.items,
        followers=followers.items,
        values=values or {},
        errors=errors or {},
        error=error,
    )


@page
async def follows_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _follows_page(request, values={"target": request.query.get("target", "")})


@page
async def follow(request: web.Request) -> web.StreamResponse:
    """Follow user@host, an actor URL, or a remote token, type or set (the operation looks it up)."""
    require_signed_in(request)
    form = await read_form(request)
    target = form.get("target", "").strip()
    try:
        followed = await call(request, "follows.create", {"target": target})
    except FormError as error:
        fields = dict(error.fields) or {"target": error.problem.detail}
        return await _follows_page(request, values={"target": target}, errors=fields, status=error.status)
    waiting = " (waiting for their approval)" if followed["state"] == "pending" else ""
    raise redirect(_back(form), f"You follow {followed['target']}{waiting}.")


def _back(form: dict[str, str]) -> str:
    """Back to the profile the follow button was on, or to the follows page."""
    back = form.get("back", "")
    return back if back.startswith("/app/") and not back.startswith("//") else "/app/follows"


@page
async def unfollow(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    try:
        await call(request, "follows.delete", {"id": request.match_info["id"]})
    except FormError as error:
        raise redirect("/app/follows", error.problem.detail) from None
    raise redirect("/app/follows", "Unfollowed.")


_ANSWERS: dict[str, tuple[str, str]] = {
    "approve": ("followers.approve", "Follower approved."),
    "reject": ("followers.reject", "Follow request rejected."),
}


@page
async def answer_follower(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    operation, done = _ANSWERS[request.match_info["action"]]
    data: dict[str, Any] = {"id": request.match_info["id"]}
    try:
        await call(request, operation, data)
    except FormError as error:
        raise redirect("/app/follows", error.problem.detail) from None
    raise redirect("/app/follows", done)
