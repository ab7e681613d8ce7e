"""Signing in with a fediverse account (issue 21, item 1), in process, against a fake server.

The visitor's server is a Loopback peer shaped like Mastodon: WebFinger, OAuth metadata, app
registration, a token endpoint that checks PKCE, and verify_credentials. Our provider side
(GET /api/v1/accounts/verify_credentials) is tested against our own OAuth.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from models.actors import Actor
from models.context import Context
from models.errors import Unprocessable
from models.identities import ON_IDENTITY_LINKED, FediverseClient, LinkedIdentity

from .conftest import Api, assert_problem
from .fedhelpers import fed_api  # noqa: F401
from .loopback import Loopback
from .pagehelpers import Browser
from .test_oauth import authorize, exchange, pkce, register_app


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class FakeServer:
    """A Mastodon-like server: who is signed in there is decided by the test (`approve`)."""

    peer: Loopback
    oauth: bool = True  # False: no metadata and no app registration (not OAuth-capable)
    metadata: bool = True  # False: no RFC 8414 document, as Mastodon before 4.3
    vouch_for: str | None = None  # the acct verify_credentials answers, when not the approved name
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (challenge, name)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> name

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.peer.port}"

    def approve(self, location: str, name: str) -> str:
        """What the server's consent page does: a code for `name`, back to our callback."""
        query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
        assert query["code_challenge_method"] == "S256" and query["scope"] == "read:accounts"
        code = secrets.token_urlsafe(16)
        self.codes[code] = (query["code_challenge"], name)
        back = urlsplit(query["redirect_uri"])
        return f"{back.path}?code={code}&state={query['state']}"

    def registrations(self) -> int:
        return sum(1 for item in self.peer.requests if item["path"] == "/api/v1/apps")


@pytest.fixture
async def remote() -> AsyncIterator[FakeServer]:
    server = FakeServer(Loopback())

    async def webfinger(request: web.Request) -> web.Response:
        name = request.query["resource"].removeprefix("acct:").partition("@")[0]
        href = f"http://{request.host}/users/{name}"
        return web.json_response({"subject": request.query["resource"],
                                  "links": [{"rel": "self", "type": "application/activity+json", "href": href}]})

    async def metadata(request: web.Request) -> web.Response:
        if not server.oauth or not server.metadata:
            raise web.HTTPNotFound()
        base = f"http://{request.host}"
        return web.json_response({"issuer": base, "authorization_endpoint": f"{base}/oauth/authorize",
                                  "token_endpoint": f"{base}/oauth/token", "revocation_endpoint": f"{base}/oauth/revoke",
                                  "app_registration_endpoint": f"{base}/api/v1/apps",
                                  "code_challenge_methods_supported": ["S256"]})

    async def apps(request: web.Request) -> web.Response:
        if not server.oauth:
            raise web.HTTPNotFound()
        form = await request.post()
        assert str(form["redirect_uris"]).endswith("/signin/fediverse/callback")
        return web.json_response({"client_id": "cid", "client_secret": "csecret", "name": form["client_name"]})

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        challenge, name = server.codes.pop(str(form["code"]), ("", ""))
        if not name or form["client_secret"] != "csecret":
            return web.json_response({"error": "invalid_grant", "error_description": "unknown code"}, status=400)
        if s256(str(form["code_verifier"])) != challenge:
            return web.json_response({"error": "invalid_grant",
                                      "error_description": "code_verifier does not match the code_challenge"}, status=400)
        secret = secrets.token_urlsafe(16)
        server.tokens[secret] = name
        return web.json_response({"access_token": secret, "token_type": "Bearer", "scope": "read:accounts"})

    async def verify(request: web.Request) -> web.Response:
        name = server.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if name is None:
            return web.json_response({"error": "The access token is invalid"}, status=401)
        acct = server.vouch_for or name
        return web.json_response({"id": "1", "username": acct.partition("@")[0], "acct": acct,
                                  "display_name": name.title()})

    async def revoke(request: web.Request) -> web.Response:
        return web.json_response({})

    for method, path, handler in (
        ("GET", "/.well-known/webfinger", webfinger), ("GET", "/.well-known/oauth-authorization-server", metadata),
        ("POST", "/api/v1/apps", apps), ("POST", "/oauth/token", token),
        ("GET", "/api/v1/accounts/verify_credentials", verify), ("POST", "/oauth/revoke", revoke),
    ):
        server.peer.route(method, path, handler)
    async with server.peer:
        yield server


