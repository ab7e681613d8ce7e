"""Gives onward, the origin's side: a remote holder's signed request to POST /ledger spends its
outputs once, and every bad request is refused with nothing moved. And the holder's side where
the origin is a fake: a blocked origin, an origin that takes no ledger requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from federation.delivery import deliver_due
from federation.httpsig_cavage import sign_cavage
from federation.inbox import process_due
from federation.outbox import publish_due_events
from federation.signed_objects import verify_remote_object
from models.engine import run_due
from models.federation import OnwardGive
from models.ledger import LedgerEntry
from models.machines import ONWARD_GIVES

from .conftest import Api, Reply, assert_problem
from .fedhelpers import OTHER_KEY, SHARED_KEY, FakeActor, Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .jobhelpers import queued, worker
from .test_federation_give import remote_give

COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2}


class Origin:
    """alice's Coin on our server; dave (on the fake remote) holds 10 of it."""

    def __init__(self, api: Api, remote: Remote, token: str, type_id: str, dave_output: str) -> None:
        self.api, self.remote, self.token, self.type_id, self.dave_output = api, remote, token, type_id, dave_output
        self.base = f"http://{api.client.host}:{api.client.port}"
        self.dave = remote.actor("dave")
        self.count = 0

    @property
    def type_url(self) -> str:
        return f"{self.settings_base}/types/{self.type_id}"

    @property
    def settings_base(self) -> str:
        return self.api.settings.base_url

    def request(self, amount: str, *, to: str | None = None, actor: FakeActor | None = None, **entry: Any) -> dict[str, Any]:
        actor = actor or self.dave
        self.count += 1
        obj = {"type": "LedgerEntry", "entryKind": "give", "tokenType": self.type_url, "amount": amount,
               "attributedTo": actor.uri, "target": to or f"{self.settings_base}/users/alice", **entry}
        return {"id": f"{actor.uri}/ledger-requests/{self.count}", "type": "Create", "actor": actor.uri, "object": obj}

    async def send(self, request: dict[str, Any], actor: FakeActor | None = None, **kwargs: Any) -> Reply:
        return await signed_post(self.api, "/ledger", request, actor or self.dave, **kwargs)

    async def balance(self, owner: str) -> str:
        reply = await self.api.get("/api/v1/ledger/balance", token=self.token, expect=200,
                                   params={"type": self.type_id, "owner": owner})
        return str(reply.body["balance"])


async def _origin(api: Api, remote: Remote) -> Origin:
    token = await api.user("alice")
    type_id = (await api.post("/api/v1/types", COIN, token=token, expect=201)).body["id"]
    await api.post("/api/v1/ledger/create", {"type": type_id, "amount": "100"}, token=token, expect=201)
    given = await api.post("/api/v1/ledger/give", {"type": type_id, "amount": "10", "to": remote.actor("dave").handle},
                           token=token, expect=201)
    return Origin(api, remote, token, type_id, given.body["id"])


async def test_origin__a_holders_request_spends_once_and_a_repeat_gets_the_same_entry(fed_api: Api, remote: Remote) -> None:
    origin = await _origin(fed_api, remote)
    request = origin.request("4")
    made = await origin.send(request)
    assert made.status == 201, made.text
    entry = orjson.loads(made.text)
    assert (entry["type"], entry["entryKind"], entry["amount"]) == ("LedgerEntry", "give", "4.00")
    assert entry["attributedTo"] == origin.dave.uri and entry["target"] == f"{origin.settings_base}/users/alice"
    assert [source["id"] for source in entry["sources"]] == [f"{origin.settings_base}/ledger/{origin.dave_output}"]
    assert made.headers["Location"] == entry["id"]
    again = await origin.send(request)  # the holder's server retries after losing the answer
    assert (again.status, orjson.loads(again.text)["id"]) == (200, entry["id"])
    assert await origin.balance(origin.dave.handle) == "6.00"
    assert await origin.balance("alice") == "94.00"
    assert await LedgerEntry.filter(kind="give", author__username="dave").count() == 1


