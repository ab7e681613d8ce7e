"""The OpenAPI document: every operation declares its output, and the responses show it."""

from __future__ import annotations

from typing import Any

import server.app  # noqa: F401  (registers every operation, federation's too)
from models import registry
from models.registry import REGISTRY

from .conftest import Api

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