async def start(browser: Browser, handle: str, *, next_path: str = "/") -> tuple[int, str]:
    """Post the sign-in form; the status and where it sends the browser (or the page's text)."""
    opened = await browser.get("/signin", expect=200)
    reply = await browser.client.post(
        "/signin/fediverse", data={"handle": handle, "next": next_path, "csrf_token": opened.csrf()},
        headers={"Accept": "text/html"}, allow_redirects=False,
    )
    return reply.status, reply.headers.get("Location") or await reply.text()


async def sign_in_as(browser: Browser, remote: FakeServer, name: str, *, next_path: str = "/") -> Any:
    status, location = await start(browser, f"@{name}@{remote.host}", next_path=next_path)
    assert status == 303, location
    return await browser.get(remote.approve(location, name))


async def identities() -> list[tuple[str, str]]:
    rows = await LinkedIdentity.all().prefetch_related("user").order_by("linked_at")
    return [(row.user.username, row.acct) for row in rows]


async def test_signin__first_time_opens_an_account_and_the_next_time_signs_into_it(
    fed_api: Api, remote: FakeServer
) -> None:
    browser = Browser(fed_api.client)
    landed = await sign_in_as(browser, remote, "dave")
    assert landed.status == 200 and "Welcome! Your account here is dave" in landed
    me = await browser.get("/app/account/identities", expect=200)
    assert f"@dave@{remote.host}" in me and "Your only way in" in me
    assert await identities() == [("dave", f"dave@{remote.host}")]
    await browser.post("/signout", {}, csrf=me.csrf(), expect=200)

    again = await sign_in_as(browser, remote, "dave")
    assert again.status == 200 and "Signed in as dave" in again
    assert await identities() == [("dave", f"dave@{remote.host}")]  # the same account, no second one
    assert remote.registrations() == 1  # our app is registered once per server


async def test_signin__a_server_without_metadata_is_reached_at_mastodons_addresses(
    fed_api: Api, remote: FakeServer
) -> None:
    remote.metadata = False
    browser = Browser(fed_api.client)
    status, location = await start(browser, f"@dave@{remote.host}")
    assert status == 303 and location.startswith(f"http://{remote.host}/oauth/authorize?")
    landed = await browser.get(remote.approve(location, "dave"), expect=200)
    assert "Welcome! Your account here is dave" in landed


async def test_signin__a_denied_consent_links_nothing(fed_api: Api, remote: FakeServer) -> None:
    browser = Browser(fed_api.client)
    status, location = await start(browser, f"@dave@{remote.host}")
    state = parse_qs(urlsplit(location).query)["state"][0]
    denied = await browser.get(f"/signin/fediverse/callback?error=access_denied&state={state}", expect=400)
    assert "did not sign you in: you did not approve it" in denied and await identities() == []


async def test_signin__a_taken_username_gets_a_suffix(fed_api: Api, remote: FakeServer) -> None:
    await fed_api.user("dave")
    landed = await sign_in_as(Browser(fed_api.client), remote, "dave")
    assert "Your account here is dave_2" in landed
    assert await identities() == [("dave_2", f"dave@{remote.host}")]


async def test_signin__the_linked_hook_runs_in_the_linking_transaction(fed_api: Api, remote: FakeServer) -> None:
    seen: list[tuple[str, str]] = []

    async def remember(ctx: Context, actor: Actor, remote_actor: str) -> None:
        seen.append((actor.username, remote_actor))
        if remote_actor.endswith("/users/eve"):
            raise Unprocessable("the claim failed", code="claim-failed")  # undoes the link and the new account

    ON_IDENTITY_LINKED.append(remember)
    try:
        landed = await sign_in_as(Browser(fed_api.client), remote, "dave")
        assert "Welcome!" in landed
        fed_api.client.session.cookie_jar.clear()  # another visitor
        failed = await sign_in_as(Browser(fed_api.client), remote, "eve")
        assert failed.status == 422 and "the claim failed" in failed
    finally:
        ON_IDENTITY_LINKED.remove(remember)
    assert seen == [("dave", f"http://{remote.host}/users/dave"), ("eve", f"http://{remote.host}/users/eve")]
    assert await identities() == [("dave", f"dave@{remote.host}")]
    assert not await Actor.filter(username="eve", domain="").exists()