async def test_origin__explicit_sources_and_a_burn_spend_the_holders_outputs(fed_api: Api, remote: Remote) -> None:
    origin = await _origin(fed_api, remote)
    source = f"{origin.settings_base}/ledger/{origin.dave_output}"
    made = await origin.send(origin.request("2.50", sources=[{"id": source, "amount": "2.50"}]))
    assert made.status == 201, made.text
    burn = origin.request("1")
    burn["object"] = {**burn["object"], "entryKind": "burn"}
    del burn["object"]["target"]
    burnt = await origin.send(burn)
    assert (burnt.status, orjson.loads(burnt.text)["entryKind"]) == (201, "burn")
    assert await origin.balance(origin.dave.handle) == "6.50"


async def test_origin__more_than_the_holding_is_refused_and_nothing_moves(fed_api: Api, remote: Remote) -> None:
    origin = await _origin(fed_api, remote)
    assert_problem(await origin.send(origin.request("10.01")), 409, "insufficient")
    source = f"{origin.settings_base}/ledger/{origin.dave_output}"
    assert_problem(await origin.send(origin.request("11", sources=[{"id": source, "amount": "11"}])), 409)
    assert await origin.balance(origin.dave.handle) == "10.00"


async def test_origin__forged_requests_are_refused_and_nothing_moves(fed_api: Api, remote: Remote) -> None:
    origin = await _origin(fed_api, remote)
    mallory = remote.actor("mallory")
    # signed with a key that is not dave's
    assert_problem(await origin.send(origin.request("1"), private_pem=OTHER_KEY.private_pem), 401, "bad-signature")
    # mallory's own key, claiming dave's outputs
    assert_problem(await origin.send(origin.request("1"), mallory), 403, "origin-mismatch")
    # mallory, honestly, naming dave as the author
    honest = origin.request("1", actor=mallory)
    honest["object"]["attributedTo"] = origin.dave.uri
    assert_problem(await origin.send(honest, mallory), 403, "origin-mismatch")
    # mallory spending from dave's output: not hers
    source = f"{origin.settings_base}/ledger/{origin.dave_output}"
    assert_problem(await origin.send(origin.request("1", actor=mallory, sources=[{"id": source, "amount": "1"}]), mallory),
                   404, "source-not-found")
    # dave, with a request id on another server
    elsewhere = {**origin.request("1"), "id": "http://127.0.0.1:9/requests/1"}
    assert_problem(await origin.send(elsewhere), 403, "origin-mismatch")
    assert await origin.balance(origin.dave.handle) == "10.00"


async def test_origin__a_replayed_give_moves_nothing_and_an_old_signature_is_refused(fed_api: Api, remote: Remote) -> None:
    origin = await _origin(fed_api, remote)
    body = orjson.dumps(origin.request("1"))
    url = f"{origin.base}/ledger"
    headers = sign_cavage("POST", url, key_id=origin.dave.key_id, private_key=SHARED_KEY.private_pem, body=body)
    headers["Content-Type"] = "application/activity+json"
    first = await fed_api.call("POST", "/ledger", data=body, headers=headers)
    assert first.status == 201, first.text
    replay = await fed_api.call("POST", "/ledger", data=body, headers=headers)  # the same bytes, sent again
    assert (replay.status, orjson.loads(replay.text)["id"]) == (200, orjson.loads(first.text)["id"])
    old = orjson.dumps(origin.request("1"))
    stale = sign_cavage("POST", url, key_id=origin.dave.key_id, private_key=SHARED_KEY.private_pem, body=old,
                        now=datetime.now(UTC) - timedelta(hours=13))
    refused = await fed_api.call("POST", "/ledger", data=old, headers={**stale, "Content-Type": "application/activity+json"})
    assert_problem(refused, 401, "bad-signature")
    assert await origin.balance(origin.dave.handle) == "9.00"


async def test_origin__requests_from_a_blocked_actor_or_domain_are_refused(fed_api: Api, remote: Remote) -> None:
    origin = await _origin(fed_api, remote)
    admin = await fed_api.user("root", roles=["admin"])
    await fed_api.post("/api/v1/admin/federation/actor-blocks", {"actor": origin.dave.uri}, token=admin, expect=201)
    assert_problem(await origin.send(origin.request("1")), 403, "actor-blocked")
    await fed_api.put(f"/api/v1/admin/federation/blocks/127.0.0.1:{remote.port}", token=admin, expect=200)
    assert_problem(await origin.send(origin.request("1")), 403, "domain-blocked")
    assert await origin.balance(origin.dave.handle) == "10.00"


