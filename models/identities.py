"""Fediverse identities (issue 21, item 1): a local account signed in with `@name@server`.

`LinkedIdentity` binds a local user to a remote actor that its own server vouched for (OAuth
through that server, then its `verify_credentials`); the actor id is unique, so one fediverse
account opens one local account. `FediverseClient` is our app's registration at a remote
server (made once per server, reused); `FediverseSignin` is one sign-in in flight: its state
and PKCE verifier stay here, bound to the visitor's browser, short-lived and used once.

`ON_IDENTITY_LINKED` lets other features act in the very transaction that links an identity
(distributions give what was held for that identity): each hook gets the context (the
visitor's: signed out when the sign-in opens a new account), the local actor and the remote
actor id; an exception undoes the link, and a new account with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.exceptions import IntegrityError

from .base import APP, Entity
from .context import Context
from .errors import Conflict

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor, User

__all__ = [
    "FediverseClient",
    "FediverseSignin",
    "IdentityHook",
    "LinkedIdentity",
    "ON_IDENTITY_LINKED",
    "SIGNIN_LIFETIME",
    "link_identity",
]

SIGNIN_LIFETIME = timedelta(minutes=10)  # as long as a provider's authorization code lives

IdentityHook = Callable[[Context, "Actor", str], Awaitable[None]]
ON_IDENTITY_LINKED: list[IdentityHook] = []


class LinkedIdentity(Entity):
    """A fediverse account that signs a local user in (acct is name@host, lowercased)."""

    user_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="identities", on_delete=fields.CASCADE
    )
    actor_url = fields.CharField(max_length=2048, unique=True)
    acct = fields.CharField(max_length=320)
    provider = fields.CharField(max_length=255)
    linked_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = APP
        table = "linked_identities"


class FediverseClient(Entity):
    """Our app as registered on a remote server (one per server and callback address)."""

    provider = fields.CharField(max_length=255)
    redirect_uri = fields.CharField(max_length=2048)
    client_id = fields.CharField(max_length=255)
    client_secret = fields.CharField(max_length=255)
    authorize_url = fields.CharField(max_length=2048)
    token_url = fields.CharField(max_length=2048)
    revoke_url = fields.CharField(max_length=2048, null=True)

    class Meta:
        app = APP
        table = "fediverse_clients"
        unique_together = (("provider", "redirect_uri"),)


class FediverseSignin(Entity):
    """A sign-in in flight, found by the digest of its state, only from the browser that started it."""

    state_hash = fields.CharField(max_length=64, unique=True)
    browser_hash = fields.CharField(max_length=64)
    verifier = fields.CharField(max_length=128)
    handle = fields.CharField(max_length=320)
    client_id: str
    client: fields.ForeignKeyRelation[FediverseClient] = fields.ForeignKeyField(
        f"{APP}.FediverseClient", related_name="signins", on_delete=fields.CASCADE
    )
    user_id: str | None
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="fediverse_signins", null=True, on_delete=fields.CASCADE
    )
    next_path = fields.CharField(max_length=2048, default="/")
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "fediverse_signins"


async def link_identity(ctx: Context, user: User, actor: Actor, actor_url: str, acct: str, provider: str) -> LinkedIdentity:
    """Bind the identity to `user` and run the hooks; call inside the caller's transaction.

    409 when the identity is already linked (to anyone): the unique actor id decides a race.
    """
    try:
        row = await LinkedIdentity.create(user=user, actor_url=actor_url, acct=acct.lower(), provider=provider.lower())
    except IntegrityError:
        raise Conflict(f"{acct} is already linked to an account here", code="identity-linked") from None
    await ctx.emit("identity.linked", "user", user.id, {"username": user.username, "acct": row.acct, "actor": actor_url})
    for hook in list(ON_IDENTITY_LINKED):
        await hook(ctx, actor, actor_url)
    return row
