"""The OpenAPI document: every operation declares its output, and the responses show it."""

from __future__ import annotations

import re
from typing import Any

from jsonschema_rs import Draft202012Validator  # schemathesis brings it

import server.app  # noqa: F401  (registers every operation, federation's too)
from models import registry
from models.registry import REGISTRY

from .conftest import Api, Reply
from .jobhelpers import finished_job

SPEC = "/api/v1/openapi.json"


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_registry__every_operation_declares_its_output() -> None:
    """`output=` is part of an operation's declaration, as its input is (None: answers 204)."""
    undeclared = getattr(registry, "UNDECLARED", None)
    missing = [op.name for op in REGISTRY.all() if getattr(op, "output", undeclared) is undeclared]
    assert missing == [], "operations without output=...: declare what they answer"


async def test_openapi__success_responses_have_schemas(api: Api) -> None:
    """No success response is documented as `{}`: each has its output's schema, or is a bare 204."""
    reply = await api.get(SPEC)
    assert reply.status == 200, reply
    spec = reply.body
    empty = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                if status == "204":
                    assert "content" not in response, (method, path)
                    continue
                for media, content in response["content"].items():
                    if content.get("schema") in (None, {}):
                        empty.append(f"{method.upper()} {path} {status} {media}")
    assert empty == []


async def test_openapi__token_read_documents_the_token(api: Api) -> None:
    spec = (await api.get(SPEC)).body
    responses = spec["paths"]["/api/v1/tokens/{id}"]["get"]["responses"]
    token = _resolve(spec, responses["200"]["content"]["application/json"]["schema"])
    assert {"id", "type", "owner", "attributes", "version", "content_hash"} <= set(token["required"])
    owner = _resolve(spec, token["properties"]["owner"])
    assert set(owner["properties"]) >= {"id", "username", "handle"}


