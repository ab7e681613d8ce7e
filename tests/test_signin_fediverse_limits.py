"""Fediverse sign-ins started per client address are limited (accounts.fediverse_signins_per_client
in accounts.fediverse_signin_window_seconds): each start makes us ask the server typed in, so a
stranger cannot make us fetch arbitrary servers at their pace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app

from .conftest import Api
from .dbutil import test_settings as settings_for
from .pagehelpers import Browser
from .test_signin_fediverse import FakeServer, remote  # noqa: F401


@pytest.fixture
async def limited_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """Private addresses allowed (the fake server is on 127.0.0.1), two starts per client address,
    and the client address taken from X-Forwarded-For, so a test can be two visitors."""
    settings = settings_for(
        tmp_path, database_url, embedded_workers=False, trust_forwarded_for=True,
        federation={"allow_private_addresses": True}, accounts={"fediverse_signins_per_client": 2},
    )
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def start_from(browser: Browser, handle: str, address: str, next_path: str = "/") -> tuple[int, str, Any]:
    """Post the sign-in form from `address`: the status, where it sends the browser (or the page), the headers."""
    opened = await browser.get("/signin", expect=200)
    reply = await browser.client.post(
        "/signin/fediverse", data={"handle": handle, "next": next_path, "csrf_token": opened.csrf()},
        headers={"Accept": "text/html", "X-Forwarded-For": address}, allow_redirects=False,
    )
    return reply.status, reply.headers.get("Location") or await reply.text(), reply.headers


async def test_signin_limits__starts_per_address_then_429_without_asking_anyone(
    limited_api: Api, remote: FakeServer  # noqa: F811
) -> None:
    browser = Browser(limited_api.client)
    for name in ("dave", "erin"):
        status, location, _ = await start_from(browser, f"@{name}@{remote.host}", "192.0.2.1")
        assert status == 303 and location.startswith(f"http://{remote.host}/oauth/authorize?"), location
    asked = len(remote.peer.requests)
    status, text, headers = await start_from(browser, f"@frank@{remote.host}", "192.0.2.1")
    assert status == 429 and "too many requests to sign in with a fediverse account from your address" in text
    assert 1 <= int(headers["Retry-After"]) <= 600 and f"@frank@{remote.host}" in text  # the handle stays in the form
    assert len(remote.peer.requests) == asked  # refused before any request to the server typed in
    status, location, _ = await start_from(browser, f"@frank@{remote.host}", "192.0.2.2")  # another visitor
    assert status == 303, location
    # Signed in and linking another identity: the same budget, the refusal on the identities page.
    await browser.sign_up("carol")
    status, text, headers = await start_from(browser, f"@gina@{remote.host}", "192.0.2.1",
                                             next_path="/app/account/identities")
    assert status == 429 and "Fediverse accounts that sign you in" in text and "Retry-After" in headers
