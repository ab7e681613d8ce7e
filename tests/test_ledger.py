"""The ledger: create, give, burn, balance, list, trace, flags — and its invariants."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from tortoise import connections

from models.events import Event
from models.ledger import LedgerEntry, LedgerSource

from .conftest import Api, assert_problem
from .pagehelpers import Browser


async def new_type(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2, **fields}
    reply = await api.post("/api/v1/types", body, token=token)
    assert reply.status == 201, reply
    return reply.body


async def minted(api: Api, token: str, amount: str = "100.00", **fields: Any) -> str:
    coin = await new_type(api, token, **fields)
    reply = await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": amount}, token=token)
    assert reply.status == 201, reply
    return coin["id"]


async def balance(api: Api, type_id: str, owner: str) -> str:
    reply = await api.get("/api/v1/ledger/balance", params={"type": type_id, "owner": owner})
    assert reply.status == 200, reply
    return reply.body["balance"]


async def assert_invariant(api: Api, type_id: str, owner: str) -> None:
    """balance = created + received - given - burnt = sum of unspent outputs."""
    reply = await api.get("/api/v1/ledger/balance", params={"type": type_id, "owner": owner})
    parts = {key: float(reply.body[key]) for key in ("balance", "created", "received", "given", "burnt")}
    assert parts["balance"] == parts["created"] + parts["received"] - parts["given"] - parts["burnt"], reply
    total, url = 0.0, None
    params: dict[str, str] | None = {"type": type_id, "owner": owner, "status": "unspent", "page_size": "50"}
    while True:
        page = await api.get(url or "/api/v1/ledger/operations", params=params)
        total += sum(float(item["remaining"]) for item in page.body["items"])
        url, params = page.body["next"], None
        if not url:
            break
    assert total == parts["balance"]


async def test_create__mints_units_for_the_type_owner(api: Api) -> None:
    alice = await api.user("alice")
    coin = await new_type(api, alice)
    reply = await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": "12.50", "description": "first"}, token=alice)
    assert reply.status == 201
    assert reply.body["amount"] == "12.50" and reply.body["status"] == "unspent" and reply.body["kind"] == "create"
    assert reply.headers["Location"] == f"/api/v1/ledger/operations/{reply.body['id']}"
    assert await balance(api, coin["id"], "alice") == "12.50"
    assert await Event.filter(name="ledger.create", object_id=reply.body["id"]).count() == 1


async def test_create__only_the_owner_mints(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    coin = await new_type(api, alice)
    assert_problem(await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": "1"}, token=bob), 403, "not-owner")
    assert_problem(await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": "1"}), 401)
    assert await LedgerEntry.all().count() == 0


async def test_create__bad_amounts_are_refused_and_change_nothing(api: Api) -> None:
    alice = await api.user("alice")
    coin = await new_type(api, alice)
    for amount in ["0", "-1", "1.001", "abc", "NaN", "Infinity", "1_000", "0.000"]:
        assert_problem(await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": amount}, token=alice), 400, "invalid-amount")
    for amount in ["1e400", "99999999999999999999999"]:  # more than a 64-bit column holds
        assert_problem(await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": amount}, token=alice), 422, "amount-out-of-range")
    for body in [{"type": coin["id"], "amount": 5}, {"type": coin["id"]}, {"amount": "1"}, {"type": coin["id"], "amount": "1", "extra": 1}]:
        assert_problem(await api.post("/api/v1/ledger/create", body, token=alice), 400, "validation-failed")
    assert_problem(await api.post("/api/v1/ledger/create", {"type": "nope", "amount": "1"}, token=alice), 404, "type-not-found")
    assert await LedgerEntry.all().count() == 0
    assert await Event.filter(name__startswith="ledger.").count() == 0


async def test_create__supply_limit_is_enforced(api: Api) -> None:
    alice = await api.user("alice")
    coin = await new_type(api, alice, supply_limit="10.00")
    assert (await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": "7"}, token=alice)).status == 201
    assert_problem(await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": "3.01"}, token=alice), 422, "supply-limit-exceeded")
    assert (await api.post("/api/v1/ledger/create", {"type": coin["id"], "amount": "3"}, token=alice)).status == 201
    assert await balance(api, coin["id"], "alice") == "10.00"


async def test_give__oldest_first_and_balances(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "30.00")
    await api.post("/api/v1/ledger/create", {"type": type_id, "amount": "20.00"}, token=alice, expect=201)
    reply = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "35.00", "to": "bob"}, token=alice)
    assert reply.status == 201, reply
    assert reply.body["recipient"].startswith("bob@")
    assert [source[0] for source in reply.body["sources"]] == ["30.00", "5.00"]
    assert await balance(api, type_id, "alice") == "15.00"
    assert await balance(api, type_id, "bob") == "35.00"
    await assert_invariant(api, type_id, "alice")
    await assert_invariant(api, type_id, "bob")


async def test_give__explicit_sources(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    first = (await api.get("/api/v1/ledger/operations", params={"owner": "alice", "status": "unspent"})).body["items"][0]["id"]
    reply = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "4", "to": "bob", "sources": [["4", first]]}, token=alice)
    assert reply.status == 201 and reply.body["sources"] == [["4.00", first]]
    # The same units cannot be spent twice, and sources must add up and belong to the giver.
    given = reply.body["id"]
    assert_problem(await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "7", "to": "bob", "sources": [["7", first]]}, token=alice), 409, "insufficient")
    assert_problem(await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "3", "to": "bob", "sources": [["2", first]]}, token=alice), 422, "sources-mismatch")
    assert_problem(await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "1", "to": "bob", "sources": [["1", given]]}, token=alice), 404, "source-not-found")
    assert_problem(await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "1", "to": "bob", "sources": [["1", first], ["1", first]]}, token=alice), 400)
    # Bob spends what he received, naming it.
    back = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "1.50", "to": "alice", "sources": [["1.50", given]]}, token=bob)
    assert back.status == 201
    assert await balance(api, type_id, "alice") == "7.50"
    assert await balance(api, type_id, "bob") == "2.50"


async def test_give__refusals_change_nothing(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "5.00")
    entries, events = await LedgerEntry.all().count(), await Event.all().count()
    cases = [
        (alice, {"type": type_id, "amount": "6", "to": "bob"}, 409, "insufficient"),
        (alice, {"type": type_id, "amount": "1", "to": "nobody"}, 404, "actor-not-found"),
        (alice, {"type": type_id, "amount": "1", "to": "alice"}, 422, "self-give"),
        # an unseen handle is looked up, and the SSRF guard refuses a private address (no network)
        (alice, {"type": type_id, "amount": "1", "to": "carl@127.0.0.1:9"}, 422, "remote-actor-unavailable"),
        (alice, {"type": type_id, "amount": "0.001", "to": "bob"}, 400, "invalid-amount"),
        (alice, {"type": type_id, "amount": "1", "to": ""}, 400, "validation-failed"),
        (alice, {"type": type_id, "amount": "1", "to": "b" * 400}, 400, "validation-failed"),
        (bob, {"type": type_id, "amount": "1", "to": "alice"}, 409, "insufficient"),
        (None, {"type": type_id, "amount": "1", "to": "alice"}, 401, None),
    ]
    for token, body, status, code in cases:
        assert_problem(await api.post("/api/v1/ledger/give", body, token=token), status, code)
    assert await LedgerEntry.all().count() == entries and await Event.all().count() == events
    assert await balance(api, type_id, "alice") == "5.00"


async def test_give__frozen_user_cannot_spend(api: Api) -> None:
    admin, alice, _ = await api.user("root", roles=["admin"]), await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "5")
    await api.post("/api/v1/admin/users/alice/freeze", token=admin, expect=200)
    assert_problem(await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "1", "to": "bob"}, token=alice), 403, "account-frozen")
    assert await balance(api, type_id, "alice") == "5.00"


async def test_burn__by_amount_and_by_sources(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await minted(api, alice, "10")
    reply = await api.post("/api/v1/ledger/burn", {"type": type_id, "amount": "3"}, token=alice)
    assert reply.status == 201 and reply.body["kind"] == "burn" and reply.body["recipient"] is None
    source = reply.body["sources"][0][1]
    reply = await api.post("/api/v1/ledger/burn", {"type": type_id, "sources": [["2", source]]}, token=alice)
    assert reply.status == 201 and reply.body["amount"] == "2.00"
    assert await balance(api, type_id, "alice") == "5.00"
    assert_problem(await api.post("/api/v1/ledger/burn", {"type": type_id}, token=alice), 400, "validation-failed")
    assert_problem(await api.post("/api/v1/ledger/burn", {"type": type_id, "amount": "6"}, token=alice), 409, "insufficient")
    await assert_invariant(api, type_id, "alice")


async def test_list__filters_status_and_paging(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "3")
    for _ in range(3):
        assert (await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "1", "to": "bob"}, token=alice)).status == 201
    spent = await api.get("/api/v1/ledger/operations", params={"owner": "alice", "status": "spent"})
    assert [item["kind"] for item in spent.body["items"]] == ["create"]
    unspent = await api.get("/api/v1/ledger/operations", params={"owner": "bob", "status": "unspent", "page_size": "2", "sort": "created_at"})
    assert len(unspent.body["items"]) == 2 and unspent.body["next"]
    rest = await api.get(unspent.body["next"])
    assert len(rest.body["items"]) == 1 and rest.body["previous"]
    by_cursor = await api.get("/api/v1/ledger/operations", params={"owner": "bob", "status": "unspent", "page_size": "2", "sort": "created_at", "cursor": unspent.body["next_cursor"]})
    assert [item["id"] for item in by_cursor.body["items"]] == [item["id"] for item in rest.body["items"]]
    assert_problem(await api.get("/api/v1/ledger/operations", params={"status": "weird"}), 400)
    assert_problem(await api.get("/api/v1/ledger/operations", params={"cursor": "garbage!"}), 400, "invalid-cursor")
    assert_problem(await api.get("/api/v1/ledger/operations", params={"page_size": "0"}), 400)


async def test_trace__walks_back_to_the_roots(api: Api) -> None:
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    type_id = await minted(api, alice, "5")
    await api.post("/api/v1/ledger/create", {"type": type_id, "amount": "5"}, token=alice, expect=201)
    to_bob = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "8", "to": "bob"}, token=alice)
    to_carol = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "6", "to": "carol"}, token=bob)
    back = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "2", "to": "alice"}, token=carol)
    reply = await api.get(f"/api/v1/ledger/operations/{back.body['id']}/trace")
    assert reply.status == 200
    ancestors = {item["id"]: item["kind"] for item in reply.body["ancestors"]}
    assert to_carol.body["id"] in ancestors and to_bob.body["id"] in ancestors
    assert sorted(ancestors.values()) == ["create", "create", "give", "give"]
    assert len(reply.body["roots"]) == 2
    assert_problem(await api.get("/api/v1/ledger/operations/nope/trace"), 404, "operation-not-found")
    assert await LedgerSource.filter(entry_id=back.body["id"]).count() == 1


async def given_entry(api: Api, giver: str, to: str) -> str:
    """A give from `giver` to the user `to`: an entry with two parties."""
    type_id = await minted(api, giver, "5")
    reply = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "2", "to": to}, token=giver)
    assert reply.status == 201, reply
    return str(reply.body["id"])


def flag_authors(view: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(flag["label"], flag["by"] and flag["by"].split("@")[0]) for flag in view["flag_details"]]


async def test_unflag__a_party_cannot_remove_the_other_partys_flag(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    entry = await given_entry(api, alice, "bob")
    flags = f"/api/v1/ledger/operations/{entry}/flags"
    set_by_alice = await api.post(flags, {"flag": "disputed"}, token=alice)
    assert set_by_alice.status == 200 and set_by_alice.body["flags"] == ["disputed"], set_by_alice
    assert_problem(await api.delete(f"{flags}/disputed", token=bob), 403, "not-flag-author")
    assert flag_authors(set_by_alice.body) == [("disputed", "alice")] and set_by_alice.body["flag_details"][0]["at"]
    kept = await api.get(f"/api/v1/ledger/operations/{entry}")
    assert kept.status == 200 and flag_authors(kept.body) == [("disputed", "alice")], kept
    removed = await api.delete(f"{flags}/disputed", token=alice)
    assert removed.status == 200 and removed.body["flags"] == [] and removed.body["flag_details"] == [], removed


async def test_flags__a_third_party_flags_each_owns_their_label_and_a_moderator_removes_any(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    carol, mod = await api.user("carol"), await api.user("mod", roles=["moderator"])
    entry = await given_entry(api, alice, "bob")
    flags = f"/api/v1/ledger/operations/{entry}/flags"
    for who in (alice, carol):  # carol is no party, but sees the entry (entries are public)
        reply = await api.post(flags, {"flag": "disputed"}, token=who)
        assert reply.status == 200, reply
    assert (await api.post(flags, {"flag": "disputed"}, token=carol)).status == 200  # idempotent
    reply = await api.post(flags, {"flag": "spam"}, token=carol)
    assert reply.status == 200 and reply.body["flags"] == ["disputed", "spam"], reply
    assert flag_authors(reply.body) == [("disputed", "alice"), ("disputed", "carol"), ("spam", "carol")]
    assert_problem(await api.post(flags, {"flag": "Bad Flag!"}, token=alice), 400)
    assert_problem(await api.post(flags, {"flag": "x"}), 401)
    assert_problem(await api.delete(f"{flags}/spam", token=bob), 403, "not-flag-author")
    mine = await api.delete(f"{flags}/disputed", token=carol)  # removes carol's, alice's stays
    assert mine.status == 200 and flag_authors(mine.body) == [("disputed", "alice"), ("spam", "carol")], mine
    moderated = await api.delete(f"{flags}/spam", token=mod)
    assert moderated.status == 200 and flag_authors(moderated.body) == [("disputed", "alice")], moderated
    assert_problem(await api.delete(f"{flags}/spam", token=carol), 404, "flag-not-found")
    document = await api.get(f"/ledger/{entry}", headers={"Accept": "application/activity+json"})
    assert document.status == 200, document
    [detail] = json.loads(document.text)["flagDetails"]
    assert detail["label"] == "disputed" and detail["by"].startswith("alice@")
    assert await Event.filter(name__in=["ledger.flagged", "ledger.unflagged"]).count() == 5
    page = await Browser(api.client).get(f"/app/entries/{entry}")
    assert page.status == 200 and "disputed" in page.text and re.search(r"set by alice@\S+ ·", page.text), page.text[-800:]


async def test_flags__at_most_twenty_labels_but_anyone_may_join_an_existing_one(api: Api) -> None:
    alice, carol = await api.user("alice"), await api.user("carol")
    entry = await given_entry(api, alice, "carol")
    flags = f"/api/v1/ledger/operations/{entry}/flags"
    for number in range(20):
        assert (await api.post(flags, {"flag": f"label-{number}"}, token=alice)).status == 200
    assert_problem(await api.post(flags, {"flag": "one-more"}, token=carol), 422, "too-many-flags")
    joined = await api.post(flags, {"flag": "label-0"}, token=carol)
    assert joined.status == 200 and len(joined.body["flags"]) == 20 and len(joined.body["flag_details"]) == 21, joined


async def test_migration_0005__an_existing_flag_is_kept_unattributed_and_either_party_removes_it(api: Api) -> None:
    """Who set a flag was never recorded before 0005: naming someone would be a guess, so the
    flag shows no author, and either party (who alone could set flags then) may remove it."""
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    entry = await given_entry(api, alice, "bob")
    connection = connections.get("default")
    await connection.execute_query('DELETE FROM "ledger_flags"')
    await connection.execute_query('UPDATE "ledger_entries" SET "flags" = \'["legacy"]\' WHERE "id" = \'' + entry + "'")
    migration = importlib.import_module("models.migrations.0005_ledger_flag_authors")

    class Editor:
        client = connection

    await migration.attribute_flags(None, Editor())
    reply = await api.get(f"/api/v1/ledger/operations/{entry}")
    assert reply.status == 200 and reply.body["flags"] == ["legacy"], reply
    assert flag_authors(reply.body) == [("legacy", None)]
    page = await api.get(f"/app/entries/{entry}", headers={"Accept": "text/html"})
    assert page.status == 200 and "set before flags recorded who set them" in page.text, page
    assert_problem(await api.delete(f"/api/v1/ledger/operations/{entry}/flags/legacy", token=carol), 403, "not-flag-author")
    removed = await api.delete(f"/api/v1/ledger/operations/{entry}/flags/legacy", token=bob)
    assert removed.status == 200 and removed.body["flags"] == [], removed


async def test_unique_tokens__minted_given_whole_and_burnt_on_delete(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    card_type = await new_type(api, alice, fungible=False, smallest_unit=0, supply_limit="2")
    card = (await api.post("/api/v1/tokens", {"type": card_type["id"]}, token=alice)).body
    assert await balance(api, card_type["id"], "alice") == "1"
    assert_problem(await api.post("/api/v1/ledger/create", {"type": card_type["id"], "amount": "1"}, token=alice), 422, "unique-type")
    for body, code in [
        ({"type": card_type["id"], "amount": "1", "to": "bob"}, "token-required"),
        ({"type": card_type["id"], "amount": "2", "to": "bob", "token": card["id"]}, "unique-amount"),
    ]:
        assert_problem(await api.post("/api/v1/ledger/give", body, token=alice), 422, code)
    reply = await api.post("/api/v1/ledger/give", {"type": card_type["id"], "amount": "1", "to": "bob", "token": card["id"]}, token=alice)
    assert reply.status == 201 and reply.body["token"] == card["id"]
    moved = (await api.get(f"/api/v1/tokens/{card['id']}")).body
    assert moved["owner"]["username"] == "bob" and moved["version"] == card["version"] + 1
    assert moved["content_hash"] != card["content_hash"]
    assert await balance(api, card_type["id"], "alice") == "0" and await balance(api, card_type["id"], "bob") == "1"
    # Alice no longer holds it: she can neither give it again nor change it.
    again = {"type": card_type["id"], "amount": "1", "to": "bob", "token": card["id"]}
    assert_problem(await api.post("/api/v1/ledger/give", again, token=bob), 422, "self-give")
    assert (await api.post("/api/v1/ledger/give", again, token=alice)).status == 409
    assert_problem(await api.patch(f"/api/v1/tokens/{card['id']}", {"shareable": True}, token=alice), 403, "not-owner")
    trace = (await api.get(f"/api/v1/ledger/operations/{reply.body['id']}/trace")).body
    assert [item["kind"] for item in trace["ancestors"]] == ["create"]
    # Deleting the token burns its unit; the supply limit counts every unique token ever made.
    assert (await api.delete(f"/api/v1/tokens/{card['id']}", token=bob)).status == 204
    assert await balance(api, card_type["id"], "bob") == "0"
    await assert_invariant(api, card_type["id"], "bob")
    assert (await api.post("/api/v1/tokens", {"type": card_type["id"]}, token=alice)).status == 201
    assert_problem(await api.post("/api/v1/tokens", {"type": card_type["id"]}, token=alice), 422, "supply-limit-exceeded")


async def test_trace__each_entry_as_ledger_get_shows_it(api: Api) -> None:
    """The trace lists the operation and every ancestor exactly as GET .../operations/{id} does
    (sources in order, flags with their authors, times, remaining), and edges for every source."""
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    type_id = await minted(api, alice, "5")
    more = {"type": type_id, "amount": "5", "description": "more"}
    second = await api.post("/api/v1/ledger/create", more, token=alice)
    assert second.status == 201, second
    to_bob = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "8", "to": "bob"}, token=alice)
    assert to_bob.status == 201 and len(to_bob.body["sources"]) == 2, to_bob
    flagged = await api.post(f"/api/v1/ledger/operations/{to_bob.body['id']}/flags", {"flag": "checked"}, token=carol)
    assert flagged.status == 200, flagged
    to_carol = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "6.50", "to": "carol"}, token=bob)
    assert to_carol.status == 201, to_carol
    give_back = {"type": type_id, "amount": "2", "to": "alice", "description": "back"}
    back = await api.post("/api/v1/ledger/give", give_back, token=carol)
    assert back.status == 201, back

    reply = await api.get(f"/api/v1/ledger/operations/{back.body['id']}/trace")
    assert reply.status == 200, reply
    listed = [reply.body["operation"], *reply.body["ancestors"]]
    assert [item["id"] for item in reply.body["ancestors"]] == sorted(item["id"] for item in reply.body["ancestors"])
    assert len(listed) == 5
    for item in listed:
        one = await api.get(f"/api/v1/ledger/operations/{item['id']}")
        assert one.status == 200 and item == one.body, (item, one.body)
    assert flag_authors(next(item for item in listed if item["id"] == to_bob.body["id"])) == [("checked", "carol")]
    edges = sorted((edge["entry"], edge["source"], edge["amount"]) for edge in reply.body["edges"])
    expected = sorted(
        (item["id"], source, amount) for item in listed for amount, source in item["sources"]
    )
    assert edges == expected and len(edges) == 4, edges
    assert sorted(reply.body["roots"]) == sorted(item["id"] for item in listed if item["kind"] == "create")
    assert reply.body["truncated"] is False
    capped = await api.get(f"/api/v1/ledger/operations/{back.body['id']}/trace", params={"limit": "2"})
    assert capped.status == 200 and capped.body["truncated"] is True, capped
    assert capped.body["ancestors"] == reply.body["ancestors"][-2:]