async def test_signin__a_signed_in_user_links_another_identity_and_can_unlink_it(
    fed_api: Api, remote: FakeServer
) -> None:
    browser = Browser(fed_api.client)
    await browser.sign_up("carol")
    landed = await sign_in_as(browser, remote, "dave", next_path="/app/account/identities")
    assert landed.url.endswith("/app/account/identities") and "is now linked to your account" in landed
    assert await identities() == [("carol", f"dave@{remote.host}")]
    row = await LinkedIdentity.get(acct=f"dave@{remote.host}")
    confirm = await browser.get(f"/app/account/identities/{row.id}/unlink", expect=200)
    assert f"Unlink @dave@{remote.host}?" in confirm
    done = await browser.post(f"/app/account/identities/{row.id}/unlink", {}, csrf=confirm.csrf(), expect=200)
    assert "no longer signs you in here" in done and await identities() == []


async def test_unlink__never_the_last_way_in(fed_api: Api, remote: FakeServer) -> None:
    browser = Browser(fed_api.client)
    await sign_in_as(browser, remote, "dave")
    await sign_in_as(browser, remote, "dave2", next_path="/app/account/identities")  # signed in: links a second
    assert await identities() == [("dave", f"dave@{remote.host}"), ("dave", f"dave2@{remote.host}")]
    first, second = await LinkedIdentity.all().order_by("linked_at")
    page = await browser.get(f"/app/account/identities/{first.id}/unlink", expect=200)
    await browser.post(f"/app/account/identities/{first.id}/unlink", {}, csrf=page.csrf(), expect=200)
    page = await browser.get(f"/app/account/identities/{second.id}/unlink", expect=200)
    refused = await browser.post(f"/app/account/identities/{second.id}/unlink", {}, csrf=page.csrf(), expect=200)
    assert "your only way to sign in" in refused
    assert await identities() == [("dave", f"dave2@{remote.host}")]


async def test_signin__a_handle_on_a_private_address_is_refused(api: Api, remote: FakeServer) -> None:
    status, text = await start(Browser(api.client), f"@dave@{remote.host}")
    assert status == 400 and "cannot be asked from here" in text and "not a public address" in text
    assert remote.peer.requests == [] and await FediverseClient.all().count() == 0


async def test_signin__a_server_without_oauth_is_refused(fed_api: Api, remote: FakeServer) -> None:
    remote.oauth = False
    status, text = await start(Browser(fed_api.client), f"@dave@{remote.host}")
    assert status == 422 and "does not offer sign-in to other sites" in text
    assert await FediverseClient.all().count() == 0 and await identities() == []


async def test_signin__a_state_from_another_browser_or_used_twice_is_refused(fed_api: Api, remote: FakeServer) -> None:
    visitor, other = Browser(fed_api.client), Browser(fed_api.client)
    status, location = await start(visitor, f"@dave@{remote.host}")
    assert status == 303
    back = remote.approve(location, "dave")
    fed_api.client.session.cookie_jar.clear_domain("127.0.0.1")  # the same URL, opened in another browser
    stolen = await other.get(back, expect=400)
    assert "not started in this browser" in stolen and await identities() == []
    for query in ("state=made-up&code=x", ""):
        unknown = await other.get(f"/signin/fediverse/callback?{query}", expect=400)
        assert "state does not match" in unknown


async def test_signin__an_empty_or_malformed_handle_is_explained(fed_api: Api) -> None:
    browser = Browser(fed_api.client)
    for handle, said in (("", "enter your fediverse account"), ("dave", "give your fediverse account as @name@")):
        status, text = await start(browser, handle)
        assert status == 400 and said in text


