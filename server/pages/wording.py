"""Plain words for what the API says in codes: moments ("3 minutes ago"), job kinds and states.

Pages pass these helpers to their templates, so people never read an operation name, a state
code or a timestamp with microseconds (issue 23: "human wording everywhere").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "HELPERS", "JOB_STATES", "STEP_STATES", "duration", "exact_time", "job_title", "moment", "moment_of", "since", "until",
    "words",
]

# What each kind of job does, as a person would say it (others: the operation's last word).
_JOB_TITLES = {
    "chain": "Several steps in a row",
    "exports.build": "Export of a set",
    "imports.create": "Import of an export",
    "ledger.create": "Mint",
    "ledger.give": "Give",
    "ledger.burn": "Burn",
    "tokens.create": "New token",
    "tokens.update": "Token change",
    "tokens.delete": "Token deletion",
    "types.create": "New token type",
    "types.update": "Token type change",
    "sets.create": "New set",
    "sets.add_tokens": "Tokens added to a set",
    "follows.create": "Follow",
    "copies.verify": "Copy check",
}
JOB_STATES = {
    "queued": "waiting to start",
    "running": "running",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}
STEP_STATES = JOB_STATES | {"failed_dependency": "not run: an earlier step failed", "skipped": "skipped"}
_CALLBACK_STATES = {
    "pending": "waiting to be sent",
    "delivered": "delivered",
    "failed": "gave up",
    "sending": "being sent",
}


def job_title(operation: str) -> str:
    """"Export of a set" for exports.build; an unknown operation reads as its words ("remote gives get")."""
    return _JOB_TITLES.get(operation) or operation.replace("_", " ").replace(".", " ").capitalize()


def words(kind: str, code: str | None) -> str:
    """A state code in words: kind is "job", "step" or "callback"."""
    table = {"job": JOB_STATES, "step": STEP_STATES, "callback": _CALLBACK_STATES}[kind]
    return table.get(code or "", (code or "").replace("_", " "))


def moment_of(value: Any) -> datetime | None:
    """An API timestamp ("...Z") or a datetime as an aware datetime; None for anything else."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)  # 3.11 reads the API's "Z"
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive datetimes from the database are UTC


def exact_time(value: Any) -> str:
    """"2 December 2026, 15:37 UTC" (no seconds, no microseconds); "" for no time."""
    moment = moment_of(value)
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def since(value: Any, now: datetime | None = None) -> str:
    """"just now", "3 minutes ago", "in 2 hours", or the date for moments over a week away."""
    moment = moment_of(value)
    if moment is None:
        return str(value or "")  # not a time: shown as it came
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in ((86400 * 7, ""), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            if not unit:
                return exact_time(moment)
            count = round(seconds / size)
            phrase = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {phrase}" if ahead else f"{phrase} ago"
    count = max(1, round(seconds / 60))
    phrase = f"{count} minute{'' if count == 1 else 's'}"
    return f"in {phrase}" if ahead else f"{phrase} ago"


def until(value: Any, now: datetime | None = None) -> str:
    """When something planned happens: "in 5 minutes", or "soon" once its time has come."""
    planned = moment_of(value)
    if planned is None or planned <= (now or datetime.now(UTC)):
        return "soon"
    return since(planned, now)


def moment(value: Any, empty: str = "never") -> Markup:
    """A <time> element: words to read, the exact time in its title, the ISO value for machines
    (the _words.html.j2 `when` macro, for Python that builds a line of words)."""
    if not value:
        return Markup(escape(empty))
    return Markup('<time datetime="{0}" title="{1}">{2}</time>').format(value, exact_time(value), since(value))


def duration(seconds: float) -> str:
    """"4 seconds", "2 minutes", "1 hour 5 minutes"."""
    total = round(seconds)
    if total < 60:
        return f"{total} second{'' if total == 1 else 's'}"
    minutes, hours = total // 60, total // 3600
    if hours == 0:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    rest = minutes - hours * 60
    return f"{hours} hour{'' if hours == 1 else 's'}" + (f" {rest} minute{'' if rest == 1 else 's'}" if rest else "")


# Handed to every template of these pages: {{ since(job.created_at) }} etc.
HELPERS: dict[str, Any] = {
    "since": since, "exact_time": exact_time, "job_title": job_title, "words": words, "duration": duration,
}
