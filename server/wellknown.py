"""Discovery documents under /.well-known: WebFinger, NodeInfo and host-meta.

Remote servers start here: WebFinger (RFC 7033) turns `acct:user@domain` into an actor URL,
NodeInfo 2.1 describes the software and its usage, host-meta (RFC 6415) names the WebFinger
template for older clients. Handlers parse, call one operation, and render.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

import orjson
from aiohttp import web

from models.registry import REGISTRY

from .activitypub import reject_nul
from .appkeys import CTX, SITE

__all__ = ["NODEINFO_SCHEMA", "add_wellknown_routes"]

NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
_CORS = {"Access-Control-Allow-Origin": "*"}  # RFC 7033 section 5: WebFinger should allow any origin


def _json(data: Any, content_type: str) -> web.Response:
    return web.Response(body=orjson.dumps(data), headers={"Content-Type": content_type, **_CORS})


async def _webfinger(request: web.Request) -> web.StreamResponse:
    reject_nul(request)
    raw = {"resource": request.query["resource"]} if "resource" in request.query else {}
    document = await REGISTRY.call(request[CTX], "federation.webfinger", raw)
    return _json(document, "application/jrd+json")


async def _nodeinfo_links(request: web.Request) -> web.StreamResponse:
    base = request.app[SITE].base_url
    return _json({"links": [{"rel": NODEINFO_SCHEMA, "href": f"{base}/nodeinfo/2.1"}]}, "application/json")


async def _nodeinfo(request: web.Request) -> web.StreamResponse:
    document = await REGISTRY.call(request[CTX], "federation.nodeinfo", {})
    return _json(document, f'application/json; profile="{NODEINFO_SCHEMA}#"')


async def _host_meta(request: web.Request) -> web.StreamResponse:
    template = f"{request.app[SITE].base_url}/.well-known/webfinger?resource={{uri}}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/jrd+json" template={quoteattr(template)}/>\n'
        "</XRD>\n"
    )
    return web.Response(text=body, content_type="application/xrd+xml", charset="utf-8", headers=_CORS)


def add_wellknown_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/.well-known/webfinger", _webfinger, name="webfinger")
    router.add_get("/.well-known/nodeinfo", _nodeinfo_links, name="nodeinfo_links")
    router.add_get("/nodeinfo/2.1", _nodeinfo, name="nodeinfo")
    router.add_get("/.well-known/host-meta", _host_meta, name="host_meta")
