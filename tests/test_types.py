"""Token types: create, read, list, update, delete; attribute schemas and type inheritance."""

from __future__ import annotations

from typing import Any

from models.actors import Actor
from models.events import Event
from models.ledger import LedgerEntry
from models.tokens import TokenType, TypeParent

from .conftest import Api, assert_problem

TYPES = "/api/v1/types"


def type_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Gold", "symbol": "GLD", "fungible": True, "smallest_unit": 2}
    body.update(changes)
    return body


async def make_type(api: Api, token: str, **changes: Any) -> dict[str, Any]:
    reply = await api.post(TYPES, type_body(**changes), token=token)
    assert reply.status == 201, reply
    return reply.body


async def counts() -> tuple[int, int, int]:
    return await TokenType.all().count(), await TypeParent.all().count(), await Event.all().count()


async def test_types_create__returns_the_type_with_location_and_emits_an_event(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.post(TYPES, type_body(description="shiny", supply_limit="1000.5"), token=alice)
    assert reply.status == 201, reply
    body = reply.body
    assert reply.headers["Location"] == f"{TYPES}/{body['id']}"
    assert reply.headers["ETag"] == '"1"'
    assert body["name"] == "Gold" and body["symbol"] == "GLD" and body["description"] == "shiny"
    assert body["fungible"] is True and body["smallest_unit"] == 2
    assert body["supply_limit"] == "1000.50" and body["minted"] == "0.00"
    assert body["owner"]["username"] == "alice" and body["parents"] == [] and body["version"] == 1
    assert body["created_at"].endswith("Z")
    stored = await TokenType.get(id=body["id"])
    assert stored.supply_limit == 100050  # minor units, never floats
    events = await Event.filter(name="type.created", object_id=body["id"])
    assert len(events) == 1 and events[0].actor_id == (await Actor.get(username="alice")).id


async def test_types_create__attribute_definitions_are_normalized(api: Api) -> None:
    alice = await api.user("alice")
    attributes = [
        {"name": "weight", "type": "decimal", "min": 0, "max": "100.5", "default": "1.50"},
        {"name": "colour", "type": "enum", "enum": ["red", "blue"], "default": "red"},
        {"name": "minted_at", "type": "datetime", "default": "2024-05-01T14:00:00+02:00"},
        {"name": "code", "type": "string", "regex": "^[A-Z]{3}$", "max": 3, "private": True},
        {"name": "picture", "type": "media", "read": "owner"},
    ]
    body = await make_type(api, alice, attributes=attributes)
    by_name = {item["name"]: item for item in body["attributes"]}
    assert by_name["weight"]["min"] == 0 and by_name["weight"]["max"] == "100.5"
    assert by_name["minted_at"]["default"] == "2024-05-01T12:00:00Z"
    assert by_name["code"]["private"] is True and by_name["code"]["nullable"] is True
    assert by_name["picture"]["read"] == "owner"
    assert [item["name"] for item in body["effective_attributes"]] == [a["name"] for a in attributes]


async def test_types_create__bad_input_is_refused_and_changes_nothing(api: Api) -> None:
    alice = await api.user("alice")
    before = await counts()
    cases = [
        {"symbol": "X", "fungible": True, "smallest_unit": 0},  # missing name
        type_body(fungible="yes"),
        type_body(smallest_unit=19),
        type_body(smallest_unit=-1),
        type_body(smallest_unit="2"),
        type_body(name="n" * 201),
        type_body(symbol=""),
        type_body(colour="red"),  # unknown field
        type_body(parents="abc"),
        type_body(parents=["a", "a"]),
        type_body(attributes=[{"name": "1bad", "type": "string"}]),
        type_body(attributes=[{"name": "x", "type": "colour"}]),
        type_body(attributes=[{"name": "x", "type": "string", "regex": "(unclosed"}]),
        type_body(attributes=[{"name": "x", "type": "string", "regex": "(a)\\1"}]),  # backreference
        type_body(attributes=[{"name": "x", "type": "string", "regex": "a" * 501}]),
        type_body(attributes=[{"name": "x", "type": "enum"}]),
        type_body(attributes=[{"name": "x", "type": "integer", "min": 5, "max": 1}]),
        type_body(attributes=[{"name": "x", "type": "integer", "default": "seven"}]),
        type_body(attributes=[{"name": "x", "type": "boolean", "min": 1}]),
        type_body(attributes=[{"name": "x", "type": "string"}, {"name": "x", "type": "integer"}]),
        type_body(attributes=[{"name": "x", "type": "string", "write": "anyone"}]),
        type_body(attributes=[{"name": "x", "type": "media", "default": {"media": "m"}}]),
    ]
    for body in cases:
        problem = assert_problem(await api.post(TYPES, body, token=alice), 400)
        assert problem.get("errors"), body
    assert "NUL" in assert_problem(await api.post(TYPES, type_body(name="nul\u0000"), token=alice), 400)["detail"]
    problem = assert_problem(await api.post(TYPES, type_body(supply_limit="1.005"), token=alice), 400, "invalid-amount")
    assert problem["errors"][0]["field"] == "supply_limit"
    assert_problem(await api.post(TYPES, type_body(supply_limit="-3"), token=alice), 400, "invalid-amount")
    assert await counts() == before


async def test_types_create__script_attributes_are_forbidden(api: Api) -> None:
    alice = await api.user("alice")
    body = type_body(attributes=[{"name": "compute", "type": "script"}])
    assert_problem(await api.post(TYPES, body, token=alice), 422, "script-attribute-forbidden")
    assert await TokenType.all().count() == 0


async def test_types_create__attribute_limit_and_authentication(api: Api) -> None:
    alice = await api.user("alice")
    before = await counts()
    many = [{"name": f"a{index}", "type": "string"} for index in range(65)]
    assert_problem(await api.post(TYPES, type_body(attributes=many), token=alice), 422, "too-many-attributes")
    assert_problem(await api.post(TYPES, type_body()), 401, "authentication-required")
    assert await counts() == before


async def test_types_create__unknown_parent_is_not_found(api: Api) -> None:
    alice = await api.user("alice")
    problem = assert_problem(await api.post(TYPES, type_body(parents=["nope"]), token=alice), 404, "type-not-found")
    assert "nope" in problem["detail"]
    assert await TokenType.all().count() == 0


async def test_types_inheritance__nearest_definition_and_default_win(api: Api) -> None:
    alice = await api.user("alice")
    grand = await make_type(api, alice, name="Grand", attributes=[
        {"name": "size", "type": "integer", "default": 1},
        {"name": "label", "type": "string", "default": "grand"},
    ])
    left = await make_type(api, alice, name="Left", parents=[grand["id"]], attributes=[
        {"name": "label", "type": "string", "default": "left"},
        {"name": "shape", "type": "string", "default": "left-shape"},
    ])
    right = await make_type(api, alice, name="Right", attributes=[
        {"name": "shape", "type": "string", "default": "right-shape"},
        {"name": "size", "type": "integer", "default": 9},
    ])
    child = await make_type(api, alice, name="Child", parents=[left["id"], right["id"]], attributes=[
        {"name": "size", "type": "integer", "max": 10},
    ])
    assert child["parents"] == [left["id"], right["id"]]
    effective = {item["name"]: item for item in child["effective_attributes"]}
    assert effective["size"]["defined_by"] == child["id"] and effective["size"]["max"] == 10
    assert effective["label"]["defined_by"] == left["id"] and effective["label"]["default"] == "left"
    assert effective["shape"]["defined_by"] == left["id"]
    fetched = (await api.get(f"{TYPES}/{child['id']}")).body
    assert fetched["effective_attributes"] == child["effective_attributes"]


async def test_types_inheritance__a_parent_default_the_child_forbids_is_not_inherited(api: Api) -> None:
    alice = await api.user("alice")
    parent = await make_type(api, alice, attributes=[{"name": "size", "type": "integer", "default": 20}])
    strict = await make_type(api, alice, parents=[parent["id"]], attributes=[{"name": "size", "type": "integer", "max": 10}])
    loose = await make_type(api, alice, parents=[parent["id"]], attributes=[{"name": "size", "type": "integer", "max": 50}])
    strict_token = await api.post("/api/v1/tokens", {"type": strict["id"]}, token=alice)
    loose_token = await api.post("/api/v1/tokens", {"type": loose["id"]}, token=alice)
    assert strict_token.body["attributes"] == {"size": None}
    assert loose_token.body["attributes"] == {"size": 20}


async def test_types_inheritance__redefining_an_inherited_attribute_type_is_refused(api: Api) -> None:
    alice = await api.user("alice")
    parent = await make_type(api, alice, attributes=[{"name": "size", "type": "integer"}])
    body = type_body(parents=[parent["id"]], attributes=[{"name": "size", "type": "string"}])
    assert_problem(await api.post(TYPES, body, token=alice), 422, "attribute-type-conflict")
    assert await TokenType.all().count() == 1


async def test_types_get__is_public_and_unknown_ids_are_not_found(api: Api) -> None:
    alice = await api.user("alice")
    created = await make_type(api, alice)
    reply = await api.get(f"{TYPES}/{created['id']}")
    assert reply.status == 200 and reply.body["id"] == created["id"] and reply.headers["ETag"] == '"1"'
    assert_problem(await api.get(f"{TYPES}/missing"), 404, "type-not-found")


async def test_types_list__pages_and_filters_by_owner(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    for index in range(3):
        await make_type(api, alice, name=f"A{index}")
    await make_type(api, bob, name="B0")
    first = await api.get(TYPES, params={"page_size": 2})
    assert first.status == 200 and [item["name"] for item in first.body["items"]] == ["B0", "A2"]
    assert first.body["next"]
    second = await api.get(first.body["next"])
    assert [item["name"] for item in second.body["items"]] == ["A1", "A0"] and second.body["next"] is None
    mine = await api.get(TYPES, params={"owner": "alice"})
    assert sorted(item["name"] for item in mine.body["items"]) == ["A0", "A1", "A2"]
    assert (await api.get(TYPES, params={"owner": "nobody"})).body["items"] == []
    assert_problem(await api.get(TYPES, params={"page_size": 51}), 400, "validation-failed")


async def test_types_update__owner_changes_fields_and_bumps_the_version(api: Api) -> None:
    alice = await api.user("alice")
    created = await make_type(api, alice, supply_limit="10")
    reply = await api.patch(f"{TYPES}/{created['id']}", {
        "name": "Silver", "description": "less shiny", "supply_limit": "20.25",
        "attributes": [{"name": "purity", "type": "decimal", "default": "0.999"}],
    }, token=alice, headers={"If-Match": '"1"'})
    assert reply.status == 200, reply
    assert reply.body["name"] == "Silver" and reply.body["supply_limit"] == "20.25"
    assert reply.body["version"] == 2 and reply.headers["ETag"] == '"2"'
    assert reply.body["attributes"][0]["name"] == "purity"
    event = await Event.get(name="type.updated", object_id=created["id"])
    assert event.payload["version"] == 2 and "name" in event.payload["fields"]
    cleared = await api.patch(f"{TYPES}/{created['id']}", {"supply_limit": None}, token=alice)
    assert cleared.body["supply_limit"] is None and cleared.body["version"] == 3


async def test_types_update__non_owner_stale_version_and_bad_input_change_nothing(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    created = await make_type(api, alice)
    path = f"{TYPES}/{created['id']}"
    before = await counts()
    assert_problem(await api.patch(path, {"name": "Mine"}, token=bob), 403, "not-owner")
    problem = assert_problem(
        await api.patch(path, {"name": "Old"}, token=alice, headers={"If-Match": '"7"'}), 409, "version-mismatch"
    )
    assert problem["current_version"] == 1
    assert_problem(await api.patch(path, {"name": None}, token=alice), 400, "validation-failed")
    assert_problem(await api.patch(path, {"smallest_unit": 99}, token=alice), 400, "validation-failed")
    assert_problem(await api.patch(path, {"name": "x"}, token=alice, headers={"If-Match": "abc"}), 400, "invalid-if-match")
    assert_problem(await api.patch(f"{TYPES}/missing", {"name": "x"}, token=alice), 404, "type-not-found")
    assert_problem(await api.patch(path, {"attributes": [{"name": "s", "type": "script"}]}, token=alice), 422,
                   "script-attribute-forbidden")
    assert await counts() == before
    assert (await TokenType.get(id=created["id"])).name == "Gold"


async def test_types_update__parents_must_stay_acyclic(api: Api) -> None:
    alice = await api.user("alice")
    top = await make_type(api, alice, name="Top")
    middle = await make_type(api, alice, name="Middle", parents=[top["id"]])
    bottom = await make_type(api, alice, name="Bottom", parents=[middle["id"]])
    before = await counts()
    assert_problem(await api.patch(f"{TYPES}/{top['id']}", {"parents": [bottom["id"]]}, token=alice), 422, "cyclic-parents")
    assert_problem(await api.patch(f"{TYPES}/{top['id']}", {"parents": [top["id"]]}, token=alice), 422, "cyclic-parents")
    assert await counts() == before
    other = await make_type(api, alice, name="Other")
    reply = await api.patch(f"{TYPES}/{bottom['id']}", {"parents": [other["id"], top["id"]]}, token=alice)
    assert reply.status == 200 and reply.body["parents"] == [other["id"], top["id"]]
    moved = await api.patch(f"{TYPES}/{top['id']}", {"parents": [other["id"]]}, token=alice)
    assert moved.status == 200, moved


async def test_types_update__units_are_fixed_once_ledger_entries_exist(api: Api) -> None:
    alice = await api.user("alice")
    created = await make_type(api, alice, supply_limit="5")
    path = f"{TYPES}/{created['id']}"
    rescaled = await api.patch(path, {"smallest_unit": 4}, token=alice)
    assert rescaled.status == 200 and rescaled.body["supply_limit"] == "5.0000"
    actor = await Actor.get(username="alice")
    await LedgerEntry.create(kind="create", type_id=created["id"], author=actor, recipient=actor, amount=30000, remaining=30000)
    await TokenType.filter(id=created["id"]).update(minted=30000)
    assert_problem(await api.patch(path, {"fungible": False}, token=alice), 409, "type-has-entries")
    assert_problem(await api.patch(path, {"smallest_unit": 2}, token=alice), 409, "type-has-entries")
    assert_problem(await api.patch(path, {"supply_limit": "2"}, token=alice), 409, "supply-below-minted")
    same = await api.patch(path, {"smallest_unit": 4, "name": "Still"}, token=alice)
    assert same.status == 200 and same.body["smallest_unit"] == 4


async def test_types_update__new_required_attributes_need_a_default_once_tokens_exist(api: Api) -> None:
    alice = await api.user("alice")
    created = await make_type(api, alice, attributes=[{"name": "a", "type": "string"}])
    path = f"{TYPES}/{created['id']}"
    token = await api.post("/api/v1/tokens", {"type": created["id"]}, token=alice)
    required = {"name": "serial", "type": "string", "nullable": False}
    before = await counts()
    reply = await api.patch(path, {"attributes": [{"name": "a", "type": "string"}, required]}, token=alice)
    assert_problem(reply, 422, "default-required")
    reply = await api.patch(path, {"attributes": [{"name": "ref", "type": "token", "default": "nope"}]}, token=alice)
    assert_problem(reply, 422, "token-not-found")
    assert await counts() == before
    reply = await api.patch(path, {"attributes": [{**required, "default": "S-0"}]}, token=alice)
    assert reply.status == 200, reply
    fetched = await api.get(f"/api/v1/tokens/{token.body['id']}")
    assert fetched.body["attributes"] == {"serial": "S-0"}  # the removed attribute is no longer shown


async def test_types_delete__owner_soft_deletes_and_in_use_types_stay(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    parent = await make_type(api, alice, name="Parent")
    child = await make_type(api, alice, name="Child", parents=[parent["id"]])
    assert_problem(await api.delete(f"{TYPES}/{child['id']}", token=bob), 403, "not-owner")
    assert_problem(await api.delete(f"{TYPES}/{parent['id']}", token=alice), 409, "type-in-use")
    token = await api.post("/api/v1/tokens", {"type": child["id"]}, token=alice)
    assert token.status == 201, token
    assert_problem(await api.delete(f"{TYPES}/{child['id']}", token=alice), 409, "type-in-use")
    assert (await api.delete(f"/api/v1/tokens/{token.body['id']}", token=alice)).status == 204
    reply = await api.delete(f"{TYPES}/{child['id']}", token=alice)
    assert reply.status == 204, reply
    assert_problem(await api.get(f"{TYPES}/{child['id']}"), 404, "type-not-found")
    assert (await TokenType.get(id=child["id"])).is_deleted  # soft: the row stays for history
    assert await Event.filter(name="type.deleted", object_id=child["id"]).count() == 1
    assert (await api.delete(f"{TYPES}/{parent['id']}", token=alice)).status == 204
    assert (await api.get(TYPES)).body["items"] == []
