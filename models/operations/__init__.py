"""Importing this package registers every operation in REGISTRY."""

from . import accounts  # noqa: F401
