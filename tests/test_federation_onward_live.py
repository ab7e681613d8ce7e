"""Tokens that travel: three real servers, a holder on B gives onward units that live on A.

carol@A gives 10 to dave@B; dave gives 4 to erin@C, 3 to frank@B and 1 back to carol, each by
asking A (the origin) in a request signed with his key; every server's view adds up. 200
concurrent gives race on 100 units, and a give asked while A is down completes once A is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from federation.httpsig_cavage import sign_cavage

from .livesrv import LiveServer
from .test_federation_live import Instance, eventually, servers  # noqa: F401

pytestmark = pytest.mark.slow
COIN = {"name": "Gold", "symbol": "GLD", "fungible": True, "smallest_unit": 0}


@pytest.fixture
async def trio(servers: list[LiveServer]) -> AsyncIterator[tuple[Instance, Instance, Instance]]:
    """Three servers, and a client without a connection limit (200 gives race) and with a longer
    timeout than tests/test_federation_live.py's (a give waits for the origin under that load)."""
    connector = aiohttp.TCPConnector(keepalive_timeout=5, limit=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120), connector=connector) as session:
        yield Instance(servers[0], session), Instance(servers[1], session), Instance(servers[2], session)


async def _dave_holds(a: Instance, b: Instance, amount: str) -> str:
    """carol on A and dave on B, both servers started, dave holding `amount` GLD; the type URL."""
    a.user("carol")
    b.user("dave")
    a.server.start()
    b.server.start()
    return await _coin_given_to_dave(a, b, amount)


async def _coin_given_to_dave(a: Instance, b: Instance, amount: str) -> str:
    """carol@A makes GLD, mints 100 and gives `amount` to dave@B; B has credited it. The type URL."""
    status, coin = await a.call("POST", "/api/v1/types", "carol", json=COIN)
    assert status == 201, coin
    await a.call("POST", "/api/v1/ledger/create", "carol", json={"type": coin["id"], "amount": "100"}, expect=201)
    await a.call("POST", "/api/v1/ledger/give", "carol", json={"type": coin["id"], "amount": amount,
                                                               "to": f"dave@{b.domain}"}, expect=201)
    type_url = f"{a.server.base_url}/types/{coin['id']}"

    async def credited() -> bool:
        return (await _holding(b, "dave", type_url) or {}).get("balance") == amount

    await eventually(credited, "B to credit dave")
    return type_url


async def _holding(instance: Instance, user: str, type_url: str) -> dict[str, Any] | None:
    _, held = await instance.call("GET", "/api/v1/federation/holdings", user, expect=200)
    return next((item for item in held["items"] if item["type"] == type_url), None)


