"""Moments in plain words: "3 minutes ago" with the exact time (UTC) as the hover title.

Operations answer ISO timestamps with microseconds (issue 23 calls them developer wording);
pages pass `moment` to their templates and write `{{ moment(row.created_at) }}`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

__all__ = ["ago", "exact", "moment", "until"]


def _parse(timestamp: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def exact(timestamp: str) -> str:
    """ "2 Dec 2026 14:05 UTC": to the minute, without microseconds."""
    parsed = _parse(timestamp)
    if parsed is None:
        return timestamp
    utc = parsed.astimezone(UTC)
    return f"{utc.day} {utc:%b %Y %H:%M} UTC"  # the day without a leading zero, on every platform


def ago(timestamp: str, now: datetime | None = None) -> str:
    """How long before (or after) now, in the largest unit: "just now", "5 minutes ago", "in 2 hours"."""
    parsed = _parse(timestamp)
    if parsed is None:
        return timestamp
    seconds = int(((now or datetime.now(UTC)) - parsed).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now" if not future else "in less than a minute"
    for size, name in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            words = f"{count} {name}{'' if count == 1 else 's'}"
            return f"in {words}" if future else f"{words} ago"
    return timestamp  # not reached: seconds >= 60 matched "minute"


def until(timestamp: str | None, now: datetime | None = None) -> str:
    """When something planned happens: "in 5 minutes", or "soon" once its time has come."""
    parsed = _parse(timestamp) if timestamp else None
    if parsed is None or parsed <= (now or datetime.now(UTC)):
        return "soon"
    return ago(timestamp or "", now)


def moment(timestamp: str | None, empty: str = "never") -> Markup:
    """A <time> element: words to read, the exact time in its title, the ISO value for machines."""
    if not timestamp:
        return Markup(escape(empty))
    return Markup('<time datetime="{0}" title="{1}">{2}</time>').format(timestamp, exact(timestamp), ago(timestamp))
