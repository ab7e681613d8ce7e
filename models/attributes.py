"""Attribute definitions of token types: the schema, value validation, and the content hash.

A type lists its own definitions; a token's *effective* schema adds those inherited from
parent types (the nearest definition of a name wins). Values are checked here, without the
database: callers resolve token references and inheritance (models/operations/tokens.py).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_serializer,
    model_validator,
)

from .base import iso
from .patterns import PatternError, compile_user_pattern
from .registry import Input

__all__ = [
    "AttributeDef",
    "AttributeKind",
    "NAME_PATTERN",
    "MediaUploadRequired",
    "ScriptForbidden",
    "compile_pattern",
    "STORED",
    "validate_value",
    "is_hidden",
    "content_hash",
    "canonical_json",
    "TextInput",
    "json_depth",
    "fits",
]

AttributeKind = Literal[
    "string", "integer", "decimal", "boolean", "datetime", "enum", "url", "markdown", "json", "media", "token", "script"
]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_PATTERN_LENGTH = 500
# Validation context for definitions read back from the database: they were checked when
# saved, and a pattern saved before RE2 must not make the type unreadable.
STORED: dict[str, Any] = {"stored": True}
DEFAULT_MAX_STRING = 10_000
MAX_URL_LENGTH = 2048
MAX_TOKEN_ID_LENGTH = 64
MAX_JSON_DEPTH = 32
INT64 = 2**63
_BOUND_LIMIT = Decimal(10) ** 30  # min/max and decimal values stay within 30 integer digits
_MAX_DECIMAL_DIGITS = 40
_NUMERIC = ("integer", "decimal")
_TEXTUAL = ("string", "markdown", "url")


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (input may be ~1000 levels deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item]
    return deepest


class TextInput(Input):
    """Input whose strings, at any depth, hold no NUL character.

    PostgreSQL refuses NUL in text and jsonb; refusing it here gives a 400, not a 500.
    """

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if "\x00" in item:
                    raise ValueError("text must not contain the NUL character (\\u0000)")
            elif isinstance(item, dict):
                stack += list(item.keys()) + list(item.values())
            elif isinstance(item, list):
                stack += item
        return data


class ScriptForbidden(Exception):
    """Script attributes are set by the server only, never through the API."""


class MediaUploadRequired(Exception):
    """Media values come from an upload, not from a JSON value."""


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """Compile a user regex (at most 500 characters) with RE2 (models/patterns.py); ValueError
    (a PatternError) when it is malformed or uses a construct RE2 refuses."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"the pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_LENGTH}")
    return compile_user_pattern(pattern)


def _plain_number(value: Decimal) -> int | str:
    """JSON form of a bound: an integer when it is one (and fits), else a decimal string."""
    if value == value.to_integral_value() and abs(value) < INT64:
        return int(value)
    return format(value.normalize(), "f")


class AttributeDef(BaseModel):
    """One attribute of a token type; see DESIGN.md "Tokens"."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, str_max_length=DEFAULT_MAX_STRING)

    name: str = Field(pattern=NAME_PATTERN, description="an identifier: letters, digits, underscore")
    type: AttributeKind
    description: str = Field("", max_length=1000)
    min: Decimal | None = Field(None, allow_inf_nan=False, description="numbers: lowest value; strings: min length")
    max: Decimal | None = Field(None, allow_inf_nan=False, description="numbers: highest value; strings: max length")
    enum: list[StrictStr | StrictInt] | None = Field(None, min_length=1, max_length=500)
    regex: str | None = Field(None, min_length=1, max_length=MAX_PATTERN_LENGTH, description="searched in the value")
    default: Any = None
    nullable: StrictBool = True
    private: StrictBool = False
    read: Literal["public", "owner"] = "public"
    verifiable: StrictBool | None = Field(
        None, description="private/owner-readable values: allow range and pattern checks by verification clients"
    )
    write: Literal["owner"] = "owner"

    @field_serializer("min", "max")
    def _bound(self, value: Decimal | None) -> int | str | None:
        return None if value is None else _plain_number(value)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> AttributeDef:
        kind = self.type
        for bound in (self.min, self.max):
            if bound is None:
                continue
            if kind not in _NUMERIC + _TEXTUAL:
                raise ValueError(f"min and max apply to numbers and strings, not to {kind} attributes")
            if abs(bound) >= _BOUND_LIMIT:
                raise ValueError("min and max must have at most 30 integer digits")
            if _places(bound) > _MAX_DECIMAL_DIGITS:
                raise ValueError(f"min and max must have at most {_MAX_DECIMAL_DIGITS} decimal places")
            integral = bound == bound.to_integral_value()
            if kind in _TEXTUAL and (not integral or bound < 0):
                raise ValueError(f"min and max of a {kind} attribute are lengths: whole numbers from 0")
            if kind == "integer" and not integral:
                raise ValueError("min and max of an integer attribute must be whole numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be greater than max")
        if kind == "enum":
            if not self.enum:
                raise ValueError("an enum attribute needs an enum list of allowed values")
            keys = [(type(item), item) for item in self.enum]
            if len(set(keys)) != len(keys):
                raise ValueError("enum values must be unique")
        elif self.enum is not None:
            raise ValueError(f"enum applies only to enum attributes, not to {kind}")
        if self.regex is not None:
            if kind not in _TEXTUAL:
                raise ValueError(f"regex applies to string, markdown and url attributes, not to {kind}")
            if not (info.context or {}).get("stored"):
                compile_pattern(self.regex)  # a stored one may predate RE2: see _check_length
        if self.default is not None and kind != "script":
            if kind == "media":
                raise ValueError("a media attribute cannot have a default; upload a file to a token instead")
            try:
                self.default = validate_value(self, self.default)
            except ValueError as error:
                if not (info.context or {}).get("stored"):  # stored ones were checked when saved
                    raise ValueError(f"default {error}") from None
        return self

    def as_json(self) -> dict[str, Any]:
        """The stored and displayed form: JSON-native values only, unset options left out."""
        data = self.model_dump(mode="json")
        return {key: value for key, value in data.items() if value is not None and (key, value) != ("description", "")}


def is_hidden(definition: AttributeDef) -> bool:
    """Values of private or owner-readable attributes are shown only to the token's owner."""
    return definition.private or definition.read == "owner"