async def test_signin__a_callback_is_used_once(fed_api: Api, remote: FakeServer) -> None:
    browser = Browser(fed_api.client)
    status, location = await start(browser, f"@dave@{remote.host}")
    back = remote.approve(location, "dave")
    cookie = fed_api.client.session.cookie_jar.filter_cookies(fed_api.client.make_url(back))["tallystick_fediverse"]
    await browser.get(back, expect=200)
    # Someone who saw both the address and the browser's cookie cannot use them again.
    fed_api.client.session.cookie_jar.clear()
    replay = await fed_api.client.get(back, headers={"Accept": "text/html", "Cookie": f"tallystick_fediverse={cookie.value}"})
    assert replay.status == 400 and "already used" in await replay.text()
    assert await identities() == [("dave", f"dave@{remote.host}")]


async def test_signin__a_code_used_with_another_sign_ins_verifier_is_refused(fed_api: Api, remote: FakeServer) -> None:
    browser = Browser(fed_api.client)
    _, first = await start(browser, f"@mallory@{remote.host}")
    _, second = await start(browser, f"@dave@{remote.host}")
    code = parse_qs(urlsplit(remote.approve(first, "mallory")).query)["code"][0]  # bound to the first challenge
    state = parse_qs(urlsplit(second).query)["state"][0]
    refused = await browser.get(f"/signin/fediverse/callback?code={code}&state={state}", expect=400)
    assert "refused the sign-in code: code_verifier does not match" in refused
    assert await identities() == [] and not await Actor.filter(username="mallory").exists()


async def test_signin__an_identity_linked_to_another_user_is_not_moved(fed_api: Api, remote: FakeServer) -> None:
    carol = Browser(fed_api.client)
    await carol.sign_up("carol")
    await sign_in_as(carol, remote, "dave")
    fed_api.client.session.cookie_jar.clear()
    erin = Browser(fed_api.client)
    await erin.sign_up("erin")
    refused = await sign_in_as(erin, remote, "dave")
    assert refused.status == 409 and "already linked to another account" in refused
    assert await identities() == [("carol", f"dave@{remote.host}")]


async def test_signin__a_server_vouching_for_another_servers_account_is_refused(fed_api: Api, remote: FakeServer) -> None:
    remote.vouch_for = "dave@elsewhere.example"
    refused = await sign_in_as(Browser(fed_api.client), remote, "dave")
    assert refused.status == 403 and "may only vouch for its own accounts" in refused
    assert await identities() == [] and not await Actor.filter(username="dave", domain="").exists()


async def test_verify_credentials__says_who_signed_in_with_read_accounts_or_profile(api: Api) -> None:
    browser = Browser(api.client)
    await browser.sign_up("ann")
    for scope in ("read:accounts", "profile"):
        app = await register_app(api, scopes=scope)
        verifier, challenge = pkce()
        code = await authorize(browser, app, scope=scope, challenge=challenge)
        status, body = await exchange(api, app, code, verifier)
        assert status == 200, body
        account = await api.get("/api/v1/accounts/verify_credentials", token=body["access_token"])
        assert account.status == 200, account
        assert account.body["username"] == "ann" and account.body["acct"] == "ann"
        assert account.body["uri"] == f"{api.settings.base_url}/users/ann"
        assert account.body["followers_count"] == 0 and account.body["source"]["privacy"] == "public"
    refused = await api.get("/api/v1/me", token=body["access_token"])  # profile reaches nothing else
    assert_problem(refused, 403, "insufficient-scope")


async def test_signin__a_deleted_accounts_identity_opens_a_new_account(fed_api: Api, remote: FakeServer) -> None:
    admin = await fed_api.user("root", roles=["admin"])
    await sign_in_as(Browser(fed_api.client), remote, "dave")
    deleted = await fed_api.delete("/api/v1/admin/users/dave", token=admin)
    assert deleted.status == 200, deleted
    assert await identities() == []
    fed_api.client.session.cookie_jar.clear()
    landed = await sign_in_as(Browser(fed_api.client), remote, "dave")
    assert "Your account here is dave_2" in landed
    assert await identities() == [("dave_2", f"dave@{remote.host}")]
