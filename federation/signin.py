"""Sign in here with a fediverse account (`@name@server`), through that server's OAuth.

`accounts.fediverse.start`: count the start against the client address's budget (429 past
accounts.fediverse_signins_per_client in the window), WebFinger the handle (SSRF guard first;
up to two redirects, as Mastodon's WEB_DOMAIN setups send the handle's domain on), take the
server the actor lives on, find its OAuth endpoints (RFC 8414 metadata, else Mastodon's fixed
/oauth/authorize and /oauth/token), register our app there once (Mastodon's POST /api/v1/apps; kept per server), and answer the
authorize address with a fresh state and a PKCE S256 challenge (RFC 7636). The state and
verifier stay in the database, bound to the visitor's browser, for ten minutes, used once.

`accounts.fediverse.finish`: on the way back, the state must be one this browser started;
exchange the code with the verifier, ask `verify_credentials` who signed in, check that the
server vouches for one of its own accounts, resolve the actor id by WebFinger, then sign in,
link or open an account (models/operations/identities.py). Network I/O happens between short
transactions, never inside one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from pydantic import Field
from tortoise.exceptions import IntegrityError

from models.actors import TokenKind
from models.context import Context, Site
from models.email_links import count_request
from models.errors import BadInput, Forbidden, Unprocessable
from models.identities import SIGNIN_LIFETIME, FediverseClient, FediverseSignin
from models.operations.accounts import LOGIN_TOKEN_DAYS, issue_token
from models.operations.identities import complete_signin
from models.outputs import Output
from models.registry import REGISTRY, Access, Effect, Input, Transaction
from models.security import token_digest

from .as2 import domain_of
from .fetch import FetchError, fetch_json, plain_http_allowed, post_form
from .webfinger import webfinger_lookup

__all__ = ["CALLBACK_PATH", "SIGNIN_SCOPES"]

CALLBACK_PATH = "/signin/fediverse/callback"
SIGNIN_SCOPES = "read:accounts"  # what every Mastodon-compatible server knows; enough for verify_credentials
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")
_JSON = "application/json"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _origin(site: Site, host: str) -> str:
    """The server's address: https, or http when tests and closed networks allow private addresses."""
    return f"{'http' if plain_http_allowed(site) else 'https'}://{host}"


def _provider(host: str, actor_url: str) -> str:
    """The server that signs the person in: the one their actor lives on. A handle's domain may
    only point there (Mastodon's WEB_DOMAIN, a personal domain's alias); that server vouches for
    the account itself at the end, so the handle's domain is trusted with nothing."""
    try:
        parts = urlsplit(actor_url)
        actor_host = parts.netloc.lower() if parts.scheme in ("http", "https") else ""
    except ValueError:
        actor_host = ""
    return actor_host if _HOST.match(actor_host) else host


def parse_handle(handle: str) -> tuple[str, str]:
    """(name, host) from `@name@host`, lowercased; 400 otherwise."""
    name, _, host = handle.strip().lstrip("@").partition("@")
    host = host.lower()
    if not name or "@" in host or not _HOST.match(host) or any(char in name for char in "/?#: "):
        raise BadInput(
            "give your fediverse account as @name@your.server", code="invalid-handle",
            errors=[{"field": "handle", "message": "not @name@server"}],
        )
    return name, host


def _unreachable(host: str, error: FetchError, code: str = "fediverse-unreachable") -> Exception:
    if error.kind == "refused":
        return BadInput(f"{host} cannot be asked from here: {error.detail}", code="handle-refused",
                        errors=[{"field": "handle", "message": "this server's address is refused"}])
    return Unprocessable(f"cannot ask {host}: {error.detail}", code=code)


def _same_server(url: Any, origin: str) -> bool:
    return isinstance(url, str) and url.startswith(origin + "/") and domain_of(url) == domain_of(origin)


async def _endpoints(site: Site, host: str) -> dict[str, str | None]:
    """Where to authorize, exchange codes, revoke and register: from the metadata, or Mastodon's."""
    origin = _origin(site, host)
    fixed: dict[str, str | None] = {
        "authorize": f"{origin}/oauth/authorize", "token": f"{origin}/oauth/token",
        "revoke": f"{origin}/oauth/revoke", "register": f"{origin}/api/v1/apps",
    }
    try:
        meta = await fetch_json(site, f"{origin}/.well-known/oauth-authorization-server", signed=False, accept=_JSON)
    except FetchError as error:
        if error.kind == "not-found":
            return fixed  # Mastodon before 4.3 publishes no metadata; its addresses are fixed
        raise _unreachable(host, error) from None
    methods = meta.get("code_challenge_methods_supported")
    if not _same_server(meta.get("authorization_endpoint"), origin) or not _same_server(meta.get("token_endpoint"), origin):
        raise Unprocessable(f"{host} does not name its own OAuth endpoints", code="not-oauth-capable")
    if isinstance(methods, list) and "S256" not in methods:
        raise Unprocessable(f"{host} does not support PKCE (S256), which sign-in requires", code="not-oauth-capable")
    register = meta.get("app_registration_endpoint")
    revoke = meta.get("revocation_endpoint")
    return {
        "authorize": meta["authorization_endpoint"], "token": meta["token_endpoint"],
        "revoke": revoke if _same_server(revoke, origin) else None,
        "register": register if _same_server(register, origin) else fixed["register"],
    }


