"""Markdown from users rendered to HTML that is safe to put in a page.

markdown-it-py (CommonMark, raw HTML off) renders; nh3 (ammonia) then keeps only an
allow-list of tags and attributes, so neither the renderer's output nor a bug in it can
bring a script, a style or an event handler into the page. Links get rel="nofollow noopener".
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

__all__ = ["render_markdown"]

_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "del",
    "s",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def render_markdown(text: str | None) -> Markup:
    """Sanitised HTML for a markdown string (empty for None)."""
    if not text:
        return Markup("")
    html = _parser().render(str(text))
    clean = nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"}, link_rel="nofollow noopener"
    )
    return Markup(clean)  # sanitised above
