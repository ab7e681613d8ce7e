"""Signing in with a handle whose domain sends WebFinger on to another server (Mastodon's
WEB_DOMAIN setups, a personal domain's alias): up to two redirects are followed, each checked
like the first, and the person signs in at the server their actor lives on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from federation.fetch import FetchError, fetch_json
from models.identities import FediverseClient, LinkedIdentity

from .conftest import Api
from .fedhelpers import fed_api, site_of  # noqa: F401
from .loopback import Loopback
from .pagehelpers import Browser
from .test_signin_fediverse import FakeServer, remote, start  # noqa: F401


@dataclass
class Alias:
    """A handle's domain whose WebFinger answers only with a redirect to `to` (its query kept,
    as Mastodon's WEB_DOMAIN setups are told to do)."""

    peer: Loopback
    to: str = ""
    status: int = 301

    @property
    def port(self) -> int:
        return self.peer.port

    @property
    def base(self) -> str:
        return self.peer.base

    async def webfinger(self, request: web.Request) -> web.Response:
        kinds = {301: web.HTTPMovedPermanently, 302: web.HTTPFound, 308: web.HTTPPermanentRedirect}
        raise kinds[self.status](f"{self.to}?{request.query_string}" if "?" not in self.to else self.to)


@pytest.fixture
async def domains() -> AsyncIterator[list[Alias]]:
    """Three handle domains; each test says where they send WebFinger."""
    aliases = [Alias(Loopback()) for _ in range(3)]
    for alias in aliases:
        alias.peer.route("GET", "/.well-known/webfinger", alias.webfinger)
        await alias.peer.start()
    yield aliases
    for alias in aliases:
        await alias.peer.stop()


def redirect_webfinger(alias: Alias, to: str, status: int = 301) -> None:
    alias.to, alias.status = to, status


async def test_signin_redirects__the_handles_domain_sends_webfinger_to_the_server(
    fed_api: Api, remote: FakeServer, domains: list[Alias]  # noqa: F811
) -> None:
    alias = domains[0]
    redirect_webfinger(alias, f"{remote.peer.base}/.well-known/webfinger")
    browser = Browser(fed_api.client)
    status, location = await start(browser, f"@dave@127.0.0.1:{alias.port}")
    assert status == 303 and location.startswith(f"{remote.peer.base}/oauth/authorize?"), location
    landed = await browser.get(remote.approve(location, "dave"), expect=200)
    assert "Welcome! Your account here is dave" in landed
    assert [row.acct for row in await LinkedIdentity.all()] == [f"dave@{remote.host}"]  # as its server vouched
    assert [row.provider for row in await FediverseClient.all()] == [remote.host]
    assert [item["path"].split("?")[0] for item in alias.peer.requests] == ["/.well-known/webfinger"]  # asked nothing else


async def test_signin_redirects__two_hops_are_followed_not_three(
    fed_api: Api, remote: FakeServer, domains: list[Alias]  # noqa: F811
) -> None:
    first, second, third = domains
    redirect_webfinger(first, f"{second.base}/.well-known/webfinger", status=302)
    redirect_webfinger(second, f"{remote.peer.base}/.well-known/webfinger", status=308)
    browser = Browser(fed_api.client)
    status, location = await start(browser, f"@dave@127.0.0.1:{first.port}")
    assert status == 303 and location.startswith(f"{remote.peer.base}/oauth/authorize?"), location
    redirect_webfinger(third, f"{first.base}/.well-known/webfinger")
    status, text = await start(browser, f"@dave@127.0.0.1:{third.port}")
    assert status == 422 and "a redirect not followed" in text
    assert len(first.peer.requests) == 2 and len(second.peer.requests) == 2  # the third hop was never asked


async def test_signin_redirects__a_redirect_off_http_is_refused(
    fed_api: Api, remote: FakeServer, domains: list[Alias]  # noqa: F811
) -> None:
    redirect_webfinger(domains[0], "ftp://files.example/.well-known/webfinger")
    status, text = await start(Browser(fed_api.client), f"@dave@127.0.0.1:{domains[0].port}")
    assert status == 400 and "cannot be asked from here" in text and "only https redirects are followed" in text
    assert remote.peer.requests == [] and await FediverseClient.all().count() == 0


async def test_fetch__redirects_are_followed_only_when_asked(
    fed_api: Api, remote: FakeServer, domains: list[Alias]  # noqa: F811
) -> None:
    site = site_of(fed_api)
    redirect_webfinger(domains[0], f"{remote.peer.base}/.well-known/webfinger")
    url = f"{domains[0].base}/.well-known/webfinger?resource=acct:dave@127.0.0.1"
    with pytest.raises(FetchError) as refused:
        await fetch_json(site, url, signed=False)
    assert refused.value.status == 301 and "a redirect not followed" in refused.value.detail
    found = await fetch_json(site, url, signed=False, redirects=1)
    assert found["subject"] == "acct:dave@127.0.0.1"
    with pytest.raises(ValueError):  # a bearer token is never sent on to another server
        await fetch_json(site, url, signed=False, bearer="secret", redirects=1)
