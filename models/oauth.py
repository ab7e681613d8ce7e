"""OAuth 2 for apps (Mastodon-shaped): registered apps, authorization codes, app-held tokens.

A token an app holds for a user is an AccessToken of kind "oauth" with its scopes, so it
authenticates like any bearer token; OAuthToken remembers which app holds it (revocation is
per app). A client_credentials token acts for the app alone: it has no AccessToken and is
found by its own hash. Scopes bound what a token may call (`check_scope`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity
from .errors import Forbidden
from .registry import REGISTRY, Access, Effect, Operation

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import AccessToken, User

__all__ = [
    "APP_TOKEN_PREFIX",
    "BASE_SCOPES",
    "OAuthApp",
    "OAuthCode",
    "OAuthToken",
    "PROFILE_SCOPE",
    "check_scope",
    "granted_scopes",
    "required_scope",
]

APP_TOKEN_PREFIX = "tsa_"  # client_credentials tokens: no user behind them
BASE_SCOPES = ("read", "write", "admin:read", "admin:write")
PROFILE_SCOPE = "profile"  # Mastodon 4.3's: who signed in (verify_credentials), nothing else
_PROFILE_OPERATIONS = frozenset({"accounts.verify_credentials"})
_ADMIN_ROLES = ("admin", "moderator")


class OAuthApp(Entity):
    """A registered client: its secret is kept only as a SHA-256 digest."""

    name = fields.CharField(max_length=200)
    website = fields.CharField(max_length=2048, null=True)
    client_id = fields.CharField(max_length=64, unique=True)
    secret_hash = fields.CharField(max_length=64)
    redirect_uris: fields.JSONField[list[str]] = fields.JSONField(default=list)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)

    class Meta:
        app = APP
        table = "oauth_apps"


class OAuthCode(Entity):
    """An authorization code: single use, short-lived, bound to its redirect URI and PKCE challenge."""

    app_id: str
    app: fields.ForeignKeyRelation[OAuthApp] = fields.ForeignKeyField(
        f"{APP}.OAuthApp", related_name="codes", on_delete=fields.CASCADE
    )
    user_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="oauth_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    redirect_uri = fields.CharField(max_length=2048)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    code_challenge = fields.CharField(max_length=128, null=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "oauth_codes"


class OAuthToken(Entity):
    """Which app holds a token: a user token (access_token set) or an app-only token (token_hash set)."""

    app_id: str
    app: fields.ForeignKeyRelation[OAuthApp] = fields.ForeignKeyField(
        f"{APP}.OAuthApp", related_name="tokens", on_delete=fields.CASCADE
    )
    access_token_id: str | None
    access_token: fields.ForeignKeyNullableRelation[AccessToken] = fields.ForeignKeyField(
        f"{APP}.AccessToken", related_name="oauth_link", null=True, on_delete=fields.CASCADE
    )
    code_id: str | None
    code: fields.ForeignKeyNullableRelation[OAuthCode] = fields.ForeignKeyField(
        f"{APP}.OAuthCode", related_name="tokens", null=True, on_delete=fields.SET_NULL
    )
    token_hash = fields.CharField(max_length=64, unique=True, null=True)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "oauth_tokens"


def required_scope(operation: Operation) -> str:
    """The scope an operation needs: admin:* for admin and moderator actions, else read or write.

    It follows what the operation does (`Operation.effect`), never how its transaction runs.
    Internal operations (Access.SYSTEM) are unknown to every token; they get the strictest scope.
    """
    writes = operation.effect is not Effect.READ
    role = operation.role.value if operation.role else None
    if operation.access is Access.SYSTEM:
        return "admin:write"
    if role in _ADMIN_ROLES or operation.name.startswith("admin."):
        return "admin:write" if writes else "admin:read"
    return "write" if writes else "read"


def granted_scopes(ctx_extra: dict[str, Any]) -> list[str] | None:
    """The scopes of the caller's OAuth token, or None when the caller did not use one."""
    token = ctx_extra.get("access_token")
    if token is not None and getattr(token, "kind", None) == "oauth":
        return list(token.scopes or [])
    scopes = ctx_extra.get("oauth_scopes")
    return list(scopes) if scopes is not None else None


def check_scope(ctx_extra: dict[str, Any], name: str, raw: dict[str, Any] | None = None) -> None:
    """403 when an OAuth token lacks the scope (or the finer `scope:area`) an operation needs.

    A job or chain is checked for every operation it would run, so a token cannot reach
    further through the job queue than by calling directly.
    """
    scopes = granted_scopes(ctx_extra)
    if scopes is None:
        return
    names = [name]
    steps = (raw or {}).get("steps")
    if isinstance(steps, list):
        names += [
            step["operation"] for step in steps if isinstance(step, dict) and isinstance(step.get("operation"), str)
        ]
    for each in names:
        if each not in REGISTRY:
            continue  # the operation itself refuses unknown names
        if each in _PROFILE_OPERATIONS and PROFILE_SCOPE in scopes:
            continue
        needed = required_scope(REGISTRY.get(each))
        if needed not in scopes and f"{needed}:{each.split('.')[0]}" not in scopes:
            raise Forbidden(
                f"this app's token lacks the {needed!r} scope that {each} needs",
                code="insufficient-scope",
                extra={"required_scope": needed},
            )