async def test_openapi__lists_document_their_page(api: Api) -> None:
    spec = (await api.get(SPEC)).body
    schema = spec["paths"]["/api/v1/tokens"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = _resolve(spec, schema)
    assert {"items", "page_size", "next", "previous", "next_cursor"} <= set(page["properties"])
    assert _resolve(spec, page["properties"]["items"]["items"])["title"] == "TokenOut"


async def test_openapi__delete_documents_204(api: Api) -> None:
    """A DELETE that answers no body says 204, not 200."""
    spec = (await api.get(SPEC)).body
    for path in ("/api/v1/tokens/{id}", "/api/v1/types/{id}", "/api/v1/sets/{id}", "/api/v1/webhooks/{id}"):
        responses = spec["paths"][path]["delete"]["responses"]
        assert "204" in responses and "200" not in responses, path


async def test_openapi__queued_answer_is_a_job(api: Api) -> None:
    """202 (Prefer: respond-async) answers the job record, and the document says so."""
    spec = (await api.get(SPEC)).body
    responses = spec["paths"]["/api/v1/types"]["post"]["responses"]
    job = _resolve(spec, responses["202"]["content"]["application/json"]["schema"])
    assert {"id", "state", "operation", "result"} <= set(job["properties"])
    token = await api.user()
    queued = await api.post(
        "/api/v1/types",
        {"name": "Queued", "symbol": "QU", "fungible": True, "smallest_unit": 0},
        token=token,
        headers={"Prefer": "respond-async"},
    )
    assert queued.status == 202, queued
    assert set(job["required"]) <= set(queued.body)


class Conformance:
    """Checks each answer against the OpenAPI document: a documented status, and a JSON body
    valid under that status's schema. Wraps `api.call`, so every call of a test is checked."""

    def __init__(self, api: Api, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.templates = [
            (re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + "$"), path) for path in spec["paths"]
        ]
        self.answered: set[str] = set()  # operationIds that answered 2xx
        self.problems: list[str] = []
        self._call = api.call
        api.call = self.call  # type: ignore[method-assign]  # wrap every call the test makes

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        reply = await self._call(method, path, **kwargs)
        self.check(method, path, reply)
        return reply

    def check(self, method: str, path: str, reply: Reply) -> None:
        found = [template for pattern, template in self.templates if pattern.match(path.split("?")[0])]
        operation = self.spec["paths"][found[-1]].get(method.lower()) if found else None
        if operation is None:
            return  # not an API route (pages, well-known documents)
        label = f"{method} {path} -> {reply.status}"
        response = operation["responses"].get(str(reply.status))
        if response is None:
            self.problems.append(f"{label}: status not documented")
            return
        if 200 <= reply.status < 300:
            self.answered.add(operation["operationId"])
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None or reply.body is None:
            return
        validator = Draft202012Validator({**schema, "components": self.spec["components"]})
        for error in validator.iter_errors(reply.body):
            self.problems.append(f"{label}: {'/'.join(map(str, error.instance_path))}: {error.message}"[:500])


async def test_openapi__real_answers_match_declared_outputs(api: Api) -> None:
    """A walk through the API's success paths (which random inputs rarely reach): every answer
    has the status and the body shape its operation's output declares."""
    spec = (await api.get(SPEC)).body
    conformance = Conformance(api, spec)
    root = await api.user("root", roles=["admin", "job-read"])
    alice, bob = await api.user("alice"), await api.user("bob")

    async def ok(method: str, path: str, status: int = 200, token: str = alice, **kwargs: Any) -> Any:
        reply = await api.call(method, path, token=token, **kwargs)
        assert reply.status == status, reply
        return reply.body

    v1 = "/api/v1"
    await ok("GET", f"{v1}/me")
    await ok("PATCH", f"{v1}/users/me", json={"display_name": "Alice"})
    await ok("GET", f"{v1}/admin/users", token=root)
    carol = {"username": "carol", "password": "correct horse", "email": "carol@example.org"}
    await ok("POST", f"{v1}/admin/users", 201, root, json=carol)
    await ok("POST", f"{v1}/admin/users/carol/freeze", token=root)
    await ok("POST", f"{v1}/admin/users/carol/unfreeze", token=root)
    await ok("PUT", f"{v1}/admin/users/carol/roles", token=root, json={"roles": ["tester"]})
    await ok("POST", f"{v1}/admin/users/carol/token", token=root)

    gem = await ok("POST", f"{v1}/types", 201, json={
        "name": "Gem", "symbol": "GEM", "fungible": False, "smallest_unit": 0,
        "attributes": [{"name": "label", "type": "string"}, {"name": "secret", "type": "string", "private": True}],
    })
    await ok("GET", f"{v1}/types/{gem['id']}")
    await ok("GET", f"{v1}/types")
    await ok("PATCH", f"{v1}/types/{gem['id']}", json={"description": "shiny"})
    ruby = await ok("POST", f"{v1}/tokens", 201, json={
        "type": gem["id"], "attributes": {"label": "ruby", "secret": "s"}
    })
    await ok("GET", f"{v1}/tokens/{ruby['id']}")
    await ok("GET", f"{v1}/tokens", params={"owner": "alice"})
    await ok("PATCH", f"{v1}/tokens/{ruby['id']}", json={"attributes": {"label": "Ruby"}})
    await ok("GET", f"{v1}/tokens/{ruby['id']}/disclosures")
    await ok("POST", f"{v1}/verify", token=bob, json={"token": ruby["id"], "content_hash": ruby["content_hash"]})

    coin_type = {"name": "Coin", "symbol": "C", "fungible": True, "smallest_unit": 2}
    coin = await ok("POST", f"{v1}/types", 201, json=coin_type)
    minted = await ok("POST", f"{v1}/ledger/create", 201, json={"type": coin["id"], "amount": "10"})
    given = await ok("POST", f"{v1}/ledger/give", 201, json={"type": coin["id"], "amount": "2.5", "to": "bob"})
    await ok("POST", f"{v1}/ledger/burn", 201, json={"type": coin["id"], "amount": "1"})
    await ok("GET", f"{v1}/ledger/balance", params={"owner": "alice", "type": coin["id"]})
    await ok("GET", f"{v1}/ledger/balance", params={"owner": "alice"})
    await ok("GET", f"{v1}/ledger/operations", params={"type": coin["id"]})
    await ok("GET", f"{v1}/ledger/operations/{minted['id']}")
    await ok("GET", f"{v1}/ledger/operations/{given['id']}/trace")
    await ok("POST", f"{v1}/ledger/operations/{given['id']}/flags", json={"flag": "odd"})
    await ok("DELETE", f"{v1}/ledger/operations/{given['id']}/flags/odd")

    shelf = await ok("POST", f"{v1}/sets", 201, json={"name": "Shelf"})
    await ok("POST", f"{v1}/sets/{shelf['id']}/tokens", json={"tokens": [ruby["id"]]})
    await ok("GET", f"{v1}/sets/{shelf['id']}")
    await ok("GET", f"{v1}/sets")
    await ok("GET", f"{v1}/sets/{shelf['id']}/tokens")
    ruby_filter = {"attribute": "label", "op": "eq", "value": "Ruby"}
    await ok("POST", f"{v1}/sets/{shelf['id']}/search", json={"filters": [ruby_filter]})
    await ok("GET", f"{v1}/sets/{shelf['id']}/format/html")
    await ok("PATCH", f"{v1}/sets/{shelf['id']}", json={"description": "mine"})
    await ok("DELETE", f"{v1}/sets/{shelf['id']}/tokens/{ruby['id']}", 204)
    await ok("DELETE", f"{v1}/sets/{shelf['id']}", 204)

    team = await ok("POST", f"{v1}/groups", 201, json={"name": "Team"})
    await ok("POST", f"{v1}/groups/{team['id']}/members", json={"username": "bob"})
    await ok("GET", f"{v1}/groups")
    await ok("GET", f"{v1}/groups/{team['id']}")
    await ok("PATCH", f"{v1}/groups/{team['id']}", json={"description": "us"})
    await ok("DELETE", f"{v1}/groups/{team['id']}/members/bob", 204)
    await ok("DELETE", f"{v1}/groups/{team['id']}", 204)

    await ok("GET", f"{v1}/me/webhook-secret")
    await ok("POST", f"{v1}/me/webhook-secret")
    await ok("GET", f"{v1}/webhooks")
    delegation = await ok("POST", f"{v1}/delegations", 201, json={"to": "bob", "scopes": ["read"]})
    await ok("GET", f"{v1}/delegations")
    await ok("DELETE", f"{v1}/delegations/{delegation['id']}")

    queued = await ok("POST", f"{v1}/types", 202, json={"name": "Later", "symbol": "L", "fungible": True,
                                                       "smallest_unit": 0}, headers={"Prefer": "respond-async"})
    await finished_job(api, alice, queued["id"])
    await ok("GET", f"{v1}/jobs/{queued['id']}")
    await ok("GET", f"{v1}/jobs")
    await ok("DELETE", f"{v1}/jobs/{queued['id']}", 204)
    await ok("POST", f"{v1}/jobs", 202, json={"steps": [{"id": "a", "operation": "types.list", "input": {}}]})
    await ok("GET", f"{v1}/admin/jobs/metrics", token=root)
    await ok("GET", f"{v1}/admin/jobs/stuck", token=root)

    await ok("PATCH", f"{v1}/me/federation", json={"manually_approves_followers": True})
    for path in ("follows", "followers", "federation/inbox", "federation/objects", "federation/backfills",
                 "federation/holdings", "imports", "copies", "agents/grants", "agents/reports"):
        await ok("GET", f"{v1}/{path}")
    await ok("PUT", f"{v1}/admin/federation/blocks/spam.example", token=root)
    await ok("GET", f"{v1}/admin/federation/blocks", token=root)
    await ok("DELETE", f"{v1}/admin/federation/blocks/spam.example", 204, root)
    blocked = await ok("POST", f"{v1}/admin/federation/actor-blocks", 201, root,
                       json={"actor": "https://spam.example/users/x"})
    await ok("GET", f"{v1}/admin/federation/actor-blocks", token=root)
    await ok("DELETE", f"{v1}/admin/federation/actor-blocks/{blocked['id']}", 204, root)
    await ok("GET", f"{v1}/admin/federation/deliveries", token=root)

    app = await ok("POST", f"{v1}/apps", json={"client_name": "Tool", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"})
    assert app["client_secret"]
    await ok("DELETE", f"{v1}/tokens/{ruby['id']}", 204)
    await ok("POST", f"{v1}/auth/login", token="", json={"username": "bob", "password": "correct horse"})
    dave = {"username": "dave", "password": "correct horse battery", "email": "dave@example.org"}
    await ok("POST", f"{v1}/auth/register", 201, "", json=dave)
    await ok("POST", f"{v1}/auth/logout", token=bob)

    assert conformance.problems == []
    assert len(conformance.answered) >= 70, sorted(conformance.answered)
