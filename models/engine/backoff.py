"""How long a failed try waits: one module for every machine (DESIGN.md field notes).

`mastodon()` is Mastodon's delivery policy, `attempt**4 + 15` seconds (16 tries span about 2.6
days), with optional jitter so a burst of failures to one host does not come back as one burst.
`table()` is a fixed list (webhooks, job callbacks), `fixed()` one delay. A receiver's
Retry-After is honoured as a minimum, capped at a day so a hostile header cannot park a row.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Policy", "mastodon", "table", "fixed", "parse_retry_after", "MAX_RETRY_AFTER"]

MAX_RETRY_AFTER = 86_400.0


@dataclass(frozen=True)
class Policy:
    """Seconds to wait after failed try number `attempt` (1 for the first try)."""

    kind: str
    steps: tuple[float, ...] = ()
    jitter: float = 0.0  # up to this fraction added at random

    def base(self, attempt: int) -> float:
        attempt = max(1, attempt)
        if self.kind == "mastodon":
            return float(attempt**4 + 15)
        return self.steps[min(attempt, len(self.steps)) - 1]

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = self.base(attempt)
        if self.jitter:
            wait += wait * self.jitter * random.random()  # noqa: S311 - spreading retries, not a secret
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return wait


def mastodon(*, jitter: float = 0.1) -> Policy:
    return Policy("mastodon", jitter=jitter)


def table(steps: Sequence[float]) -> Policy:
    if not steps or any(step < 0 for step in steps):
        raise ValueError("a backoff table needs at least one delay, none negative")
    return Policy("table", tuple(float(step) for step in steps))


def fixed(seconds: float) -> Policy:
    return table([seconds])


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(0.0, (moment - (now or datetime.now(UTC))).total_seconds()), MAX_RETRY_AFTER)
