"""Markdown from users rendered to HTML that is safe to put in a page (see models/markdown.py)."""

from __future__ import annotations

from markupsafe import Markup

from models.markdown import markdown_to_html

__all__ = ["render_markdown"]


def render_markdown(text: str | None) -> Markup:
    """Sanitised HTML for a markdown string (empty for None)."""
    return Markup(markdown_to_html(text))  # sanitised by markdown_to_html
