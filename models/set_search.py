"""Attribute filters for searching inside token sets: equals, numeric range, bounded regex.

Pure rules, no database: the operation (models/operations/sets.py) hands each token's
visible effective attributes and their kinds to a Matcher.

Regexes run on Python's backtracking `re`, so they are bounded three ways (DESIGN.md
"Sets"; the brief's limits): the pattern is at most 200 characters; shapes that backtrack
exponentially are refused with 422 unsafe-regex (nested repetition such as (a+)+ or
(.*)*, ambiguous alternation inside a repetition); and values longer than 10,000
characters are never matched. Polynomial blow-ups remain (`.*.*x` on 10,000 characters
takes minutes), so each search also has a work budget: before a value is matched its
worst-case step count is estimated (start positions x the product of the variable
repetitions' spans) and the search stops with 422 search-too-expensive once the sum passes
REGEX_WORK_BUDGET, a second or so of matching. The estimate depends only on the pattern
and the data, so the answer is deterministic.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre  # the stdlib regex parser: the only way to see a pattern's structure
import re._parser as sre_parse
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from .attributes import NAME_PATTERN, compile_pattern
from .errors import BadInput, Unprocessable
from .registry import Input

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_REGEX_VALUE_LENGTH",
    "REGEX_WORK_BUDGET",
    "SearchFilter",
    "Matcher",
    "check_range",
    "compile_search_pattern",
]

MAX_PATTERN_LENGTH = 200
MAX_REGEX_VALUE_LENGTH = 10_000
REGEX_WORK_BUDGET = 200_000_000  # estimated backtracking steps per search (~1 s of `re` at worst)
_NUMERIC_KINDS = ("integer", "decimal")
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT) + ((sre.POSSESSIVE_REPEAT,) if hasattr(sre, "POSSESSIVE_REPEAT") else ())

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


@dataclass(frozen=True)
class _Cost:
    """A pattern's worst-case step estimate as a function of the value's length."""

    anchored: bool
    spans: tuple[int | None, ...]  # variable repetitions: span (high - low), None when unbounded

    def steps(self, length: int) -> int:
        total = 1 if self.anchored else length + 1
        for span in self.spans:
            total *= min(length, span if span is not None else length) + 1
            if total > REGEX_WORK_BUDGET:
                break  # the caller only compares with the budget
        return total


def _distinct_literal_starts(branches: list[Any]) -> bool:
    firsts = [branch[0] if branch else None for branch in branches]
    if not all(first is not None and first[0] == sre.LITERAL for first in firsts):
        return False
    return len({first[1] for first in firsts if first}) == len(firsts)


def _walk(items: Any, inside_variable: bool, spans: list[int | None]) -> None:
    """Collect variable repetitions; refuse nesting and ambiguous alternation under one."""
    for op, arg in items:
        if op in _REPEATS:
            low, high, body = arg
            variable = low != high
            if variable and inside_variable:
                raise ValueError(
                    "nested repetition such as (a+)+ or (a{1,9}){1,9} can take exponential time; simplify the pattern"
                )
            if variable:
                spans.append(None if high == sre.MAXREPEAT else high - low)
            _walk(body, inside_variable or variable, spans)
        elif op == sre.BRANCH:
            if inside_variable and not _distinct_literal_starts(arg[1]):
                raise ValueError("alternation inside a repetition must start each branch with a different character")
            for branch in arg[1]:
                _walk(branch, inside_variable, spans)
        elif op == sre.SUBPATTERN:
            _walk(arg[-1], inside_variable, spans)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _walk(arg[1], inside_variable, spans)
        elif op == sre.GROUPREF_EXISTS:
            for branch in arg[1:]:
                if branch is not None:
                    _walk(branch, inside_variable, spans)
        elif hasattr(sre, "ATOMIC_GROUP") and op == sre.ATOMIC_GROUP:
            _walk(arg, inside_variable, spans)


@functools.lru_cache(maxsize=512)
def compile_search_pattern(pattern: str) -> tuple[re.Pattern[str], _Cost]:
    """Compile a search regex: 400 invalid-regex if malformed, 422 unsafe-regex if it may blow up.
    Kept per pattern: verification clients ask the same one again and again (refusals are not kept)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise BadInput(f"a search pattern may be at most {MAX_PATTERN_LENGTH} characters", code="invalid-regex")
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        raise BadInput(f"/{pattern}/ is not a valid regular expression: {error}", code="invalid-regex") from None
    spans: list[int | None] = []
    try:
        compiled = compile_pattern(pattern)  # the shared check used for attribute definitions
        parsed = sre_parse.parse(pattern)
        _walk(parsed.data, False, spans)
    except (ValueError, RecursionError) as error:
        raise Unprocessable(f"the pattern /{pattern}/ is not safe to run: {error}", code="unsafe-regex") from None
    first = parsed.data[0] if len(parsed.data) else None
    multiline = bool(parsed.state.flags & re.MULTILINE)
    anchored = first is not None and first[0] == sre.AT and (
        first[1] == sre.AT_BEGINNING_STRING or (first[1] == sre.AT_BEGINNING and not multiline)
    )
    return compiled, _Cost(anchored=anchored, spans=tuple(spans))


@dataclass
class _Compiled:
    spec: SearchFilter
    low: Decimal | None = None
    high: Decimal | None = None
    regex: re.Pattern[str] | None = None
    cost: _Cost | None = None


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


@dataclass
class Matcher:
    """All filters of one search, cheapest first, with the regex work budget of that search."""

    filters: list[SearchFilter]
    budget: int = REGEX_WORK_BUDGET
    spent: int = 0
    _compiled: list[_Compiled] = field(default_factory=list)

    def __post_init__(self) -> None:
        order = {"eq": 0, "range": 1, "regex": 2}
        for spec in sorted(self.filters, key=lambda item: order[item.op]):
            entry = _Compiled(spec)
            if spec.op == "range":
                entry.low = None if spec.min is None else _decimal(spec.min)
                entry.high = None if spec.max is None else _decimal(spec.max)
            elif spec.op == "regex":
                entry.regex, entry.cost = compile_search_pattern(spec.pattern or "")
            self._compiled.append(entry)

    def matches(self, attributes: dict[str, Any], kinds: dict[str, str]) -> bool:
        """True when every filter holds; attributes the caller may not see are simply absent."""
        return all(self._holds(entry, attributes.get(entry.spec.attribute), kinds.get(entry.spec.attribute))
                   for entry in self._compiled)

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
        assert entry.regex is not None and entry.cost is not None
        self.spent += entry.cost.steps(len(actual))
        if self.spent > self.budget:
            raise Unprocessable(
                f"the pattern /{spec.pattern}/ would take too long on the values in this set; anchor it "
                "with ^, use fewer * and +, or add eq/range filters to narrow the search first",
                code="search-too-expensive",
            )
        return entry.regex.search(actual) is not None
