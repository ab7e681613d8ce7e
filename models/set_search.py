"""Attribute filters for searching inside token sets: equals, numeric range, bounded regex.

Pure rules, no database: the operation (models/operations/sets.py) hands each token's
visible effective attributes and their kinds to a Matcher.

Regexes run on RE2 (models/patterns.py), in linear time: the pattern is at most 200
characters, constructs that need backtracking are refused with 422 unsupported-regex, values
longer than 10,000 characters are never matched, and a search's matching runs off the event
loop within MATCH_TIME_BUDGET (422 search-too-expensive past it).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from .attributes import NAME_PATTERN
from .errors import BadInput, Unprocessable
from .patterns import OutOfTime, PatternError, compile_user_pattern, run_bounded
from .registry import Input

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_REGEX_VALUE_LENGTH",
    "SearchFilter",
    "Matcher",
    "check_range",
    "compile_search_pattern",
]

MAX_PATTERN_LENGTH = 200
MAX_REGEX_VALUE_LENGTH = 10_000
_NUMERIC_KINDS = ("integer", "decimal")

Number = StrictInt | StrictStr


def _decimal(value: Any) -> Decimal | None:
    """A finite Decimal from an int or a decimal string; None for anything else (never floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and len(value) > 100):
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


class SearchFilter(Input):
    """One condition on an attribute's effective value; a token must meet every filter."""

    # values and patterns are compared as sent: stripping would change what " x" matches
    model_config = ConfigDict(extra="forbid", str_max_length=10_000, str_strip_whitespace=False)

    attribute: str = Field(pattern=NAME_PATTERN)
    op: Literal["eq", "range", "regex"]
    value: StrictStr | StrictInt | StrictBool | None = Field(
        None, description="eq: the value (null matches unset); decimals as strings"
    )
    min: Number | None = Field(None, description="range: lowest value, inclusive (integer or decimal string)")
    max: Number | None = Field(None, description="range: highest value, inclusive (integer or decimal string)")
    pattern: str | None = Field(
        None, min_length=1, max_length=MAX_PATTERN_LENGTH, description="regex: searched in string values"
    )

    @model_validator(mode="after")
    def _fits_op(self) -> SearchFilter:
        given = self.model_fields_set
        allowed = {"eq": {"value"}, "range": {"min", "max"}, "regex": {"pattern"}}[self.op]
        stray = sorted(given & {"value", "min", "max", "pattern"} - allowed)
        if stray:
            raise ValueError(f"{', '.join(stray)} does not apply to op {self.op!r}")
        if self.op == "eq" and "value" not in given:
            raise ValueError("op 'eq' needs a value")
        if self.op == "regex" and self.pattern is None:
            raise ValueError("op 'regex' needs a pattern")
        if self.op == "range":
            check_range(self.min, self.max)
        return self


def check_range(low: int | str | None, high: int | str | None) -> None:
    """A range's bounds: at least one, each an integer or a decimal string, low <= high (ValueError)."""
    if low is None and high is None:
        raise ValueError("op 'range' needs min, max or both")
    lowest, highest = (None if bound is None else _decimal(bound) for bound in (low, high))
    if (low is not None and lowest is None) or (high is not None and highest is None):
        raise ValueError("min and max must be integers or decimal strings such as \"12.50\"")
    if lowest is not None and highest is not None and lowest > highest:
        raise ValueError("min must not be greater than max")


@functools.lru_cache(maxsize=512)
def compile_search_pattern(pattern: str) -> Any:
    """Compile a search regex with RE2: 400 invalid-regex if malformed, 422 unsupported-regex
    if it uses a construct RE2 refuses (the detail names it). Kept per pattern."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise BadInput(f"a search pattern may be at most {MAX_PATTERN_LENGTH} characters", code="invalid-regex")
    try:
        return compile_user_pattern(pattern)
    except PatternError as error:
        if error.unsupported:
            raise Unprocessable(f"the pattern /{pattern}/ cannot be used: {error}", code="unsupported-regex") from None
        raise BadInput(f"/{pattern}/ {error}", code="invalid-regex") from None


@dataclass
class _Compiled:
    spec: SearchFilter
    low: Decimal | None = None
    high: Decimal | None = None
    regex: Any = None


def _same_moment(actual: str, expected: str) -> bool:
    try:
        left, right = datetime.fromisoformat(actual), datetime.fromisoformat(expected)
    except ValueError:
        return False
    if left.tzinfo is None or right.tzinfo is None:
        return False
    return left == right


def _equal(actual: Any, expected: Any, kind: str | None) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if kind in _NUMERIC_KINDS:
        left, right = _decimal(actual), _decimal(expected)
        return left is not None and right is not None and left == right  # "12.5" equals "12.50"
    if kind == "datetime" and isinstance(actual, str) and isinstance(expected, str) and len(expected) <= 64:
        return _same_moment(actual, expected)
    return type(actual) is type(expected) and actual == expected  # True is not 1


Row = tuple[dict[str, Any], dict[str, str]]  # a token's visible attributes and their kinds


@dataclass
class Matcher:
    """All filters of one search, cheapest first; regexes run off the loop within a time budget."""

    filters: list[SearchFilter]
    _compiled: list[_Compiled] = field(default_factory=list)

    def __post_init__(self) -> None:
        order = {"eq": 0, "range": 1, "regex": 2}
        for spec in sorted(self.filters, key=lambda item: order[item.op]):
            entry = _Compiled(spec)
            if spec.op == "range":
                entry.low = None if spec.min is None else _decimal(spec.min)
                entry.high = None if spec.max is None else _decimal(spec.max)
            elif spec.op == "regex":
                entry.regex = compile_search_pattern(spec.pattern or "")
            self._compiled.append(entry)
        self._regex_names = [entry.spec.attribute for entry in self._compiled if entry.regex is not None]

    async def select(self, rows: list[Row]) -> list[bool]:
        """For each row, whether it meets every filter; attributes the caller may not see are
        simply absent. 422 search-too-expensive when matching takes longer than the budget."""
        text_size = sum(
            len(value)
            for attributes, _ in rows
            for name in self._regex_names
            if isinstance(value := attributes.get(name), str) and len(value) <= MAX_REGEX_VALUE_LENGTH
        )
        patterns = ", ".join(f"/{entry.spec.pattern}/" for entry in self._compiled if entry.regex is not None)
        return await run_bounded(functools.partial(self._select, rows), text_size, patterns or "the filters")

    def _select(self, rows: list[Row], deadline: float) -> list[bool]:
        selected = []
        for attributes, kinds in rows:
            if time.monotonic() > deadline:
                raise OutOfTime
            selected.append(
                all(self._holds(entry, attributes.get(entry.spec.attribute), kinds.get(entry.spec.attribute))
                    for entry in self._compiled)
            )
        return selected

    def _holds(self, entry: _Compiled, actual: Any, kind: str | None) -> bool:
        spec = entry.spec
        if spec.op == "eq":
            return _equal(actual, spec.value, kind)
        if spec.op == "range":
            if kind not in _NUMERIC_KINDS and not (kind is None and isinstance(actual, int)):
                return False
            number = _decimal(actual)
            if number is None:
                return False
            return (entry.low is None or number >= entry.low) and (entry.high is None or number <= entry.high)
        if not isinstance(actual, str) or len(actual) > MAX_REGEX_VALUE_LENGTH:
            return False
        try:
            return entry.regex.search(actual) is not None
        except UnicodeEncodeError:  # a lone surrogate: not text RE2 can read, so no match
            return False
