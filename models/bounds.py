"""Bounds for the numbers callers send, in one place.

Query parameters arrive as text: "1e12", "1e999" (infinity as a float), "nan" and "-1" all
parse. Unbounded, a duration became `timedelta(seconds=1e12)` and a 500 (OverflowError), and
an integer past 64 bits one from the database driver. Each numeric input field uses one of
these types, so such values are a 400 validation-failed naming the field and the bound.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["MAX_SECONDS", "MAX_DAYS", "MAX_VERSION", "Seconds", "Hours", "Days", "WholeDays", "Version"]

MAX_SECONDS = 10 * 365 * 24 * 3600  # ten years: far beyond any job, well within datetime's range
MAX_DAYS = 10 * 365
MAX_VERSION = 2**63 - 1  # the BIGINT columns

Seconds = Annotated[
    float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False, description=f"seconds, more than 0, at most {MAX_SECONDS}")
]
Hours = Annotated[float, Field(gt=0, le=MAX_DAYS * 24, allow_inf_nan=False)]
Days = Annotated[float, Field(gt=0, le=MAX_DAYS, allow_inf_nan=False)]
WholeDays = Annotated[int, Field(ge=1, le=MAX_DAYS)]
Version = Annotated[int, Field(ge=1, le=MAX_VERSION)]
