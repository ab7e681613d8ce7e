"""The SSRF guard: which callback URLs are refused, at submission and again before delivery."""

from __future__ import annotations

import ipaddress

import pytest

from federation.ssrf import GuardedResolver, UrlRefused, check_callback_url, check_url, is_public, resolve_public
from models.events import Event
from models.jobs import Job

from .conftest import Api, assert_problem
from .jobhelpers import JOBS, queue_api  # noqa: F401

PRIVATE = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
    "100.64.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::", "::127.0.0.1", "2001:db8::1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", PRIVATE)
def test_is_public__refuses_internal_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_is_public__accepts_global_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook", "http://10.0.0.5:8080/hook", "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook", "http://0.0.0.0/", "https://[fe80::1]/",
    ],
)
def test_check_url__refuses_private_literal_addresses(url: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        check_url(url)
    assert caught.value.code == "callback-url-refused" and caught.value.status == 422


@pytest.mark.parametrize(
    "url, why",
    [
        ("ftp://example.com/x", "http"),
        ("file:///etc/passwd", "http"),
        ("gopher://example.com/", "http"),
        ("https://user:pw@example.com/hook", "user name"),
        ("https://user@example.com/hook", "user name"),
        ("https:///nohost", "no host"),
        ("not a url", "http"),
        ("http://example.com:99999/", "malformed"),
        ("http://exa mple.com/", "spaces"),
    ],
)
def test_check_url__refuses_other_schemes_userinfo_and_garbage(url: str, why: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        check_url(url)
    assert why in caught.value.detail


def test_check_url__allow_private_lets_local_addresses_through() -> None:
    target = check_url("http://127.0.0.1:8123/hook", allow_private=True)
    assert (target.scheme, target.host, target.port) == ("http", "127.0.0.1", 8123)
    assert check_url("https://[::1]/x", allow_private=True).port == 443
    with pytest.raises(UrlRefused):  # schemes and userinfo stay refused
        check_url("ftp://127.0.0.1/", allow_private=True)


async def test_resolve_public__a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(UrlRefused) as caught:
        await resolve_public("localhost", 80)
    assert "non-public" in caught.value.detail
    assert await resolve_public("localhost", 80, allow_private=True)
    with pytest.raises(UrlRefused):
        await check_callback_url("http://localhost:9/hook")
    with pytest.raises(UrlRefused, match="cannot be resolved"):
        await check_callback_url("http://no-such-host.invalid/hook")


async def test_guarded_resolver__refuses_at_connection_time() -> None:
    with pytest.raises(OSError, match="not a public address"):
        await GuardedResolver().resolve("localhost", 80)
    found = await GuardedResolver(allow_private=True).resolve("localhost", 80)
    assert found and all(not is_public(ipaddress.ip_address(item["host"])) for item in found)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook", "http://10.1.2.3/hook", "http://169.254.169.254/", "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook", "http://localhost/hook", "ftp://example.com/", "http://u:p@example.com/",
    ],
)
async def test_callback_url__refused_at_submission_and_nothing_is_queued(queue_api: Api, url: str) -> None:
    alice = await queue_api.user("alice")
    before = (await Job.all().count(), await Event.all().count())
    chain = {"steps": [{"id": "a", "operation": "users.me", "input": {}}], "callback_url": url}
    assert_problem(await queue_api.post(JOBS, chain, token=alice), 422, "callback-url-refused")
    reply = await queue_api.post("/api/v1/types", {"name": "C", "symbol": "C", "fungible": True, "smallest_unit": 0},
                                 token=alice, headers={"X-Callback-Url": url})
    assert_problem(reply, 422, "callback-url-refused")
    assert (await Job.all().count(), await Event.all().count()) == before


async def test_lookup__a_private_address_names_the_setting_that_allows_it(api: Api) -> None:
    """Two servers on one machine refused each other and nothing said how to allow it (issue 24)."""
    token = await api.user("carol")
    reply = await api.post("/api/v1/federation/lookup", {"target": "dave@127.0.0.1:8081"}, token=token)
    assert_problem(reply, 422, "remote-actor-unavailable")
    assert "127.0.0.1 is not a public address" in reply.body["detail"]
    assert "TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES=true" in reply.body["detail"]
