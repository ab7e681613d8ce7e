"""OpenAPI 3.1 generated from the route table and the operations' pydantic models.

Inputs become parameters and request bodies; each operation's declared `output` becomes its
success response (a component schema), None a 204 without a body.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import BaseModel

from models.oauth import required_scope
from models.registry import REGISTRY, UNDECLARED, Operation
from models.results import FileResult, Rendered

from .routes import Route

__all__ = ["build_openapi", "path_item"]

_PARAM = re.compile(r"{(\w+)}")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "code": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "code", "title", "status", "detail"],
}
_ERROR_STATUSES = {
    "400": "Bad input",
    "401": "Missing or invalid credentials",
    "403": "Not allowed",
    "404": "Not found, or not visible to the caller",
    "409": "Conflict (double spend, version mismatch, duplicate)",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "Semantic error",
    "429": "Too many requests (sign-in attempts, anonymous budget): wait Retry-After seconds",
}


_JOB_HEADERS = [
    {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": "respond-async runs the call as a job (202); wait=N (tester role) waits for it",
        "schema": {"type": "string"},
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "with an async call: the same key and request give the same job "
        "(a repeat answers the earlier job's record with 200)",
        "schema": {"type": "string", "maxLength": 255},
    },
    {
        "name": "X-On-Behalf-Of",
        "in": "header",
        "required": False,
        "description": "username to act for: needs their active delegation to you covering the "
        "operation's scope (POST /api/v1/delegations), or the admin role; always runs as a job",
        "schema": {"type": "string", "maxLength": 64},
    },
]


_REF = "#/components/schemas/{model}"
# The job record a 202 (and a job's own URL) answers; models/operations/jobs.py declares it.
_JOB_OUTPUT = "jobs.get"


def _add_component(components: dict[str, Any], name: str, definition: dict[str, Any]) -> None:
    """Two different models of one name would silently replace each other: refuse that."""
    if components.get(name, definition) != definition:
        raise ValueError(f"two different schemas are both named {name!r}: rename one model")
    components[name] = definition


def _schema(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    schema = REGISTRY.get(route.operation).input.model_json_schema(ref_template=_REF, mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        _add_component(components, name, definition)
    return schema


def _model_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A $ref to the model's component (answers are serialised, so the serialization schema)."""
    schema = model.model_json_schema(ref_template=_REF, mode="serialization")
    for name, definition in schema.pop("$defs", {}).items():
        _add_component(components, name, definition)
    _add_component(components, model.__name__, schema)
    return {"$ref": _REF.format(model=model.__name__)}


def _success(operation: Operation, status: int, components: dict[str, Any]) -> dict[str, Any]:
    """The success responses of an operation, from its declared output."""
    output = operation.output
    if output is UNDECLARED:
        raise ValueError(f"operation {operation.name!r} declares no output")
    if output is None:
        return {"204": {"description": "Done; no body"}}
    if output is Rendered:
        text = {"schema": {"type": "string"}}
        content = {"text/html": text, "text/markdown": text, "text/*": text}
        return {str(status): {"description": "The rendered document", "content": content}}
    if output is FileResult:
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {str(status): {"description": "The file", "content": {"*/*": binary}}}
    assert isinstance(output, type) and issubclass(output, BaseModel)
    content = {"application/json": {"schema": _model_ref(output, components)}}
    return {str(status): {"description": operation.summary or "Success", "content": content}}


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    operation = REGISTRY.get(route.operation)
    schema = _schema(route, components)
    properties: dict[str, Any] = dict(schema.get("properties", {}))
    required = set(schema.get("required", []))
    path_names = _PARAM.findall(route.path)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": properties.pop(name, {"type": "string"})}
        for name in path_names
    ]
    required -= set(path_names)
    spec: dict[str, Any] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "tags": [operation.name.split(".")[0]],
    }
    if route.method in ("GET", "DELETE"):
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in properties.items()
        ]
    elif route.body == "raw":
        spec["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in properties.items()
            if name not in ("content", "content_type")
        ]
    else:
        body_schema = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            body_schema["required"] = sorted(required)
        spec["requestBody"] = {"required": bool(required), "content": {"application/json": {"schema": body_schema}}}
    if route.body != "raw":
        parameters += _JOB_HEADERS
    if parameters:
        spec["parameters"] = parameters
    if operation.access.value != "public":
        spec["security"] = [{"bearer": []}]
    spec["x-oauth-scope"] = required_scope(operation)  # what an app's OAuth token needs for it
    responses = _success(operation, route.status, components)
    if route.body != "raw":
        job = _success(REGISTRY.get(_JOB_OUTPUT), 200, components)["200"]["content"]["application/json"]["schema"]
        if route.status != 200:
            # an async call whose Idempotency-Key was used before answers the earlier job with 200
            responses.setdefault(
                "200",
                {
                    "description": "The job an earlier call with this Idempotency-Key queued",
                    "content": {"application/json": {"schema": job}},
                },
            )
        queued = job
        if route.status == 202 and operation.name != _JOB_OUTPUT:
            answer = responses["202"]["content"]["application/json"]["schema"]
            queued = job if answer == job else {"anyOf": [answer, job]}
        responses["202"] = {
            "description": "Queued as a job (Prefer: respond-async); poll the Location",
            "headers": {"Location": {"schema": {"type": "string"}}, "Retry-After": {"schema": {"type": "integer"}}},
            "content": {"application/json": {"schema": queued}},
        }
    for status, description in _ERROR_STATUSES.items():
        responses[status] = {"description": description, "content": {"application/problem+json": {"schema": PROBLEM_REF}}}
    spec["responses"] = responses
    return spec


@functools.lru_cache(maxsize=4)
def _paths_and_schemas(routes: tuple[Route, ...]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The per-route part, built once per process: generating every output model's JSON schema
    costs about 0.3 s, and every app (each test makes several) used to pay it. Read-only."""
    components: dict[str, Any] = {"Problem": _PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    return paths, components


def build_openapi(routes: list[Route], base_url: str, version: str) -> dict[str, Any]:
    paths, components = _paths_and_schemas(tuple(routes))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tallystick API",
            "version": version,
            "description": "Federated token server. Amounts are decimal strings; errors are problem+json.",
        },
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def path_item(spec: dict[str, Any], path: str) -> dict[str, Any]:
    item: dict[str, Any] = spec["paths"].get(path, {})
    return item
