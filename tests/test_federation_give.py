"""Giving across servers: a give to a remote actor is recorded here and delivered to its
inbox; a remote give to one of our users is credited only as far as the origin confirms it."""

from __future__ import annotations

import time
from typing import Any

from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.outbox import publish_due_events
from models.federation import RemoteCredit

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .livesrv import free_port
from .test_federation_inbox import ALICE, verify_our_signature

COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2}


async def test_give__to_a_remote_actor_is_recorded_and_delivered_to_its_inbox(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token)).body["id"]
    await fed_api.post("/api/v1/ledger/create", {"type": type_id, "amount": "10"}, token=token, expect=201)
    give = {"type": type_id, "amount": "3", "to": bob.handle}
    assert (await fed_api.post("/api/v1/ledger/give", give, token=token)).status == 201  # looked up on the way
    balance = await fed_api.get("/api/v1/ledger/balance", token=token, params={"type": type_id, "owner": bob.handle})
    assert balance.body["balance"] == "3.00"

    await publish_due_events(site_of(fed_api))
    await deliver_due(site_of(fed_api))
    [post] = [p for p in remote.posts() if p["json"]["object"].get("entryKind") == "give"]
    assert post["path"] == "/users/bob/inbox"  # bob follows nobody here, yet hears of his units
    entry = post["json"]["object"]
    assert (entry["target"], entry["amount"], entry["attributedTo"]) == (bob.uri, "3.00", ALICE)
    assert bob.uri in post["json"]["to"]
    assert await verify_our_signature(post, "alice")


async def test_give__to_a_remote_handle_nobody_answers_for_is_a_clear_422(fed_api: Api) -> None:
    token = await fed_api.user("alice")
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token)).body["id"]
    assert (await fed_api.post("/api/v1/ledger/create", {"type": type_id, "amount": "10"}, token=token)).status == 201
    ghost = f"ghost@127.0.0.1:{free_port()}"  # no server there
    reply = await fed_api.post("/api/v1/ledger/give", {"type": type_id, "amount": "3", "to": ghost}, token=token)
    assert_problem(reply, 422, "remote-actor-unavailable")
    assert reply.body["detail"].startswith(f"no account {ghost} could be found: ")
    balance = await fed_api.get("/api/v1/ledger/balance", token=token, params={"type": type_id, "owner": "alice"})
    assert balance.body["balance"] == "10.00"


def remote_give(remote: Remote, amount: str, n: int = 1) -> dict[str, Any]:
    """bob@remote gives `amount` GLD to alice here; the origin serves the entry and the type."""
    bob = remote.actor("bob")
    entry = {"id": f"{remote.base}/objects/entries/{n}", "type": "LedgerEntry", "entryKind": "give",
             "attributedTo": bob.uri, "target": ALICE, "amount": amount,
             "tokenType": f"{remote.base}/objects/types/1", "name": f"give {amount} GLD"}
    remote.objects[f"entries/{n}"] = entry
    remote.objects["types/1"] = {"id": f"{remote.base}/objects/types/1", "type": "TokenType", "symbol": "GLD",
                                 "attributedTo": bob.uri, "name": "Gold"}
    return {"id": f"{bob.uri}/activities/{n}", "type": "Create", "actor": bob.uri, "object": entry}


async def test_give__from_a_remote_server_is_credited_once_after_the_origin_confirms(
    fed_api: Api, remote: Remote
) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    activity = remote_give(remote, "3.5")
    for _ in range(2):
        assert (await signed_post(fed_api, "/users/alice/inbox", activity, bob)).status == 202
    again = {**activity, "id": f"{activity['id']}-resent"}  # the same entry in another activity
    assert (await signed_post(fed_api, "/inbox", again, bob)).status == 202
    await process_due(site_of(fed_api))
    assert any(r["path"] == "/objects/entries/1" for r in remote.fetches())  # asked the origin
    held = await fed_api.get("/api/v1/federation/holdings", token=token)
    [item] = held.body["items"]
    assert (item["symbol"], item["amount"], item["type"]) == ("GLD", "3.5", f"{remote.base}/objects/types/1")
    assert [e["from"] for e in item["entries"]] == [bob.handle]


async def test_give__an_amount_the_origin_does_not_confirm_is_not_credited(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    activity = remote_give(remote, "3")
    activity["object"] = {**activity["object"], "amount": "3000"}  # the activity claims more than the origin says
    assert (await signed_post(fed_api, "/users/alice/inbox", activity, bob)).status == 202
    await process_due(site_of(fed_api))
    assert await RemoteCredit.all().count() == 0
    assert (await fed_api.get("/api/v1/federation/holdings", token=token)).body["items"] == []


async def test_give__a_remote_amount_we_cannot_hold_exactly_is_not_credited(fed_api: Api, remote: Remote) -> None:
    """Amounts are read by the ledger's parser: a zero after scaling, an exponent too large to
    expand, more than 64 bits or than the amount column holds are refused, quickly."""
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    refused = ["1e-999999999", "1e999990", "1e999981", "0", "-3", "NaN", "1" + "0" * 45, "9223372036854775808", "0.0000000000000000001"]
    for n, amount in enumerate(refused, start=1):
        assert (await signed_post(fed_api, "/users/alice/inbox", remote_give(remote, amount, n), bob)).status == 202
    started = time.monotonic()
    await process_due(site_of(fed_api))
    assert time.monotonic() - started < 5
    assert await RemoteCredit.all().count() == 0
    held = await fed_api.get("/api/v1/federation/holdings", token=token)
    assert held.status == 200 and held.body["items"] == [], held


async def test_give__remote_credits_stay_within_what_a_holding_can_hold(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    for n, amount in enumerate(["9223372036854775000", "807", "1", "0.5"], start=1):
        assert (await signed_post(fed_api, "/users/alice/inbox", remote_give(remote, amount, n), bob)).status == 202
        await process_due(site_of(fed_api))
    assert sorted(await RemoteCredit.all().values_list("amount", flat=True)) == ["807", "9223372036854775000"]
    held = await fed_api.get("/api/v1/federation/holdings", token=token)
    assert held.status == 200, held
    [item] = held.body["items"]
    assert item["amount"] == "9223372036854775807" and len(item["entries"]) == 2
