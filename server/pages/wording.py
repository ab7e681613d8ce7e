"""Plain words for what the API says in codes: moments ("3 minutes ago"), job kinds and states.

Pages pass these helpers to their templates, so people never read an operation name, a state
code or a timestamp with microseconds (issue 23: "human wording everywhere").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "HELPERS", "JOB_STATES", "STEP_STATES", "count", "duration", "exact_time", "field_message", "job_title", "moment", "moment_of",
    "period", "since", "until", "words",
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


def duration(seconds: float, *, parts: int = 2, under_a_minute: str | None = None) -> str:
    """A span in its `parts` largest units: "2 days 3 hours", "1 hour 5 minutes", "2 minutes";
    under a minute "4 seconds" (or `under_a_minute`: "less than a minute" where seconds do not matter)."""
    total = max(int(seconds), 0)  # whole units passed: "59 minutes" until the hour is full
    if total < 60:
        return under_a_minute or f"{total} second{'' if total == 1 else 's'}"
    said: list[str] = []
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        count, total = divmod(total, size)
        if count and len(said) < parts:
            said.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(said)


def period(seconds: int | None) -> str:
    """How often or how long, exactly: "3 days", "12 hours", "90 minutes" (the largest unit that
    divides it), "45 seconds"; "" for none."""
    if not seconds:
        return ""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


# Handed to every template of these pages: {{ since(job.created_at) }} etc.
HELPERS: dict[str, Any] = {
    "since": since, "exact_time": exact_time, "job_title": job_title, "words": words, "duration": duration,
}


# Field errors in plain words (issue 23): what pydantic says at the API's edge ("String should
# have at least 1 character") as a person filling in a form reads it ("Enter a name."). Keyed by
# pydantic's error type, which the problem's field errors carry (models/registry.py); the number
# a message needs is the one in pydantic's own message. Other messages keep their words.
_FIELD_NAMES = {  # a field's last part -> how a form names it, and what to enter
    "to": ("Recipient", "who receives it"),
    "url": ("Address", "an address"),
    "email": ("Email", "an email address"),
    "smallest_unit": ("Decimal places", "the number of decimal places"),
    "symbol": ("Symbol", "a symbol"),
    "owner": ("Owner", "the owner"),
}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SAYINGS = {
    "missing": "Enter {noun}.",
    "string_too_long": "{label} is too long: at most {n} character{s}.",
    "too_long": "{label} has too many entries: at most {n}.",
    "too_short": "{label} needs at least {n} entr{ies}.",
    "int_parsing": "{label} must be a whole number.",
    "int_type": "{label} must be a whole number.",
    "int_from_float": "{label} must be a whole number.",
    "decimal_parsing": "{label} must be a number.",
    "decimal_type": "{label} must be a number.",
    "float_parsing": "{label} must be a number.",
    "greater_than_equal": "{label} must be at least {n}.",
    "greater_than": "{label} must be more than {n}.",
    "less_than_equal": "{label} must be at most {n}.",
    "less_than": "{label} must be less than {n}.",
    "bool_parsing": "{label} must be yes or no.",
    "url_parsing": "{label} must be a web address, such as https://example.org/.",
    "url_scheme": "{label} must be a web address starting with https://.",
    "datetime_parsing": "{label} must be a date and time.",
    "datetime_from_date_parsing": "{label} must be a date and time.",
    "string_pattern_mismatch": "{label} holds characters that are not allowed here.",
    "string_type": "{label} must be text.",
    "extra_forbidden": "{label} is not asked for here.",
}


def _field_words(field: str) -> tuple[str, str]:
    """("Display name", "a display name") for `display_name` or `attributes.0.display_name`."""
    key = next((part for part in reversed(field.split(".")) if part and not part.isdigit()), "value")
    if key in _FIELD_NAMES:
        return _FIELD_NAMES[key]
    words = key.replace("_", " ").replace("-", " ").strip().lower() or "value"
    return words.capitalize(), ("an " if words[0] in "aeio" else "a ") + words


def field_message(field: str, message: str, kind: str | None = None) -> str:
    """A field's error in plain words: pydantic's kinds said as a form would, others as they came."""
    label, noun = _field_words(field)
    number = _NUMBER.search(message)
    n = number.group(0) if number else ""
    if kind == "string_too_short":
        return f"Enter {noun}." if n in ("", "1") else f"{label} is too short: at least {n} characters."
    if kind == "too_short" and n in ("", "1"):
        return f"{label} needs at least one entry."
    if kind in ("literal_error", "enum"):
        return f"{label} must be {message.split('Input should be ', 1)[-1]}."
    saying = _SAYINGS.get(kind or "")
    if saying is None:  # the domain's own words (a validator's "Value error, ..." without its prefix)
        return message.removeprefix("Value error, ")
    return saying.format(label=label, noun=noun, n=n, s="" if n == "1" else "s", ies="y" if n == "1" else "ies")


def count(number: Any, one: str, many: str | None = None) -> str:
    """"1 view", "3 views", "1 entry", "2 entries" (`many` when adding an s is not the plural)."""
    return f"{number} {one if str(number) == '1' else (many or one + 's')}"
