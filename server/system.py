"""Calls made as the trusted local operator (the CLI, the demo loader): no user, every permission."""

from __future__ import annotations

from typing import Any

from models.context import Context
from models.registry import REGISTRY

from .settings import Settings

__all__ = ["system_call"]


async def system_call(settings: Settings, name: str, params: dict[str, Any]) -> Any:
    """Call an operation as the trusted local operator (the person at the console)."""
    from .app import site_from

    return await REGISTRY.call(Context(site=site_from(settings), system=True), name, params)
