"""Board pages (issue 22, item 5): the list and a form to make a board, a chat room, a board of
threads, a thread with nested replies and vote buttons, reviews of a subject with their stars,
and the moderators' page (settings, members, invites, bans). Every action is a plain form; a
chat room also follows new entries over Server-Sent Events (`/app/boards/{id}/events`) when
JavaScript runs, and is an ordinary page, newest last, when it does not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from tortoise.transactions import in_transaction

from models.base import iso
from models.context import Context
from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from ..headers import protect
from ..sessions import load_session
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = [
    "act_on_board", "act_on_entry", "board_events", "board_page", "boards_page", "create_board", "edit_entry_page",
    "join_elsewhere",
    "invite_page", "accept_invite", "manage_page", "manage_action", "post_entry", "reviews_page", "thread_page",
]

LIST = "/app/boards"
KIND_WORDS = {"chat": "Chat room", "discussion": "Discussion board", "review": "Review board"}
VISIBILITY_WORDS = {"public": "anyone can read", "members": "only members read", "invite": "only members read; joining needs an invite"}
SUBJECT_WORDS = {"token": "token", "type": "token type", "item": "store item", "lot": "market lot"}
# The chat room runs one small script of ours (server/static/boards-chat.js); every other page runs none.
CHAT_CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            "img-src 'self' https: data:; style-src 'self'; frame-src 'self'")


def _flags(form: dict[str, str]) -> dict[str, bool]:
    return {name: form.get(name) == "on" for name in ("members_only", "replies_allowed", "media_allowed", "votes_allowed")}


async def _list(request: web.Request, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200, join: dict[str, str] | None = None) -> web.Response:
    ctx = request[CTX]
    boards = await REGISTRY.call(ctx, "boards.list", {"page_size": page_size(ctx)})
    mine = (await REGISTRY.call(ctx, "boards.list", {"mine": True, "page_size": page_size(ctx)})).items if ctx.user else []
    defaults = {"kind": "discussion", "visibility": "public", "members_only": True, "replies_allowed": True,
                "media_allowed": True}
    return render(request, "boards.html.j2", status=status, boards=boards.items, mine=mine, kinds=KIND_WORDS,
                  visibilities=VISIBILITY_WORDS, values=values or defaults, errors=errors or {}, error=error,
                  join=join or {}, domain=ctx.site.domain)


@page
async def boards_page(request: web.Request) -> web.StreamResponse:
    return await _list(request)


@page
async def create_board(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    data = {"name": form.get("name", ""), "kind": form.get("kind", ""), "description": form.get("description", ""),
            "visibility": form.get("visibility", "public"), **_flags(form)}
    if form.get("handle", "").strip():
        data["handle"] = form["handle"].strip().lstrip("@")
    try:
        made = await call(request, "boards.create", data)
    except FormError as problem:
        return await _list(request, values={**form, **_flags(form)}, errors=problem.fields, error=problem.general,
                           status=problem.status)
    raise redirect(f"{LIST}/{made['id']}", "Board made. You are its owner.")


@page
async def join_elsewhere(request: web.Request) -> web.StreamResponse:
    """Join a board of another server by its handle (name@host) or URL: it is copied here."""
    require_signed_in(request)
    form = await read_form(request)
    try:
        board = await call(request, "boards.remote.join", {"group": form.get("group", "").strip()})
    except FormError as problem:
        said = "; ".join(problem.fields.values()) or problem.general  # the form has one field
        return await _list(request, status=problem.status, join={"group": form.get("group", ""), "error": said})
    if board.get("your_role"):
        raise redirect(f"{LIST}/{board['id']}", "You are a member.")
    done = f"Asked to join {board['name']}: {board['home']} answers soon."
    # a board only members read shows nothing until its server says yes
    raise redirect(f"{LIST}/{board['id']}" if board["visibility"] == "public" else LIST, done)


async def _board(request: web.Request, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                 error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    board_id = request.match_info["id"]
    board = await REGISTRY.call(ctx, "boards.get", {"id": board_id})
    sort = request.query.get("sort") if request.query.get("sort") in ("hot", "top", "new") else None
    listing: dict[str, Any] = {"id": board_id, "limit": 100}
    if sort:
        listing["sort"] = sort
    entries = await REGISTRY.call(ctx, "boards.entries.list", listing)
    mutes = (await REGISTRY.call(ctx, "boards.mutes.list", {"id": board_id}))["items"] if ctx.user else []
    response = render(request, "board.html.j2", status=status, board=board, entries=entries["items"],
                      sort=entries["sort"], mutes=mutes, kinds=KIND_WORDS, visibilities=VISIBILITY_WORDS,
                      subjects=SUBJECT_WORDS, values=values or {}, errors=errors or {}, error=error,
                      last_id=entries["items"][-1]["id"] if entries["items"] else "")
    if board["kind"] == "chat":
        response.headers["Content-Security-Policy"] = CHAT_CSP
    return response


@page
async def board_page(request: web.Request) -> web.StreamResponse:
    return await _board(request)


async def _attach(request: web.Request, entry_id: str, uploads: list[Any]) -> None:
    """Attach the form's files to the entry just made; any refusal (type, size, count, media off)
    becomes the file field's error, whatever its status (415 included)."""
    for upload in uploads:
        content = upload.file.read()
        if not content and not upload.filename:
            continue  # the browser sends an empty part when no file was picked
        try:
            await REGISTRY.call(request[CTX], "boards.entries.attach",
                                {"id": entry_id, "content": content, "content_type": upload.content_type or ""})
        except DomainError as error:
            if not 400 <= error.status < 500:
                raise
            said = f"{upload.filename}: {error.detail}" if upload.filename else error.detail
            raise FormError(error, {"file": said}, "The file was refused, so nothing was posted.") from None


