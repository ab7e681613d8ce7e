"""ActivityStreams 2.0 shapes: a link's id, a property as a list, an object's one type, a URL's domain.

Pure functions over parsed JSON; no network and no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from . import documents

__all__ = ["KNOWN_TYPES", "as_id", "as_list", "as_time", "domain_of", "type_of"]


def as_id(value: Any) -> str | None:
    """The id of a link that may be a string or an object with an id (ActivityStreams 2.0 section 2)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def as_list(value: Any) -> list[Any]:
    """A property that may be a single value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# Types whose meaning we know. AS2 (section 4.1 of the core spec, "@type" may be an array) lets a
# document give several, e.g. ["Person", "http://schema.org/Person"]: the first of these wins.
KNOWN_TYPES = frozenset({
    "Accept", "Add", "Announce", "Block", "Create", "Delete", "Flag", "Follow", "Like", "Move", "Reject",
    "Remove", "Undo", "Update", "Tombstone", "Token", "TokenType", "TokenSet", "LedgerEntry", "Proposal", "Multikey",
    *documents.ACTOR_TYPES,
})
# The objects of other servers we keep a copy of when their owner publishes them (a lot is a Proposal).
OBJECT_TYPES = frozenset({"Token", "TokenType", "TokenSet", "LedgerEntry", "Proposal"})


def type_of(document: Any) -> str | None:
    """The one type of an object or activity: its `type` string, or from a list the first type we
    know (else the first given); None when it has none. The only place that reads `type` shapes."""
    value = document.get("type") if isinstance(document, Mapping) else None
    if isinstance(value, str):
        return value
    names = [name for name in value if isinstance(name, str)] if isinstance(value, list) else []
    return next((name for name in names if name in KNOWN_TYPES), names[0] if names else None)


def domain_of(url: str) -> str:
    """The authority (host and port) of a URL, lower case: what origin rules compare."""
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


def as_time(value: Any) -> datetime | None:
    """An xsd:dateTime property (`published`, `endTime`) as an aware datetime; None when absent,
    malformed or without a zone (a time with no zone says no moment)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
