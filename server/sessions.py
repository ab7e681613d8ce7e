"""Browser sessions and CSRF protection for the web pages.

A session is a login token (the same 30-day bearer credential `auth.login` issues, stored
only as a hash) kept in an HttpOnly, SameSite=Lax cookie; signing out revokes it through
`auth.logout`. The JSON API never reads this cookie: it takes bearer headers only, so a
cross-site page cannot ride on a browser session there.

CSRF: every form carries a token that is an HMAC of a random per-browser nonce (its own
cookie) and the session secret, keyed by the instance secret. A forged or missing token is
refused with 403 before the form's operation runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from models.actors import TokenKind
from models.errors import DomainError, Forbidden
from models.operations.accounts import LOGIN_TOKEN_DAYS, authenticate_token

from .appkeys import CTX, SETTINGS

__all__ = [
    "SESSION_COOKIE",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "load_session",
    "session_secret",
    "set_session_cookie",
    "clear_session_cookie",
    "csrf_token",
    "check_csrf",
    "finish_csrf_cookie",
]

SESSION_COOKIE = "tallystick_session"
CSRF_COOKIE = "tallystick_csrf"
CSRF_FIELD = "csrf_token"
_NEW_NONCE = web.RequestKey("csrf_nonce", str)  # a nonce made during this request


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].base_url.startswith("https://")


async def load_session(request: web.Request) -> None:
    """Sign the request's context in from the session cookie; a stale cookie is ignored."""
    ctx = request[CTX]
    secret = request.cookies.get(SESSION_COOKIE)
    if ctx.user is not None or not secret:
        return
    try:
        user, token = await authenticate_token(secret)
    except DomainError:
        return
    if token.kind != TokenKind.LOGIN.value:  # only login tokens may act as sessions
        return
    ctx.user, ctx.actor = user, user.actor
    ctx.extra["access_token"] = token


def session_secret(request: web.Request) -> str:
    """The session secret when the request is signed in through the cookie, else ""."""
    return request.cookies.get(SESSION_COOKIE, "") if request[CTX].user is not None else ""


def set_session_cookie(request: web.Request, response: web.StreamResponse, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=LOGIN_TOKEN_DAYS * 86400,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
    )
    # A fresh nonce on sign-in: a token seen before sign-in is worth nothing after it.
    request[_NEW_NONCE] = secrets.token_urlsafe(24)


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def _nonce(request: web.Request) -> str:
    if _NEW_NONCE in request:
        return request[_NEW_NONCE]
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request[_NEW_NONCE] = nonce
    return nonce


def _mac(request: web.Request, nonce: str, session: str) -> str:
    key = request.app[SETTINGS].secret_key.encode()
    message = f"csrf|{nonce}|{hashlib.sha256(session.encode()).hexdigest()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def csrf_token(request: web.Request, session: str | None = None) -> str:
    """The token forms on this page must send back."""
    return _mac(request, _nonce(request), session_secret(request) if session is None else session)


def check_csrf(request: web.Request, submitted: str | None) -> None:
    """403 unless the form's token matches this browser's nonce and session."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted:
        raise Forbidden(
            "this form was sent without its security token; reload the page and try again", code="csrf-failed"
        )
    if not hmac.compare_digest(_mac(request, nonce, session_secret(request)), submitted):
        raise Forbidden("this form's security token does not match; reload the page and try again", code="csrf-failed")


def finish_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Store a nonce made during this request in the browser."""
    if _NEW_NONCE in request:
        response.set_cookie(
            CSRF_COOKIE, request[_NEW_NONCE], path="/", httponly=True, samesite="Lax", secure=_secure(request)
        )