@page
async def post_entry(request: web.Request) -> web.StreamResponse:
    """A post, a reply (with `parent`) or a review, with an optional file."""
    require_signed_in(request)
    board_id = request.match_info["id"]
    posted = await request.post()
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    data: dict[str, Any] = {"id": board_id, "body": form.get("body", "")}
    for name in ("parent", "subject_kind", "subject_id"):
        if form.get(name):
            data[name] = form[name]
    if form.get("rating"):
        data["rating"] = int(form["rating"]) if form["rating"].isdigit() else form["rating"]
    back = form.get("back") or f"{LIST}/{board_id}"
    back = back if back.startswith("/app/") else f"{LIST}/{board_id}"
    uploads = [part for part in posted.getall("file", []) if not isinstance(part, str)]
    try:
        # All or nothing: a refused file takes the entry it came with back with it.
        async with in_transaction():
            if form.get("parent"):  # a reply: the board and the rules come from the entry replied to
                made = await call(request, "boards.entries.reply", {"id": form["parent"], "body": data["body"]})
            else:
                made = await call(request, "boards.entries.create", data)
            await _attach(request, made["id"], uploads)
    except FormError as problem:
        if form.get("parent"):
            said = "; ".join(problem.fields.values()) or problem.general  # a reply form has one field
            return await _thread(request, form["parent"], values=form, error=said, status=problem.status)
        return await _board(request, values=form, errors=problem.fields, error=problem.general, status=problem.status)
    raise redirect(back, "Posted.")


