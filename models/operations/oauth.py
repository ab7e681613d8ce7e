"""OAuth 2 operations: register an app, check and grant an authorization, exchange codes, revoke.

Shaped like Mastodon's (POST /api/v1/apps, /oauth/authorize, /oauth/token, /oauth/revoke)
and RFC 6749 / 7636 / 7009. Error codes are the OAuth ones (invalid_request, invalid_client,
invalid_grant, unsupported_grant_type, invalid_scope) so the token endpoint can answer in
OAuth's own shape. Codes live 10 minutes and work once; PKCE S256 is required whenever the
client does not authenticate with its secret (a public client). A code presented a second
time is refused and the token issued for it is revoked (RFC 6749 section 4.1.2): someone else
holds the code, so the token may be in the wrong hands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import ConfigDict, Field, RootModel, field_validator
from tortoise.transactions import in_transaction

from ..actors import AccessToken, TokenKind
from ..base import iso
from ..context import Context
from ..errors import BadInput, Forbidden, Unauthorized
from ..names import Name
from ..oauth import APP_TOKEN_PREFIX, BASE_SCOPES, PROFILE_SCOPE, OAuthApp, OAuthCode, OAuthToken
from ..outputs import Output, Timestamp
from ..registry import REGISTRY, Access, Effect, Input, Transaction
from ..security import new_bearer_token, token_digest

__all__ = ["CODE_LIFETIME", "OOB_URI", "authenticate_app_token", "parse_scopes"]

CODE_LIFETIME = timedelta(minutes=10)
OOB_URI = "urn:ietf:wg:oauth:2.0:oob"  # Mastodon's "show the code instead of redirecting"
_FINE_SCOPE = re.compile(r"^(read|write):[a-z_]{1,32}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 section 4.1


def _now() -> datetime:
    return datetime.now(timezone.utc)


class OAuthInput(Input):
    """OAuth clients send extra parameters freely (RFC 6749 section 3.1): ignore them."""

    model_config = ConfigDict(extra="ignore", str_max_length=4096, str_strip_whitespace=True)


def parse_scopes(value: str | list[str] | None, *, default: str = "read") -> list[str]:
    """Space-separated (or listed) scopes, each a base scope or a finer `read:area` / `write:area`."""
    items = value if isinstance(value, list) else (value or default).replace("+", " ").split()
    scopes = sorted(set(items))
    known = (*BASE_SCOPES, PROFILE_SCOPE)
    bad = [scope for scope in scopes if scope not in known and not _FINE_SCOPE.match(scope)]
    if bad or not scopes:
        raise BadInput(
            f"unknown scope(s): {' '.join(bad) or '(none)'}; use {' '.join(known)}", code="invalid_scope"
        )
    return scopes


def _check_redirect_uri(uri: str) -> str:
    if uri == OOB_URI:
        return uri
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or (parts.scheme in ("http", "https") and not parts.netloc):
        raise BadInput(
            f"{uri!r} is not an absolute redirect URI without a fragment",
            code="invalid_request",
            errors=[{"field": "redirect_uris", "message": "must be absolute, without a #fragment"}],
        )
    if parts.scheme.lower() in ("javascript", "data", "vbscript", "file"):
        raise BadInput(f"the scheme of {uri!r} is not allowed", code="invalid_request")
    return uri


def _check_website(value: str | None) -> str | None:
    """An app's home page is shown as a link on the consent page: only http(s) addresses."""
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"website must be an http:// or https:// address such as https://app.example, not {value[:80]!r}",
            code="invalid-website",
            errors=[{"field": "website", "message": "must be an http(s) URL"}],
        )
    return value.strip()


def _shown_website(app: OAuthApp) -> str | None:
    """The website to show or link; one stored before it was checked and not http(s) is left out."""
    try:
        return _check_website(app.website)
    except BadInput:
        return None


class AppInput(OAuthInput):
    client_name: Name = Field(min_length=1, max_length=200)
    redirect_uris: str | list[str] = Field(description="one URI, several separated by new lines, or a list")
    scopes: str = Field("read", max_length=1000, description="space separated: read write admin:read admin:write")
    website: str | None = Field(None, max_length=2048)

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, value: str | list[str]) -> list[str]:
        items = value if isinstance(value, list) else value.split()
        if not items or len(items) > 10:
            raise ValueError("give between 1 and 10 redirect URIs")
        return [_check_redirect_uri(item.strip()) for item in items]

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        return _check_website(value)


