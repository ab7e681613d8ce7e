"""Single-use, expiring links sent by mail (email verification, password reset), and the
database-backed counts that limit how often a reset may be asked for.

A link's secret is 256 random bits; only its SHA-256 is stored (`token_hash`), like bearer
tokens, so the table read by someone else opens no account. A link is used by a conditional
update (`used_at IS NULL` and not expired), so two requests racing with one link cannot both
succeed, on SQLite or PostgreSQL.

Request counts are rows, not memory: every server process sees the same counts, and a
restart forgets nothing. Keys are SHA-256 digests, so the table does not collect the
addresses strangers type. Two requests at the same instant may both pass the last free slot:
the limit may be exceeded by the number of processes racing, never more.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity
from .errors import RateLimited
from .login_throttle import wait_words

if TYPE_CHECKING:
    from .actors import User

__all__ = [
    "EmailLink", "LinkPurpose", "LinkState", "RequestCount", "count_request", "digest", "find_link", "new_link",
    "retire_links", "use_link",
]


class LinkPurpose(StrEnum):
    VERIFY_EMAIL = "verify-email"
    RESET_PASSWORD = "reset-password"


class LinkState(StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class EmailLink(Entity):
    """A link mailed to `email` for `user`, usable once before `expires_at`."""

    user_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="email_links", on_delete=fields.CASCADE
    )
    purpose = fields.CharField(max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=254)  # the address it was sent to: a verification proves this one
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "email_links"
        indexes = (("user_id", "purpose"),)


async def new_link(user: User, purpose: LinkPurpose, lifetime_seconds: int) -> tuple[str, EmailLink]:
    """Store a new link's hash and return its secret (the only time it exists in clear)."""
    secret = secrets.token_urlsafe(32)
    link = await EmailLink.create(
        user_id=user.id, purpose=purpose.value, token_hash=digest(secret), email=user.email,
        expires_at=_now() + timedelta(seconds=lifetime_seconds),
    )
    return secret, link


@dataclass(frozen=True)
class Found:
    state: LinkState
    link: EmailLink | None = None


async def find_link(secret: str, purpose: LinkPurpose) -> Found:
    """What a presented secret is: valid, used, expired, or no link of this purpose."""
    link = await EmailLink.get_or_none(token_hash=digest(secret), purpose=purpose.value)
    if link is None:
        return Found(LinkState.UNKNOWN)
    if link.used_at is not None:
        return Found(LinkState.USED, link)
    if link.expires_at <= _now():
        return Found(LinkState.EXPIRED, link)
    return Found(LinkState.VALID, link)


async def use_link(link: EmailLink) -> bool:
    """Mark the link used; False when another request used it first (or it just expired)."""
    now = _now()
    return bool(await EmailLink.filter(id=link.id, used_at=None, expires_at__gt=now).update(used_at=now))


async def retire_links(user: User, purpose: LinkPurpose) -> int:
    """End every unused link of this purpose for the user (a new password, a new address)."""
    return await EmailLink.filter(user_id=user.id, purpose=purpose.value, used_at=None).update(used_at=_now())


class RequestCount(Entity):
    """One counted request under `scope` for a key (a digest), at created_at."""

    scope = fields.CharField(max_length=32)
    key = fields.CharField(max_length=64)

    class Meta:
        app = APP
        table = "request_counts"
        indexes = (("scope", "key", "created_at"),)


async def count_request(scope: str, value: str, *, limit: int, window_seconds: int, what: str) -> None:
    """Count one request for `value` under `scope`; 429 with Retry-After past `limit` in the window.

    A refused request is not counted, so waiting out the window always works. Rows older than
    the window are deleted for this key as it goes, so the table stays small.
    """
    key = digest(value.lower())
    now = _now()
    since = now - timedelta(seconds=window_seconds)
    await RequestCount.filter(scope=scope, key=key, created_at__lt=since).delete()
    rows = await RequestCount.filter(scope=scope, key=key).order_by("created_at").values_list("created_at", flat=True)
    recent: list[datetime] = list(rows)  # type: ignore[arg-type]  # flat: one datetime per row
    if len(recent) >= limit:
        oldest = recent[len(recent) - limit]
        wait = max(1, math.ceil((oldest + timedelta(seconds=window_seconds) - now).total_seconds()))
        raise RateLimited(
            f"too many requests {what}; try again in {wait_words(wait)}", code="too-many-requests",
            extra={"retry_after": wait},
        )
    await RequestCount.create(scope=scope, key=key)
