"""The HTTP API over the operation registry: one generic handler per route."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from federation.as2 import domain_of
from federation.remote_actors import signing_actor
from models.errors import BadInput, TooLarge, UnsupportedMediaType
from models.oauth import check_scope
from models.paging import Page
from models.registry import REGISTRY
from models.results import FileResult, Rendered

from .activitypub import signed_request
from .appkeys import ANONYMOUS_LIMITER, CTX, SETTINGS, SIGNED_LIMITER, SITE
from .headers import protect
from .job_requests import respond_async, wants_async
from .jobs import WORKERS
from .routes import Route

__all__ = ["Route", "operation_handler", "read_json_object", "json_response"]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is {}."""
    body = await request.read()
    limit = request.app[SETTINGS].limits.max_body_bytes
    if len(body) > limit:
        raise TooLarge(f"the JSON body is {len(body)} bytes; the limit is {limit}")
    if not body.strip():
        return {}
    if request.content_type not in ("application/json", "application/octet-stream") and not (
        request.content_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"send JSON with Content-Type: application/json, not {request.content_type}",
        )
    if b"\\u0000" in body:
        raise BadInput("NUL characters are not allowed in text", code="nul-character")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadInput(f"the body is not valid JSON: {error}", code="malformed-json") from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object", code="malformed-json")
    return data


def _page_body(request: web.Request, page: Page) -> dict[str, Any]:
    def link(**changes: Any) -> str:
        query = {key: value for key, value in request.query.items() if key not in ("page", "cursor")}
        query.update({key: value for key, value in changes.items() if value is not None})
        return f"{request.path}?{urlencode(query)}"

    body: dict[str, Any] = {"items": page.items, "page_size": page.page_size, "sort": page.sort}
    if page.using_cursor:
        body["next"] = link(cursor=page.next_cursor) if page.next_cursor else None
        body["previous"] = None
    else:
        body["page"] = page.page
        body["next"] = link(page=page.page + 1) if page.has_next else None
        body["previous"] = link(page=page.page - 1) if page.page > 1 else None
    body["next_cursor"] = page.next_cursor
    return body


def _render(request: web.Request, route: Route, result: Any) -> web.StreamResponse:
    if isinstance(result, Rendered):
        rendered = web.Response(text=result.body, content_type=result.content_type.split(";")[0], charset="utf-8")
        return protect(rendered, rendered_format=True)  # a browser renders it: the pages' headers
    if isinstance(result, FileResult):
        file_headers = {"Content-Type": result.content_type, "X-Content-Type-Options": "nosniff"}
        if result.filename:
            file_headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return web.FileResponse(result.path, headers=file_headers)
    if isinstance(result, Page):
        return json_response(_page_body(request, result))
    headers: dict[str, str] = {}
    # An operation whose work may go on in the background (a give asked of another server) says
    # how it went: 201 done, or 202 and where to follow it.
    answered = request[CTX].extra
    status = int(answered.get("status", route.status))
    if isinstance(result, dict):
        if isinstance(result.get("version"), int):
            headers["ETag"] = f'"{result["version"]}"'
        if "location" in answered:
            headers["Location"] = str(answered["location"])
        elif route.location and status in (201, 202) and "id" in result:
            headers["Location"] = route.location.format_map(result)
    if result is None:
        return web.Response(status=204)
    return json_response(result, status=status, headers=headers)


async def _spend_budget(request: web.Request) -> None:
    """A caller without a token spends a per-address budget; a server that signs its request
    with an actor's key (an HTTP signature, as ActivityPub servers sign fetches) is known by that
    actor and spends its domain's larger budget instead. A signature that does not check is 401."""
    if "Signature" not in request.headers and not request.headers.get("Authorization", "").lower().startswith("signature"):
        request.app[ANONYMOUS_LIMITER].take(request[CTX].client_address or "unknown")
        return
    actor = await signing_actor(request.app[SITE], await signed_request(request))
    request[CTX].extra["signed_by"] = actor.uri
    request.app[SIGNED_LIMITER].take(domain_of(actor.uri))


def operation_handler(route: Route) -> Any:
    """Gather input from path, query and body, call the operation (or queue it), render its result."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if route.anonymous_limited and request[CTX].user is None:
            await _spend_budget(request)
        raw: dict[str, Any] = {}
        if route.forms and request.content_type == "application/x-www-form-urlencoded":
            raw.update({key: value for key, value in (await request.post()).items() if isinstance(value, str)})
        elif route.body == "json" and request.method in ("POST", "PUT", "PATCH", "DELETE"):  # a password to delete
            raw.update(await read_json_object(request))
        elif route.body == "raw":
            raw["content"] = await request.read()
            raw["content_type"] = request.content_type
        if request.method in ("GET", "DELETE"):
            for key in request.query:
                values = request.query.getall(key)
                raw[key] = values if len(values) > 1 else values[0]
        raw.update(request.match_info)
        if "\x00" in request.path or "\x00" in request.query_string or "%00" in request.raw_path:
            raise BadInput("NUL characters are not allowed in text", code="nul-character")
        check_scope(request[CTX].extra, route.operation, raw)  # an app's OAuth token needs the scope
        if wants_async(request, raw):  # Prefer: respond-async, run=async, ...: queue it as a job
            return await respond_async(request, route, raw, _render)
        result = await REGISTRY.call(request[CTX], route.operation, raw)
        if WORKERS in request.app and request[CTX].emitted:
            request.app[WORKERS].wake_federation()  # its events may have followers waiting
        return _render(request, route, result)

    handle.__name__ = route.operation.replace(".", "_")
    return handle
