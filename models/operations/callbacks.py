"""Callback secrets and manual redelivery, as their users see them.

Each user has one webhook secret (`whsec_<base64>`, Standard Webhooks) that signs the
callbacks of their jobs; receivers verify with it. Rotating it makes the old one useless at
once (callbacks retried later are signed with the new one).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..actors import User
from ..base import iso
from ..context import Context
from ..events import Event
from ..jobs import WebhookSecret
from ..outputs import Output, Timestamp
from ..registry import REGISTRY, Access, Input

__all__ = ["new_secret", "secret_for", "secret_view"]


class NoInput(Input):
    pass


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def secret_for(user_id: str) -> WebhookSecret:
    """The user's webhook secret, created (with its event) on first use."""
    found = await WebhookSecret.get_or_none(user_id=user_id)
    if found is not None:
        return found
    try:
        async with in_transaction():
            created = await WebhookSecret.create(user_id=user_id, secret=new_secret())
            actor_ids = await User.filter(id=user_id).values_list("actor_id", flat=True)
            await Event.create(
                name="webhook_secret.created",
                actor_id=actor_ids[0] if actor_ids else None,
                object_type="user",
                object_id=user_id,
                payload={},
            )
            return created
    except IntegrityError:  # created by a concurrent request
        return await WebhookSecret.get(user_id=user_id)


class SecretOut(Output):
    secret: str
    algorithm: str
    updated_at: Timestamp


def secret_view(secret: WebhookSecret) -> dict[str, Any]:
    return {"secret": secret.secret, "algorithm": "Standard Webhooks v1 (HMAC-SHA256)", "updated_at": iso(secret.updated_at)}


@REGISTRY.operation("webhooks.secret.get", NoInput, output=SecretOut, access=Access.USER)
async def get_secret(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Your webhook secret, which signs your job callbacks (created on first use)."""
    return secret_view(await secret_for(ctx.require_user().id))


@REGISTRY.operation("webhooks.secret.rotate", NoInput, output=SecretOut)
async def rotate_secret(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Replace your webhook secret with a new one; the old one stops working at once."""
    user = ctx.require_user()
    secret = await secret_for(user.id)
    secret.secret = new_secret()
    await secret.save(update_fields=["secret", "updated_at"])
    await ctx.emit("webhook_secret.rotated", "user", user.id, {})
    return secret_view(secret)
