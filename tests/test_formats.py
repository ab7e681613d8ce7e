"""Set formats: the HTML and Markdown renderers, escaping, and format plugins."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any

import orjson
import pytest

from models import formats
from models.events import Event
from models.results import Rendered
from server.formats import escape_markdown, load_format_plugins, render_html, render_markdown

from .conftest import Api, assert_problem
from .sethelpers import SETS, add, make_set, make_token, make_type

NASTY = '<script>alert("x")</script> & *bold* _it_ [link](https://evil.example) `code` # hash | pipe ~~gone~~'


def shout(document: dict[str, Any]) -> Rendered:
    """A third-party format: the set name in capitals."""
    return Rendered("text/plain; charset=utf-8", document["set"]["name"].upper())


NOT_CALLABLE = "a renderer must be callable"


@pytest.fixture
def restore_formats() -> Iterator[None]:
    """Tests that register formats put the registry back as it was."""
    saved = dict(formats.FORMATS)
    yield
    formats.FORMATS.clear()
    formats.FORMATS.update(saved)


async def nasty_set(api: Api, owner: str) -> dict[str, Any]:
    type_id = await make_type(api, owner, name="Gem <b>", symbol="G&")
    token = await make_token(api, owner, type_id, label=NASTY, secret="vault-7", count=3)
    shelf = await make_set(api, owner, "<b>Shelf</b> #1", description="- not a list\n1. nor this\n---\n<i>plain</i>")
    assert (await add(api, owner, shelf["id"], token)).status == 200
    return shelf


async def test_sets_format__html_is_autoescaped(api: Api) -> None:
    alice = await api.user("alice")
    shelf = await nasty_set(api, alice)
    reply = await api.get(f"{SETS}/{shelf['id']}/format/html")
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    text = reply.text
    assert "<script>" not in text and "<b>" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; *bold*" in text
    assert "<title>&lt;b&gt;Shelf&lt;/b&gt; #1</title>" in text
    assert "Gem &lt;b&gt; (G&amp;)" in text and "alice@" in text
    assert html.unescape(text).count(NASTY) == 1  # the value is all there, only escaped
    assert "vault-7" not in text  # private values are for the owner only
    assert "vault-7" in (await api.get(f"{SETS}/{shelf['id']}/format/html", token=alice)).text


async def test_sets_format__rendered_formats_get_the_pages_security_headers(api: Api) -> None:
    """A browser renders these: no script, no sniffing; only our own set page may frame them."""
    alice = await api.user("alice")
    shelf = await nasty_set(api, alice)
    for name in ("html", "markdown"):
        reply = await api.get(f"{SETS}/{shelf['id']}/format/{name}")
        assert reply.status == 200, reply
        policy = reply.headers["Content-Security-Policy"]
        assert "script-src 'none'" in policy and "object-src 'none'" in policy and "base-uri 'none'" in policy
        assert "frame-ancestors 'self'" in policy, policy
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "SAMEORIGIN"


async def test_sets_format__markdown_escapes_significant_characters(api: Api) -> None:
    alice = await api.user("alice")
    shelf = await nasty_set(api, alice)
    reply = await api.get(f"{SETS}/{shelf['id']}/format/markdown")
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"] == "text/markdown; charset=utf-8"
    text = reply.text
    assert text.startswith("# \\<b\\>Shelf\\</b\\> \\#1\n")
    assert ("\\<script\\>alert(\"x\")\\</script\\> \\& \\*bold\\* \\_it\\_ \\[link\\](https://evil.example) "
            "\\`code\\` \\# hash \\| pipe \\~\\~gone\\~\\~") in text
    assert "\\- not a list\\\n1\\. nor this\\\n\\---\\\n\\<i\\>plain\\</i\\>" in text
    assert "- **label**: " in text and "vault-7" not in text
    assert "vault-7" in (await api.get(f"{SETS}/{shelf['id']}/format/markdown", token=alice)).text


async def test_sets_format__markdown_renders_values_literally(api: Api) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    alice = await api.user("alice")
    shelf = await nasty_set(api, alice)
    text = (await api.get(f"{SETS}/{shelf['id']}/format/markdown")).text
    rendered = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)
    assert rendered.count("<h1>") == 1 and rendered.count("<h2>") == 1  # only the template's own structure
    for tag in ("<script", "<b>", "<i>", "<em>", "<strong>bold", "<a ", "<code>", "<s>", "<del>", "<table", "<ol", "<hr"):
        assert tag not in rendered, tag
    assert NASTY in html.unescape(rendered)  # the value itself survives, as text


def test_escape_markdown__round_trips_through_a_commonmark_parser() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    samples = [NASTY, "1. one", "2) two", "- dash", "+ plus", "> quote", "---", "===", "    indented code",
               "a\n\nb", "12.50", "-5", "x\\", "![img](a.png)", "<http://a.b>", "&amp; &#65;", "a | b\n--|--", "```"]
    for sample in samples:
        body = parser.render(escape_markdown(sample)).strip()
        assert body.startswith("<p>") and body.endswith("</p>"), (sample, body)
        literal = html.unescape(body[3:-4].replace("<br />\n", "\n"))
        assert literal == "\n".join(line.lstrip(" \t") for line in sample.split("\n")).strip(), (sample, body)
    assert escape_markdown("12.50") == "12.50" and escape_markdown("-5") == "-5"  # plain values stay readable


async def test_sets_format__empty_set_and_truncation(small_api: Api) -> None:
    api = small_api  # site.limits.max_set_search_tokens = 2 bounds the rendering too
    alice = await api.user("alice")
    empty = await make_set(api, alice, "Empty")
    assert "This set has no tokens." in (await api.get(f"{SETS}/{empty['id']}/format/html")).text
    assert "This set has no tokens." in (await api.get(f"{SETS}/{empty['id']}/format/markdown")).text
    type_id = await make_type(api, alice)
    tokens = [await make_token(api, alice, type_id, label=f"gem {index}") for index in range(3)]
    shelf = await make_set(api, alice)
    await add(api, alice, shelf["id"], *tokens)
    text = (await api.get(f"{SETS}/{shelf['id']}/format/html")).text
    assert "gem 0" in text and "gem 1" in text and "gem 2" not in text
    assert "Only the first 2 tokens are shown." in text and "3 tokens" in text


async def test_sets_format__unknown_format_is_404_listing_the_formats(api: Api) -> None:
    alice = await api.user("alice")
    shelf = await make_set(api, alice)
    problem = assert_problem(await api.get(f"{SETS}/{shelf['id']}/format/pdf"), 404, "unknown-format")
    assert problem["available"] == ["html", "markdown"]
    assert "html, markdown" in problem["detail"] and "pdf" in problem["detail"]
    assert_problem(await api.get(f"{SETS}/{shelf['id']}/format/{'x' * 65}"), 400, "validation-failed")


async def test_sets_format__unknown_or_deleted_set_is_404(api: Api) -> None:
    alice = await api.user("alice")
    shelf = await make_set(api, alice)
    assert (await api.delete(f"{SETS}/{shelf['id']}", token=alice)).status == 204
    events = await Event.all().count()
    assert_problem(await api.get(f"{SETS}/{shelf['id']}/format/html"), 404, "set-not-found")
    assert_problem(await api.get(f"{SETS}/nope/format/markdown"), 404, "set-not-found")
    assert await Event.all().count() == events  # reading changes nothing


async def test_sets_format__a_third_party_plugin_gets_a_plain_document(api: Api, restore_formats: None) -> None:
    seen: list[dict[str, Any]] = []

    def csv(document: dict[str, Any]) -> Rendered:
        seen.append(document)
        rows = [f"{token['id']},{token['attributes']['label']}" for token in document["tokens"]]
        return Rendered("text/csv; charset=utf-8", "\n".join(["id,label", *rows]))

    async def later(document: dict[str, Any]) -> Rendered:  # renderers may be coroutines
        return Rendered("text/plain; charset=utf-8", f"{document['set']['token_count']} tokens")

    formats.register_format("csv", csv)
    formats.register_format("count-async", later)
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    token = await make_token(api, alice, type_id, label="ruby")
    shelf = await make_set(api, alice)
    await add(api, alice, shelf["id"], token)
    reply = await api.get(f"{SETS}/{shelf['id']}/format/csv")
    assert reply.status == 200 and reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.text == f"id,label\n{token},ruby"
    [document] = seen
    orjson.dumps(document)  # JSON-ready: a plugin needs no ORM
    assert document["set"]["id"] == shelf["id"] and document["owner"]["username"] == "alice"
    assert document["types"][type_id]["name"] == "Gem" and document["truncated"] is False
    assert (await api.get(f"{SETS}/{shelf['id']}/format/count-async")).text == "1 tokens"
    problem = assert_problem(await api.get(f"{SETS}/{shelf['id']}/format/pdf"), 404, "unknown-format")
    assert problem["available"] == ["count-async", "csv", "html", "markdown"]


def test_load_format_plugins__registers_entry_points_and_skips_broken_ones(
    restore_formats: None, caplog: pytest.LogCaptureFixture
) -> None:
    points = [
        EntryPoint(name="shout", value="tests.test_formats:shout", group="tallystick.formats"),
        EntryPoint(name="missing", value="tests.no_such_module:render", group="tallystick.formats"),
        EntryPoint(name="inert", value="tests.test_formats:NOT_CALLABLE", group="tallystick.formats"),
        EntryPoint(name="bad name!", value="tests.test_formats:shout", group="tallystick.formats"),
    ]
    with caplog.at_level(logging.ERROR, logger="tallystick.formats"):
        assert load_format_plugins(points) == ["shout"]
    assert formats.FORMATS["shout"] is shout
    assert not {"missing", "inert", "bad name!"} & set(formats.FORMATS)
    logged = caplog.text
    assert "'missing'" in logged and "'inert'" in logged and "'bad name!'" in logged


def test_load_format_plugins__finds_the_built_ins_by_entry_point(restore_formats: None) -> None:
    formats.FORMATS.clear()
    assert sorted(load_format_plugins()) == ["html", "markdown"]
    assert formats.FORMATS["html"] is render_html and formats.FORMATS["markdown"] is render_markdown


def test_register_format__refuses_bad_names_and_non_callables(restore_formats: None) -> None:
    with pytest.raises(ValueError):
        formats.register_format("has space", shout)
    with pytest.raises(ValueError):
        formats.register_format("", shout)
    with pytest.raises(TypeError):
        formats.register_format("fine", NOT_CALLABLE)  # type: ignore[arg-type]
    assert "fine" not in formats.FORMATS
