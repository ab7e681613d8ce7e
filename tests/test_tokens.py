"""Tokens: create, read, list, update, delete; value validation, inheritance, privacy, versions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models.attributes import content_hash
from models.context import Context
from models.errors import BadInput, Conflict
from models.events import Event
from models.operations.tokens import Resolver, effective_attributes, save_token_change
from models.registry import REGISTRY
from models.tokens import Token, TokenType
from server.appkeys import SITE

from .conftest import Api, assert_problem

TOKENS = "/api/v1/tokens"
ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "title", "type": "string", "min": 2, "max": 20, "regex": "^[A-Z]"},
    {"name": "count", "type": "integer", "min": 0, "max": 100, "default": 1},
    {"name": "price", "type": "decimal", "min": "0.01"},
    {"name": "active", "type": "boolean", "default": True},
    {"name": "born", "type": "datetime"},
    {"name": "colour", "type": "enum", "enum": ["red", "blue"]},
    {"name": "site", "type": "url"},
    {"name": "notes", "type": "markdown", "max": 50},
    {"name": "extra", "type": "json"},
    {"name": "friend", "type": "token"},
    {"name": "secret", "type": "string", "private": True},
    {"name": "picture", "type": "media"},
]


async def make_type(api: Api, token: str, attributes: list[dict[str, Any]] | None = None, **changes: Any) -> str:
    body = {"name": "Card", "symbol": "CRD", "fungible": False, "smallest_unit": 0}
    body.update(changes, attributes=ATTRIBUTES if attributes is None else attributes)
    reply = await api.post("/api/v1/types", body, token=token)
    assert reply.status == 201, reply
    return reply.body["id"]


async def make_token(api: Api, token: str, type_id: str, **body: Any) -> dict[str, Any]:
    reply = await api.post(TOKENS, {"type": type_id, **body}, token=token)
    assert reply.status == 201, reply
    return reply.body


async def snapshot() -> tuple[int, int, list[tuple[str, int]]]:
    tokens = await Token.all().order_by("id").values_list("id", "version")
    return await Token.all().count(), await Event.all().count(), list(tokens)


async def test_tokens_create__stores_values_and_reports_effective_ones(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    reply = await api.post(TOKENS, {"type": type_id, "attributes": {
        "title": "Ace", "price": "12.50", "born": "2024-01-02T03:04:05+01:00", "colour": "red",
        "site": "https://example.org/a", "extra": {"b": [1, 2]}, "secret": "Hidden-Value",
    }}, token=alice)
    assert reply.status == 201, reply
    body = reply.body
    assert reply.headers["Location"] == f"{TOKENS}/{body['id']}" and reply.headers["ETag"] == '"1"'
    assert body["type"] == type_id and body["owner"]["username"] == "alice" and body["parent"] is None
    assert body["version"] == 1 and body["shareable"] is False
    assert body["attributes"]["count"] == 1 and body["attributes"]["active"] is True  # type defaults
    assert body["attributes"]["born"] == "2024-01-02T02:04:05Z" and body["attributes"]["price"] == "12.50"
    assert body["attributes"]["notes"] is None and body["attributes"]["secret"] == "Hidden-Value"
    assert "count" not in body["own_attributes"] and body["own_attributes"]["title"] == "Ace"
    stored = await Token.get(id=body["id"])
    public = {name: value for name, value in body["attributes"].items() if name != "secret"}
    assert list(body["commitments"]) == ["secret"]  # the private value is hashed only as a salted commitment
    expected = content_hash({
        "id": body["id"], "type": type_id, "owner": stored.owner_id, "version": 1, "attributes": public,
        "commitments": body["commitments"],
    })
    assert body["content_hash"] == expected == stored.content_hash and expected.startswith("sha256:")
    event = await Event.get(name="token.created", object_id=body["id"])
    assert event.payload["content_hash"] == expected and "Hidden-Value" not in str(event.payload)


async def test_tokens_create__invalid_values_are_listed_per_attribute_and_change_nothing(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    before = await snapshot()
    cases = {
        "title": ["a", "Abcdefghijklmnopqrstuvwxyz", "lowercase", 5],
        "count": [-1, 101, 2.5, "3", True],
        "price": ["0", "abc", "NaN", True, [1]],
        "active": ["yes", 1],
        "born": ["yesterday", "2024-01-02T03:04:05", 20240102],
        "colour": ["green", 1],
        "site": ["ftp://example.org", "not a url", "https://"],
        "notes": ["x" * 51],
        "friend": ["no-such-token", 42],
        "unknown": ["value"],
    }
    for name, values in cases.items():
        for value in values:
            reply = await api.post(TOKENS, {"type": type_id, "attributes": {name: value}}, token=alice)
            problem = assert_problem(reply, 400, "invalid-attributes")
            assert problem["errors"][0]["field"] == f"attributes.{name}", (name, value, problem)
    reply = await api.post(TOKENS, {"type": type_id, "attributes": {"title": "a", "count": -5}}, token=alice)
    assert {error["field"] for error in assert_problem(reply, 400)["errors"]} == {"attributes.title", "attributes.count"}
    assert await snapshot() == before


async def test_tokens_create__malformed_requests_and_unknown_references(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    before = await snapshot()
    for body in [{}, {"type": 5}, {"type": type_id, "attributes": []}, {"type": type_id, "shareable": "yes"},
                 {"type": type_id, "owner": "bob"}, {"type": "t" * 65}]:
        assert_problem(await api.post(TOKENS, body, token=alice), 400, "validation-failed")
    assert_problem(await api.post(TOKENS, {"type": "missing"}, token=alice), 404, "type-not-found")
    assert_problem(await api.post(TOKENS, {"type": type_id, "parent": "missing"}, token=alice), 404, "token-not-found")
    assert_problem(await api.post(TOKENS, {"type": type_id}), 401, "authentication-required")
    for attributes in [{"title": "Nul\u0000"}, {"extra": {"key\u0000": 1}}]:
        reply = await api.post(TOKENS, {"type": type_id, "attributes": attributes}, token=alice)
        assert "NUL" in assert_problem(reply, 400)["detail"]
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    reply = await api.post(TOKENS, {"type": type_id, "attributes": {"extra": deep}}, token=alice)
    assert "nested" in assert_problem(reply, 400, "invalid-attributes")["errors"][0]["message"]
    reply = await api.post(TOKENS, {"type": type_id, "attributes": {"picture": {"media": "x"}}}, token=alice)
    assert_problem(reply, 422, "media-upload-required")
    assert await snapshot() == before


async def test_tokens_create__script_values_cannot_be_set(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice, attributes=[{"name": "n", "type": "integer"}])
    # a script attribute can only come from the server itself, never through the API
    await TokenType.filter(id=type_id).update(attributes=[{"name": "n", "type": "integer"}, {"name": "calc", "type": "script"}])
    before = await snapshot()
    reply = await api.post(TOKENS, {"type": type_id, "attributes": {"calc": "1 + 1"}}, token=alice)
    assert_problem(reply, 422, "script-attribute-forbidden")
    assert await snapshot() == before
    kept = await api.patch(f"/api/v1/types/{type_id}", {"attributes": [{"name": "m", "type": "string"}]}, token=alice)
    assert [item["name"] for item in kept.body["attributes"]] == ["m", "calc"]  # scripts survive API edits


async def test_tokens_create__token_references_and_required_values(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice, attributes=[
        {"name": "friend", "type": "token"}, {"name": "serial", "type": "string", "nullable": False},
    ])
    first = await make_token(api, alice, type_id, attributes={"serial": "A1"})
    second = await make_token(api, alice, type_id, attributes={"serial": "A2", "friend": first["id"]})
    assert second["attributes"]["friend"] == first["id"]
    problem = assert_problem(await api.post(TOKENS, {"type": type_id}, token=alice), 400, "invalid-attributes")
    assert problem["errors"][0]["field"] == "attributes.serial"


async def test_tokens_inheritance__own_then_parent_token_then_type_defaults(api: Api) -> None:
    alice = await api.user("alice")
    base = await make_type(api, alice, name="Base", attributes=[
        {"name": "colour", "type": "string", "default": "base-colour"},
        {"name": "size", "type": "integer", "default": 3},
    ])
    kind = await make_type(api, alice, name="Kind", parents=[base], attributes=[
        {"name": "colour", "type": "string"}, {"name": "label", "type": "string"},
    ])
    parent = await make_token(api, alice, kind, attributes={"label": "from-parent", "size": 7})
    child = await make_token(api, alice, kind, parent=parent["id"], attributes={"colour": "own"})
    assert child["parent"] == parent["id"]
    assert child["attributes"] == {"colour": "own", "label": "from-parent", "size": 7}
    assert parent["attributes"]["colour"] == "base-colour"  # the parent type's default
    removed = await api.patch(f"{TOKENS}/{child['id']}", {"attributes": {"colour": None}}, token=alice)
    assert removed.body["attributes"]["colour"] == "base-colour" and removed.body["own_attributes"] == {}
    await api.patch(f"{TOKENS}/{parent['id']}", {"attributes": {"label": "changed"}}, token=alice, expect=200)
    assert (await api.get(f"{TOKENS}/{child['id']}")).body["attributes"]["label"] == "changed"
    assert (await effective_attributes(await Token.get(id=child["id"])))["size"] == 7


async def test_tokens_inheritance__other_owners_parents_must_be_shareable_and_keep_secrets(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await make_type(api, alice, licensing="open", attributes=[  # open: bob may derive from it
        {"name": "public_note", "type": "string"}, {"name": "secret", "type": "string", "private": True},
    ])
    bobs_type = await make_type(api, bob, parents=[type_id], attributes=[])
    closed = await make_token(api, alice, type_id, attributes={"secret": "s"})
    before = await snapshot()
    reply = await api.post(TOKENS, {"type": bobs_type, "parent": closed["id"]}, token=bob)
    assert_problem(reply, 403, "parent-not-shareable")
    assert_problem(await api.post(TOKENS, {"type": type_id}, token=bob), 403, "not-owner")
    assert await snapshot() == before
    shared = await make_token(api, alice, type_id, shareable=True, attributes={"secret": "s", "public_note": "hi"})
    child = await make_token(api, bob, bobs_type, parent=shared["id"])
    assert child["attributes"] == {"public_note": "hi", "secret": None}


async def test_tokens_get__private_values_only_for_the_owner(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await make_type(api, alice, attributes=[
        {"name": "name", "type": "string"}, {"name": "pin", "type": "integer", "private": True},
        {"name": "memo", "type": "string", "read": "owner"},
    ])
    created = await make_token(api, alice, type_id, attributes={"name": "n", "pin": 1234, "memo": "m"})
    path = f"{TOKENS}/{created['id']}"
    owner = (await api.get(path, token=alice)).body
    assert owner["attributes"] == {"name": "n", "pin": 1234, "memo": "m"}
    for viewer in (bob, None):
        reply = await api.get(path, token=viewer)
        assert reply.status == 200 and reply.body["attributes"] == {"name": "n"}
        assert reply.body["own_attributes"] == {"name": "n"} and reply.body["content_hash"] == owner["content_hash"]
    assert_problem(await api.get(f"{TOKENS}/missing"), 404, "token-not-found")


async def test_tokens_list__filters_by_type_and_owner_and_pages(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    first_type = await make_type(api, alice, attributes=[{"name": "secret", "type": "string", "private": True}])
    second_type = await make_type(api, bob, attributes=[])
    ids = [(await make_token(api, alice, first_type, attributes={"secret": "x"}))["id"] for _ in range(3)]
    bobs = await make_token(api, bob, second_type)
    page = await api.get(TOKENS, params={"page_size": 2})
    assert [item["id"] for item in page.body["items"]] == [bobs["id"], ids[2]] and page.body["next"]
    by_type = await api.get(TOKENS, params={"type": first_type})
    assert sorted(item["id"] for item in by_type.body["items"]) == sorted(ids)
    assert all(item["attributes"] == {} for item in by_type.body["items"])  # anonymous: secret hidden
    mine = await api.get(TOKENS, params={"owner": "alice"}, token=alice)
    assert len(mine.body["items"]) == 3 and all(item["attributes"]["secret"] == "x" for item in mine.body["items"])
    assert (await api.get(TOKENS, params={"owner": "bob"})).body["items"][0]["id"] == bobs["id"]
    assert_problem(await api.get(TOKENS, params={"page": 0}), 400, "validation-failed")


async def test_tokens_update__owner_changes_values_and_the_hash(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    created = await make_token(api, alice, type_id, attributes={"title": "Ace"})
    path = f"{TOKENS}/{created['id']}"
    reply = await api.patch(path, {"attributes": {"count": 5, "title": None}, "shareable": True}, token=alice,
                            headers={"If-Match": '"1"'})
    assert reply.status == 200, reply
    body = reply.body
    assert body["version"] == 2 and reply.headers["ETag"] == '"2"' and body["shareable"] is True
    assert body["own_attributes"] == {"count": 5} and body["attributes"]["title"] is None
    assert body["content_hash"] != created["content_hash"]
    assert (await Token.get(id=created["id"])).content_hash == body["content_hash"]
    event = await Event.get(name="token.updated", object_id=created["id"])
    assert event.payload["version"] == 2 and event.payload["fields"] == ["count", "shareable", "title"]
    unchanged = await api.patch(path, {}, token=alice)
    assert unchanged.body["version"] == 2 and await Event.filter(name="token.updated").count() == 1


async def test_tokens_update__refusals_change_nothing(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await make_type(api, alice)
    created = await make_token(api, alice, type_id)
    path = f"{TOKENS}/{created['id']}"
    before = await snapshot()
    assert_problem(await api.patch(path, {"attributes": {"count": 2}}, token=bob), 403, "not-owner")
    assert_problem(await api.patch(path, {"attributes": {"count": 2}}), 401)
    problem = assert_problem(await api.patch(path, {"attributes": {"count": 2}}, token=alice, headers={"If-Match": '"3"'}),
                             409, "version-mismatch")
    assert problem["current_version"] == 1
    assert_problem(await api.patch(path, {"attributes": {"count": 1000}}, token=alice), 400, "invalid-attributes")
    assert_problem(await api.patch(path, {"attributes": {"nope": 1}}, token=alice), 400, "invalid-attributes")
    assert_problem(await api.patch(path, {"type": "other"}, token=alice), 400, "validation-failed")
    assert_problem(await api.patch(f"{TOKENS}/missing", {"shareable": True}, token=alice), 404, "token-not-found")
    assert await snapshot() == before


async def test_tokens_update__concurrent_writers_of_one_version_cannot_both_win(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    created = await make_token(api, alice, type_id)
    path = f"{TOKENS}/{created['id']}"
    replies = await asyncio.gather(*[
        api.patch(path, {"attributes": {"count": value}}, token=alice, headers={"If-Match": '"1"'}) for value in (7, 8)
    ])
    assert sorted(reply.status for reply in replies) == [200, 409]
    assert (await Token.get(id=created["id"])).version == 2


async def test_save_token_change__a_stale_copy_loses_to_the_stored_version(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice)
    created = await make_token(api, alice, type_id)
    stale = await Token.get(id=created["id"])
    await Token.filter(id=created["id"]).update(version=5)  # someone else wrote in between
    ctx = Context(site=api.client.app[SITE], system=True)
    with pytest.raises(Conflict) as raised:
        await save_token_change(ctx, stale, {"count": 9}, False, Resolver())
    assert raised.value.code == "version-mismatch" and raised.value.extra["current_version"] == 5
    assert (await Token.get(id=created["id"])).attributes == {}


async def test_tokens_delete__owner_soft_deletes_with_if_match(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await make_type(api, alice)
    created = await make_token(api, alice, type_id)
    path = f"{TOKENS}/{created['id']}"
    before = await snapshot()
    assert_problem(await api.delete(path, token=bob), 403, "not-owner")
    assert_problem(await api.delete(path, token=alice, headers={"If-Match": '"2"'}), 409, "version-mismatch")
    assert await snapshot() == before
    reply = await api.delete(path, token=alice, headers={"If-Match": '"1"'})
    assert reply.status == 204, reply
    assert_problem(await api.get(path), 404, "token-not-found")
    assert_problem(await api.delete(path, token=alice), 404, "token-not-found")
    assert (await api.get(TOKENS)).body["items"] == []
    assert (await Token.get(id=created["id"])).is_deleted
    assert await Event.filter(name="token.deleted", object_id=created["id"]).count() == 1


async def test_tokens_inputs__nul_text_is_refused_for_callers_other_than_http_too(api: Api) -> None:
    """Jobs and the inbox call operations directly; PostgreSQL would fail on NUL with a 500."""
    ctx = Context(site=api.client.app[SITE], system=True)
    for name, raw in [("tokens.get", {"id": "a\x00"}), ("tokens.list", {"owner": "x\x00"}),
                      ("types.create", {"name": "n", "symbol": "s", "fungible": True, "smallest_unit": 0,
                                        "attributes": [{"name": "a", "type": "string", "default": "\x00"}]})]:
        with pytest.raises(BadInput) as raised:
            await REGISTRY.call(ctx, name, raw)
        assert "NUL" in raised.value.detail
