"""Names people read (types, sets, groups, display names, app names) refuse control and invisible characters."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, assert_problem

OVERRIDE = "invoice\u202egpj.exe"  # shows as "invoiceexe.jpg"


async def _type(api: Api, token: str, name: str = "Cups") -> dict[str, Any]:
    reply = await api.post("/api/v1/types", {"name": name, "symbol": "CUP", "fungible": True, "smallest_unit": 0}, token=token)
    assert reply.status == 201, reply
    return reply.body


async def _set(api: Api, token: str) -> dict[str, Any]:
    reply = await api.post("/api/v1/sets", {"name": "Shelf"}, token=token)
    assert reply.status == 201, reply
    return reply.body


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (OVERRIDE, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("al\u200bice", "U+200B ZERO WIDTH SPACE"),
        ("\u2067Cups", "U+2067 RIGHT-TO-LEFT ISOLATE"),
        ("Cups\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("Cu\u200dps", "U+200D ZERO WIDTH JOINER"),
        ("Cups\u0085more", "U+0085"),
        ("two\nlines", "U+000A LINE FEED"),
    ],
)
async def test_names__every_name_refuses_invisible_and_control_characters(api: Api, text: str, named: str) -> None:
    alice = await api.user("alice")
    cups, shelf = await _type(api, alice), await _set(api, alice)
    attempts = [
        ("POST", "/api/v1/types", {"name": text, "symbol": "CUP", "fungible": True, "smallest_unit": 0}),
        ("POST", "/api/v1/types", {"name": "Mugs", "symbol": text, "fungible": True, "smallest_unit": 0}),
        ("PATCH", f"/api/v1/types/{cups['id']}", {"name": text}),
        ("POST", "/api/v1/sets", {"name": text}),
        ("PATCH", f"/api/v1/sets/{shelf['id']}", {"name": text}),
        ("POST", "/api/v1/groups", {"name": text}),
        ("PATCH", "/api/v1/users/me", {"display_name": text}),
        ("POST", "/api/v1/apps", {"client_name": text, "redirect_uris": "https://app.example/cb"}),
    ]
    for method, path, body in attempts:
        problem = assert_problem(await api.call(method, path, json=body, token=alice), 400, "validation-failed")
        assert named in problem["detail"] and ("invisible" in problem["detail"] or "control" in problem["detail"]), (path, problem)
    # Nothing changed.
    assert (await api.get(f"/api/v1/types/{cups['id']}", token=alice)).body["name"] == "Cups"
    assert (await api.get(f"/api/v1/sets/{shelf['id']}", token=alice)).body["name"] == "Shelf"
    assert (await api.get("/api/v1/groups", token=alice)).body["items"] == []
    assert len((await api.get("/api/v1/types", params={"owner": "alice"})).body["items"]) == 1


async def test_names__joiners_inside_non_latin_words_and_emoji_are_spelling(api: Api) -> None:
    """Persian needs the zero-width non-joiner, emoji sequences the joiner: those names are accepted."""
    alice = await api.user("alice")
    for name in ("می\u200cخواهم", "Family \U0001f468\u200d\U0001f469\u200d\U0001f467", "Café ☕ «Noir»"):
        created = await _type(api, alice, name)
        assert created["name"] == name
