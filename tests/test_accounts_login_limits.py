"""Failed sign-ins are limited per account and per client address (API, sign-in page), and
frozen accounts cannot sign in or approve an app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from models.errors import RateLimited
from models.login_throttle import LoginFailure, LoginThrottle
from models.settings import Limits
from server.app import create_app

from .conftest import Api, assert_problem
from .dbutil import test_settings as app_settings
from .pagehelpers import Browser
from .test_oauth import REDIRECT, authorize, exchange, pkce, register_app

LOGIN = "/api/v1/auth/login"


def wrong(username: str) -> dict[str, str]:
    return {"username": username, "password": "not the password"}


def right(username: str) -> dict[str, str]:
    return {"username": username, "password": "correct horse"}


async def test_login__five_wrong_passwords_lock_the_account_with_429(api: Api) -> None:
    await api.user("ann")
    await api.user("bob")
    for _ in range(5):
        assert_problem(await api.post(LOGIN, wrong("ann")), 401, "invalid-credentials")
    for attempt in (wrong("ann"), right("ann")):  # locked: not even the right password is checked
        locked = await api.post(LOGIN, attempt)
        problem = assert_problem(locked, 429, "too-many-sign-ins")
        assert 1 <= int(locked.headers["Retry-After"]) <= 30, locked.headers
        assert "too many failed sign-ins for this account" in problem["detail"], problem
    other = await api.post(LOGIN, right("bob"))  # another account from the same address still signs in
    assert other.status == 200 and other.body["token"], other


async def test_login__a_success_clears_the_account_count(api: Api) -> None:
    await api.user("ann")
    for _ in range(4):
        assert_problem(await api.post(LOGIN, wrong("ann")), 401, "invalid-credentials")
    assert (await api.post(LOGIN, right("ann"))).status == 200
    for _ in range(4):
        assert_problem(await api.post(LOGIN, wrong("ann")), 401, "invalid-credentials")
    assert (await api.post(LOGIN, right("ann"))).status == 200


@pytest.fixture
async def proxied_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app behind a proxy it trusts (trust_forwarded_for), with a small per-address limit."""
    settings = app_settings(tmp_path, database_url, trust_forwarded_for=True, limits={"login_failures_per_address": 3})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


