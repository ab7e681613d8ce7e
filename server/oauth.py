"""OAuth 2 over HTTP: the consent page, the token and revoke endpoints, and server metadata.

The JSON app registration (POST /api/v1/apps) is an ordinary API route. Here: /oauth/authorize
(a web page: sign in first, then approve or deny), /oauth/token and /oauth/revoke (form or
JSON bodies, client credentials in the body or HTTP Basic, errors in OAuth's own
`{"error", "error_description"}` shape, RFC 6749 section 5.2), and RFC 8414 metadata.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote, unquote, urlencode

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from models.errors import DomainError
from models.oauth import BASE_SCOPES, PROFILE_SCOPE
from models.operations.oauth import OOB_URI, with_query
from models.registry import REGISTRY

from .api import read_json_object
from .appkeys import CTX, SITE
from .pages.base import page, read_form, render

__all__ = ["add_oauth_routes"]

_AUTHORIZE_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(error: DomainError) -> web.Response:
    body = {"error": error.code, "error_description": error.detail}
    headers = dict(_NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="tallystick"'
    return web.Response(
        body=orjson.dumps(body),
        status=error.status if error.status in (400, 401) else 400,
        content_type="application/json",
        headers=headers,
    )


async def _oauth_body(request: web.Request) -> dict[str, Any]:
    """Form or JSON parameters, with HTTP Basic client credentials folded in (RFC 6749 2.3.1)."""
    if request.content_type == "application/x-www-form-urlencoded" or request.content_type.startswith("multipart/"):
        data: dict[str, Any] = dict(await read_form(request))
    else:
        data = await read_json_object(request)
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise DomainError("the Basic credentials are not valid base64", code="invalid_client") from None
        data["client_id"], data["client_secret"] = unquote(client_id), unquote(secret)
    return data


def _endpoint(operation: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            result = await REGISTRY.call(request[CTX], operation, await _oauth_body(request))
        except DomainError as error:
            return _oauth_error(error)
        return web.Response(body=orjson.dumps(result), content_type="application/json", headers=_NO_STORE)

    handle.__name__ = operation.replace(".", "_")
    return handle


def _authorize_params(source: Any) -> dict[str, str]:
    return {key: source[key] for key in _AUTHORIZE_FIELDS if source.get(key)}


@page
async def authorize_page(request: web.Request) -> web.StreamResponse:
    """The consent page; signed-out visitors sign in first and come back here."""
    params = _authorize_params(request.query)
    if request[CTX].user is None:
        raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='')}")
    asked = await REGISTRY.call(request[CTX], "oauth.authorization.check", params)
    return render(request, "authorize.html.j2", asked=asked, params=params)


@page
async def authorize_decision(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    params = _authorize_params(form)
    if request[CTX].user is None:  # the session ended meanwhile: sign in, then see the consent page again
        back = "/oauth/authorize?" + urlencode(params)
        raise web.HTTPSeeOther(f"/signin?next={quote(back, safe='')}")
    if form.get("decision") != "approve":
        asked = await REGISTRY.call(request[CTX], "oauth.authorization.check", params)
        if asked["redirect_uri"] == OOB_URI:
            return render(request, "authorized.html.j2", code=None, app=asked["app"])
        raise web.HTTPSeeOther(with_query(asked["redirect_uri"], {"error": "access_denied", "state": asked["state"]}))
    granted = await REGISTRY.call(request[CTX], "oauth.authorization.grant", params)
    if granted["redirect"] is None:
        return render(request, "authorized.html.j2", code=granted["code"], app=None)
    raise web.HTTPSeeOther(granted["redirect"])


async def _metadata(request: web.Request) -> web.StreamResponse:
    base = request.app[SITE].base_url
    document = {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": [*BASE_SCOPES, PROFILE_SCOPE],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "service_documentation": f"{base}/api/v1/openapi.json",
    }
    return web.Response(
        body=orjson.dumps(document), content_type="application/json", headers={"Access-Control-Allow-Origin": "*"}
    )


def add_oauth_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/oauth/authorize", authorize_page, name="oauth_authorize")
    router.add_post("/oauth/authorize", authorize_decision)
    router.add_post("/oauth/token", _endpoint("oauth.token"), name="oauth_token")
    router.add_post("/oauth/revoke", _endpoint("oauth.revoke"), name="oauth_revoke")
    router.add_get("/.well-known/oauth-authorization-server", _metadata, name="oauth_metadata")