async def _client(site: Site, host: str) -> FediverseClient:
    """Our app's registration on `host`, registered on first use."""
    redirect_uri = site.base_url + CALLBACK_PATH
    known = await FediverseClient.get_or_none(provider=host, redirect_uri=redirect_uri)
    if known is not None:
        return known
    endpoints = await _endpoints(site, host)
    register = str(endpoints["register"])
    fields = {"client_name": f"Tallystick at {site.domain}", "redirect_uris": redirect_uri,
              "scopes": SIGNIN_SCOPES, "website": site.base_url}
    try:
        answer = await post_form(site, register, fields)
    except FetchError as error:
        raise _unreachable(host, error) from None
    document = answer.document or {}
    client_id, secret = document.get("client_id"), document.get("client_secret")
    if answer.status not in (200, 201) or not isinstance(client_id, str) or not isinstance(secret, str):
        raise Unprocessable(
            f"{host} does not offer sign-in to other sites (registering an app answered {answer.status})",
            code="not-oauth-capable",
        )
    try:
        return await FediverseClient.create(
            provider=host, redirect_uri=redirect_uri, client_id=client_id[:255], client_secret=secret[:255],
            authorize_url=str(endpoints["authorize"]), token_url=str(endpoints["token"]), revoke_url=endpoints["revoke"],
        )
    except IntegrityError:  # another sign-in registered meanwhile: use that one
        return await FediverseClient.get(provider=host, redirect_uri=redirect_uri)


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class StartInput(Input):
    handle: str = Field(min_length=3, max_length=320, description="@name@server")
    browser: str = Field(min_length=16, max_length=128, description="the random value of the visitor's sign-in cookie")
    next: str = Field("/", max_length=2048, description="the local page to go to afterwards")


class LocationOut(Output):
    location: str = Field(description="the server's authorize page, to send the browser to")


