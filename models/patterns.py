"""User-supplied regular expressions: compiled with RE2 and matched off the event loop.

Every pattern a user gives (set-search and verification filters, the `regex` of an attribute
definition) compiles here. RE2 never backtracks: a match takes time proportional to the
pattern's compiled size times the value's length, so no pattern can hang the server the way
`^(a*){20}b` did with Python's `re`. Constructs that need backtracking (backreferences,
lookaround, possessive repeats, atomic groups, conditionals) are refused by name.

Linear is not free: a short pattern such as `(?:\\w{1,9}\\W?){1,99}!` costs 5-20 us per
character of value (0.05-0.2 s on 10,000 characters, measured). So matching over more than a
few characters runs in a small thread pool (RE2 releases the GIL) within MATCH_TIME_BUDGET,
checked between values; matching that runs out of time is refused with 422 instead of
stalling other requests. run_bounded is that runner, for searches, verification and the
checks of token values against their type's patterns.

Differences from Python's `re` a pattern written for it may meet (docs: README "Verification"):
`\\d \\w \\s \\b` are ASCII only (use `\\p{Nd}`, `\\p{L}`); `$` matches only at the very end, not
before a final newline; `\\Z` is written `\\z`; `a{,3}` is written `a{0,3}`; `\\u00e9` is
written `\\x{e9}`; no verbose mode `(?x)`, no `(?#...)` comments; counted repetition is at most
1000.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import re2

from .errors import Unprocessable

__all__ = [
    "INLINE_TEXT_LIMIT",
    "MATCH_TIME_BUDGET",
    "OutOfTime",
    "PatternError",
    "compile_user_pattern",
    "run_bounded",
]

MATCH_TIME_BUDGET = 0.5  # seconds of matching per request; well under the 1 s a client may wait
# Up to this many characters in all (at most ~2 ms with the worst pattern measured), matching
# runs on the loop's thread: a thread hop costs ~60 us, a fifth to a third of a verification answer.
INLINE_TEXT_LIMIT = 64
_WORKERS = 2

T = TypeVar("T")


class PatternError(ValueError):
    """A pattern RE2 cannot run. `unsupported` names a construct refused by design (422);
    otherwise the pattern is malformed (400)."""

    def __init__(self, message: str, *, unsupported: bool) -> None:
        super().__init__(message)
        self.unsupported = unsupported


class OutOfTime(Exception):
    """Matching ran past its deadline (raised in the worker thread, between values)."""


_LINEAR = "not supported: patterns run in linear time, without backtracking"
# After "(": what Python's re accepts and RE2 refuses, longest prefix first.
_GROUPS = (
    ("?<=", f"lookbehind (?<=...) is {_LINEAR}"),
    ("?<!", f"negative lookbehind (?<!...) is {_LINEAR}"),
    ("?=", f"lookahead (?=...) is {_LINEAR}"),
    ("?!", f"negative lookahead (?!...) is {_LINEAR}"),
    ("?>", f"atomic groups (?>...) are {_LINEAR}"),
    ("?(", f"conditionals (?(1)...|...) are {_LINEAR}"),
    ("?P=", f"backreferences (?P=name) are {_LINEAR}"),
    ("?#", "comments (?#...) are not supported; leave them out"),
)
_ESCAPES = {
    "Z": "\\Z is not supported; write \\z for the end of the value",
    "u": "\\u escapes are not supported; write \\x{00e9} for a character by its code",
    "U": "\\U escapes are not supported; write \\x{1f600} for a character by its code",
    "N": "\\N{...} named characters are not supported; write \\x{00e9} for a character by its code",
}
_RE2_FLAGS = set("imsU-")


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's error, not a log line
    options.never_capture = True  # only "does it match?" is asked: the DFA alone answers that
    return options


_OPTIONS = _options()


def _construct(pattern: str) -> tuple[str, bool] | None:
    """The first construct Python's `re` accepts and RE2 refuses or reads differently, as
    (message, whether RE2 compiles it anyway). Outside character classes only."""
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        following = pattern[i + 1] if i + 1 < len(pattern) else ""
        if char == "\\":
            if not in_class:
                if following and following in "123456789":
                    return f"backreferences (\\{following}) are {_LINEAR}", False
                if following in ("g", "k") and pattern[i + 2 : i + 3] == "<":
                    return f"backreferences (\\{following}<...>) are {_LINEAR}", False
                if following and following in _ESCAPES:
                    return _ESCAPES[following], False
                if following == "C":  # RE2 reads it as one byte, which can split a character
                    return "\\C (any single byte) is not supported; use . for any character", True
            i += 2
            continue
        if in_class:
            in_class = char != "]"
            i += 1
            continue
        if char == "[":
            i += 1
            i += pattern[i : i + 1] == "^"
            i += pattern[i : i + 1] == "]"  # "[]...]" and "[^]...]": that first ] is literal
            in_class = True
            continue
        if char == "(":
            rest = pattern[i + 1 :]
            for prefix, message in _GROUPS:
                if rest.startswith(prefix):
                    return message, False
            if rest.startswith("?") and not rest.startswith(("?:", "?P<", "?<")):
                flags = rest[1:].split(":", 1)[0].split(")", 1)[0]
                unknown = sorted(set(flags) - _RE2_FLAGS)
                if unknown:
                    return f"the flag (?{unknown[0]}) is not supported; RE2 knows (?i), (?m), (?s) and (?U)", False
        if char in "*+?}" and following == "+":
            return f"possessive repeats ({char}+) are {_LINEAR}", False
        if char == "{" and following == ",":
            end = pattern.find("}", i)
            if end > i + 2 and pattern[i + 2 : end].isdigit():
                count = pattern[i + 2 : end]
                return f"a{{,{count}}} is read literally by RE2; write {{0,{count}}} for up to {count} times", True
        i += 1
    return None


@functools.lru_cache(maxsize=512)
def compile_user_pattern(pattern: str) -> Any:
    """A user's pattern compiled by RE2 (PatternError if refused). Kept per pattern:
    verification clients ask the same one again and again (refusals are not kept)."""
    construct = _construct(pattern)
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except UnicodeEncodeError:
        raise PatternError("is not valid text: it holds a lone surrogate code point", unsupported=False) from None
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if isinstance(error.args[0], bytes) else str(error)
        if construct is not None:
            raise PatternError(construct[0], unsupported=True) from None
        if "too large" in reason or "repetition size" in reason:
            raise PatternError(
                f"the pattern is too large to run ({reason}): counted repetition goes up to 1000 in all",
                unsupported=True,
            ) from None
        raise PatternError(f"is not a valid regular expression: {reason}", unsupported=False) from None
    if construct is not None and construct[1]:
        raise PatternError(construct[0], unsupported=True)  # compiles, but not as the writer meant
    return compiled


_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:  # a small pool of its own: matching cannot crowd out DNS lookups and files
        _executor = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="tallystick-regex")
    return _executor


async def run_bounded(
    work: Callable[[float], T],
    text_size: int,
    what: str,
    advice: str = "anchor the pattern with ^, simplify it, or add eq/range filters to narrow the search first",
    code: str = "search-too-expensive",
) -> T:
    """`work(deadline)` within MATCH_TIME_BUDGET: inline when `text_size` characters are few,
    else in the regex pool. `work` raises OutOfTime past the deadline; then, or when the pool
    stays busy for the whole budget, the caller gets 422 `code`: matching `what` took too long."""
    if text_size == 0:
        return work(math.inf)  # no text for a pattern to run on: nothing to bound
    budget = MATCH_TIME_BUDGET
    deadline = time.monotonic() + budget
    try:
        if text_size <= INLINE_TEXT_LIMIT:
            return work(deadline)
        future = asyncio.get_running_loop().run_in_executor(_pool(), work, deadline)
        return await asyncio.wait_for(future, budget)
    except (OutOfTime, TimeoutError):
        raise Unprocessable(
            f"matching {what} took longer than {budget:g} s and was stopped; {advice}", code=code
        ) from None