def _check_length(definition: AttributeDef, text: str, max_string: int) -> None:
    low = int(definition.min) if definition.min is not None else 0
    high = min(int(definition.max), max_string) if definition.max is not None else max_string
    if len(text) < low:
        raise ValueError(f"must be at least {low} characters long")
    if len(text) > high:
        raise ValueError(f"must be at most {high} characters long")
    if definition.regex is None:
        return
    try:
        compiled = compile_pattern(definition.regex)
    except PatternError as error:  # stored before patterns ran on RE2: values cannot be checked
        raise ValueError(
            f"cannot be checked: the type's pattern {definition.regex} can no longer be used ({error}); "
            "the type's owner must change it"
        ) from None
    if compiled.search(text) is None:  # on the loop's thread: RE2 is linear and text <= max_string
        raise ValueError(f"must match the pattern {definition.regex}")


def _check_range(definition: AttributeDef, number: Decimal | int) -> None:
    if definition.min is not None and number < definition.min:
        raise ValueError(f"must be at least {_plain_number(definition.min)}")
    if definition.max is not None and number > definition.max:
        raise ValueError(f"must be at most {_plain_number(definition.max)}")


def _decimal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a decimal number, sent as a string such as \"12.50\"")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError(f"{text[:40]!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    if abs(number) >= _BOUND_LIMIT or len(number.as_tuple().digits) > _MAX_DECIMAL_DIGITS:
        raise ValueError("is out of range (at most 30 integer digits and 40 digits in all)")
    if _places(number) > _MAX_DECIMAL_DIGITS:  # "1e-999999999" would be written out as a gigabyte of zeros
        raise ValueError(f"has more than {_MAX_DECIMAL_DIGITS} decimal places")
    return format(number, "f")


def _places(number: Decimal) -> int:
    """The decimal places `format(number, "f")` writes, read from the exponent without writing them."""
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _datetime(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("must be an ISO 8601 date and time such as 2024-05-01T12:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise ValueError("must include a time zone, such as Z for UTC")
    return iso(moment.astimezone(timezone.utc)) or ""


def validate_value(definition: AttributeDef, value: Any, max_string: int = DEFAULT_MAX_STRING) -> Any:
    """Check a non-null value against its definition and return its normalized form.

    Raises ValueError with a message that completes "<attribute> ...", ScriptForbidden for
    script attributes and MediaUploadRequired for media attributes.
    """
    kind = definition.type
    if kind == "script":
        raise ScriptForbidden(definition.name)
    if kind == "media":
        raise MediaUploadRequired(definition.name)
    if kind in ("string", "markdown"):
        if not isinstance(value, str):
            raise ValueError("must be a string")
        _check_length(definition, value, max_string)
        return value
    if kind == "url":
        if not isinstance(value, str):
            raise ValueError("must be a URL string")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in value):
            raise ValueError("must be an http or https URL with a host")
        _check_length(definition, value, min(max_string, MAX_URL_LENGTH))
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if not -INT64 <= value < INT64:
            raise ValueError("must fit in 64 bits")
        _check_range(definition, value)
        return value
    if kind == "decimal":
        text = _decimal(value)
        _check_range(definition, Decimal(text))
        return text
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == "datetime":
        return _datetime(value)
    if kind == "enum":
        allowed = definition.enum or []
        if not any(type(item) is type(value) and item == value for item in allowed):
            raise ValueError(f"must be one of {', '.join(repr(item) for item in allowed[:20])}")
        return value
    if kind == "token":
        if not isinstance(value, str) or not 0 < len(value) <= MAX_TOKEN_ID_LENGTH:
            raise ValueError("must be a token id")
        return value
    if kind == "json":
        if json_depth(value) > MAX_JSON_DEPTH:
            raise ValueError(f"must be nested at most {MAX_JSON_DEPTH} levels deep")
        try:
            size = len(orjson.dumps(value))
        except (orjson.JSONEncodeError, TypeError):
            raise ValueError("must be a JSON value nested at most 254 levels deep") from None
        if size > max_string:
            raise ValueError(f"is {size} bytes as JSON; the limit is {max_string}")
        return value
    raise ValueError(f"has an unknown attribute type {kind!r}")  # unreachable: the Literal lists every kind


def fits(definition: AttributeDef, value: Any) -> bool:
    """Whether a value (e.g. a default inherited from another type) is valid under a definition."""
    if definition.type == "script":
        return True  # only the server writes script values
    try:
        validate_value(definition, value)
    except (ValueError, MediaUploadRequired):
        return False
    return True


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no whitespace: the same document always gives the same bytes."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def content_hash(document: dict[str, Any]) -> str:
    """"sha256:" + hex SHA-256 of the canonical JSON; verification recomputes it."""
    return "sha256:" + hashlib.sha256(canonical_json(document)).hexdigest()
