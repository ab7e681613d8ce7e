"""At phone width a table becomes stacked cards (server/static/style.css): each cell shows its
column's name from its data-label, so every cell of every page's table must carry one."""

from __future__ import annotations

import re
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "templates" / "pages"


def test_pages_phone__every_table_cell_names_its_column() -> None:
    unnamed = [
        f"{path.name}: {cell}"
        for path in sorted(PAGES.glob("*.j2"))
        for cell in re.findall(r"<td\b[^>]*>", path.read_text())
        if "data-label=" not in cell and "colspan" not in cell  # a spanning cell is a sentence ("Nothing yet.")
    ]
    assert not unnamed, "cells without a data-label:\n" + "\n".join(unnamed)

