"""Failed sign-ins, counted per account and per client address, with a growing lock-out.

After `login_failures_per_account` wrong passwords for one account (or
`login_failures_per_address` from one client address) within the window (settings [limits]),
sign-ins for it are refused with 429 for `login_lockout_seconds`, doubling with each further
failure up to `login_lockout_max_seconds`. A locked
account or address is refused before its password is checked, so a guesser learns nothing and
costs no hashing. A successful sign-in clears the account's count (not the address's: an
attacker signing in to their own account must not reset the address they guess from).

In memory, per server process: several processes each keep their own counts, so the limits
multiply by the number of processes (a later change shares them through the database). The
store is bounded: beyond `MAX_KEYS` entries of a kind, the least recently failing are forgotten.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from .errors import RateLimited
from .settings import Limits

__all__ = ["LoginThrottle", "MAX_KEYS"]

MAX_KEYS = 10_000  # per kind (accounts, addresses): memory stays bounded whatever callers send


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass
class _Counter:
    """Failures per key for one kind of key, least recently failing first."""

    threshold: int
    entries: OrderedDict[str, _Failures] = field(default_factory=OrderedDict)

    def locked_for(self, key: str, now: float) -> float:
        entry = self.entries.get(key)
        return max(0.0, entry.locked_until - now) if entry is not None else 0.0

    def fail(self, key: str, now: float, limits: Limits) -> None:
        entry = self.entries.pop(key, None)
        if entry is None or now - entry.last > limits.login_failure_window_seconds:
            entry = _Failures()
        entry.count += 1
        entry.last = now
        if entry.count >= self.threshold:
            doublings = min(entry.count - self.threshold, 32)
            lockout = min(limits.login_lockout_max_seconds, limits.login_lockout_seconds * 2**doublings)
            entry.locked_until = now + lockout
        self.entries[key] = entry  # most recent last
        while len(self.entries) > MAX_KEYS:
            self.entries.popitem(last=False)

    def clear(self, key: str) -> None:
        self.entries.pop(key, None)


class LoginThrottle:
    """Counts failed sign-ins (see the module docstring); one per server process."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()  # the login_* settings are read
        self._accounts = _Counter(self.limits.login_failures_per_account)
        self._addresses = _Counter(self.limits.login_failures_per_address)

    def check(self, username: str, address: str | None, *, now: float | None = None) -> None:
        """429 with Retry-After while the account or the address is locked out."""
        now = time.monotonic() if now is None else now
        account_wait = self._accounts.locked_for(username.lower(), now)
        address_wait = self._addresses.locked_for(address, now) if address else 0.0
        wait = max(account_wait, address_wait)
        if wait <= 0:
            return
        seconds = max(1, math.ceil(wait))
        whom = "this account" if account_wait >= address_wait else "your address"
        raise RateLimited(
            f"too many failed sign-ins for {whom}; wait {_duration(seconds)} and try again",
            code="too-many-sign-ins",
            extra={"retry_after": seconds},
        )

    def failed(self, username: str, address: str | None, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._accounts.fail(username.lower(), now, self.limits)
        if address:
            self._addresses.fail(address, now, self.limits)

    def succeeded(self, username: str) -> None:
        self._accounts.clear(username.lower())


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"
