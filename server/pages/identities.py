"""Sign in with a fediverse account, and the page of identities linked to yours.

The sign-in form posts a handle; we answer with a redirect to the person's own server and a
short-lived HttpOnly cookie holding a random value: the callback only completes a sign-in
started in the browser that presents it (the operation keeps only its digest).
"""

from __future__ import annotations

import secrets

from aiohttp import web

from federation.signin import CALLBACK_PATH
from models.errors import BadInput, DomainError
from models.identities import SIGNIN_LIFETIME

from ..appkeys import SETTINGS
from ..sessions import set_session_cookie
from .base import FormError, call, page, read_form, redirect, render, require_signed_in, safe_next, signed_in_user

__all__ = ["add_identity_routes"]

BROWSER_COOKIE = "tallystick_fediverse"
_COOKIE_PATH = "/signin/fediverse"
IDENTITIES_PATH = "/app/account/identities"


def _signin_page(request: web.Request, *, handle: str, error: str, target: str, status: int) -> web.Response:
    return render(request, "signin.html.j2", status=status, values={}, errors={}, error="", next=target,
                  fediverse_error=error, fediverse_handle=handle)


async def _start_refused(request: web.Request, problem: DomainError, *, handle: str, target: str) -> web.Response:
    """The form the handle came from, with the reason it was refused (and Retry-After on a 429)."""
    if signed_in_user(request) is not None and target == IDENTITIES_PATH:
        shown = await _identities(request, status=problem.status, handle=handle, error=problem.detail)
    else:
        shown = _signin_page(request, handle=handle, error=problem.detail, target=target, status=problem.status)
    if "retry_after" in problem.extra:
        shown.headers["Retry-After"] = str(problem.extra["retry_after"])
    return shown


@page
async def start(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    handle, target = form.get("handle", "").strip(), safe_next(form.get("next"))
    browser = secrets.token_urlsafe(32)
    try:
        if len(handle.lstrip("@")) < 3:
            raise FormError(BadInput("enter your fediverse account, like @dave@mastodon.example"), {}, "")
        answer = await call(request, "accounts.fediverse.start", {"handle": handle, "browser": browser, "next": target})
    except FormError as error:
        return await _start_refused(request, error.problem, handle=handle, target=target)
    except DomainError as error:
        if error.status != 429:  # too many sign-ins started from this address: said on the form too
            raise
        return await _start_refused(request, error, handle=handle, target=target)
    response = web.HTTPSeeOther(answer["location"])
    response.set_cookie(
        BROWSER_COOKIE, browser, max_age=int(SIGNIN_LIFETIME.total_seconds()), path=_COOKIE_PATH, httponly=True,
        samesite="Lax", secure=request.app[SETTINGS].base_url.startswith("https://"),
    )
    raise response


@page
async def callback(request: web.Request) -> web.StreamResponse:
    """Back from the person's server: signed in (or linked), or told plainly what went wrong."""
    query = request.query
    data = {"state": query.get("state", ""), "code": query.get("code") or None, "error": query.get("error") or None,
            "browser": request.cookies.get(BROWSER_COOKIE, "")}
    try:
        done = await call(request, "accounts.fediverse.finish", data)
    except FormError as error:
        if signed_in_user(request) is not None:
            return await _identities(request, status=error.status, error=error.problem.detail)
        return _signin_page(request, handle="", error=error.problem.detail, target="/", status=error.status)
    if done["created"]:
        note = f"Welcome! Your account here is {done['username']}, signed in with @{done['acct']}."
    elif done["linked"]:
        note = f"@{done['acct']} is now linked to your account: it signs you in here."
    else:
        note = f"Signed in as {done['username']} with @{done['acct']}."
    response = redirect(safe_next(done["next"]), note)
    set_session_cookie(request, response, done["token"])
    response.del_cookie(BROWSER_COOKIE, path=_COOKIE_PATH)
    raise response


async def _identities(request: web.Request, *, status: int = 200, handle: str = "", error: str = "") -> web.Response:
    listed = await call(request, "accounts.identities.list", {})
    return render(request, "identities.html.j2", status=status, identities=listed["items"],
                  has_password=listed["has_password"], next="/app/account/identities",
                  fediverse_error=error, fediverse_handle=handle)


@page
async def identities_page(request: web.Request) -> web.StreamResponse:
    """The fediverse accounts that sign you in, each with an unlink button; a form to link another."""
    require_signed_in(request)
    return await _identities(request)


async def _find(request: web.Request) -> dict[str, str]:
    listed = await call(request, "accounts.identities.list", {})
    wanted = request.match_info["id"]
    for item in listed["items"]:
        if item["id"] == wanted:
            return dict(item)
    raise web.HTTPNotFound(text="There is no such linked identity.")


@page
async def unlink_form(request: web.Request) -> web.StreamResponse:
    """Are you sure? Names the identity and what unlinking it does."""
    require_signed_in(request)
    return render(request, "identity_unlink.html.j2", identity=await _find(request))


@page
async def unlink(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    identity = await _find(request)
    try:
        await call(request, "accounts.identities.unlink", {"id": identity["id"]})
    except FormError as error:
        raise redirect(IDENTITIES_PATH, error.problem.detail) from None
    raise redirect("/app/account/identities", f"@{identity['acct']} no longer signs you in here.")


def add_identity_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/signin/fediverse", start, name="page_signin_fediverse")
    router.add_get(CALLBACK_PATH, callback, name="page_signin_fediverse_callback")
    router.add_get("/app/account/identities", identities_page, name="page_identities")
    router.add_get("/app/account/identities/{id}/unlink", unlink_form, name="page_identity_unlink")
    router.add_post("/app/account/identities/{id}/unlink", unlink)