@pytest.fixture
async def direct_api(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app without a proxy (the default), with a small per-address limit."""
    settings = app_settings(tmp_path, database_url, limits={"login_failures_per_address": 3})
    client = await aiohttp_client(create_app(settings))
    yield Api(client, settings)
    await client.close()


async def test_login__one_address_guessing_many_accounts_is_locked_out(direct_api: Api) -> None:
    await direct_api.user("ann")
    for index in range(3):  # a different made-up X-Forwarded-For each time: not trusted, changes nothing
        spoofed = {"X-Forwarded-For": f"203.0.113.{index}"}
        assert_problem(await direct_api.post(LOGIN, wrong(f"guess{index}"), headers=spoofed), 401)
    locked = await direct_api.post(LOGIN, right("ann"), headers={"X-Forwarded-For": "203.0.113.99"})
    problem = assert_problem(locked, 429, "too-many-sign-ins")
    assert "your address" in problem["detail"] and int(locked.headers["Retry-After"]) >= 1


async def test_login__behind_a_trusted_proxy_addresses_come_from_x_forwarded_for(proxied_api: Api) -> None:
    await proxied_api.user("ann")
    for index in range(3):
        # the proxy appends the real address last; the client's own claim before it is ignored
        headers = {"X-Forwarded-For": f"10.9.9.9, 198.51.100.{index}"}
        assert_problem(await proxied_api.post(LOGIN, wrong(f"guess{index}"), headers=headers), 401)
    fresh = await proxied_api.post(LOGIN, right("ann"), headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.50"})
    assert fresh.status == 200, fresh
    for _ in range(3):
        assert_problem(await proxied_api.post(LOGIN, wrong("x"), headers={"X-Forwarded-For": "198.51.100.7"}), 401)
    locked = await proxied_api.post(LOGIN, right("ann"), headers={"X-Forwarded-For": "198.51.100.7"})
    assert_problem(locked, 429, "too-many-sign-ins")


async def test_signin_page__wrong_passwords_get_a_429_page_with_retry_after(api: Api) -> None:
    await api.user("ann")
    browser = Browser(api.client)
    for _ in range(5):
        page = await browser.submit("/signin", "/signin", wrong("ann"))
        assert page.status == 401 and "Wrong username or password." in page.text
    form = await browser.get("/signin")
    assert form.status == 200
    response = await api.client.post(
        "/signin", data={**right("ann"), "csrf_token": form.csrf()}, headers={"Accept": "text/html"}
    )
    text = await response.text()
    assert response.status == 429 and "too many failed sign-ins" in text, text[:500]
    assert int(response.headers["Retry-After"]) >= 1
    assert "tallystick_session" not in response.cookies


async def test_frozen__cannot_sign_in_to_pages_or_the_api(api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    await api.user("ann")
    assert (await api.post("/api/v1/admin/users/ann/freeze", token=admin)).status == 200
    browser = Browser(api.client)
    page = await browser.submit("/signin", "/signin", right("ann"))
    assert page.status == 403 and "this account is frozen" in page.text, page.text[:500]
    assert "/signin?next=" in (await browser.get("/app/apps")).url  # no session was made
    assert_problem(await api.post(LOGIN, right("ann")), 403, "account-frozen")
    assert (await api.post("/api/v1/admin/users/ann/unfreeze", token=admin)).status == 200
    assert (await browser.submit("/signin", "/signin", right("ann"))).status == 200


async def test_frozen__cannot_approve_an_app(api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    browser = Browser(api.client)
    assert (await browser.sign_up("ann")).status == 200  # signed in before the freeze
    app = await register_app(api)
    assert (await api.post("/api/v1/admin/users/ann/freeze", token=admin)).status == 200
    _, challenge = pkce()
    query = {
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    consent = await browser.get("/oauth/authorize", params=query)
    assert consent.status == 200, consent.text[:500]
    response = await api.client.post(
        "/oauth/authorize",
        data={**query, "decision": "approve", "csrf_token": consent.csrf()},
        headers={"Accept": "text/html"},
        allow_redirects=False,
    )
    text = await response.text()
    assert response.status == 403 and "frozen" in text, text[:500]
    assert "Location" not in response.headers


async def test_throttle__lockout_doubles_with_each_further_failure_up_to_the_cap(api: Api) -> None:
    throttle = LoginThrottle(Limits(login_failures_per_account=5, login_lockout_seconds=30, login_lockout_max_seconds=100))
    for second in range(5):
        await throttle.check("ann", "192.0.2.1", now=second)
        await throttle.failed("ann", "192.0.2.1", now=second)
    waits = []
    for failed_at in (4, 34, 94, 194):  # the last failure; the next one comes when the lock-out ends
        with pytest.raises(RateLimited) as refused:
            await throttle.check("Ann", None, now=failed_at + 0.5)
        waits.append(refused.value.extra["retry_after"])
        ends = failed_at + min(100, 30 * 2 ** (len(waits) - 1))
        await throttle.check("ann", None, now=ends)  # open again
        await throttle.failed("ann", None, now=ends)
    assert waits == [30, 60, 100, 100]
    await throttle.succeeded("ANN")
    await throttle.check("ann", None, now=300)


async def test_throttle__two_processes_share_one_count(api: Api) -> None:
    # Each `serve` process has its own LoginThrottle; the counts are the database's.
    limits = Limits(login_failures_per_account=4, login_failures_per_address=100_000)
    first, second = LoginThrottle(limits), LoginThrottle(limits)
    for second_failing in (False, True, False, True):
        await (second if second_failing else first).failed("ann", "192.0.2.1", now=10)
    with pytest.raises(RateLimited):
        await first.check("ann", None, now=11)
    with pytest.raises(RateLimited):
        await second.check("ann", None, now=11)


async def test_throttle__forgets_failures_older_than_the_window_and_lockout(api: Api) -> None:
    limits = Limits(login_failures_per_account=1, login_failures_per_address=100_000, login_failure_window_seconds=60,
                    login_lockout_seconds=30, login_lockout_max_seconds=100)
    throttle = LoginThrottle(limits)
    await throttle.failed("old", "192.0.2.1", now=0)
    await throttle.failed("new", "192.0.2.1", now=150)  # 150 s later: the old rows are deleted
    assert {row.key for row in await LoginFailure.all()} == {"account:new", "address:192.0.2.1"}
    with pytest.raises(RateLimited):
        await throttle.check("new", None, now=151)


async def test_frozen__can_still_sign_out_and_take_back_an_apps_access(api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    browser = Browser(api.client)
    assert (await browser.sign_up("ann")).status == 200
    app = await register_app(api)
    verifier, challenge = pkce()
    status, body = await exchange(api, app, await authorize(browser, app, challenge=challenge), verifier)
    assert status == 200
    assert (await api.post("/api/v1/admin/users/ann/freeze", token=admin)).status == 200
    listed = await browser.get("/app/apps")
    assert listed.status == 200 and f'id="app-{app["id"]}"' in listed.text
    revoked = await browser.post(f"/app/apps/{app['id']}/revoke", {}, csrf=listed.csrf())
    assert revoked.status == 200 and "Access revoked." in revoked, revoked.text[:500]
    assert_problem(await api.get("/api/v1/me", token=body["access_token"]), 401)
    home = await browser.get("/")
    signed_out = await browser.post("/signout", {}, csrf=home.csrf())
    assert signed_out.status == 200 and "You are signed out." in signed_out
    assert "/signin?next=" in (await browser.get("/app/apps")).url
