"""What every page shares: the template environment, the page decorator, forms and errors.

Pages call the same operations as the JSON API (`REGISTRY.call`) with the signed-in
browser's context; they never touch the database themselves. A failed operation becomes
messages beside the form's fields (from the problem's field errors), and nothing changes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import orjson
from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined

from models.context import Context
from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from ..formats import display
from ..headers import protect
from ..sessions import CSRF_FIELD, check_csrf, csrf_token, finish_csrf_cookie, load_session
from .markdown import render_markdown
from .wording import count, exact_time, field_message, moment, since

__all__ = [
    "CONFLICT",
    "CONFLICT_CODES",
    "STATIC_DIR",
    "FormError",
    "call",
    "form_errors",
    "html_error_pages",
    "page",
    "page_size",
    "read_form",
    "redirect",
    "render",
    "require_signed_in",
    "safe_next",
    "signed_in_user",
]

log = logging.getLogger("tallystick.pages")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
FLASH_COOKIE = "tallystick_flash"
# An If-Match conflict in words, for any form; the type, token, set and store editors say it
# their own way and show the other person's version in the form.
CONFLICT_CODES = ("version-mismatch", "checksum-mismatch", "precondition-failed")
CONFLICT = "Someone changed this while you were editing. Open it again to see their version, then make your change again."
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_size(ctx: Context, wanted: int = 50) -> int:
    """How many rows a page lists: `wanted`, or the server's largest page (limits.max_page_size) if smaller."""
    return min(wanted, ctx.site.limits.max_page_size)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("templates", "pages"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = render_markdown
    env.filters["display"] = display
    env.filters["urldecode"] = unquote
    # the _words.html.j2 `when` macro, and moment(), on any page
    env.globals.update(since=since, exact_time=exact_time, moment=moment, count=count)
    return env


def signed_in_user(request: web.Request) -> Any:
    return request[CTX].user


def render(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    """A page from templates/pages with the signed-in user, the CSRF token and any flash message."""
    flash = request.cookies.get(FLASH_COOKIE, "")
    body = (
        environment()
        .get_template(template)
        .render(
            me=signed_in_user(request),
            csrf_token=csrf_token(request),
            csrf_field=CSRF_FIELD,
            flash=flash,
            path=request.path,
            **values,
        )
    )
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    if flash:
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


async def public_page(request: web.Request, template: str, **values: Any) -> web.Response:
    """A page outside /app (an actor, a token, a type, as a browser opens its ActivityPub id):
    the app's layout, signed in from the session cookie when there is one."""
    await load_session(request)
    response = render(request, template, **values)
    finish_csrf_cookie(request, response)
    protect(response)
    response.headers["Vary"] = "Accept"
    return response


def redirect(location: str, flash: str | None = None) -> web.HTTPSeeOther:
    """303 to a page (Post/Redirect/Get), with an optional one-time message shown there."""
    response = web.HTTPSeeOther(location)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash)[:300], path="/", httponly=True, samesite="Lax")
    return response


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to after signing in; anything else (other hosts, //x) is refused."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    return default if parts.scheme or parts.netloc else value


def require_signed_in(request: web.Request) -> None:
    if signed_in_user(request) is None:
        target = request.path_qs
        raise web.HTTPSeeOther(f"/signin?next={quote(target, safe='')}")


async def read_form(request: web.Request) -> dict[str, str]:
    """The posted form as str -> str (a repeated name keeps one value; use request.post().getall for lists)."""
    data = await request.post()
    return {key: value for key, value in data.items() if isinstance(value, str)}


class FormError(Exception):
    """An operation refused a form: field messages plus a message for the whole form."""

    def __init__(self, problem: DomainError, fields: dict[str, str], general: str) -> None:
        super().__init__(general)
        self.problem, self.fields, self.general = problem, fields, general

    @property
    def status(self) -> int:
        return self.problem.status


def form_errors(error: DomainError, field_names: dict[str, str] | None = None) -> FormError:
    """Map a problem's field errors (`amount`, `attributes.0.name`) to form field names."""
    fields: dict[str, str] = {}
    names = field_names or {}
    for item in error.errors:
        location = str(item.get("field") or item.get("name") or "")
        message = str(item.get("message") or item.get("detail") or error.detail)
        target = names.get(location, location)
        if target:
            kind = item.get("type")
            fields.setdefault(target, field_message(location, message, kind if isinstance(kind, str) else None))
    field = error.extra.get("field") if isinstance(error.extra, dict) else None
    if isinstance(field, str) and field not in fields:
        fields[names.get(field, field)] = error.detail
    general = "" if fields else CONFLICT if error.code in CONFLICT_CODES else error.detail
    return FormError(error, fields, general or "Please correct the fields marked below.")


async def call(request: web.Request, operation: str, data: dict[str, Any], names: dict[str, str] | None = None) -> Any:
    """Run an operation for the browser; refusals of input become a FormError."""
    try:
        return await REGISTRY.call(request[CTX], operation, data)
    except DomainError as error:
        if error.status in (400, 403, 404, 409, 413, 422):
            raise form_errors(error, names) from None
        raise


def page(handler: PageHandler) -> PageHandler:
    """Wrap a page: sign in from the cookie, check CSRF on POST, keep the CSRF cookie."""

    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request[CTX]
        if ctx.user is not None or "oauth_scopes" in ctx.extra:
            # Pages act for the browser's session only: a bearer token (an app's, with its scopes) is ignored here.
            ctx.user = ctx.actor = None
            ctx.extra.pop("access_token", None)
            ctx.extra.pop("oauth_scopes", None)
        await load_session(request)
        if request.method == "POST":
            form = await request.post()
            submitted = form.get(CSRF_FIELD)
            check_csrf(request, submitted if isinstance(submitted, str) else None)
        try:
            response = await handler(request)
        except web.HTTPRedirection as moved:
            finish_csrf_cookie(request, moved)
            raise
        finish_csrf_cookie(request, response)
        protect(response)
        return response

    handle.__name__ = handler.__name__
    return handle


_MACHINE_PATHS = ("/api/", "/oauth/token", "/oauth/revoke", "/.well-known/", "/nodeinfo/")
_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    500: "Something broke",
}