class AppOut(Output):
    id: str
    name: str
    website: str | None
    client_id: str
    redirect_uri: str = Field(description="the redirect URIs, one a line (Mastodon's field)")
    redirect_uris: list[str]
    scopes: list[str]
    created_at: Timestamp


class NewAppOut(AppOut):
    client_secret: str = Field(description="shown only in this answer")


class AppNameOut(Output):
    name: str
    website: str | None


class AuthorizationRequestOut(Output):
    app: AppNameOut
    scopes: list[str]
    redirect_uri: str
    state: str | None


class CodeOut(Output):
    code: str
    redirect: str | None = Field(description="where to send the browser with the code; null out of band")


class OAuthTokenOut(Output):
    access_token: str
    token_type: str
    scope: str
    created_at: int = Field(description="Unix time")


class NothingOut(Output):
    """An empty object (RFC 7009: a revocation answers 200 with no content of note)."""


class AuthorizationOut(Output):
    app: AppOut
    scopes: list[str]
    since: Timestamp


class AuthorizationsOut(RootModel[list[AuthorizationOut]]):
    """The apps holding a live token for you."""


class RevokedCountOut(Output):
    revoked: int


class AppSummaryOut(Output):
    name: str
    website: str | None
    scopes: list[str]


def _app_view(app: OAuthApp) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "website": _shown_website(app),
        "client_id": app.client_id,
        "redirect_uri": "\n".join(app.redirect_uris),
        "redirect_uris": list(app.redirect_uris),
        "scopes": list(app.scopes),
        "created_at": iso(app.created_at),
    }


@REGISTRY.operation("oauth.apps.create", AppInput, output=NewAppOut, access=Access.PUBLIC, effect=Effect.WRITE)
async def create_app(ctx: Context, params: AppInput) -> dict[str, Any]:
    """Register an app; the answer holds its client_id and client_secret (the secret only this once)."""
    secret = secrets.token_urlsafe(32)
    app = await OAuthApp.create(
        name=params.client_name,
        website=params.website,
        client_id=secrets.token_urlsafe(24),
        secret_hash=token_digest(secret),
        redirect_uris=params.redirect_uris,
        scopes=parse_scopes(params.scopes),
    )
    await ctx.emit("oauth.app_registered", "oauth_app", app.id, {"name": app.name})
    return {**_app_view(app), "client_secret": secret}


class AuthorizeInput(OAuthInput):
    client_id: str = Field(min_length=1, max_length=64)
    redirect_uri: str = Field(min_length=1, max_length=2048)
    response_type: str = "code"
    scope: str | None = Field(None, max_length=1000)
    state: str | None = Field(None, max_length=1000)
    code_challenge: str | None = Field(None, max_length=128)
    code_challenge_method: str | None = Field(None, max_length=16)


async def _checked_request(params: AuthorizeInput) -> tuple[OAuthApp, list[str]]:
    """The app and the scopes asked for, or 400 (never a redirect to a URI we did not verify)."""
    app = await OAuthApp.get_or_none(client_id=params.client_id)
    if app is None:
        raise BadInput("there is no app with this client_id", code="invalid_client")
    if params.redirect_uri not in app.redirect_uris:
        raise BadInput("redirect_uri is not one of the app's registered redirect URIs", code="invalid_request")
    if params.response_type != "code":
        raise BadInput("only response_type=code is supported", code="unsupported_response_type")
    scopes = parse_scopes(params.scope, default=" ".join(app.scopes))
    beyond = [scope for scope in scopes if scope not in app.scopes and scope.split(":")[0] not in app.scopes]
    if beyond:
        raise BadInput(f"the app was not registered for: {' '.join(beyond)}", code="invalid_scope")
    if params.code_challenge is not None:
        if (params.code_challenge_method or "plain") != "S256":
            raise BadInput("code_challenge_method must be S256", code="invalid_request")
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", params.code_challenge):
            raise BadInput("code_challenge must be a base64url SHA-256 (43 characters)", code="invalid_request")
    return app, scopes


