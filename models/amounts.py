"""Exact amounts: decimal strings at the edge, integer minor units in the database."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import BadInput

__all__ = ["MAX_DECIMALS", "MAX_MINOR_UNITS", "to_minor", "to_decimal_string"]

MAX_DECIMALS = 18
# Fits a signed 64-bit column on every database we support.
MAX_MINOR_UNITS = 2**63 - 1


def to_minor(amount: str | int | Decimal, decimals: int, *, field: str = "amount") -> int:
    """Parse a positive amount that is a multiple of the smallest unit into minor units."""
    text = str(amount).strip()
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise _bad(field, f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise _bad(field, "must be a finite number")
    if value <= 0:
        raise _bad(field, "must be greater than zero")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        unit = Decimal(1).scaleb(-decimals)
        raise _bad(field, f"must be a multiple of the smallest unit {unit}")
    minor = int(scaled)
    if minor > MAX_MINOR_UNITS:
        raise _bad(field, "is too large")
    return minor


def to_decimal_string(minor: int, decimals: int) -> str:
    """Render minor units as a fixed-point string with exactly `decimals` places."""
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
