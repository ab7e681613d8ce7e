"""JSON views shared by several areas."""

from __future__ import annotations

from typing import Any

from .actors import Actor, User
from .base import iso
from .context import Site

__all__ = ["actor_view", "user_view"]


def actor_view(actor: Actor, site: Site) -> dict[str, Any]:
    return {
        "id": actor.id,
        "username": actor.username,
        "handle": actor.handle(site.domain),
        "display_name": actor.display_name,
        "local": actor.is_local,
    }


def user_view(user: User, *, private: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "actor_id": user.actor_id,
        "roles": list(user.roles or []),
        "status": user.status,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }
    if private:
        view["email"] = user.email
        view["email_verified"] = user.email_verified_at is not None
    return view
