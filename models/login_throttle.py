"""Failed sign-ins, counted per account and per client address, with a growing lock-out.

After `login_failures_per_account` wrong passwords for one account (or
`login_failures_per_address` from one client address) within the window (settings [limits]),
sign-ins for it are refused with 429 for `login_lockout_seconds`, doubling with each further
failure up to `login_lockout_max_seconds`. A locked
account or address is refused before its password is checked, so a guesser learns nothing and
costs no hashing. A successful sign-in clears the account's count (not the address's: an
attacker signing in to their own account must not reset the address they guess from).

The counts live in the database (table `login_failures`), so every `serve` process sharing it
enforces one limit (issue 25): a guesser spreading attempts over N processes gets no N times the
tries. Each failure is one atomic upsert; a sign-in that succeeds or is refused costs one
indexed read. Times are wall-clock seconds (time.time), the same in every process of one host
(and across hosts kept in step by NTP). Rows older than the window and the longest lock-out are
deleted as failures come in, so the table stays as small as the recent guessing.
"""

from __future__ import annotations

import math
import time

from tortoise import fields
from tortoise.models import Model

from . import sql
from .base import APP
from .errors import RateLimited
from .settings import Limits

__all__ = ["LoginFailure", "LoginThrottle", "wait_words"]


class LoginFailure(Model):
    """Recent failed sign-ins for one account (`account:<name>`) or address (`address:<ip>`)."""

    key = fields.CharField(max_length=400, primary_key=True)
    failures = fields.IntField(default=0)
    last_failed_at = fields.FloatField(db_index=True)  # epoch seconds
    locked_until = fields.FloatField(default=0)  # epoch seconds; 0: not locked

    class Meta:
        app = APP
        table = "login_failures"


_COUNT = """
INSERT INTO login_failures (key, failures, last_failed_at, locked_until) VALUES (?, 1, ?, 0)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN excluded.last_failed_at - login_failures.last_failed_at > ? THEN 1
                    ELSE login_failures.failures + 1 END,
    last_failed_at = excluded.last_failed_at
RETURNING failures
"""


class LoginThrottle:
    """Counts failed sign-ins (see the module docstring) in the database all processes share."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()  # the login_* settings are read

    async def check(self, username: str, address: str | None, *, now: float | None = None) -> None:
        """429 with Retry-After while the account or the address is locked out."""
        now = time.time() if now is None else now
        account, place = _account(username), _address(address)
        keys = [account] if place is None else [account, place]
        marks = ", ".join("?" for _ in keys)
        locked = {
            row["key"]: float(row["locked_until"]) - now
            for row in await sql.fetch(f"SELECT key, locked_until FROM login_failures WHERE key IN ({marks})", *keys)
        }
        account_wait, address_wait = max(0.0, locked.get(account, 0.0)), max(0.0, locked.get(place or "", 0.0))
        wait = max(account_wait, address_wait)
        if wait <= 0:
            return
        seconds = max(1, math.ceil(wait))
        whom = "this account" if account_wait >= address_wait else "your address"
        raise RateLimited(
            f"too many failed sign-ins for {whom}; wait {wait_words(seconds)} and try again",
            code="too-many-sign-ins",
            extra={"retry_after": seconds},
        )

    async def failed(self, username: str, address: str | None, *, now: float | None = None) -> None:
        """Count one failure for the account and the address (one atomic upsert each)."""
        now = time.time() if now is None else now
        limits = self.limits
        await self._count(_account(username), limits.login_failures_per_account, now)
        place = _address(address)
        if place is not None:
            await self._count(place, limits.login_failures_per_address, now)
        forgotten = now - max(limits.login_failure_window_seconds, limits.login_lockout_max_seconds)
        await sql.execute("DELETE FROM login_failures WHERE last_failed_at < ?", forgotten)

    async def succeeded(self, username: str) -> None:
        await sql.execute("DELETE FROM login_failures WHERE key = ?", _account(username))

    async def _count(self, key: str, threshold: int, now: float) -> None:
        limits = self.limits
        [row] = await sql.fetch(_COUNT, key, now, limits.login_failure_window_seconds)
        failures = int(row["failures"])
        if failures < threshold:
            return
        doublings = min(failures - threshold, 32)
        lockout = min(limits.login_lockout_max_seconds, limits.login_lockout_seconds * 2**doublings)
        # Two processes counting at once each lock for what their count says; the longer stands.
        await sql.execute(
            "UPDATE login_failures SET locked_until = ? WHERE key = ? AND locked_until < ?", now + lockout, key, now + lockout
        )


def _account(username: str) -> str:
    return f"account:{username.lower()}"


def _address(address: str | None) -> str | None:
    return f"address:{address}" if address else None


def wait_words(seconds: int) -> str:
    """How long to wait, rounded up: "90 seconds", "5 minutes", "2 hours" (the limits' messages)."""
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"
