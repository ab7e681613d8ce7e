"""Token-set formats: the built-in HTML and Markdown renderers and the plugin loader.

Formats are plugins in the entry point group "tallystick.formats" (pyproject.toml declares
the two built-ins here). `load_format_plugins` runs once in create_app and registers each
into models.formats, where the operation `sets.format` finds them. A renderer takes the
plain set document built by that operation and returns a models.results.Rendered.

Escaping is on by default in both templates, so a template cannot forget it: HTML uses
jinja2 autoescaping; Markdown passes every `{{ ... }}` output through `escape_markdown`
(jinja2's `finalize`), which backslash-escapes the characters CommonMark gives a meaning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined

from models.formats import FORMATS, register_format
from models.results import Rendered

__all__ = ["GROUP", "load_format_plugins", "render_html", "render_markdown", "escape_markdown", "display"]

log = logging.getLogger("tallystick.formats")

GROUP = "tallystick.formats"
HTML_TYPE = "text/html; charset=utf-8"
MARKDOWN_TYPE = "text/markdown; charset=utf-8"

# Inline syntax (emphasis, code, links, images, autolinks and raw HTML, tables,
# strikethrough, entities, headings' closing #) is escaped wherever it appears...
_MD_INLINE = re.compile(r"([\\`*_\[\]<>#!|~&])")
# ...block syntax only where it counts, at the start of a line: list markers ("- ", "+ ",
# "1. ", "1) ") and thematic breaks or setext underlines ("---", "==="). "-5" or "12.50" stay.
_MD_LIST_ITEM = re.compile(r"^(?:[-+](?=[ \t]|$)|\d{1,9}(?=[.)](?:[ \t]|$)))")
_MD_RULE = re.compile(r"^[-=][-= \t]*$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def display(value: Any) -> str:
    """An attribute value as text: JSON spelling for booleans, null, lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def _escape_line(line: str) -> str:
    line = _MD_INLINE.sub(r"\\\1", line.lstrip(" \t"))  # 4 leading spaces would open a code block
    match = _MD_LIST_ITEM.match(line)
    if match and match.group(0).isdigit():  # "1. " opens an ordered list: escape the dot or parenthesis
        return f"{line[:match.end()]}\\{line[match.end():]}"
    if match or _MD_RULE.match(line):
        return f"\\{line}"
    return line


def escape_markdown(value: Any) -> str:
    """Text that renders literally in CommonMark; line breaks become hard breaks (a trailing \\)."""
    text = (value if isinstance(value, str) else display(value)).strip()  # a final \ would show
    return "\\\n".join(_escape_line(line) for line in _LINE_BREAK.split(text))


@cache
def _environment(kind: str) -> Environment:
    loader = PackageLoader("templates", "formats")
    if kind == "html":
        environment = Environment(loader=loader, autoescape=True, undefined=StrictUndefined,
                                  trim_blocks=True, lstrip_blocks=True)
    else:
        environment = Environment(loader=loader, autoescape=False, undefined=StrictUndefined,
                                  trim_blocks=True, lstrip_blocks=True, finalize=escape_markdown)
    environment.filters["display"] = display
    return environment


def _context(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "token_set": document["set"],
        "owner": document["owner"],
        "tokens": document["tokens"],
        "types": document.get("types", {}),
        "truncated": document.get("truncated", False),
    }


def render_html(document: dict[str, Any]) -> Rendered:
    """The set as a standalone HTML page (autoescaped)."""
    body = _environment("html").get_template("set.html.j2").render(**_context(document))
    return Rendered(HTML_TYPE, body)


def render_markdown(document: dict[str, Any]) -> Rendered:
    """The set as CommonMark, every value escaped."""
    body = _environment("markdown").get_template("set.md.j2").render(**_context(document))
    return Rendered(MARKDOWN_TYPE, body)


def load_format_plugins(points: Iterable[EntryPoint] | None = None) -> list[str]:
    """Register every format plugin; a broken one is logged and left out, never fatal."""
    loaded: list[str] = []
    for point in entry_points(group=GROUP) if points is None else points:
        try:
            renderer = point.load()
            previous = FORMATS.get(point.name)
            register_format(point.name, renderer)
        except Exception:  # third-party code: any failure must not stop the server starting
            log.exception("format plugin %r (%s) could not be loaded and is left out", point.name, point.value)
            continue
        if previous is not None and previous is not renderer:
            log.warning("format plugin %r (%s) replaces an earlier renderer of that name", point.name, point.value)
        loaded.append(point.name)
    return loaded
