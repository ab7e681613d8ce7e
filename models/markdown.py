"""Markdown from users turned into HTML that is safe to show anywhere (pages, actor documents).

markdown-it-py (CommonMark, raw HTML off) renders; nh3 (ammonia) then keeps only an
allow-list of tags and attributes, so neither the renderer's output nor a bug in it can
bring a script, a style or an event handler along. Links get rel="nofollow noopener".
HTML that other servers send (a remote actor's summary) goes through the same allow-list.
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt

__all__ = ["markdown_to_html", "sanitize_html"]

_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "del", "s",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "img",
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


def sanitize_html(html: str | None) -> str:
    """Only the allowed tags and attributes of `html` (empty for None)."""
    if not html:
        return ""
    return nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"}, link_rel="nofollow noopener"
    )


def markdown_to_html(text: str | None) -> str:
    """Sanitised HTML for a markdown string (empty for None)."""
    if not text:
        return ""
    return sanitize_html(_parser().render(str(text)))