async def test_origin__bad_requests_get_clear_errors(fed_api: Api, remote: Remote) -> None:
    origin = await _origin(fed_api, remote)
    other_type = origin.request("1", tokenType="http://127.0.0.1:9/types/x")
    assert_problem(await origin.send(other_type), 404, "type-not-found")
    no_such = origin.request("1", tokenType=f"{origin.settings_base}/types/nope")
    assert_problem(await origin.send(no_such), 404, "type-not-found")
    assert_problem(await origin.send(origin.request("-1")), 400)
    assert_problem(await origin.send(origin.request("1", to=f"{origin.settings_base}/users/nobody")), 404, "actor-not-found")
    assert_problem(await origin.send(origin.request("1", to=origin.dave.uri)), 422, "self-give")
    follow = {**origin.request("1"), "type": "Follow"}
    assert_problem(await origin.send(follow), 400, "malformed-request")
    assert_problem(await origin.send(b"not json"), 400)
    assert await origin.balance(origin.dave.handle) == "10.00"


async def test_origin__a_give_onward_is_published_to_the_holders_and_the_recipients_servers(
    fed_api: Api, remote: Remote
) -> None:
    origin = await _origin(fed_api, remote)
    erin = remote.actor("erin")
    await origin.send(origin.request("3", to=erin.uri), expect=201)
    await publish_due_events(site_of(fed_api))
    await deliver_due(site_of(fed_api))
    onward = [post for post in remote.posts() if post["json"]["object"].get("attributedTo") == origin.dave.uri]
    assert sorted(post["path"] for post in onward) == ["/users/dave/inbox", "/users/erin/inbox"]
    for post in onward:
        assert post["json"]["actor"] == f"{origin.settings_base}/users/alice"  # the type's owner tells of it
        assert {origin.dave.uri, erin.uri} <= set(post["json"]["to"])


async def _holder(api: Api, remote: Remote) -> tuple[str, str]:
    """alice here holds 3.5 GLD of bob@remote's type (credited after the origin confirmed)."""
    token = await api.user("alice")
    assert (await signed_post(api, "/users/alice/inbox", remote_give(remote, "3.5"), remote.actor("bob"))).status == 202
    await process_due(site_of(api))
    [item] = (await api.get("/api/v1/federation/holdings", token=token, expect=200)).body["items"]
    return token, str(item["type"])


async def test_holder__units_of_a_blocked_origin_cannot_be_given_onward(fed_api: Api, remote: Remote) -> None:
    token, type_url = await _holder(fed_api, remote)
    admin = await fed_api.user("root", roles=["admin"])
    await fed_api.put(f"/api/v1/admin/federation/blocks/127.0.0.1:{remote.port}", token=admin, expect=200)
    await fed_api.user("frank")
    reply = await fed_api.post("/api/v1/ledger/give", {"type": type_url, "amount": "1", "to": "frank"}, token=token)
    assert_problem(reply, 403, "domain-blocked")
    assert await OnwardGive.all().count() == 0
    assert [post for post in remote.posts("ledger")] == []


async def test_holder__an_origin_that_takes_no_ledger_requests_refuses_and_nothing_moves(
    fed_api: Api, remote: Remote
) -> None:
    token, type_url = await _holder(fed_api, remote)
    await fed_api.user("frank")
    reply = await fed_api.post("/api/v1/ledger/give", {"type": type_url, "amount": "1", "to": "frank"}, token=token)
    assert_problem(reply, 404, "no-ledger-requests")
    assert reply.body["detail"] == f"127.0.0.1:{remote.port} refused: this server takes no ledger requests"
    assert len(remote.posts("ledger")) == 1
    [row] = (await fed_api.get("/api/v1/ledger/remote-gives", token=token, expect=200)).body["items"]
    assert (row["state"], row["problem"]["status"], row["next_try_at"]) == ("refused", 404, None)
    [item] = (await fed_api.get("/api/v1/federation/holdings", token=token, expect=200)).body["items"]
    assert (item["amount"], item["pending"]) == ("3.5", "0.0")


