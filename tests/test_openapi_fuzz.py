"""Schemathesis against the live server's own OpenAPI.

Token, type and ledger operations never answer 500; and every operation's answers (status,
content type, headers and body) are the ones its OpenAPI documents, so a declared output
model (models/outputs.py) that drifts from what the view returns fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .dbutil import TemplateDatabase
from .livesrv import LiveServer

pytestmark = pytest.mark.slow

# Every check that applies to one request and its answer. (negative_data_rejection and
# positive_data_acceptance judge inputs, not answers; the stateful checks need links.)
CONFORMANCE: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Left out of the run over every operation: those that reach other servers (tests never leave
# 127.0.0.1) and those that end the fuzzer's own session. ledger.give to user@host would fetch
# too; the type, token and ledger run below covers it, as it always has.
NOT_FUZZED = {
    "POST /api/v1/auth/logout",
    "POST /api/v1/follows",
    "POST /api/v1/federation/lookup",
    "POST /api/v1/imports",
    "POST /api/v1/agents/grants",
    "POST /api/v1/agents/sent-reports",
    "POST /api/v1/ledger/give",
    "POST /api/v1/tokens/{id}/media/{attribute}",
}


@pytest.fixture(scope="module")
def live(template_database: TemplateDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    url = template_database.new_database(data_dir)
    server = LiveServer(data_dir, url)
    token = server.create_user("fuzzer")
    admin = server.create_user("overseer", "admin", "job-read")
    server.create_user("friend")
    server.start()
    try:
        # Some real objects so that the fuzzer also reaches the success paths.
        headers = {"Authorization": f"Bearer {token}"}
        coin = requests.post(f"{server.base_url}/api/v1/types", json={"name": "Fuzz", "symbol": "FZ", "fungible": True, "smallest_unit": 2}, headers=headers, timeout=10)
        assert coin.status_code == 201, coin.text
        minted = requests.post(f"{server.base_url}/api/v1/ledger/create", json={"type": coin.json()["id"], "amount": "1000"}, headers=headers, timeout=10)
        assert minted.status_code == 201, minted.text
        yield {"server": server, "token": token, "admin": admin}
    finally:
        server.stop()
        template_database.drop(url)


def _fuzz(base_url: str, token: str, operations: list[Any], max_examples: int) -> list[str]:
    """Run every operation's generated cases through the conformance checks; each failure once."""
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CONFORMANCE)

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # every operation's failures, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {error}"[:2000])
    return failures


def test_api__no_server_errors(live: dict[str, Any]) -> None:
    """Every generated request to a type, token or ledger operation gets an answer below 500,
    and a documented one."""
    base_url, token = live["server"].base_url, live["token"]
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.include(path_regex=r"^/api/v1/(types|tokens|ledger)").get_all_operations()]
    assert len(operations) >= 15, "the schema lost the token and ledger operations"
    failures = _fuzz(base_url, token, operations, 25)
    assert not failures, "\n\n".join(failures)


def test_api__answers_conform_to_the_schema(live: dict[str, Any]) -> None:
    """Every other operation, called by an admin (so admin answers are reached too), answers
    what the OpenAPI document says: status, content type, headers and body schema."""
    base_url, admin = live["server"].base_url, live["admin"]
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if f"{operation.method.upper()} {operation.path}" not in NOT_FUZZED
        and not operation.path.startswith(("/api/v1/types", "/api/v1/tokens", "/api/v1/ledger"))
    ]
    assert len(operations) >= 80, "the schema lost operations"
    failures = _fuzz(base_url, admin, operations, 10)
    assert not failures, "\n\n".join(failures)
