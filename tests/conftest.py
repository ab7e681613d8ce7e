"""Shared fixtures: a migrated database per test, the real app, and an API helper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import security

# scrypt at test cost: ~50 ms a hash at production cost, paid by every user a test makes and every
# sign-in. Set before the imports below load models.operations (its login dummy is hashed at
# import). Hashes record their cost, so this changes no behaviour; test_accounts.py checks that
# production keeps its cost.
TEST_PASSWORD_COST = (2**4, 8, 1)
security.cost = TEST_PASSWORD_COST

import pytest  # noqa: E402
from aiohttp.test_utils import TestClient  # noqa: E402

from server.app import create_app  # noqa: E402
from server.cli import system_call  # noqa: E402
from server.settings import Settings  # noqa: E402

from . import screenshots  # noqa: E402
from .dbutil import TemplateDatabase, test_settings  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Browser tests save screenshots under this session's temporary directory (tests/screenshots.py)."""
    screenshots.use(tmp_path_factory)


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabase]:
    template = TemplateDatabase(tmp_path_factory.mktemp("template"))
    yield template
    template.close()


@pytest.fixture
def database_url(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[str]:
    url = template_database.new_database(tmp_path)
    yield url
    template_database.drop(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return test_settings(tmp_path, database_url)


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any
    text: str

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"Reply({self.status}, {self.text[:500]})"


class Api:
    """Thin helper over the test client: JSON in, (status, parsed body) out.

    A setup call (one whose reply the test does not look at) passes `expect=<status>`: a failed
    setup then fails the test there, instead of letting a later negative assertion pass.
    tests/test_hygiene.py refuses bare `await api.post(...)` statements without it.
    """

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._users = 0

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        expect: int | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.client.request(method, path, json=json, data=data, headers=all_headers, params=params)
        text = await response.text()
        body: Any = None
        if response.content_type in ("application/json", "application/problem+json"):
            body = await response.json(content_type=None)
        reply = Reply(response.status, body, response.headers, text)
        if expect is not None:
            assert reply.status == expect, f"{method} {path}: expected {expect}, got {reply!r}"
        return reply

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.call("POST", path, json=json, **kwargs)

    async def patch(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.call("PATCH", path, json=json, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.call("PUT", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)

    async def user(self, username: str | None = None, *, roles: list[str] | None = None) -> str:
        """Create a user (with roles, through the operator's CLI path) and return its token."""
        self._users += 1
        username = username or f"user{self._users}"
        result = await system_call(
            self.settings,
            "admin.users.create",
            {"username": username, "password": "correct horse", "email": f"{username}@example.org", "roles": roles or []},
        )
        return result["token"]


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings) -> AsyncIterator[Api]:
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


@pytest.fixture
async def small_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app with site.limits.max_set_search_tokens = 2, for tests of that cap."""
    settings = test_settings(tmp_path, database_url, limits={"max_set_search_tokens": 2})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


def assert_problem(reply: Reply, status: int, code: str | None = None) -> dict[str, Any]:
    """The reply is an RFC 9457 problem with this status (and code)."""
    assert reply.status == status, reply
    assert reply.headers["Content-Type"].startswith("application/problem+json"), reply.headers
    assert reply.body["status"] == status
    assert reply.body["detail"], "a problem must say what went wrong"
    if code is not None:
        assert reply.body["code"] == code, reply
    return reply.body
