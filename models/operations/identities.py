"""Fediverse identities: who signed in (the provider side) and the identities linked to you.

Provider side: `accounts.verify_credentials` answers Mastodon's GET
/api/v1/accounts/verify_credentials, so another server that sent a person through our OAuth
learns who signed in; `uri` is the ActivityPub actor id (as Mastodon 4.2+ sends it).

Client side (the network part is federation/signin.py): `complete_signin` decides, in one
transaction, whether a vouched-for identity signs an existing account in, links to the
signed-in user or opens a new account; `accounts.identities.list` and `.unlink` manage them.
An identity is never unlinked when it is the account's last way in (no password set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from tortoise.transactions import in_transaction

from ..actors import Actor, TokenKind, User, UserStatus, local_actor_url
from ..base import iso
from ..context import Context
from ..errors import Conflict, Forbidden, NotFound
from ..federation import Follow, FollowState
from ..identities import FediverseSignin, LinkedIdentity, link_identity
from ..markdown import markdown_to_html
from ..outputs import Output, Timestamp
from ..registry import REGISTRY, Access, Effect, Input

__all__ = ["SigninOutcome", "complete_signin", "has_password", "username_from_acct"]

_UNFIT = re.compile(r"[^a-z0-9_]+")
USERNAME_MAX = 30


class NoInput(Input):
    pass


class AccountSourceOut(Output):
    note: str
    fields: list[dict[str, Any]]
    privacy: str
    sensitive: bool
    language: str | None


class MastodonAccountOut(Output):
    """Mastodon's CredentialAccount, with what clients read; `uri` is the actor id."""

    id: str
    username: str
    acct: str = Field(description="the username alone: the account is local to this server")
    display_name: str
    locked: bool
    bot: bool
    discoverable: bool
    group: bool
    created_at: Timestamp
    note: str = Field(description="the profile's summary as HTML")
    url: str = Field(description="the profile page")
    uri: str = Field(description="the ActivityPub actor id")
    avatar: str
    avatar_static: str
    header: str
    header_static: str
    followers_count: int
    following_count: int
    statuses_count: int
    last_status_at: str | None
    emojis: list[dict[str, Any]]
    fields: list[dict[str, Any]]
    source: AccountSourceOut


@REGISTRY.operation("accounts.verify_credentials", NoInput, output=MastodonAccountOut, access=Access.USER)
async def verify_credentials(ctx: Context, params: NoInput) -> dict[str, Any]:
    """The signed-in account, shaped like Mastodon's (scopes read, read:accounts or profile)."""
    user, actor = ctx.require_user(), ctx.require_actor()
    base = ctx.site.base_url
    accepted = FollowState.ACCEPTED.value
    followers = await Follow.filter(target_id=actor.id, object_uri="", state=accepted).count()
    following = await Follow.filter(follower_id=actor.id, object_uri="", state=accepted).count()
    actor_url = local_actor_url(base, actor)
    picture = f"{base}/favicon.ico"
    return {
        "id": actor.id,
        "username": user.username,
        "acct": user.username,
        "display_name": actor.display_name or user.username,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": iso(user.created_at),
        "note": markdown_to_html(actor.summary),
        "url": actor_url,
        "uri": actor_url,
        "avatar": picture,
        "avatar_static": picture,
        "header": picture,
        "header_static": picture,
        "followers_count": followers,
        "following_count": following,
        "statuses_count": 0,
        "last_status_at": None,
        "emojis": [],
        "fields": [],
        "source": {"note": actor.summary, "fields": [], "privacy": "public", "sensitive": False, "language": None},
    }


def has_password(user: User) -> bool:
    """Accounts opened by a fediverse sign-in have none until one is set."""
    return user.password_hash.startswith("scrypt$")


def username_from_acct(acct: str) -> str:
    """A username candidate from `name@host`: the name, lowercased, other characters as `_`."""
    name = _UNFIT.sub("_", acct.partition("@")[0].lower()).strip("_")
    return (name or "fediverse")[:USERNAME_MAX]


async def _free_username(acct: str) -> str:
    base = username_from_acct(acct)
    for number in range(1, 1000):
        suffix = "" if number == 1 else f"_{number}"
        candidate = base[: USERNAME_MAX - len(suffix)] + suffix
        taken = await User.filter(username=candidate).exists() or await Actor.filter(username=candidate, domain="").exists()
        if not taken:
            return candidate
    raise Conflict(f"no free username is left for {acct}", code="username-taken")