async def _remote_gives(instance: Instance, user: str) -> list[dict[str, Any]]:
    """Every give onward of the user's, through all pages."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": 50}
    while True:
        _, listed = await instance.call("GET", "/api/v1/ledger/remote-gives", user, params=params, expect=200)
        rows += listed["items"]
        if not listed["next_cursor"]:
            return rows
        params["cursor"] = listed["next_cursor"]


async def _origin_balance(a: Instance, owner: str, type_url: str) -> str:
    _, found = await a.call("GET", "/api/v1/ledger/balance", "carol", expect=200,
                            params={"type": type_url.rsplit("/", 1)[1], "owner": owner})
    return str(found["balance"])


async def test_onward__units_travel_from_b_to_c_b_and_back_to_a_and_every_ledger_adds_up(
    trio: tuple[Instance, Instance, Instance]
) -> None:
    a, b, c = trio
    a.user("carol")
    b.user("dave")
    b.user("frank")
    c.user("erin")
    for instance in trio:
        instance.server.start()
    type_url = await _coin_given_to_dave(a, b, "10")

    gives = [("4", f"erin@{c.domain}"), ("3", "frank"), ("1", f"carol@{a.domain}")]
    entries = []
    for amount, to in gives:
        status, made = await b.call("POST", "/api/v1/ledger/give", "dave", json={"type": type_url, "amount": amount, "to": to})
        assert status == 201, made
        assert (made["state"], made["amount"], made["origin"]) == ("done", amount, a.domain)
        entries.append(made["entry"])

    # the origin's ledger: dave kept 2, carol has 90 + 1, erin 4, frank 3
    assert await _origin_balance(a, f"dave@{b.domain}", type_url) == "2"
    assert await _origin_balance(a, "carol", type_url) == "91"
    assert await _origin_balance(a, f"erin@{c.domain}", type_url) == "4"
    assert await _origin_balance(a, f"frank@{b.domain}", type_url) == "3"
    # B: dave's holding is what A says; frank's was credited from A's answer
    dave = await _holding(b, "dave", type_url)
    assert dave is not None
    assert (dave["balance"], dave["received"], dave["given"], dave["pending"]) == ("2", "10", "8", "0")
    frank = await _holding(b, "frank", type_url)
    assert frank is not None and (frank["balance"], frank["entries"][0]["from"]) == ("3", f"dave@{b.domain}")
    _, balances = await b.call("GET", "/api/v1/ledger/balance", "dave", expect=200)
    [remote] = [item for item in balances["balances"] if item["type"] == type_url]
    assert (remote["balance"], remote["origin"], remote["symbol"]) == ("2", a.domain, "GLD")

    # C hears of erin's units from A (the entry was published to her server) and credits them
    async def erin_credited() -> Any:
        return await _holding(c, "erin", type_url)

    erin = await eventually(erin_credited, "C to credit erin")
    assert (erin["balance"], erin["entries"][0]["entry"]) == ("4", entries[0])
    assert erin["entries"][0]["from"] == f"dave@{b.domain}"

    # erin's units trace back, on the origin, to carol's create
    status, trace = await a.call("GET", f"/api/v1/ledger/operations/{entries[0].rsplit('/', 1)[1]}/trace")
    assert status == 200, trace
    assert trace["operation"]["author"] == f"dave@{b.domain}"
    [root] = [item for item in trace["ancestors"] if item["id"] in trace["roots"]]
    assert (root["kind"], root["author"], root["amount"]) == ("create", f"carol@{a.domain}", "100")

    # the published give reaches dave's own server too, which already had it: nothing counted twice
    await asyncio.sleep(1.0)
    dave = await _holding(b, "dave", type_url)
    assert dave is not None and dave["balance"] == "2"

    # dave burns all he has left, at the origin
    status, burnt = await b.call("POST", "/api/v1/ledger/burn", "dave", json={"type": type_url, "all": True})
    assert (status, burnt["state"], burnt["amount"]) == (201, "done", "2"), burnt
    assert await _origin_balance(a, f"dave@{b.domain}", type_url) == "0"
    dave = await _holding(b, "dave", type_url)
    assert dave is not None and (dave["balance"], dave["burnt"]) == ("0", "2")

    # erin asks her own server for the trace of her units: C fetches it from A and checks every proof
    status, traced = await c.call("GET", "/api/v1/ledger/remote-trace", "erin", params={"entry": entries[0]})
    assert status == 200, traced
    carol_url = f"{a.server.base_url}/users/carol"
    assert (traced["verdict"], traced["verified"], traced["held"], traced["signer"]) == ("signed", True, True, carol_url)
    assert traced["detail"] == f"every step signed by carol@{a.domain}"
    first, last = traced["steps"][0], traced["steps"][-1]
    assert (first["kind"], first["amount"], first["author"]) == ("create", "100", carol_url)
    assert (last["id"], last["kind"], last["amount"]) == (entries[0], "give", "4")
    assert all(step["valid"] for step in traced["steps"])


async def _dave_key(server: LiveServer) -> str:
    """dave's private RSA key, read from B's database (the "other client" holds his key)."""
    url = server.env["TALLYSTICK_DATABASE_URL"]
    query = ("SELECT k.rsa_private_pem FROM actor_keys k JOIN actors a ON a.id = k.actor_id "
             "WHERE a.username = 'dave' AND a.domain = ''")
    if url.startswith("sqlite"):
        path = url.split("://", 1)[1].split("?", 1)[0]
        with sqlite3.connect(path) as db:
            return str(db.execute(query).fetchone()[0])
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return str(await connection.fetchval(query))
    finally:
        await connection.close()


async def test_onward__200_racing_gives_on_100_units_succeed_exactly_100_times(
    trio: tuple[Instance, Instance, Instance]
) -> None:
    a, b, _ = trio
    type_url = await _dave_holds(a, b, "100")
    dave_url = f"{b.server.base_url}/users/dave"
    pem = await _dave_key(b.server)  # made when B first served dave's actor (A looked him up)
    endpoint = f"{a.server.base_url}/ledger"

    async def through_b(n: int) -> str:
        status, made = await b.call("POST", "/api/v1/ledger/give", "dave",
                                    json={"type": type_url, "amount": "1", "to": f"carol@{a.domain}"})
        assert status in (201, 202, 409), made
        return "refused" if status == 409 else str(made["id"])

    async def directly(n: int) -> int:
        """Another client with dave's key asks A itself (as a second process of B would)."""
        request = {"id": f"{dave_url}/ledger-requests/direct-{n}", "type": "Create", "actor": dave_url,
                   "object": {"type": "LedgerEntry", "entryKind": "give", "tokenType": type_url, "amount": "1",
                              "attributedTo": dave_url, "target": f"{a.server.base_url}/users/carol"}}
        body = orjson.dumps(request)
        headers = sign_cavage("POST", endpoint, key_id=f"{dave_url}#main-key", private_key=pem, body=body)
        status, answer = await a.call("POST", "/ledger", data=body,
                                      headers={**headers, "Content-Type": "application/activity+json"})
        assert status in (201, 409), answer
        return status

    results = await asyncio.gather(*(through_b(n) for n in range(150)), *(directly(n) for n in range(50)))
    direct_ok = sum(1 for status in results[150:] if status == 201)
    refused_at_once = results[:150].count("refused")

    async def settled() -> Any:
        states = [row["state"] for row in await _remote_gives(b, "dave")]
        return None if "pending" in states else states

    states = await eventually(settled, "B's gives to be answered", limit=240)
    assert len(states) == 150
    assert direct_ok + states.count("done") == 100
    assert states.count("done") + states.count("refused") == 150
    assert states.count("refused") >= refused_at_once  # a 409 answered at once is recorded as refused
    assert await _origin_balance(a, f"dave@{b.domain}", type_url) == "0"
    assert await _origin_balance(a, "carol", type_url) == "100"

    async def mirrored() -> bool:  # the direct gives reach B as published entries
        return (await _holding(b, "dave", type_url) or {}).get("balance") == "0"

    await eventually(mirrored, "B to mirror every give of dave's", limit=120)


