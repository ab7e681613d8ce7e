"""Where the browser tests keep their screenshots (issue 23: artifacts of the browser flows).

$TALLYSTICK_SCREENSHOTS names a directory to write them to (CI keeps it as an artifact);
without it they go to a `screenshots` folder under pytest's temporary directory (see
`--basetemp`; each xdist worker has its own, so two processes never write one file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["folder", "save", "use"]

_factories: list[pytest.TempPathFactory] = []  # this process's pytest temporary directory, set once per session
_made: list[Path] = []


def use(factory: pytest.TempPathFactory) -> None:
    _factories[:] = [factory]


def folder() -> Path:
    """The screenshots' directory, made on first use."""
    if not _made:
        chosen = os.environ.get("TALLYSTICK_SCREENSHOTS")
        if chosen:
            Path(chosen).mkdir(parents=True, exist_ok=True)
            _made.append(Path(chosen))
        else:
            assert _factories, "tests/conftest.py sets the temporary directory at the start of the session"
            _made.append(_factories[0].mktemp("screenshots", numbered=False))
    return _made[0]


def save(target: Any, name: str, *, full_page: bool = True) -> Path:
    """A PNG of a Playwright page (the whole page) or, with full_page=False, of a locator."""
    path = folder() / f"{name}.png"
    if full_page:
        target.screenshot(path=str(path), full_page=True)
    else:
        target.screenshot(path=str(path))
    return path