@REGISTRY.operation("oauth.authorization.check", AuthorizeInput, output=AuthorizationRequestOut, access=Access.PUBLIC)
async def check_authorization(ctx: Context, params: AuthorizeInput) -> dict[str, Any]:
    """What the consent page shows: the app, the scopes it asks for, where it will return."""
    app, scopes = await _checked_request(params)
    return {
        "app": {"name": app.name, "website": _shown_website(app)},
        "scopes": scopes,
        "redirect_uri": params.redirect_uri,
        "state": params.state,
    }


def with_query(uri: str, values: dict[str, str | None]) -> str:
    """`uri` with these query parameters added (None values left out)."""
    parts = urlsplit(uri)
    extra = urlencode({key: value for key, value in values.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@REGISTRY.operation(
    "oauth.authorization.grant", AuthorizeInput, output=CodeOut, access=Access.USER, effect=Effect.WRITE
)
async def grant_authorization(ctx: Context, params: AuthorizeInput) -> dict[str, Any]:
    """The signed-in user approves: a single-use code, valid 10 minutes, and where to send it."""
    token = ctx.extra.get("access_token")
    if token is None or getattr(token, "kind", None) != TokenKind.LOGIN.value:
        # Only a person at the consent page may grant: never an app token (no scope escalation).
        raise Forbidden("authorizations are granted on the consent page, signed in", code="consent-required")
    app, scopes = await _checked_request(params)
    code = secrets.token_urlsafe(32)
    await OAuthCode.create(
        app=app,
        user=ctx.require_user(),
        code_hash=token_digest(code),
        redirect_uri=params.redirect_uri,
        scopes=scopes,
        code_challenge=params.code_challenge,
        expires_at=_now() + CODE_LIFETIME,
    )
    await ctx.emit("oauth.authorized", "oauth_app", app.id, {"user": ctx.require_user().username, "scopes": scopes})
    if params.redirect_uri == OOB_URI:
        return {"code": code, "redirect": None}
    return {"code": code, "redirect": with_query(params.redirect_uri, {"code": code, "state": params.state})}


class TokenInput(OAuthInput):
    grant_type: str = Field(min_length=1, max_length=64)
    client_id: str | None = Field(None, max_length=64)
    client_secret: str | None = Field(None, max_length=256)
    code: str | None = Field(None, max_length=256)
    redirect_uri: str | None = Field(None, max_length=2048)
    code_verifier: str | None = Field(None, max_length=256)
    scope: str | None = Field(None, max_length=1000)


async def _client(client_id: str | None, client_secret: str | None, *, secret_required: bool) -> OAuthApp:
    app = await OAuthApp.get_or_none(client_id=client_id) if client_id else None
    if app is None:
        raise Unauthorized("unknown client", code="invalid_client")
    if client_secret is not None and not hmac.compare_digest(app.secret_hash, token_digest(client_secret)):
        raise Unauthorized("the client secret is wrong", code="invalid_client")
    if secret_required and client_secret is None:
        raise Unauthorized("this grant needs the client secret", code="invalid_client")
    return app


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _token_answer(secret: str, scopes: list[str]) -> dict[str, Any]:
    return {
        "access_token": secret,
        "token_type": "Bearer",
        "scope": " ".join(scopes),
        "created_at": int(_now().timestamp()),
    }


class _CodeReused(Exception):
    """The code was used before (maybe concurrently): revoke what it gave, outside the failed transaction."""


async def _refuse_reused(code: OAuthCode) -> BadInput:
    """Revoke every token issued for a code presented again; committed though the request fails."""
    now = _now()
    async with in_transaction():
        issued = OAuthToken.filter(code_id=code.id, revoked_at=None).values_list("access_token_id", flat=True)
        links = cast(list[str | None], await issued)  # flat: tortoise types every values_list as tuples
        await OAuthToken.filter(code_id=code.id, revoked_at=None).update(revoked_at=now)
        held = [token_id for token_id in links if token_id is not None]
        if held:
            await AccessToken.filter(id__in=held, revoked_at=None).update(revoked_at=now)
    return BadInput(
        "the code has already been used; the token issued for it is now revoked", code="invalid_grant"
    )


async def _exchange_code(ctx: Context, app: OAuthApp, params: TokenInput) -> dict[str, Any]:
    if not params.code:
        raise BadInput("code is required", code="invalid_request")
    code = await OAuthCode.get_or_none(code_hash=token_digest(params.code), app=app).prefetch_related("user")
    if code is None:
        raise BadInput("the code is unknown or expired", code="invalid_grant")
    if code.used_at is not None:
        raise await _refuse_reused(code)
    if code.expires_at <= _now():
        raise BadInput("the code is unknown or expired", code="invalid_grant")
    try:
        async with in_transaction():  # a refused verifier leaves the code unused
            if await OAuthCode.filter(id=code.id, used_at=None).update(used_at=_now()) != 1:
                raise _CodeReused
            return await _issue_for_code(ctx, app, code, params)
    except _CodeReused:
        raise await _refuse_reused(code) from None


async def _issue_for_code(ctx: Context, app: OAuthApp, code: OAuthCode, params: TokenInput) -> dict[str, Any]:
    if params.redirect_uri != code.redirect_uri:
        raise BadInput("redirect_uri differs from the one authorized", code="invalid_grant")
    if code.code_challenge is None and params.client_secret is None:
        raise BadInput("public clients must use PKCE (code_challenge with S256)", code="invalid_request")
    if code.code_challenge is not None:
        verifier = params.code_verifier or ""
        if not _VERIFIER.match(verifier) or not hmac.compare_digest(_s256(verifier), code.code_challenge):
            raise BadInput("code_verifier does not match the code_challenge", code="invalid_grant")
    secret = new_bearer_token()
    access = await AccessToken.create(
        user=code.user, kind=TokenKind.OAUTH.value, token_hash=token_digest(secret), scopes=list(code.scopes)
    )
    await OAuthToken.create(app=app, access_token=access, code=code, scopes=list(code.scopes))
    await ctx.emit("oauth.token_issued", "oauth_app", app.id, {"user": code.user.username, "scopes": code.scopes})
    return _token_answer(secret, list(code.scopes))


# Transaction.OWN: revoking the tokens of a reused code must commit although the request fails.
@REGISTRY.operation(
    "oauth.token",
    TokenInput,
    output=OAuthTokenOut,
    access=Access.PUBLIC,
    effect=Effect.WRITE,
    transaction=Transaction.OWN,
)
async def issue_token(ctx: Context, params: TokenInput) -> dict[str, Any]:
    """Exchange a code (authorization_code, PKCE) or the app's credentials (client_credentials) for a token."""
    if params.grant_type == "authorization_code":
        app = await _client(params.client_id, params.client_secret, secret_required=False)
        return await _exchange_code(ctx, app, params)
    if params.grant_type == "client_credentials":
        app = await _client(params.client_id, params.client_secret, secret_required=True)
        scopes = parse_scopes(params.scope, default=" ".join(app.scopes))
        if any(scope not in app.scopes and scope.split(":")[0] not in app.scopes for scope in scopes):
            raise BadInput("the app was not registered for these scopes", code="invalid_scope")
        # An app-only token acts for nobody: it can reach public operations, within its scopes.
        scopes = [scope for scope in scopes if not scope.startswith("admin")] or ["read"]
        secret = APP_TOKEN_PREFIX + secrets.token_urlsafe(32)
        await OAuthToken.create(app=app, token_hash=token_digest(secret), scopes=scopes)
        return _token_answer(secret, scopes)
    raise BadInput(f"grant_type {params.grant_type!r} is not supported", code="unsupported_grant_type")


class RevokeInput(OAuthInput):
    token: str = Field(min_length=1, max_length=256)
    client_id: str | None = Field(None, max_length=64)
    client_secret: str | None = Field(None, max_length=256)


@REGISTRY.operation("oauth.revoke", RevokeInput, output=NothingOut, access=Access.PUBLIC, effect=Effect.WRITE)
async def revoke(ctx: Context, params: RevokeInput) -> dict[str, Any]:
    """Revoke a token the app holds; unknown tokens are not an error (RFC 7009 section 2.2)."""
    app = await _client(params.client_id, params.client_secret, secret_required=False)
    digest = token_digest(params.token)
    link = await OAuthToken.get_or_none(app=app, token_hash=digest)
    if link is None:
        access = await AccessToken.get_or_none(token_hash=digest, kind=TokenKind.OAUTH.value)
        link = await OAuthToken.get_or_none(app=app, access_token_id=access.id) if access else None
        if access is not None and link is not None:
            await AccessToken.filter(id=access.id).update(revoked_at=_now())
    if link is not None:
        await OAuthToken.filter(id=link.id).update(revoked_at=_now())
    return {}


async def authenticate_app_token(secret: str) -> OAuthToken:
    """A client_credentials token, or 401."""
    token = await OAuthToken.get_or_none(token_hash=token_digest(secret), access_token_id=None)
    if token is None or token.revoked_at is not None:
        raise Unauthorized("the bearer token is not valid", code="invalid-token")
    return token


class NoParams(OAuthInput):
    pass


def _require_session(ctx: Context) -> None:
    token = ctx.extra.get("access_token")
    if token is None or getattr(token, "kind", None) != TokenKind.LOGIN.value:
        raise Forbidden("apps' access is managed on the web pages, signed in", code="consent-required")


@REGISTRY.operation("oauth.authorizations.list", NoParams, output=AuthorizationsOut, access=Access.USER)
async def list_authorizations(ctx: Context, params: NoParams) -> list[dict[str, Any]]:
    """The apps holding a live token for you, with the scopes they hold."""
    _require_session(ctx)
    links = await OAuthToken.filter(
        access_token__user_id=ctx.require_user().id, access_token__revoked_at=None, revoked_at=None
    ).prefetch_related("app", "access_token")
    apps: dict[str, dict[str, Any]] = {}
    for link in links:
        entry = apps.setdefault(link.app.id, {"app": _app_view(link.app), "scopes": set(), "since": link.created_at})
        entry["scopes"].update(link.scopes or [])
        entry["since"] = min(entry["since"], link.created_at)
    return [
        {"app": item["app"], "scopes": sorted(item["scopes"]), "since": iso(item["since"])}
        for item in sorted(apps.values(), key=lambda item: item["since"])
    ]


class AppIdInput(OAuthInput):
    app: str = Field(min_length=1, max_length=64)


@REGISTRY.operation(
    "oauth.authorizations.revoke", AppIdInput, output=RevokedCountOut, access=Access.USER, effect=Effect.RELINQUISH
)
async def revoke_authorization(ctx: Context, params: AppIdInput) -> dict[str, Any]:
    """Take back an app's access: every token it holds for you stops working."""
    _require_session(ctx)
    user = ctx.require_user()
    links = await OAuthToken.filter(app_id=params.app, access_token__user_id=user.id, revoked_at=None)
    if not links:
        raise BadInput("that app holds no access for you", code="not-authorized")
    await AccessToken.filter(id__in=[link.access_token_id for link in links]).update(revoked_at=_now())
    await OAuthToken.filter(id__in=[link.id for link in links]).update(revoked_at=_now())
    await ctx.emit("oauth.access_revoked", "oauth_app", params.app, {"user": user.username})
    return {"revoked": len(links)}


@REGISTRY.operation("oauth.apps.verify", NoParams, output=AppSummaryOut, access=Access.PUBLIC)
async def verify_app(ctx: Context, params: NoParams) -> dict[str, Any]:
    """The app behind the calling token (Mastodon's verify_credentials); 401 for other tokens."""
    app_id = ctx.extra.get("oauth_app_id")
    token = ctx.extra.get("access_token")
    if app_id is None and token is not None and getattr(token, "kind", None) == TokenKind.OAUTH.value:
        link = await OAuthToken.get_or_none(access_token_id=token.id)
        app_id = link.app_id if link else None
    app = await OAuthApp.get_or_none(id=app_id) if app_id else None
    if app is None:
        raise Unauthorized("call this with a token issued to an app", code="app-token-required")
    return {"name": app.name, "website": _shown_website(app), "scopes": list(app.scopes)}
