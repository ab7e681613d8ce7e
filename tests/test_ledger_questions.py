"""The ledger questions of ssb-tokens (issue #16, item 4): give or burn all that remains of one
operation, give everything of a type, the descendants of an operation, lists for several
owners, and a 409 `insufficient` for a plain shortfall."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import pytest

from models.events import Event
from models.ledger import LedgerEntry

from .conftest import Api, assert_problem
from .pagehelpers import Browser
from .test_ledger import assert_invariant, balance, minted, new_type
from .test_pages import make_type
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


GIVE, BURN, OPERATIONS = "/api/v1/ledger/give", "/api/v1/ledger/burn", "/api/v1/ledger/operations"


async def mint(api: Api, token: str, type_id: str, amount: str) -> str:
    reply = await api.post("/api/v1/ledger/create", {"type": type_id, "amount": amount}, token=token, expect=201)
    return str(reply.body["id"])


async def remaining(api: Api, entry_id: str) -> str:
    reply = await api.get(f"{OPERATIONS}/{entry_id}", expect=200)
    return str(reply.body["remaining"])


# ---------------------------------------------------------------- all that remains of one operation


async def test_give__from_operation_gives_all_that_remains_of_it(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    first = (await api.get(OPERATIONS, params={"owner": "alice", "type": type_id}, expect=200)).body["items"][0]["id"]
    second = await mint(api, alice, type_id, "5.00")
    await api.post(GIVE, {"type": type_id, "amount": "3", "to": "bob", "sources": [["3", first]]}, token=alice, expect=201)
    # no amount, and no type either: the output says which type it is
    reply = await api.post(GIVE, {"from_operation": first, "to": "bob"}, token=alice)
    assert reply.status == 201, reply
    assert reply.body["amount"] == "7.00" and reply.body["sources"] == [["7.00", first]], reply.body
    assert reply.body["type"] == type_id and reply.body["recipient"].startswith("bob@")
    assert await remaining(api, first) == "0.00" and await remaining(api, second) == "5.00"
    assert await balance(api, type_id, "alice") == "5.00"
    assert await balance(api, type_id, "bob") == "10.00"
    # nothing left of it: a shortfall, and nothing moves
    entries = await LedgerEntry.all().count()
    assert_problem(await api.post(GIVE, {"from_operation": first, "to": "bob"}, token=alice), 409, "insufficient")
    assert await LedgerEntry.all().count() == entries
    await assert_invariant(api, type_id, "alice")
    await assert_invariant(api, type_id, "bob")


async def test_give__from_operation_with_an_amount_gives_that_much_of_it(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    second = await mint(api, alice, type_id, "5.00")
    reply = await api.post(GIVE, {"type": type_id, "from_operation": second, "amount": "2", "to": "bob"}, token=alice)
    assert reply.status == 201 and reply.body["sources"] == [["2.00", second]], reply
    assert await remaining(api, second) == "3.00"
    assert_problem(
        await api.post(GIVE, {"from_operation": second, "amount": "4", "to": "bob"}, token=alice), 409, "insufficient"
    )
    assert await balance(api, type_id, "alice") == "13.00"


async def test_give__from_operation_refusals_change_nothing(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    other = await minted(api, alice, "4.00")
    first = (await api.get(OPERATIONS, params={"owner": "alice", "type": type_id}, expect=200)).body["items"][0]["id"]
    other_output = (await api.get(OPERATIONS, params={"owner": "alice", "type": other}, expect=200)).body["items"][0]["id"]
    entries, events = await LedgerEntry.all().count(), await Event.all().count()
    cases = [
        (bob, {"from_operation": first, "to": "alice"}, 404, "source-not-found"),  # not his
        (alice, {"from_operation": "nope", "to": "bob"}, 404, "source-not-found"),
        (alice, {"type": type_id, "from_operation": other_output, "to": "bob"}, 422, "source-type-mismatch"),
        (alice, {"type": type_id, "from_operation": first, "sources": [["1", first]], "to": "bob"}, 400, "validation-failed"),
        (alice, {"from_operation": first, "all": True, "to": "bob"}, 400, "validation-failed"),
        (alice, {"from_operation": "", "to": "bob"}, 400, "validation-failed"),
        (alice, {"to": "bob"}, 400, "validation-failed"),  # neither type, amount, from_operation nor all
        (alice, {"type": type_id, "to": "bob"}, 400, "validation-failed"),
        (alice, {"from_operation": first, "to": "alice"}, 422, "self-give"),
    ]
    for token, body, status, code in cases:
        assert_problem(await api.post(GIVE, body, token=token), status, code)
    assert await LedgerEntry.all().count() == entries and await Event.all().count() == events
    assert await remaining(api, first) == "10.00"


async def test_give__from_operation_race_has_exactly_one_winner(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "100", smallest_unit=0)
    source = (await api.get(OPERATIONS, params={"type": type_id}, expect=200)).body["items"][0]["id"]
    await mint(api, alice, type_id, "50")

    async def give(body: dict[str, Any]) -> tuple[int, Any]:
        reply = await api.post(GIVE, {**body, "to": "bob"}, token=alice)
        return reply.status, reply.body

    # twenty "all that remains" of one output, racing ten explicit gives of 1 from it
    answers = await asyncio.gather(
        *[give({"from_operation": source}) for _ in range(20)],
        *[give({"type": type_id, "amount": "1", "sources": [["1", source]]}) for _ in range(10)],
    )
    wholes, ones = answers[:20], answers[20:]
    assert Counter(status for status, _ in wholes) == {201: 1, 409: 19}, wholes
    assert all(body["code"] == "insufficient" for status, body in answers if status == 409), answers
    won = next(body for status, body in wholes if status == 201)
    given_ones = sum(1 for status, _ in ones if status == 201)
    assert int(won["amount"]) + given_ones == 100, (won, given_ones)
    assert await remaining(api, source) == "0"
    assert await balance(api, type_id, "alice") == "50"
    assert await balance(api, type_id, "bob") == "100"
    await assert_invariant(api, type_id, "alice")


async def test_burn__from_operation_burns_all_that_remains_of_it(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    first = (await api.get(OPERATIONS, params={"owner": "alice", "type": type_id}, expect=200)).body["items"][0]["id"]
    await mint(api, alice, type_id, "5.00")
    await api.post(GIVE, {"type": type_id, "amount": "4", "to": "bob", "sources": [["4", first]]}, token=alice, expect=201)
    reply = await api.post(BURN, {"from_operation": first}, token=alice)
    assert reply.status == 201, reply
    assert reply.body["kind"] == "burn" and reply.body["amount"] == "6.00" and reply.body["sources"] == [["6.00", first]]
    assert await balance(api, type_id, "alice") == "5.00"
    assert_problem(await api.post(BURN, {"from_operation": first}, token=alice), 409, "insufficient")
    partly = await api.post(BURN, {"type": type_id, "all": True}, token=alice)
    assert partly.status == 201 and partly.body["amount"] == "5.00", partly
    assert await balance(api, type_id, "alice") == "0.00"
    await assert_invariant(api, type_id, "alice")


# ---------------------------------------------------------------- everything of a type


async def test_give__all_gives_the_whole_balance_in_one_entry(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    await mint(api, alice, type_id, "5.00")
    await api.post(GIVE, {"type": type_id, "amount": "2", "to": "bob"}, token=alice, expect=201)
    await api.post(GIVE, {"type": type_id, "amount": "1", "to": "alice"}, token=bob, expect=201)
    other = await minted(api, alice, "7.00")  # another type: untouched
    reply = await api.post(GIVE, {"type": type_id, "all": True, "to": "bob"}, token=alice)
    assert reply.status == 201, reply
    assert reply.body["amount"] == "14.00", reply.body
    assert [taken for taken, _ in reply.body["sources"]] == ["8.00", "5.00", "1.00"], reply.body
    assert await balance(api, type_id, "alice") == "0.00"
    assert await balance(api, type_id, "bob") == "15.00"
    assert await balance(api, other, "alice") == "7.00"
    assert_problem(await api.post(GIVE, {"type": type_id, "all": True, "to": "bob"}, token=alice), 409, "insufficient")
    assert_problem(
        await api.post(GIVE, {"type": type_id, "all": True, "amount": "1", "to": "bob"}, token=alice), 400, "validation-failed"
    )
    await assert_invariant(api, type_id, "alice")
    await assert_invariant(api, type_id, "bob")


async def test_give__all_and_from_operation_refuse_a_unique_type(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    unique = await new_type(api, alice, fungible=False, smallest_unit=0)
    token = await api.post("/api/v1/tokens", {"type": unique["id"]}, token=alice, expect=201)
    output = (await api.get(OPERATIONS, params={"owner": "alice", "type": unique["id"]}, expect=200)).body["items"][0]["id"]
    assert_problem(await api.post(GIVE, {"type": unique["id"], "all": True, "to": "bob"}, token=alice), 422, "unique-type")
    assert_problem(await api.post(GIVE, {"from_operation": output, "to": "bob"}, token=alice), 422, "unique-type")
    mine = await api.get(f"/api/v1/tokens/{token.body['id']}", token=alice, expect=200)
    assert mine.body["owner"]["username"] == "alice"


async def test_give__all_racing_other_spends_is_all_or_nothing(api: Api) -> None:
    """Give-alls race gives of 1: each give-all either takes every unit left at its moment (one
    entry) or moves nothing (409); no unit is given twice and none is lost."""
    alice, _, _ = await api.user("alice"), await api.user("bob"), await api.user("carol")
    type_id = await minted(api, alice, "10", smallest_unit=0)
    for _ in range(9):
        await mint(api, alice, type_id, "10")

    async def give(body: dict[str, Any], to: str) -> tuple[int, Any]:
        reply = await api.post(GIVE, {"type": type_id, **body, "to": to}, token=alice)
        return reply.status, reply.body

    answers = await asyncio.gather(
        *[give({"amount": "1"}, "bob") for _ in range(30)],
        *[give({"all": True}, "carol") for _ in range(5)],
    )
    for status, body in answers:
        assert status == 201 or (status == 409 and body["code"] in ("insufficient", "concurrent-spend")), (status, body)
    to_bob = sum(1 for status, _ in answers[:30] if status == 201)
    alls = [body for status, body in answers[30:] if status == 201]
    assert len(alls) <= 1, alls
    to_carol = sum(int(body["amount"]) for body in alls)
    assert int(await balance(api, type_id, "bob")) == to_bob
    assert int(await balance(api, type_id, "carol")) == to_carol
    assert int(await balance(api, type_id, "alice")) == 100 - to_bob - to_carol
    if alls:
        assert await balance(api, type_id, "alice") == "0"
    for owner in ("alice", "bob", "carol"):
        await assert_invariant(api, type_id, owner)


# ---------------------------------------------------------------- a plain shortfall says so


async def test_shortfall__answers_insufficient_for_sources_oldest_first_and_burns(api: Api) -> None:
    alice, _ = await api.user("alice"), await api.user("bob")
    type_id = await minted(api, alice, "10.00")
    first = (await api.get(OPERATIONS, params={"owner": "alice", "type": type_id}, expect=200)).body["items"][0]["id"]
    await api.post(GIVE, {"type": type_id, "amount": "10", "to": "bob", "sources": [["10", first]]}, token=alice, expect=201)
    await mint(api, alice, type_id, "1.00")
    shortfalls = [
        (GIVE, {"type": type_id, "amount": "1", "to": "bob", "sources": [["1", first]]}),  # spent source
        (GIVE, {"type": type_id, "amount": "2", "to": "bob"}),  # oldest first, past the balance
        (BURN, {"type": type_id, "sources": [["1", first]]}),
        (BURN, {"type": type_id, "amount": "2"}),
    ]
    for path, body in shortfalls:
        reply = await api.post(path, body, token=alice)
        assert_problem(reply, 409, "insufficient")
        assert "unspent" in reply.body["detail"] or "insufficient" in reply.body["detail"], reply.body
    assert await balance(api, type_id, "alice") == "1.00"


# ---------------------------------------------------------------- descendants of an operation


async def test_descendants__every_operation_that_spent_from_it_and_back(api: Api) -> None:
    alice, bob, carol, dave = await api.user("alice"), await api.user("bob"), await api.user("carol"), await api.user("dave")
    type_id = await minted(api, alice, "10", smallest_unit=0)
    c1 = (await api.get(OPERATIONS, params={"type": type_id}, expect=200)).body["items"][0]["id"]
    c2 = await mint(api, alice, type_id, "5")

    async def op(path: str, token: str, body: dict[str, Any]) -> str:
        return str((await api.post(path, {"type": type_id, **body}, token=token, expect=201)).body["id"])

    g1 = await op(GIVE, alice, {"amount": "6", "to": "bob", "sources": [["6", c1]]})
    g2 = await op(GIVE, bob, {"amount": "4", "to": "carol", "sources": [["4", g1]]})
    b1 = await op(BURN, carol, {"sources": [["1", g2]]})
    g3 = await op(GIVE, alice, {"amount": "6", "to": "dave", "sources": [["4", c1], ["2", c2]]})
    g4 = await op(GIVE, dave, {"amount": "6", "to": "bob", "sources": [["6", g3]]})
    reply = await api.get(f"{OPERATIONS}/{c1}/descendants")
    assert reply.status == 200, reply
    assert reply.body["operation"]["id"] == c1 and reply.body["truncated"] is False
    assert _ids(reply) == sorted([g1, g2, b1, g3, g4])
    assert {(edge["entry"], edge["source"], edge["amount"]) for edge in reply.body["edges"]} == {
        (g1, c1, "6"), (g2, g1, "4"), (b1, g2, "1"), (g3, c1, "4"), (g4, g3, "6"),
    }
    # a descendant that also spent another output lists every source it has
    combined = next(item for item in reply.body["descendants"] if item["id"] == g3)
    assert sorted(combined["sources"]) == sorted([["4", c1], ["2", c2]])
    other = await api.get(f"{OPERATIONS}/{c2}/descendants", expect=200)
    assert _ids(other) == [g3, g4]
    assert _ids(await api.get(f"{OPERATIONS}/{g2}/descendants", expect=200)) == [b1]
    assert _ids(await api.get(f"{OPERATIONS}/{b1}/descendants", expect=200)) == []
    # the reverse of trace: every descendant's trace reaches the operation
    for descendant in _ids(reply):
        traced = await api.get(f"{OPERATIONS}/{descendant}/trace", expect=200)
        assert c1 in [item["id"] for item in traced.body["ancestors"]], descendant
    # capped: the nearest first, and it says so
    capped = await api.get(f"{OPERATIONS}/{c1}/descendants", params={"limit": "2"})
    assert capped.status == 200 and capped.body["truncated"] is True, capped
    assert sorted(_ids(capped)) == sorted([g1, g3])
    assert_problem(await api.get(f"{OPERATIONS}/nope/descendants"), 404, "operation-not-found")
    assert_problem(await api.get(f"{OPERATIONS}/{c1}/descendants", params={"limit": "0"}), 400, "validation-failed")


def _ids(reply: Any) -> list[str]:
    return [item["id"] for item in reply.body["descendants"]]


# ---------------------------------------------------------------- several owners


async def test_list__several_owners_in_one_list(api: Api) -> None:
    alice, bob, carol, _ = await api.user("alice"), await api.user("bob"), await api.user("carol"), await api.user("dave")
    type_id = await minted(api, alice, "10", smallest_unit=0)
    to_bob = await api.post(GIVE, {"type": type_id, "amount": "4", "to": "bob"}, token=alice, expect=201)
    to_carol = await api.post(GIVE, {"type": type_id, "amount": "3", "to": "carol"}, token=bob, expect=201)
    to_dave = await api.post(GIVE, {"type": type_id, "amount": "1", "to": "dave"}, token=carol, expect=201)
    ids = {name: (await api.get(OPERATIONS, params={"owner": name}, expect=200)).body["items"] for name in ("bob", "dave")}
    both = await api.get(OPERATIONS, params={"owners": "bob,dave", "sort": "created_at"})
    assert both.status == 200, both
    expected = sorted({item["id"] for items in ids.values() for item in items})
    assert [item["id"] for item in both.body["items"]] == expected
    assert expected == sorted([to_bob.body["id"], to_carol.body["id"], to_dave.body["id"]])
    # repeated, with spaces, @ and this server's domain, and by status: the outputs they hold
    domain = to_bob.body["recipient"].partition("@")[2]
    held = await api.get(f"{OPERATIONS}?owners=%40bob&owners=+carol@{domain}&status=unspent&sort=created_at")
    assert held.status == 200, held
    assert [(item["id"], item["remaining"]) for item in held.body["items"]] == [
        (to_bob.body["id"], "1"), (to_carol.body["id"], "2"),
    ]
    paged = await api.get(OPERATIONS, params={"owners": "bob,dave", "page_size": "2", "sort": "created_at"})
    assert len(paged.body["items"]) == 2 and paged.body["next"], paged.body
    rest = await api.get(paged.body["next"], expect=200)
    assert [item["id"] for item in paged.body["items"] + rest.body["items"]] == expected
    # refused: too many, unknown, both forms at once, empty
    many = ",".join(f"user{index}" for index in range(21))
    assert_problem(await api.get(OPERATIONS, params={"owners": many}), 400, "validation-failed")
    assert_problem(await api.get(OPERATIONS, params={"owners": "bob,nobody"}), 404, "actor-not-found")
    assert_problem(await api.get(OPERATIONS, params={"owners": "bob", "owner": "dave"}), 400, "validation-failed")
    assert_problem(await api.get(OPERATIONS, params={"owners": " , "}), 400, "validation-failed")


async def test_balance__several_owners_at_once(api: Api) -> None:
    alice, _, _ = await api.user("alice"), await api.user("bob"), await api.user("carol")
    type_id = await minted(api, alice, "10", smallest_unit=0)
    other = await minted(api, alice, "5", smallest_unit=0)
    await api.post(GIVE, {"type": type_id, "amount": "4", "to": "bob"}, token=alice, expect=201)
    await api.post(GIVE, {"type": other, "amount": "2", "to": "bob"}, token=alice, expect=201)
    one_type = await api.get("/api/v1/ledger/balance", params={"type": type_id, "owners": "bob,alice,carol"})
    assert one_type.status == 200, one_type
    assert [(item["owner"].partition("@")[0], item["balance"]) for item in one_type.body["owners"]] == [
        ("bob", "4"), ("alice", "6"), ("carol", "0"),
    ]
    every_type = await api.get("/api/v1/ledger/balance", params={"owners": "bob,carol"}, expect=200)
    bob_balances, carol_balances = every_type.body["owners"]
    assert sorted((item["type"], item["balance"]) for item in bob_balances["balances"]) == sorted([(type_id, "4"), (other, "2")])
    assert carol_balances["balances"] == []
    assert_problem(await api.get("/api/v1/ledger/balance", params={"owners": "bob", "owner": "bob"}), 400, "validation-failed")


# ---------------------------------------------------------------- pages


async def test_pages__give_all_that_remains_all_of_a_type_and_where_units_went(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await browser.sign_up("ann")
    type_id = await make_type(browser)
    minted_page = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": "10"})
    assert minted_page.status == 200 and "Minted 10." in minted_page
    create = minted_page.url.rsplit("/", 1)[-1]
    assert 'id="give-remainder-form"' in minted_page.text and "Nothing has been spent from this operation yet." in minted_page
    # the type page's give form, from that operation with an amount
    part = await browser.submit(
        f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"amount": "3", "to": "bob", "from_operation": create}
    )
    assert part.status == 200 and "Gave 3." in part, part.text[:500]
    # the operation's page: where they went, and a form giving all that remains of it
    rest = await browser.submit(f"/app/entries/{create}", f"/app/types/{type_id}/give", {"to": "bob", "from_operation": create})
    assert rest.status == 200 and "Gave 7." in rest, rest.text[:500]
    went = await browser.get(f"/app/entries/{create}", expect=200)
    assert len(re.findall(r'<li class="descendant">', went.text)) == 2
    assert 'id="give-remainder-form"' not in went.text  # nothing left of it
    # all of a type, from the type page; then nothing is left and the form says why
    await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": "4"}, expect=200)
    await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": "1"}, expect=200)
    everything = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"to": "bob", "all": "on"})
    assert everything.status == 200 and "Gave 5." in everything, everything.text[:500]
    empty = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"to": "bob"})
    assert empty.status == 400 and "give an amount, from_operation, or all" in empty, empty.text[:2000]
    nothing = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/burn", {"all": "on"})
    assert nothing.status == 409 and "you hold no CUP" in (nothing.field_error("amount") or ""), nothing.text[:2000]
    assert (await api.get("/api/v1/ledger/balance", params={"type": type_id, "owner": "bob"}, expect=200)).body["balance"] == "15"


async def test_pages__ledger_of_several_owners(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await browser.sign_up("ann")
    type_id = await make_type(browser)
    await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": "10"}, expect=200)
    await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"amount": "4", "to": "bob"}, expect=200)
    mine = await browser.get("/app/ledger", expect=200)  # by default: the signed-in user's own
    assert_labelled(mine.text)
    assert re.findall(r'<tr data-owner="([^"@]+)@[^"]*"><td[^>]*>[^<]*</td><td[^>]*><a[^>]*>CUP</a></td><td[^>]*class="num balance">(\d+)<', mine.text) == [("ann", "6")]
    both = await browser.get("/app/ledger", params={"owners": "ann, bob", "type": type_id}, expect=200)
    balances = re.findall(r'<tr data-owner="([^"@]+)@[^"]*"><td[^>]*>[^<]*</td><td[^>]*><a[^>]*>CUP</a></td><td[^>]*class="num balance">(\d+)<', both.text)
    assert balances == [("ann", "6"), ("bob", "4")], both.text
    assert len(re.findall(r'<span class="kind kind-(?:create|give)">', both.text)) == 2
    held = await browser.get("/app/ledger", params={"owners": "bob", "status": "unspent"}, expect=200)
    assert len(re.findall(r'<span class="kind kind-give">', held.text)) == 1
    unknown = await browser.get("/app/ledger", params={"owners": "ann,nobody"})
    assert unknown.status == 404 and "nobody" in (unknown.field_error("owners") or ""), unknown.text[:2000]
    too_many = await browser.get("/app/ledger", params={"owners": ",".join(f"u{index}" for index in range(21))})
    assert too_many.status == 400 and "at most 20" in (too_many.field_error("owners") or ""), too_many.text[:2000]
