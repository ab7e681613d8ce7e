"""The registry of token-set formats: a name -> a renderer of a plain set document.

Renderers are plugins (entry point group "tallystick.formats"). The server loads them at
start-up and registers them here, so the domain never imports the server: the operation
`sets.format` only looks a name up. A renderer receives a JSON-ready dict (the set view,
the token views the caller may see, their types and the owner) and needs no ORM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import NotFound
from .results import Rendered

__all__ = ["Renderer", "FORMATS", "register_format", "unregister_format", "get_renderer", "available_formats"]

Renderer = Callable[[dict[str, Any]], Rendered]

FORMATS: dict[str, Renderer] = {}
"""Registered formats by name; use register_format rather than writing to it."""


def register_format(name: str, renderer: Renderer) -> None:
    """Register (or replace) the renderer for a format name such as "html"."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"a format name uses letters, digits, - and _ (1-64 characters), not {name!r}")
    if not callable(renderer):
        raise TypeError(f"the renderer for format {name!r} is not callable: {renderer!r}")
    FORMATS[name] = renderer


def unregister_format(name: str) -> None:
    FORMATS.pop(name, None)


def available_formats() -> list[str]:
    return sorted(FORMATS)


def get_renderer(name: str) -> Renderer:
    """The renderer for a format; 404 unknown-format naming the formats there are."""
    renderer = FORMATS.get(name)
    if renderer is None:
        available = available_formats()
        listing = ", ".join(available) if available else "none are installed"
        raise NotFound(
            f"there is no format named {name[:64]!r}; available formats: {listing}",
            code="unknown-format",
            extra={"available": available},
        )
    return renderer