def _wants_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and not request.path.startswith(_MACHINE_PATHS)


@web.middleware
async def html_error_pages(request: web.Request, handler: PageHandler) -> web.StreamResponse:
    """Browsers get a friendly error page instead of problem+json (never a stack trace)."""
    response = await handler(request)
    if response.status < 400 or response.content_type != "application/problem+json" or not _wants_html(request):
        return response
    try:
        sent = response.body if isinstance(response, web.Response) else None
        problem = orjson.loads(sent) if isinstance(sent, (bytes, bytearray)) and sent else {}
    except orjson.JSONDecodeError:
        problem = {}
    status = response.status
    detail = problem.get("detail") or "something went wrong"
    if status >= 500:
        detail = "Something went wrong on our side. It has been logged; please try again later."
    if CTX in request:
        try:
            await load_session(request)
        except Exception:  # the error page must render even when the database is the problem
            log.exception("could not load the session for an error page")
    body = (
        environment()
        .get_template("error.html.j2")
        .render(
            me=request[CTX].user if CTX in request else None,
            csrf_token=csrf_token(request) if CTX in request else "",
            csrf_field=CSRF_FIELD,
            flash="",
            path=request.path,
            status=status,
            title=_TITLES.get(status, problem.get("title") or "Error"),
            detail=detail,
            code=problem.get("code", ""),
        )
    )
    page_response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    if CTX in request:
        finish_csrf_cookie(request, page_response)
    protect(page_response)
    for name in ("WWW-Authenticate", "Allow"):
        if name in response.headers:
            page_response.headers[name] = response.headers[name]
    return page_response