async def test_holder__bad_gives_of_remote_units_are_refused_before_asking(fed_api: Api, remote: Remote) -> None:
    token, type_url = await _holder(fed_api, remote)
    await fed_api.user("frank")
    give = {"type": type_url, "amount": "1", "to": "frank"}
    not_held = {**give, "type": f"{remote.base}/objects/types/2"}
    assert_problem(await fed_api.post("/api/v1/ledger/give", not_held, token=token), 404, "type-not-found")
    assert_problem(await fed_api.post("/api/v1/ledger/give", {**give, "to": "alice"}, token=token), 422, "self-give")
    foreign = {**give, "sources": [["1", f"{remote.base}/objects/entries/99"]]}
    assert_problem(await fed_api.post("/api/v1/ledger/give", foreign, token=token), 404, "source-not-found")
    assert_problem(await fed_api.post("/api/v1/ledger/give", {**give, "amount": "0"}, token=token), 400, "invalid-amount")
    assert await OnwardGive.all().count() == 0
    assert remote.posts("ledger") == []


async def test_origin__a_give_onward_is_in_the_type_owners_objects_signed_by_the_owner(fed_api: Api, remote: Remote) -> None:
    """A follower's backfill gets the gives remote holders made of the owner's types too."""
    origin = await _origin(fed_api, remote)
    made = orjson.loads((await origin.send(origin.request("4"), expect=201)).text)
    base = origin.settings_base
    headers = {"Accept": "application/activity+json"}
    for url in ("/users/alice/objects?page=1", f"/users/alice/objects?page=1&object={origin.type_url}"):
        page = orjson.loads((await fed_api.get(url, headers=headers, expect=200)).text)
        [onward] = [item for item in page["orderedItems"] if item["id"] == made["id"]]
        assert (onward["attributedTo"], onward["tokenOwner"]) == (origin.dave.uri, f"{base}/users/alice")
        assert (await verify_remote_object(site_of(fed_api), onward)).signer == f"{base}/users/alice"


async def test_holder__a_give_onward_queued_as_a_job_is_sent_by_the_runner_after_it_commits(
    fed_api: Api, remote: Remote
) -> None:
    token, type_url = await _holder(fed_api, remote)
    await fed_api.user("frank")
    job = await queued(fed_api, "/api/v1/ledger/give", {"type": type_url, "amount": "1", "to": "frank"}, token)
    assert await worker(fed_api, "w1").run_once()
    done = (await fed_api.get(f"/api/v1/jobs/{job['id']}", token=token, expect=200)).body
    assert (done["state"], done["result"]["state"]) == ("succeeded", "pending"), done
    assert remote.posts("ledger") == []  # nothing sent while the job's transaction was open
    assert await run_due(site_of(fed_api), ONWARD_GIVES) == 1
    [row] = (await fed_api.get("/api/v1/ledger/remote-gives", token=token, expect=200)).body["items"]
    assert (row["state"], row["problem"]["status"]) == ("refused", 404)  # the fake origin takes no requests
    assert len(remote.posts("ledger")) == 1


async def test_holder__an_origin_answering_503_leaves_the_give_pending_until_it_answers(fed_api: Api, remote: Remote) -> None:
    token, type_url = await _holder(fed_api, remote)
    frank = await fed_api.user("frank")
    remote.ledger_status = 503
    reply = await fed_api.post("/api/v1/ledger/give", {"type": type_url, "amount": "1", "to": "frank"}, token=token)
    assert (reply.status, reply.body["state"], reply.body["attempts"]) == (202, "pending", 1), reply
    # only its holder sees it
    assert_problem(await fed_api.get(f"/api/v1/ledger/remote-gives/{reply.body['id']}", token=frank), 404,
                   "remote-give-not-found")
    assert (await fed_api.get("/api/v1/ledger/remote-gives", token=frank, expect=200)).body["items"] == []
    assert_problem(await fed_api.get("/api/v1/ledger/remote-gives"), 401)
    assert reply.headers["Location"] == f"/api/v1/ledger/remote-gives/{reply.body['id']}"
    assert reply.body["problem"]["code"] == "origin-unreachable" and reply.body["next_try_at"]
    [item] = (await fed_api.get("/api/v1/federation/holdings", token=token, expect=200)).body["items"]
    assert (item["amount"], item["pending"]) == ("3.5", "1.0")
    assert await run_due(site_of(fed_api), ONWARD_GIVES) == 0  # not due before its backoff
    remote.ledger_status = 409
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await run_due(site_of(fed_api), ONWARD_GIVES, now=later) == 1
    row = (await fed_api.get(f"/api/v1/ledger/remote-gives/{reply.body['id']}", token=token, expect=200)).body
    assert (row["state"], row["attempts"], row["problem"]["status"]) == ("refused", 2, 409)
    assert len(remote.posts("ledger")) == 2
