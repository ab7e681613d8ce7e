"""Exact amounts: decimal strings at the edge, integer minor units in the database.

Every amount string that reaches the server (API input, supply limits, remote gives) goes
through `parse_decimal`, which reads the digits and the exponent as text and bounds both
before any arithmetic: `Decimal("1e999981")` is cheap to hold but takes half a minute to
turn into an int, and scaling it past the context's exponent limit raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadInput, Unprocessable

__all__ = [
    "MAX_AMOUNT_CHARS",
    "MAX_DECIMALS",
    "MAX_MINOR_UNITS",
    "ExactDecimal",
    "check_in_range",
    "out_of_range",
    "parse_decimal",
    "to_minor",
    "to_decimal_string",
]

MAX_DECIMALS = 18
# Fits a signed 64-bit column on every database we support (PostgreSQL BIGINT; SQLite turns
# an integer that overflows into a REAL, so the bound is checked before every write).
MAX_MINOR_UNITS = 2**63 - 1
MAX_AMOUNT_CHARS = 40  # as the API's amount fields, and RemoteCredit.amount
_MAX_DIGITS = len(str(MAX_MINOR_UNITS))  # 19: more significant digits cannot fit

# Plain ASCII only: Decimal() also takes "1_000", "NaN", "Infinity" and non-ASCII digits.
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")


@dataclass(frozen=True)
class ExactDecimal:
    """A decimal number as `digits * 10**exponent`, with no trailing zeros in `digits`."""

    negative: bool
    digits: int
    exponent: int

    @property
    def decimals(self) -> int:
        """Decimal places needed to write the number exactly."""
        return max(0, -self.exponent)


def parse_decimal(text: str, *, field: str = "amount") -> ExactDecimal:
    """Read a decimal string ("12.50", "1e3") without expanding it; 400 invalid-amount if not one."""
    text = text.strip()
    if len(text) > MAX_AMOUNT_CHARS:
        raise _bad(field, f"is longer than {MAX_AMOUNT_CHARS} characters")
    match = _DECIMAL.fullmatch(text)
    if match is None or not (match.group(2) or match.group(3)):
        raise _bad(field, f"{text!r} is not a decimal number")
    sign, whole, fraction, exponent = match.groups()
    fraction = fraction or ""
    digits = (whole + fraction).lstrip("0")
    stripped = digits.rstrip("0")
    scale = int(exponent or 0) - len(fraction) + (len(digits) - len(stripped))
    return ExactDecimal(sign == "-", int(stripped or "0"), scale if stripped else 0)


def to_minor(amount: str | int, decimals: int, *, field: str = "amount", what: str = "the amount is more than") -> int:
    """Parse a positive amount that is a multiple of the smallest unit into minor units.

    400 invalid-amount when it is not a positive decimal that is a multiple of the smallest
    unit; 422 amount-out-of-range when it is more than a 64-bit column can hold.
    """
    if isinstance(amount, bool):
        raise _bad(field, "must be a decimal string")
    if isinstance(amount, int):  # exact already (a JSON integer); only its size needs checking
        if amount <= 0:
            raise _bad(field, "must be greater than zero")
        minor = amount * 10**decimals if amount.bit_length() <= 64 else MAX_MINOR_UNITS + 1
        return check_in_range(minor, decimals, field=field, what=what)
    value = parse_decimal(amount, field=field)
    if value.negative or value.digits == 0:
        raise _bad(field, "must be greater than zero")
    scale = value.exponent + decimals
    if scale < 0:  # digits has no trailing zero, so digits * 10**scale is not a whole number
        unit = "1" if decimals == 0 else f"0.{'0' * (decimals - 1)}1"
        raise _bad(field, f"must be a multiple of the smallest unit {unit}")
    if len(str(value.digits)) + scale > _MAX_DIGITS:  # at least 10**19: refused without expanding it
        raise out_of_range(field, what, decimals)
    return check_in_range(value.digits * 10**scale, decimals, field=field, what=what)


def check_in_range(total: int, decimals: int, *, field: str, what: str) -> int:
    """`total` if a 64-bit column can hold it, else 422 amount-out-of-range."""
    if not 0 <= total <= MAX_MINOR_UNITS:
        raise out_of_range(field, what, decimals)
    return total


def out_of_range(field: str, what: str, decimals: int) -> Unprocessable:
    """422 amount-out-of-range; `what` leads the message ("this would make the minted total exceed")."""
    largest = to_decimal_string(MAX_MINOR_UNITS, decimals)
    places = f"{decimals} decimal place{'' if decimals == 1 else 's'}"
    message = f"{what} the largest amount a token type can hold ({largest} at {places}: {MAX_MINOR_UNITS} minor units)"
    return Unprocessable(
        message,
        code="amount-out-of-range",
        errors=[{"field": field, "message": message}],
        extra={"largest": largest},
    )


def to_decimal_string(minor: int, decimals: int) -> str:
    """Render minor units as a fixed-point string with exactly `decimals` places."""
    # int(): a count that an older version let overflow was stored by SQLite as a REAL (a
    # float when read back); it must still render, so the type stays readable after upgrading.
    minor = int(minor)
    if decimals == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}"


def _bad(field: str, message: str) -> BadInput:
    return BadInput(
        f"{field} {message}",
        code="invalid-amount",
        errors=[{"field": field, "message": message}],
    )
