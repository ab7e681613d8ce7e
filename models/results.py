"""Non-JSON results an operation may return; the server renders each kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Rendered", "FileResult"]


@dataclass(frozen=True)
class Rendered:
    """A document rendered by the domain (e.g. a set as HTML or Markdown)."""

    content_type: str
    body: str


@dataclass(frozen=True)
class FileResult:
    path: Path
    content_type: str
    filename: str | None = None
