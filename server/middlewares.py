"""Middlewares: problem+json for every error, bearer authentication into a Context."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from models.context import Context
from models.errors import DomainError, Unauthorized
from models.oauth import APP_TOKEN_PREFIX
from models.operations.accounts import authenticate_token
from models.operations.oauth import authenticate_app_token

from .appkeys import CTX, SETTINGS, SITE

__all__ = ["client_address", "problem_response", "error_middleware", "auth_middleware", "body_timeout_middleware"]

log = logging.getLogger("tallystick.server")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(problem),
        status=problem["status"],
        content_type="application/problem+json",
        headers=headers,
    )


def _http_problem(error: web.HTTPException) -> dict[str, Any]:
    code = _HTTP_CODES.get(error.status, "http-error")
    detail = error.text if error.text and not error.text.startswith(f"{error.status}:") else error.reason
    if error.status == 413:
        detail = "the request body is larger than this server accepts"
    if error.status == 404:
        detail = "there is nothing at this address"
    return {
        "type": f"https://tallystick.dev/problems/{code}",
        "code": code,
        "title": error.reason,
        "status": error.status,
        "detail": detail,
    }


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes application/problem+json; never a traceback."""
    try:
        return await handler(request)
    except DomainError as error:
        headers = {"WWW-Authenticate": 'Bearer realm="tallystick"'} if error.status == 401 else None
        if error.status == 429 and "retry_after" in error.extra:
            headers = {"Retry-After": str(error.extra["retry_after"])}
        return problem_response(error.to_problem(), headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return problem_response(_http_problem(error), headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            {
                "type": "https://tallystick.dev/problems/internal-error",
                "code": "internal-error",
                "title": "Internal server error",
                "status": 500,
                "detail": "something went wrong on our side; it has been logged",
            }
        )


def client_address(request: web.Request) -> str | None:
    """The caller's address: the peer's, or (setting trust_forwarded_for, behind a proxy) the
    last X-Forwarded-For entry, the one our proxy appended; earlier entries are the client's word."""
    if request.app[SETTINGS].trust_forwarded_for:
        forwarded = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")[-1].strip()
        if forwarded:
            return forwarded[:100]
    return request.remote


def body_timeout_middleware(seconds: float) -> Middleware:
    """A request body must arrive within `seconds` of its headers, or the answer is 408 and the
    connection closes (limits.body_timeout): a client sending a byte a second cannot hold a
    handler, and what it reserved, for minutes.

    The deadline covers receiving the body only: once the body is in, a slow handler (a
    tester's Prefer: wait=N) is not cut short.
    """
    if seconds <= 0:
        raise ValueError("body timeout must be positive")

    @web.middleware
    async def body_timeout(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        loop = asyncio.get_running_loop()
        late = False
        try:
            async with asyncio.timeout(None) as scope:

                def check() -> None:
                    nonlocal late
                    if not request.content.is_eof():  # still receiving: stop the handler now
                        late = True
                        scope.reschedule(loop.time())

                watchdog = loop.call_at(loop.time() + seconds, check)
                try:
                    return await handler(request)
                finally:
                    watchdog.cancel()
        except TimeoutError:
            if not late:
                raise
        log.info("%s %s: the body did not arrive within %s s; closing", request.method, request.path, seconds)
        response = problem_response(
            {
                "type": "https://tallystick.dev/problems/request-timeout",
                "code": "request-timeout",
                "title": "Request Timeout",
                "status": 408,
                "detail": f"the request body did not arrive within {seconds:g} seconds",
            },
        )
        # Send the answer, then drop the connection: aiohttp would otherwise keep reading the
        # rest of the trickling body for its lingering time (10 s) before closing.
        response.force_close()  # says Connection: close
        await response.prepare(request)
        await response.write_eof()
        if request.protocol is not None:
            request.protocol.force_close()  # the transport flushes the answer, then closes
        return response

    return body_timeout


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve `Authorization: Bearer` to a user; anonymous callers get a Context too."""
    ctx = Context(
        site=request.app[SITE], if_match=request.headers.get("If-Match"), client_address=client_address(request)
    )
    header = request.headers.get("Authorization")
    if header and request.path in ("/oauth/token", "/oauth/revoke") and header.lower().startswith("basic "):
        header = None  # OAuth client credentials (RFC 6749 2.3.1), read by the endpoint itself
    scheme, _, secret = (header or "").partition(" ")
    # `Authorization: Signature ...` is an HTTP signature (some servers send it there):
    # the inbox and signed fetches check it themselves; the caller stays anonymous here.
    if header and scheme.lower() != "signature":
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("use an Authorization: Bearer <token> header", code="invalid-authorization")
        if secret.strip().startswith(APP_TOKEN_PREFIX):  # an OAuth app acting for itself, no user
            app_token = await authenticate_app_token(secret.strip())
            ctx.extra["oauth_scopes"] = list(app_token.scopes)
            ctx.extra["oauth_app_id"] = app_token.app_id
            request[CTX] = ctx
            return await handler(request)
        user, token = await authenticate_token(secret.strip())
        ctx.user = user
        ctx.actor = user.actor  # loaded with the token, in one query
        ctx.extra["access_token"] = token
    request[CTX] = ctx
    return await handler(request)
