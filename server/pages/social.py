"""Following and followers: the lists, the follow form (user@host or URL), approve/reject and unfollow."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from federation.backfill import backfills_of
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = [
    "answer_follower", "approval_setting", "copies_page", "edit_profile", "follow", "follows_page", "inbox_page",
    "my_profile", "profile_page", "unfollow", "verify_copy",
]


async def _follows_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    following = await REGISTRY.call(ctx, "follows.list", {"page_size": page_size(ctx)})
    followers = await REGISTRY.call(ctx, "followers.list", {"page_size": page_size(ctx)})
    progress = await backfills_of(ctx.site, ctx.require_actor())
    settings = await REGISTRY.call(ctx, "federation.settings", {})
    return render(
        request,
        "follows.html.j2",
        status=status,
        by_hand=settings["manually_approves_followers"],
        following=following.items,
        past={item["id"]: backfill_words(progress.get(item["id"]), item) for item in following.items},
        followers=followers.items,
        values=values or {},
        errors=errors or {},
        error=error,
    )


def backfill_words(progress: dict[str, Any] | None, follow: dict[str, Any]) -> str:
    """How copying what existed before the follow goes, in plain words ("" when there is none)."""
    if progress is None:
        return ""
    whose = f"{str(follow['target']).split('@')[0]}'s" if not follow.get("object") else "its"
    copied = f"copied {progress['copied']} of {whose} objects"
    refused = f" ({progress['refused']} refused)" if progress["refused"] else ""
    if progress["state"] == "done":
        note = f"; {progress['note']}" if progress["note"] and not progress["refused"] else ""
        return f"done: {copied}{refused}{note}"
    if progress["state"] == "failed":
        return f"stopped: {copied}{refused}; {progress['last_error'] or 'the other server refused'}"
    if progress["last_error"]:
        return f"{copied}{refused}; their server did not answer, trying again later"
    return f"{copied}{refused}; still copying"


@page
async def approval_setting(request: web.Request) -> web.StreamResponse:
    """Approve followers by hand, or let everyone follow at once."""
    require_signed_in(request)
    form = await read_form(request)
    by_hand = form.get("manually_approves_followers") == "on"
    await call(request, "federation.settings", {"manually_approves_followers": by_hand})
    said = "New followers now wait for your approval." if by_hand else "Anyone may now follow you at once."
    raise redirect("/app/follows", said)


INBOX_STATES = {
    "queued": "waiting", "running": "being handled", "done": "handled", "ignored": "set aside", "failed": "failed",
}


@page
async def inbox_page(request: web.Request) -> web.StreamResponse:
    """What other servers sent you, and what became of each: handled, set aside (and why), failed."""
    require_signed_in(request)
    ctx = request[CTX]
    state = request.query.get("state", "")
    listing: dict[str, Any] = {"page_size": page_size(ctx)}
    if state in INBOX_STATES:
        listing["state"] = state
    if request.query.get("cursor"):
        listing["cursor"] = request.query["cursor"]
    received = await REGISTRY.call(ctx, "federation.inbox", listing)
    older = None
    if received.next_cursor:
        kept = {"state": state} if state in INBOX_STATES else {}
        older = "/app/inbox?" + urlencode({**kept, "cursor": received.next_cursor})
    return render(request, "inbox.html.j2", items=received.items, states=INBOX_STATES, state=state, older=older)


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


@page
async def profile_page(request: web.Request) -> web.StreamResponse:
    """Any actor by user@host or URL, local or remote (looked up, fetched), with a follow button;
    your own with a form to edit your display name and summary."""
    require_signed_in(request)
    target = request.query.get("target", "").strip()
    try:
        actor = await call(request, "federation.lookup", {"target": target})
    except FormError as error:
        fields = dict(error.fields) or {"target": error.problem.detail}
        return await _follows_page(request, values={"target": target}, errors=fields, status=error.status)
    return await _profile(request, actor)


async def _profile(
    request: web.Request, actor: dict[str, Any], *, values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, status: int = 200,
) -> web.Response:
    following = await REGISTRY.call(request[CTX], "follows.list", {"page_size": page_size(request[CTX])})
    follow = next((item for item in following.items if item["target"] == actor["handle"] and not item["object"]), None)
    me = request[CTX].user
    is_me = me is not None and actor["local"] and actor["handle"].split("@")[0] == me.username
    if is_me and values is None:
        mine = await REGISTRY.call(request[CTX], "users.me", {})
        values = {"display_name": mine["display_name"], "summary": mine["summary"]}  # the markdown, not the HTML
    return render(
        request, "profile.html.j2", status=status, actor=actor, follow=follow, is_me=is_me,
        server=_server_of(actor["uri"]), values=values or {}, errors=errors or {},
    )


@page
async def edit_profile(request: web.Request) -> web.StreamResponse:
    """Your display name and summary (users.me.update: your followers elsewhere get an Update)."""
    require_signed_in(request)
    form = await read_form(request)
    values = {"display_name": form.get("display_name", ""), "summary": form.get("summary", "")}
    handle = f"{request[CTX].require_user().username}@{request[CTX].site.domain}"
    try:
        await call(request, "users.me.update", values)
    except FormError as error:
        actor = await REGISTRY.call(request[CTX], "federation.lookup", {"target": handle})
        return await _profile(request, actor, values=values, errors=dict(error.fields), status=error.status)
    raise redirect(f"/app/actors?target={quote(handle)}", "Profile saved.")


@page
async def my_profile(request: web.Request) -> web.StreamResponse:
    """Your own profile, where your account's pages are linked (the @name in the header opens it)."""
    require_signed_in(request)
    ctx = request[CTX]
    raise redirect(f"/app/actors?target={quote(f'{ctx.require_user().username}@{ctx.site.domain}')}")


def _server_of(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/"


@page
async def copies_page(request: web.Request) -> web.StreamResponse:
    """Your imported copies with their verification status and a "verify now" button each."""
    require_signed_in(request)
    copies = await REGISTRY.call(request[CTX], "copies.list", {"page_size": page_size(request[CTX])})
    return render(request, "copies.html.j2", copies=copies.items, checked=None)


@page
async def verify_copy(request: web.Request) -> web.StreamResponse:
    """Ask the origin about one copy now (it is refreshed when outdated) and show the answer above the list."""
    require_signed_in(request)
    try:
        checked = await call(request, "copies.verify", {"id": request.match_info["id"]})
    except FormError as error:
        raise redirect("/app/copies", error.problem.detail) from None
    copies = await REGISTRY.call(request[CTX], "copies.list", {"page_size": page_size(request[CTX])})
    return render(request, "copies.html.j2", copies=copies.items, checked=checked)
