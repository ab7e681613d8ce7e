"""Names people read (types, sets, groups, display names, app names): one line of visible text.

A name is refused when it holds a control character, a bidirectional embedding, override or
isolate (U+202A-202E, U+2066-2069: "RIGHT-TO-LEFT OVERRIDE" turns "gpj.exe" around), or a
zero-width character (U+200B, U+2060, U+FEFF; "al\u200bice" looks like "alice"). The zero-width
joiner and non-joiner (U+200C, U+200D) are spelling in Persian, Indic scripts and emoji
sequences, so they are allowed between two characters beyond Latin (U+02FF) and refused next
to Latin letters, at the ends, or doubled, where they only hide a difference.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["Name", "check_name", "name_problem"]

_CONTROL_NAMES = {0x09: "CHARACTER TABULATION", 0x0A: "LINE FEED", 0x0D: "CARRIAGE RETURN", 0x00: "NULL"}
_BIDI = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_ZERO_WIDTH = {0x200B, 0x2060, 0xFEFF}
_JOINERS = {0x200C, 0x200D}


def _describe(char: str) -> str:
    code = ord(char)
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(code, "")
    return f"U+{code:04X} {name}".rstrip()


def _joins_non_latin(text: str, index: int) -> bool:
    if index == 0 or index == len(text) - 1:
        return False
    before, after = text[index - 1], text[index + 1]
    return all(ord(char) > 0x2FF and ord(char) not in _JOINERS for char in (before, after))


def name_problem(text: str) -> str | None:
    """Why `text` cannot be a name, or None when it can."""
    for index, char in enumerate(text):
        code = ord(char)
        if unicodedata.category(char) == "Cc":
            return f"contains a control character ({_describe(char)}); use one line of text"
        if code in _BIDI or code in _ZERO_WIDTH or (code in _JOINERS and not _joins_non_latin(text, index)):
            return f"contains an invisible character ({_describe(char)})"
    return None


def check_name(value: str) -> str:
    """Pydantic validator: refuse a name that holds a control or invisible character."""
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(f"the name {problem}")
    return value


Name = Annotated[str, AfterValidator(check_name)]