async def test_onward__a_give_asked_while_the_origin_is_down_completes_once_after_it_restarts(
    trio: tuple[Instance, Instance, Instance]
) -> None:
    a, b, _ = trio
    type_url = await _dave_holds(a, b, "10")
    assert a.server.process is not None
    os.killpg(a.server.process.pid, signal.SIGKILL)
    a.server.process.wait()

    status, made = await b.call("POST", "/api/v1/ledger/give", "dave", json={"type": type_url, "amount": "4", "to": f"carol@{a.domain}"})
    assert (status, made["state"]) == (202, "pending"), made
    assert made["problem"]["code"] == "origin-unreachable"
    dave = await _holding(b, "dave", type_url)
    assert dave is not None and (dave["balance"], dave["pending"]) == ("10", "4")

    a.server.start()  # same port and database; B's retry comes after about 16 s

    async def done() -> Any:
        _, row = await b.call("GET", f"/api/v1/ledger/remote-gives/{made['id']}", "dave", expect=200)
        return row if row["state"] == "done" else None

    row = await eventually(done, "the pending give to complete", limit=90)
    assert await _origin_balance(a, f"dave@{b.domain}", type_url) == "6"
    assert await _origin_balance(a, "carol", type_url) == "94"
    _, listed = await a.call("GET", "/api/v1/ledger/operations", params={"owner": f"dave@{b.domain}", "kind": "give"},
                             expect=200)
    gives_by_dave = [item for item in listed["items"] if item["author"] == f"dave@{b.domain}"]
    assert [item["id"] for item in gives_by_dave] == [row["entry"].rsplit("/", 1)[1]]
    dave = await _holding(b, "dave", type_url)
    assert dave is not None and (dave["balance"], dave["pending"]) == ("6", "0")


async def test_onward__the_origins_refusal_reaches_the_holder_and_nothing_moves(
    trio: tuple[Instance, Instance, Instance]
) -> None:
    a, b, _ = trio
    type_url = await _dave_holds(a, b, "10")
    status, problem = await b.call("POST", "/api/v1/ledger/give", "dave",
                                   json={"type": type_url, "amount": "11", "to": f"carol@{a.domain}"})
    assert status == 409, problem
    assert problem["detail"].startswith(f"{a.domain} refused: insufficient balance")
    _, listed = await b.call("GET", "/api/v1/ledger/remote-gives", "dave", expect=200)
    assert [(row["state"], row["problem"]["status"]) for row in listed["items"]] == [("refused", 409)]
    assert await _origin_balance(a, f"dave@{b.domain}", type_url) == "10"
    dave = await _holding(b, "dave", type_url)
    assert dave is not None and dave["balance"] == "10"
    assert listed["items"][0]["next_try_at"] is None  # the refusal is final: no retry is scheduled

    # from one output: 3 of it, then all that remains of it
    [output] = dave["entries"]
    to_carol = {"from_operation": output["entry"], "to": f"carol@{a.domain}"}
    status, made = await b.call("POST", "/api/v1/ledger/give", "dave", json={**to_carol, "amount": "3"})
    assert (status, made["amount"], made["sources"]) == (201, "3", [["3", output["entry"]]]), made
    status, made = await b.call("POST", "/api/v1/ledger/give", "dave", json=to_carol)
    assert (status, made["amount"]) == (201, "7"), made
    assert await _origin_balance(a, f"dave@{b.domain}", type_url) == "0"
    status, problem = await b.call("POST", "/api/v1/ledger/give", "dave", json=to_carol)
    assert (status, problem["code"]) == (409, "insufficient"), problem
