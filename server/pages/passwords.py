"""Forgotten passwords, emailed links, and the account page (address and password).

The links in account mail open here: /reset-password?token=... shows a form for the new
password (the token travels on in a hidden field; nothing is used until the form is sent),
and /verify-email?token=... verifies at once (opening it twice, or a mail scanner opening it
first, still ends in "verified").
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.errors import DomainError
from models.operations.account_lifecycle import RESET_ANSWER
from models.registry import REGISTRY

from ..appkeys import CTX
from ..sessions import clear_session_cookie
from .base import FormError, call, form_errors, page, page_size, read_form, redirect, render, require_signed_in
from .wording import moment

__all__ = [
    "forgot_form", "forgot", "reset_form", "reset", "verify_email", "account_page", "resend_verification",
    "change_email", "change_password", "admin_mail_page",
]

MAIL_STATES = {
    "pending": "waiting to be sent",
    "sent": "sent",
    "failed": "refused or out of tries",
    "unsent": "not sent",
}
PURPOSES = {
    "verify-email": "link to verify the address",
    "reset-password": "password reset link",
    "password-changed": "notice: password changed",
    "email-changed": "notice: address changed",
}

NO_REFERRER = {"Referrer-Policy": "no-referrer"}  # a page whose URL holds a link's token never passes it on


@page
async def forgot_form(request: web.Request) -> web.StreamResponse:
    return render(request, "forgot_password.html.j2", values={}, errors={}, error="", sent=False)


@page
async def forgot(request: web.Request) -> web.StreamResponse:
    """Ask for a reset link; the page that follows is the same for any address."""
    form = await read_form(request)
    values = {"email": form.get("email", "").strip()}
    try:
        await call(request, "auth.password_reset.request", values)
    except FormError as error:
        return render(
            request, "forgot_password.html.j2", status=error.status, values=values, errors=error.fields,
            error=error.general, sent=False,
        )
    except DomainError as error:  # 429: too many requests for this address or from this client
        page_ = render(
            request, "forgot_password.html.j2", status=error.status, values=values, errors={}, error=error.detail,
            sent=False,
        )
        if "retry_after" in error.extra:
            page_.headers["Retry-After"] = str(error.extra["retry_after"])
        return page_
    return render(request, "forgot_password.html.j2", values=values, errors={}, error="", sent=True, answer=RESET_ANSWER)


def _reset_page(request: web.Request, token: str, *, errors: dict[str, str] | None = None, error: str = "",
                status: int = 200) -> web.Response:
    response = render(request, "reset_password.html.j2", status=status, token=token, errors=errors or {}, error=error)
    response.headers.update(NO_REFERRER)
    return response


@page
async def reset_form(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token", "")
    if not token:
        return _reset_page(request, "", error="This link is incomplete: open the whole link from the message.", status=400)
    return _reset_page(request, token)


@page
async def reset(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    token, password = form.get("token", ""), form.get("new_password", "")
    if password != form.get("repeat_password", ""):
        return _reset_page(request, token, errors={"repeat_password": "The two passwords differ."}, status=400)
    try:
        await REGISTRY.call(request[CTX], "auth.password_reset.confirm", {"token": token, "new_password": password})
    except DomainError as error:
        fields = {name: text for name, text in form_errors(error).fields.items() if name == "new_password"}
        message = "" if fields else f"{error.detail[0].upper()}{error.detail[1:]}."
        return _reset_page(request, token, errors=fields, error=message, status=error.status)
    response = redirect("/signin", "Your password is changed. Sign in with the new one.")
    clear_session_cookie(response)  # every session ended with the reset
    raise response


@page
async def verify_email(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token", "")
    try:
        result = await REGISTRY.call(request[CTX], "auth.email_verification.confirm", {"token": token})
    except DomainError as error:
        response = render(request, "verify_email.html.j2", status=error.status, result=None, error=error.detail)
    else:
        response = render(request, "verify_email.html.j2", result=result, error="")
    response.headers.update(NO_REFERRER)
    return response


async def _account(request: web.Request, *, values: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    me = await REGISTRY.call(request[CTX], "users.me", {})
    return render(request, "account.html.j2", status=status, account=me, values=values or {}, errors=errors or {},
                  error=error)


@page
async def account_page(request: web.Request) -> web.StreamResponse:
    """Your address (verified or not) and password."""
    require_signed_in(request)
    return await _account(request)


@page
async def resend_verification(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    try:
        answer = await REGISTRY.call(request[CTX], "auth.email_verification.request", {})
    except DomainError as error:
        raise redirect("/app/account", error.detail) from None
    raise redirect("/app/account", answer["detail"])


@page
async def change_email(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {"email": form.get("email", "").strip()}
    try:
        await call(request, "auth.email.change", {"email": values["email"], "password": form.get("password", "")})
    except FormError as error:
        return await _account(request, values=values, errors=error.fields, status=error.status)
    except DomainError as error:  # 429 after wrong passwords
        return await _account(request, values=values, error=error.detail, status=error.status)
    raise redirect("/app/account", f"Your address is now {values['email']}. Open the link we sent there to verify it.")


@page
async def change_password(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    data: dict[str, Any] = {
        "current_password": form.get("current_password", ""), "new_password": form.get("new_password", ""),
    }
    if data["new_password"] != form.get("repeat_password", ""):
        return await _account(request, errors={"repeat_password": "The two new passwords differ."}, status=400)
    try:
        result = await call(request, "auth.password.change", data)
    except FormError as error:
        return await _account(request, errors=error.fields, error="" if error.fields else error.general,
                              status=error.status)
    except DomainError as error:
        return await _account(request, error=error.detail, status=error.status)
    ended = result["signed_out_sessions"] + result["revoked_app_tokens"]
    note = f" {ended} other sign-in(s) and app(s) were signed out." if ended else ""
    raise redirect("/app/account", f"Your password is changed.{note}")


@page
async def admin_mail_page(request: web.Request) -> web.StreamResponse:
    """Account mail as admins see it: to whom, why, and how sending went (never the message itself)."""
    require_signed_in(request)
    ctx = request[CTX]
    state = request.query.get("state", "")
    number = request.query.get("page", "1")
    query: dict[str, Any] = {"page_size": page_size(ctx), "page": int(number) if number.isdigit() and 0 < int(number) < 100_000 else 1}
    if state in MAIL_STATES:
        query["state"] = state
    listed = await REGISTRY.call(ctx, "admin.mail.list", query)
    following = f"/app/admin/mail?page={listed.page + 1}" + (f"&state={state}" if state in MAIL_STATES else "") if listed.has_next else None
    return render(
        request, "admin_mail.html.j2", messages=listed.items, state=state, states=MAIL_STATES, purposes=PURPOSES,
        configured=ctx.site.mail.configured, next=following, moment=moment,
    )
