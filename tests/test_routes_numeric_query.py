"""Numeric query parameters (issue 14, item 14): huge, non-finite and negative values are a 400
problem naming the field, never a 500. The walk covers every GET/DELETE route of the table, so a
new numeric parameter without bounds (models/bounds.py) is caught here."""

from __future__ import annotations

import re
import typing
from typing import Any

from models.registry import REGISTRY
from server.routes import ROUTES

from .conftest import Api, assert_problem

HOSTILE = ["1e12", "1e999", "-1e999", "nan", "inf", "-inf", "-1", "0", "9" * 30, "1e308", "0x10", ""]
NUMERIC = (int, float)


def _numeric_fields(model: Any) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        kinds = typing.get_args(field.annotation) or (field.annotation,)
        flat = [typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Annotated else kind for kind in kinds]
        if any(kind in NUMERIC for kind in flat) and not any(kind is str for kind in flat):
            names.append(name)
    return names


def _query_routes() -> list[tuple[str, str, list[str]]]:
    """(method, path with placeholders filled, numeric fields) of every route that reads the query."""
    found = []
    for route in ROUTES:
        if route.method not in ("GET", "DELETE"):
            continue
        fields = _numeric_fields(REGISTRY.get(route.operation).input)
        if fields:
            found.append((route.method, re.sub(r"\{[a-z_]+\}", "admin", route.path), fields))
    return found


async def test_query_numbers__the_stuck_jobs_limit_of_the_issue_is_400_not_500(api: Api) -> None:
    admin = await api.user("admin", roles=["admin"])
    ok = await api.get("/api/v1/admin/jobs/stuck", token=admin, params={"running_longer_than": "3600"})
    assert ok.status == 200, ok
    for value in ("1e12", "1e999", "nan", "inf", "-1"):
        problem = assert_problem(
            await api.get("/api/v1/admin/jobs/stuck", token=admin, params={"running_longer_than": value}),
            400, "validation-failed",
        )
        assert problem["errors"][0]["field"] == "running_longer_than", problem
        assert re.search(r"finite|greater than|less than", problem["errors"][0]["message"]), problem


async def test_query_numbers__every_numeric_query_parameter_refuses_hostile_values(api: Api) -> None:
    admin = await api.user("admin", roles=["admin", "moderator", "job-read", "job-write", "agent", "tester"])
    routes = _query_routes()
    assert len(routes) >= 20 and any("running_longer_than" in fields for _, _, fields in routes), routes
    failures = []
    for method, path, fields in routes:
        for field in fields:
            for value in HOSTILE:
                reply = await api.call(method, path, token=admin, params={field: value})
                if reply.status >= 500 or not reply.headers.get("Content-Type", "").startswith(
                    ("application/json", "application/problem+json")
                ):
                    failures.append(f"{method} {path}?{field}={value}: {reply.status} {reply.text[:200]}")
                elif field == "page_size" and value == "":
                    # An empty page_size (a form's blank field) means the default page: answered as
                    # without it (200, or 404 where the path names no real object), never refused.
                    if reply.status not in (200, 404):
                        failures.append(f"{method} {path}?page_size=: {reply.status}, not the default page")
                elif reply.status != 400 and value not in ("1e12", "0x10"):  # 0x10 and 1e12 fit some bounds
                    failures.append(f"{method} {path}?{field}={value}: {reply.status}, not refused")
    assert not failures, "\n".join(failures)


async def test_query_numbers__pages_outside_the_api_refuse_them_too(api: Api) -> None:
    admin = await api.user("admin", roles=["admin"])
    for path in ("/users/admin/followers", "/actor/outbox"):
        assert (await api.get(path, params={"page": "1"})).status == 200
        for value in ("1e12", "1e999", "nan", "-1", "9" * 30):
            reply = await api.get(path, params={"page": value})
            assert 400 <= reply.status < 500, (path, value, reply)
    for value in ("1e999", "nan", "-1", "9" * 30):
        reply = await api.get("/app/admin/users", params={"page": value}, token=admin)
        assert reply.status < 500, (value, reply)


async def test_body_numbers__a_version_past_64_bits_is_400(api: Api) -> None:
    agent = await api.user("agent", roles=["agent"])
    for path, token in (("/api/v1/agents/reports", "01nosuchtoken"), ("/api/v1/verify", "01nosuchtoken")):
        body = {"token": token, "attributes": {"s": "x"}} if "agents" in path else {
            "token": token, "content_hash": "sha256:" + "0" * 64}
        reply = await api.post(path, {**body, "version": 2**63}, token=agent)
        problem = assert_problem(reply, 400, "validation-failed")
        assert problem["errors"][0]["field"] == "version", problem