@REGISTRY.operation(
    "accounts.fediverse.start", StartInput, output=LocationOut, access=Access.PUBLIC, effect=Effect.WRITE,
    transaction=Transaction.NONE,
)
async def start_signin(ctx: Context, params: StartInput) -> dict[str, Any]:
    """Begin signing in with `@name@server`: the address of that server's authorize page."""
    name, host = parse_handle(params.handle)
    # Each start makes us ask a server a stranger names: counted per client address before any
    # request, so no one makes us fetch arbitrary servers at their pace (RFC 6585 section 4).
    accounts = ctx.site.accounts
    await count_request(
        "fediverse-signin:client", ctx.client_address or "unknown", limit=accounts.fediverse_signins_per_client,
        window_seconds=accounts.fediverse_signin_window_seconds, what="to sign in with a fediverse account from your address",
    )
    try:
        actor_url = await webfinger_lookup(ctx.site, f"{name}@{host}")
    except FetchError as error:
        if error.kind == "not-found":
            raise Unprocessable(f"{host} knows no account @{name}", code="handle-unknown") from None
        raise _unreachable(host, error) from None
    client = await _client(ctx.site, _provider(host, actor_url))
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    await FediverseSignin.filter(expires_at__lt=_now() - timedelta(days=1)).delete()  # forgotten ones
    await FediverseSignin.create(
        state_hash=token_digest(state), browser_hash=token_digest(params.browser), verifier=verifier,
        handle=f"{name}@{host}".lower(), client=client, user_id=ctx.user.id if ctx.user else None,
        next_path=params.next, expires_at=_now() + SIGNIN_LIFETIME,
    )
    query = urlencode({
        "client_id": client.client_id, "redirect_uri": client.redirect_uri, "response_type": "code",
        "scope": SIGNIN_SCOPES, "state": state, "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    })
    separator = "&" if urlsplit(client.authorize_url).query else "?"
    return {"location": f"{client.authorize_url}{separator}{query}"}


class FinishInput(Input):
    state: str = Field("", max_length=200, description="none or unknown: refused as a mismatch")
    code: str | None = Field(None, max_length=2048)
    error: str | None = Field(None, max_length=200)
    browser: str = Field("", max_length=128, description="the sign-in cookie's value; none: another browser")


class SignedInOut(Output):
    token: str = Field(description="a login token (30 days) for the account signed in")
    username: str
    acct: str = Field(description="the fediverse identity, name@server")
    created: bool = Field(description="a new account was opened for it")
    linked: bool = Field(description="the identity was linked in this sign-in")
    next: str


async def _claim(params: FinishInput) -> FediverseSignin:
    """The sign-in this browser started with this state, marked used; 400 otherwise."""
    row = await FediverseSignin.get_or_none(state_hash=token_digest(params.state)).prefetch_related("client")
    if row is None or not hmac.compare_digest(row.browser_hash, token_digest(params.browser)):
        raise BadInput("this sign-in was not started in this browser (the state does not match): start again",
                       code="signin-state-mismatch")
    if row.used_at is not None:
        raise BadInput("this sign-in was already used: start again", code="signin-used")
    if row.expires_at <= _now():
        raise BadInput("this sign-in took too long and expired: start again", code="signin-expired")
    if await FediverseSignin.filter(id=row.id, used_at=None).update(used_at=_now()) != 1:
        raise BadInput("this sign-in was already used: start again", code="signin-used")
    return row


async def _access_token(site: Site, client: FediverseClient, code: str, verifier: str) -> str:
    host = client.provider
    try:
        answer = await post_form(site, client.token_url, {
            "grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
            "client_id": client.client_id, "client_secret": client.client_secret, "code_verifier": verifier,
        })
    except FetchError as error:
        raise _unreachable(host, error) from None
    document = answer.document or {}
    token = document.get("access_token")
    if answer.status != 200 or not isinstance(token, str):
        said = str(document.get("error_description") or document.get("error") or f"status {answer.status}")[:300]
        raise BadInput(f"{host} refused the sign-in code: {said}", code="signin-code-refused")
    return token


async def _revoke(site: Site, client: FediverseClient, token: str) -> None:
    """We only needed to know who signed in: give the token back (best effort)."""
    if client.revoke_url:
        try:
            await post_form(site, client.revoke_url, {"token": token, "client_id": client.client_id,
                                                      "client_secret": client.client_secret})
        except FetchError:
            pass


@REGISTRY.operation(
    "accounts.fediverse.finish", FinishInput, output=SignedInOut, access=Access.PUBLIC, effect=Effect.WRITE,
    transaction=Transaction.NONE,
)
async def finish_signin(ctx: Context, params: FinishInput) -> dict[str, Any]:
    """Back from the server's authorize page: sign in, link or open the account of the identity."""
    signin = await _claim(params)
    client, host = signin.client, signin.client.provider
    if signin.user_id is not None and (ctx.user is None or ctx.user.id != signin.user_id):
        raise Forbidden("you signed out or in as someone else meanwhile: start again", code="signin-user-changed")
    if params.error or not params.code:
        reason = "you did not approve it" if params.error == "access_denied" else (params.error or "no code came back")
        raise BadInput(f"{host} did not sign you in: {reason}", code="signin-denied")
    token = await _access_token(ctx.site, client, params.code, signin.verifier)
    try:
        account = await fetch_json(ctx.site, f"{_origin(ctx.site, host)}/api/v1/accounts/verify_credentials",
                                   signed=False, accept=_JSON, bearer=token)
    except FetchError as error:
        raise _unreachable(host, error, "signin-unverified") from None
    finally:
        await _revoke(ctx.site, client, token)
    acct, username = account.get("acct"), account.get("username")
    if not isinstance(acct, str) or not isinstance(username, str) or not username:
        raise Unprocessable(f"{host} did not say who signed in", code="signin-unverified")
    name, _, acct_host = acct.partition("@")
    if (acct_host and acct_host.lower() != host) or name.lower() != username.lower():
        raise Forbidden(f"{host} vouched for {acct}, an account of another server; a server may only vouch "
                        "for its own accounts", code="foreign-account")
    full = f"{username}@{host}".lower()
    try:
        actor_url = await webfinger_lookup(ctx.site, full)
    except FetchError as error:
        raise _unreachable(host, error, "signin-unverified") from None
    said = account.get("uri")
    if isinstance(said, str) and said and said != actor_url:
        raise Forbidden(f"{host} vouched for {said}, but @{full} is {actor_url}", code="foreign-account")
    display = account.get("display_name")
    outcome = await complete_signin(ctx, signin, actor_url=actor_url, acct=full, provider=host,
                                    display_name=display if isinstance(display, str) else username)
    login = await issue_token(outcome.user, TokenKind.LOGIN, lifetime=timedelta(days=LOGIN_TOKEN_DAYS))
    return {"token": login, "username": outcome.user.username, "acct": full, "created": outcome.created,
            "linked": outcome.linked, "next": signin.next_path}
