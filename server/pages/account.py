"""Sign up, sign in, sign out, delete your account, and the home page (the wallet when signed in)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from ..sessions import clear_session_cookie, set_session_cookie
from .base import (
    FormError,
    call,
    page,
    page_size,
    read_form,
    redirect,
    render,
    require_signed_in,
    safe_next,
    signed_in_user,
)
from .pictures import balance_charts

__all__ = [
    "home", "signup_form", "signup", "signin_form", "signin", "signout", "delete_account_form", "delete_account",
]

RECENT_ENTRIES = 10


@page
async def home(request: web.Request) -> web.StreamResponse:
    if signed_in_user(request) is None:
        return render(request, "home.html.j2")
    ctx = request[CTX]
    me = ctx.require_user()
    balances = (await REGISTRY.call(ctx, "ledger.balance", {}))["balances"]
    entries = await REGISTRY.call(
        ctx, "ledger.list", {"owner": me.username, "page_size": page_size(ctx, RECENT_ENTRIES), "sort": "-created_at"}
    )
    types = await REGISTRY.call(ctx, "types.list", {"owner": me.username, "page_size": page_size(ctx)})
    names = {item["id"]: item["name"] for item in types.items}
    for balance in balances:
        names.setdefault(balance["type"], balance["symbol"])
    charts = await balance_charts(ctx, balances, names)
    return render(request, "wallet.html.j2", balances=balances, entries=entries.items, types=types.items, names=names,
                  charts=charts)


async def _start_session(request: web.Request, username: str, password: str, target: str) -> web.HTTPSeeOther:
    login = await REGISTRY.call(request[CTX], "auth.login", {"username": username, "password": password})
    response = redirect(target)
    set_session_cookie(request, response, login["token"])
    return response


@page
async def signup_form(request: web.Request) -> web.StreamResponse:
    return render(request, "signup.html.j2", values={}, errors={}, error="")


@page
async def signup(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    values: dict[str, Any] = {key: form.get(key, "") for key in ("username", "email")}
    try:
        await call(request, "auth.register", {key: form.get(key, "") for key in ("username", "email", "password")})
    except FormError as error:
        if error.problem.code == "username-taken":
            error.fields["username"] = error.problem.detail
        return render(
            request, "signup.html.j2", status=error.status, values=values, errors=error.fields, error=error.general
        )
    raise await _start_session(request, form["username"], form["password"], "/")


@page
async def signin_form(request: web.Request) -> web.StreamResponse:
    target = safe_next(request.query.get("next"))
    if signed_in_user(request) is not None:
        raise redirect(target)
    return render(request, "signin.html.j2", values={}, errors={}, error="", next=target)


@page
async def signin(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    target = safe_next(form.get("next"))
    try:
        response = await _start_session(request, form.get("username", ""), form.get("password", ""), target)
    except DomainError as error:  # wrong password, locked out, frozen, invalid input: say so on the form
        message = "Wrong username or password." if error.status == 401 else error.detail
        page = render(
            request,
            "signin.html.j2",
            status=error.status,
            values={"username": form.get("username", "")},
            errors={},
            error=message,
            next=target,
        )
        if "retry_after" in error.extra:
            page.headers["Retry-After"] = str(error.extra["retry_after"])
        return page
    raise response


@page
async def signout(request: web.Request) -> web.StreamResponse:
    if signed_in_user(request) is not None:
        await REGISTRY.call(request[CTX], "auth.logout", {})
    response = redirect("/", "You are signed out.")
    clear_session_cookie(response)
    raise response


def _close_page(request: web.Request, *, errors: dict[str, str] | None = None, status: int = 200) -> web.Response:
    return render(request, "account_delete.html.j2", status=status, errors=errors or {}, values={})


@page
async def delete_account_form(request: web.Request) -> web.StreamResponse:
    """What deleting your account does, and the password that confirms it."""
    require_signed_in(request)
    return _close_page(request)


@page
async def delete_account(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    try:
        await call(request, "users.me.delete", {"password": form.get("password", "")})
    except FormError as error:
        message = error.fields.get("password") or error.problem.detail
        if error.problem.code == "invalid-password":
            message = "That is not your password; nothing was deleted."
        return _close_page(request, errors={"password": message}, status=error.status)
    response = redirect("/", "Your account is deleted.")
    clear_session_cookie(response)
    raise response
