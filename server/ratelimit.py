"""Per-client request budgets for routes anonymous callers may use (verification queries).

A token bucket per client address: `per_minute` requests refill evenly over a minute, with a
burst of the same size. In-process memory only: each server process keeps its own buckets,
which bounds what one client can make one process do (several processes behind a proxy
multiply the budget; a shared limiter belongs in the proxy then). Callers with a bearer
token are not limited here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from models.errors import RateLimited

__all__ = ["RateLimiter"]

MAX_CLIENTS = 10_000  # forget the idlest buckets beyond this, so memory stays bounded


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    per_minute: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, client: str, *, now: float | None = None) -> None:
        """Spend one request of the client's budget; 429 with Retry-After when it is empty."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_CLIENTS:
                self._forget_idlest()
            bucket = self._buckets[client] = _Bucket(float(self.per_minute), now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            wait = max(1, round((1 - bucket.tokens) / rate))
            raise RateLimited(
                f"too many requests without a token: {self.per_minute} a minute; try again in {wait} s "
                "or send a bearer token",
                extra={"retry_after": wait},
            )
        bucket.tokens -= 1

    def _forget_idlest(self) -> None:
        for client, _ in sorted(self._buckets.items(), key=lambda item: item[1].updated)[: MAX_CLIENTS // 10]:
            del self._buckets[client]
