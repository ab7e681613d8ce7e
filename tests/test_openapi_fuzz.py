"""Schemathesis against the live server's own OpenAPI: token, type and ledger operations never 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from .dbutil import TemplateDatabase
from .livesrv import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(template_database: TemplateDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    url = template_database.new_database(data_dir)
    server = LiveServer(data_dir, url)
    token = server.create_user("fuzzer")
    server.create_user("friend")
    server.start()
    try:
        # Some real objects so that the fuzzer also reaches the success paths.
        headers = {"Authorization": f"Bearer {token}"}
        coin = requests.post(f"{server.base_url}/api/v1/types", json={"name": "Fuzz", "symbol": "FZ", "fungible": True, "smallest_unit": 2}, headers=headers, timeout=10)
        assert coin.status_code == 201, coin.text
        minted = requests.post(f"{server.base_url}/api/v1/ledger/create", json={"type": coin.json()["id"], "amount": "1000"}, headers=headers, timeout=10)
        assert minted.status_code == 201, minted.text
        yield {"server": server, "token": token}
    finally:
        server.stop()
        template_database.drop(url)


def test_api__no_server_errors(live: dict[str, Any]) -> None:
    """Every generated request to a type, token or ledger operation gets an answer below 500."""
    base_url, token = live["server"].base_url, live["token"]
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.include(path_regex=r"^/api/v1/(types|tokens|ledger)").get_all_operations()]
    assert len(operations) >= 15, "the schema lost the token and ledger operations"
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        try:
            run()
        except Exception as error:  # collect every operation's failure, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {error}"[:2000])
    assert not failures, "\n\n".join(failures)