async def _thread(request: web.Request, entry_id: str, *, values: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    entry = await REGISTRY.call(ctx, "boards.entries.get", {"id": entry_id})
    board = await REGISTRY.call(ctx, "boards.get", {"id": entry["board"]})
    return render(request, "board_thread.html.j2", status=status, entry=entry, board=board, values=values or {},
                  errors=errors or {}, error=error, subjects=SUBJECT_WORDS)


@page
async def thread_page(request: web.Request) -> web.StreamResponse:
    return await _thread(request, request.match_info["entry"])


_ENTRY_ACTIONS = {
    "up": ("boards.entries.vote", {"value": "up"}, "Voted up."),
    "down": ("boards.entries.vote", {"value": "down"}, "Voted down."),
    "unvote": ("boards.entries.unvote", {}, "Vote taken back."),
    "delete": ("boards.entries.delete", {}, "Entry deleted: its place in the thread stays."),
}


@page
async def act_on_entry(request: web.Request) -> web.StreamResponse:
    """Vote, take a vote back, or delete; then back to the page the button was on."""
    require_signed_in(request)
    form = await read_form(request)
    entry_id = request.match_info["entry"]
    operation, data, done = _ENTRY_ACTIONS[request.match_info["action"]]
    back = form.get("back", "")
    back = back if back.startswith("/app/") else f"/app/posts/{entry_id}"
    try:
        await call(request, operation, {"id": entry_id, **data})
    except FormError as problem:
        return await _thread(request, entry_id, error=problem.general, status=problem.status)
    raise redirect(back, done)


async def _edit(request: web.Request, entry_id: str, *, values: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    entry = await REGISTRY.call(ctx, "boards.entries.get", {"id": entry_id})
    history = (await REGISTRY.call(ctx, "boards.entries.history", {"id": entry_id}))["items"]
    return render(request, "board_entry_edit.html.j2", status=status, entry=entry, history=history,
                  values=values or {"body": entry["body"], "rating": entry["rating"] or ""}, errors=errors or {},
                  error=error)


@page
async def edit_entry_page(request: web.Request) -> web.StreamResponse:
    """An entry's edit form and its earlier versions; POST saves a new version."""
    entry_id = request.match_info["entry"]
    if request.method == "GET":
        return await _edit(request, entry_id)
    require_signed_in(request)
    form = await read_form(request)
    data: dict[str, Any] = {"id": entry_id, "body": form.get("body", "")}
    if form.get("rating"):
        data["rating"] = int(form["rating"]) if form["rating"].isdigit() else form["rating"]
    try:
        await call(request, "boards.entries.update", data)
    except FormError as problem:
        return await _edit(request, entry_id, values=form, errors=problem.fields, error=problem.general,
                           status=problem.status)
    raise redirect(f"/app/posts/{entry_id}", "Saved. The earlier version is kept in its history.")


_BOARD_ACTIONS = {
    "join": ("boards.join", "You joined the board."),
    "leave": ("boards.leave", "You left the board."),
    "mute": ("boards.mutes.create", "Muted: you no longer see their entries here."),
    "unmute": ("boards.mutes.delete", "You see their entries again."),
}


@page
async def act_on_board(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    board_id = request.match_info["id"]
    operation, done = _BOARD_ACTIONS[request.match_info["action"]]
    data = {"id": board_id}
    if operation.startswith("boards.mutes"):
        data["username"] = form.get("username", "")
    try:
        result = await call(request, operation, data)
    except FormError as problem:
        return await _board(request, values=form, errors=problem.fields, error=problem.general, status=problem.status)
    if isinstance(result, dict) and result.get("joining") == "pending":  # a board of another server
        done = f"Asked to join: {result['home']} answers soon."
    raise redirect(LIST if operation == "boards.leave" else f"{LIST}/{board_id}", done)


async def _manage(request: web.Request, *, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                  error: str = "", status: int = 200, new_invite: dict[str, Any] | None = None) -> web.Response:
    ctx = request[CTX]
    board_id = request.match_info["id"]
    board = await REGISTRY.call(ctx, "boards.get", {"id": board_id})
    members = (await REGISTRY.call(ctx, "boards.members.list", {"id": board_id}))["items"]
    invites = (await REGISTRY.call(ctx, "boards.invites.list", {"id": board_id}))["items"]
    bans = (await REGISTRY.call(ctx, "boards.bans.list", {"id": board_id}))["items"]
    return render(request, "board_manage.html.j2", status=status, board=board, members=members, invites=invites,
                  bans=bans, visibilities=VISIBILITY_WORDS, values=values or {}, errors=errors or {}, error=error,
                  new_invite=new_invite)


@page
async def manage_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _manage(request)


def _hours(value: str) -> Any:
    return float(value) if value.replace(".", "", 1).isdigit() else (value or None)


@page
async def manage_action(request: web.Request) -> web.StreamResponse:
    """The moderators' forms: settings, a member's role, invites, bans."""
    require_signed_in(request)
    form = await read_form(request)
    board_id = request.match_info["id"]
    action = request.match_info["action"]
    done, new_invite = "Saved.", None
    try:
        if action == "settings":
            await call(request, "boards.update", {"id": board_id, "name": form.get("name", ""),
                                                  "description": form.get("description", ""),
                                                  "visibility": form.get("visibility", "public"), **_flags(form)})
        elif action == "role":
            await call(request, "boards.members.role", {"id": board_id, "username": form.get("username", ""),
                                                        "role": form.get("role", "")})
        elif action == "invite":
            uses = form.get("max_uses", "")
            new_invite = await call(request, "boards.invites.create", {
                "id": board_id, "max_uses": int(uses) if uses.isdigit() else (uses or None),
                "expires_in_hours": _hours(form.get("expires_in_hours", "")),
            })
        elif action == "revoke":
            await call(request, "boards.invites.revoke", {"id": board_id, "invite": form.get("invite", "")})
            done = "Invite withdrawn: its link no longer works."
        elif action == "ban":
            await call(request, "boards.bans.create", {"id": board_id, "username": form.get("username", ""),
                                                       "reason": form.get("reason", ""),
                                                       "expires_in_hours": _hours(form.get("expires_in_hours", ""))})
            done = "Banned: they can no longer post here."
        elif action == "lift":
            await call(request, "boards.bans.lift", {"id": board_id, "username": form.get("username", "")})
            done = "Ban lifted."
        else:
            raise web.HTTPNotFound()
    except FormError as problem:
        return await _manage(request, values={**form, "action": action}, errors=problem.fields, error=problem.general,
                             status=problem.status)
    if new_invite is not None:  # the code is shown once, on this answer: it is not kept
        return await _manage(request, new_invite=new_invite)
    raise redirect(f"{LIST}/{board_id}/manage", done)


@page
async def invite_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return render(request, "board_invite.html.j2", code=request.match_info["code"], error="")


@page
async def accept_invite(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    code = request.match_info["code"]
    try:
        board = await call(request, "boards.invites.accept", {"code": code})
    except FormError as problem:
        return render(request, "board_invite.html.j2", code=code, error=problem.general, status=problem.status)
    raise redirect(f"{LIST}/{board['id']}", "Welcome: you are a member now.")


@page
async def reviews_page(request: web.Request) -> web.StreamResponse:
    """Reviews of one subject on every board the reader may read, with the stars they add up to."""
    ctx = request[CTX]
    kind, subject = request.match_info["kind"], request.match_info["subject"]
    reviews = await REGISTRY.call(ctx, "boards.reviews.list", {"subject_kind": kind, "subject_id": subject})
    summary = await REGISTRY.call(ctx, "boards.reviews.summary", {"subject_kind": kind, "subject_id": subject})
    boards = (await REGISTRY.call(ctx, "boards.list", {"kind": "review", "page_size": page_size(ctx)})).items
    return render(request, "board_reviews.html.j2", reviews=reviews["items"], summary=summary, kind=kind, subject=subject,
                  subject_words=SUBJECT_WORDS.get(kind, kind), boards=boards)


async def board_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: each entry that reaches a chat room as an `entry` event (its JSON),
    polling the database every limits.board_events_poll_seconds for limits.board_events_max_seconds;
    then the browser reconnects (EventSource does), sending Last-Event-ID.

    Polled by arrival (`changed_since`), not by id: an entry from another server takes its place
    by when it was posted (ids.id_at), often before entries already shown. Each poll looks back
    CHANGE_MARGIN before the last one (a transaction that commits late is still seen) and sends
    what this stream has not sent; an event's id is the poll's time, from which a reconnect goes
    on. A first connection starts after the page's last entry (`after`, an entry id)."""
    ctx = request[CTX]
    if ctx.user is not None or "oauth_scopes" in ctx.extra:  # as pages do: the browser's session only
        ctx.user = ctx.actor = None
        ctx.extra.pop("access_token", None)
        ctx.extra.pop("oauth_scopes", None)
    await load_session(request)
    board_id = request.match_info["id"]
    last_event = request.headers.get("Last-Event-ID") or ""
    resumed = _moment(last_event)
    polled = (resumed or datetime.now(UTC)) - CHANGE_MARGIN
    after = "" if resumed else last_event or request.query.get("after") or ""
    try:
        if resumed:
            first = await _changes(ctx, board_id, polled)
        else:
            if not after:  # only what is posted from now on
                latest = await REGISTRY.call(ctx, "boards.entries.list", {"id": board_id, "limit": 1})
                after = latest["items"][-1]["id"] if latest["items"] else "0"
            first = (await REGISTRY.call(ctx, "boards.entries.list", {"id": board_id, "after": after, "limit": 100}))["items"]
    except DomainError as problem:
        raise web.HTTPNotFound(text=problem.detail) from None
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    protect(response)
    await response.prepare(request)
    await response.write(b"retry: 3000\n\n")
    loop = asyncio.get_running_loop()
    limits = ctx.site.limits
    ends = loop.time() + limits.board_events_max_seconds
    items, sent = first, set[str]()
    try:
        while True:
            stamp = iso(polled + CHANGE_MARGIN) or ""
            for item in items:
                if item["id"] in sent:
                    continue
                sent.add(item["id"])
                payload = orjson.dumps({key: item[key] for key in ("id", "author", "html", "created_at", "deleted",
                                                                   "remote_media")})
                await response.write(b"id: " + stamp.encode() + b"\nevent: entry\ndata: " + payload + b"\n\n")
            if loop.time() >= ends:
                break
            await asyncio.sleep(limits.board_events_poll_seconds)
            moment = datetime.now(UTC)
            items = await _changes(ctx, board_id, polled)
            polled = moment - CHANGE_MARGIN
    except ConnectionResetError:  # the reader left (closed the tab): nothing more to send
        pass
    except DomainError:  # the board went away or the reader lost access to it: end the stream
        pass
    return response


CHANGE_MARGIN = timedelta(seconds=10)  # longer than an insert's transaction stays open


async def _changes(ctx: Context, board_id: str, since: datetime) -> list[dict[str, Any]]:
    listed = await REGISTRY.call(ctx, "boards.entries.list", {"id": board_id, "changed_since": since, "limit": 200})
    return list(listed["items"])


def _moment(text: str) -> datetime | None:
    """A Last-Event-ID this stream wrote (a time), or None (an entry id from the page, or nothing)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