@dataclass(frozen=True)
class SigninOutcome:
    user: User
    created: bool  # a new account was opened for the identity
    linked: bool  # the identity was linked in this sign-in


async def complete_signin(
    ctx: Context, signin: FediverseSignin, *, actor_url: str, acct: str, provider: str, display_name: str
) -> SigninOutcome:
    """The identity its server vouched for signs in, links to who started the sign-in, or opens
    an account; one transaction, hooks included. 409 when it belongs to another account."""
    async with in_transaction():
        existing = await LinkedIdentity.get_or_none(actor_url=actor_url).prefetch_related("user")
        if signin.user_id is not None:  # a signed-in user asked to link it
            user = await User.get(id=signin.user_id)
            if existing is not None and existing.user_id != user.id:
                raise Conflict(f"{acct} is already linked to another account here", code="identity-linked")
            if existing is None:
                await link_identity(ctx, user, await user.actor, actor_url, acct, provider)
            return SigninOutcome(user, created=False, linked=existing is None)
        if existing is not None:
            return SigninOutcome(_active(existing.user), created=False, linked=False)
        username = await _free_username(acct)
        actor = await Actor.create(username=username, display_name=display_name[:200] or username, kind="Person")
        user = await User.create(actor=actor, username=username, email="", password_hash="", roles=[])
        ctx.actor = actor
        await ctx.emit("user.registered", "user", user.id, {"username": user.username})
        await link_identity(ctx, user, actor, actor_url, acct, provider)
        return SigninOutcome(user, created=True, linked=True)


def _active(user: User) -> User:
    if user.status == UserStatus.DELETED.value:
        raise Forbidden("the account linked to this identity has been deleted", code="account-deleted")
    if user.status == UserStatus.FROZEN.value:
        raise Forbidden("this account is frozen: it cannot sign in", code="account-frozen")
    return user


class IdentityOut(Output):
    id: str
    acct: str = Field(description="name@host")
    actor_url: str
    provider: str
    linked_at: Timestamp


class IdentitiesOut(Output):
    items: list[IdentityOut]
    has_password: bool = Field(description="false: the last identity cannot be unlinked")


def _identity_view(row: LinkedIdentity) -> dict[str, Any]:
    return {"id": row.id, "acct": row.acct, "actor_url": row.actor_url, "provider": row.provider,
            "linked_at": iso(row.linked_at)}


def _refuse_apps(ctx: Context) -> None:
    token = ctx.extra.get("access_token")
    if token is not None and getattr(token, "kind", None) == TokenKind.OAUTH.value:
        raise Forbidden("apps cannot change how you sign in; use the account pages", code="consent-required")


@REGISTRY.operation("accounts.identities.list", NoInput, output=IdentitiesOut, access=Access.USER)
async def list_identities(ctx: Context, params: NoInput) -> dict[str, Any]:
    """The fediverse accounts that sign you in here, oldest first."""
    user = ctx.require_user()
    rows = await LinkedIdentity.filter(user_id=user.id).order_by("linked_at", "id")
    return {"items": [_identity_view(row) for row in rows], "has_password": has_password(user)}


class IdentityIdInput(Input):
    id: str = Field(min_length=1, max_length=26)


@REGISTRY.operation(
    "accounts.identities.unlink", IdentityIdInput, output=IdentityOut, access=Access.USER, effect=Effect.RELINQUISH
)
async def unlink_identity(ctx: Context, params: IdentityIdInput) -> dict[str, Any]:
    """Stop an identity signing you in; 409 when it is your last way in (no password, no other)."""
    _refuse_apps(ctx)
    user = ctx.require_user()
    row = await LinkedIdentity.get_or_none(id=params.id, user_id=user.id)
    if row is None:
        raise NotFound("you have no linked identity with this id", code="identity-not-found")
    others = await LinkedIdentity.filter(user_id=user.id).exclude(id=row.id).count()
    if not others and not has_password(await User.get(id=user.id)):
        raise Conflict(
            f"{row.acct} is your only way to sign in: set a password or link another identity first",
            code="last-sign-in",
        )
    await LinkedIdentity.filter(id=row.id).delete()
    await ctx.emit("identity.unlinked", "user", user.id, {"username": user.username, "acct": row.acct,
                                                          "actor": row.actor_url})
    return _identity_view(row)
