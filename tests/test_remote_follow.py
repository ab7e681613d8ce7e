"""Following from another server: our WebFinger names a subscribe template, our public pages
carry a "follow from your server" form, and the form sends the visitor to their own server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from aiohttp import web

from .conftest import Api, assert_problem
from .fedhelpers import fed_api  # noqa: F401
from .loopback import Loopback

SUBSCRIBE = "http://ostatus.org/schema/1.0/subscribe"


def where(location: str) -> tuple[str, dict[str, list[str]]]:
    """A redirect's address without its query, and the query's values (however they are escaped)."""
    parts = urlsplit(location)
    address = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
    return address, parse_qs(parts.query)


@pytest.fixture
async def home_server() -> AsyncIterator[str]:
    """The visitor's own server: WebFinger with a subscribe template, and nothing else."""

    async def webfinger(request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        if resource.startswith("acct:nobody@"):
            return web.json_response({"subject": resource, "links": []})
        links = [{"rel": SUBSCRIBE, "template": f"http://{request.host}/interact?uri={{uri}}"}]
        return web.json_response({"subject": resource, "links": links})

    server = Loopback()
    server.route("GET", "/.well-known/webfinger", webfinger)
    async with server:
        yield f"127.0.0.1:{server.port}"


async def test_webfinger__names_our_subscribe_template_and_it_leads_to_the_follow_page(fed_api: Api) -> None:
    await fed_api.user("alice")
    domain = fed_api.settings.domain
    reply = await fed_api.get("/.well-known/webfinger", params={"resource": f"acct:alice@{domain}"})
    links = json.loads(reply.text)["links"]
    template = next(link["template"] for link in links if link["rel"] == SUBSCRIBE)
    assert template == f"{fed_api.settings.base_url}/authorize_interaction?uri={{uri}}"
    target = "https://elsewhere.example/users/zed"
    hop = await fed_api.client.get(f"/authorize_interaction?uri={quote(target, safe='')}", allow_redirects=False)
    assert hop.status == 302 and where(hop.headers["Location"]) == ("/app/actors", {"target": [target]})
    bad = await fed_api.client.get("/authorize_interaction?uri=javascript:alert(1)", allow_redirects=False)
    assert bad.status == 400


async def test_public_pages__carry_the_form_and_it_sends_the_visitor_home(fed_api: Api, home_server: str) -> None:
    await fed_api.user("alice")
    base = fed_api.settings.base_url
    page = await fed_api.client.get("/users/alice", headers={"Accept": "text/html"})
    html = await page.text()
    assert 'action="/remote-follow"' in html and 'for="remote-follow-handle"' in html
    assert f'value="{base}/users/alice"' in html

    target = f"{base}/users/alice"
    hop = await fed_api.client.get(
        "/remote-follow", params={"handle": f"me@{home_server}", "target": target}, allow_redirects=False
    )
    assert hop.status == 302, await hop.text()
    assert where(hop.headers["Location"]) == (f"http://{home_server}/interact", {"uri": [target]})


async def test_remote_follow__refusals_are_clear(fed_api: Api, home_server: str) -> None:
    base = fed_api.settings.base_url
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"handle": f"me@{home_server}", "target": "https://evil.example/users/x"}, 400, "not-our-object"),
        ({"handle": "no-at-sign", "target": f"{base}/users/alice"}, 400, "invalid-handle"),
        ({"handle": f"nobody@{home_server}", "target": f"{base}/users/alice"}, 422, "remote-follow-unavailable"),
        ({"handle": "me@127.0.0.1:9", "target": f"{base}/users/alice"}, 422, "remote-follow-unavailable"),
    ]
    for params, status, code in cases:
        reply = await fed_api.get("/remote-follow", params=params)
        assert_problem(reply, status, code)
