"""Two real servers: dave of B signs in on A with `@dave@B`, through B's own authorize page
(signing in on B as dave, then approving), and gets an account on A linked to that identity;
signing in again that way opens the same account. What a distribution on A allocated to
`@dave@B` before he had an account there is in his wallet on A after that first sign-in."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, federated_servers
from .test_federation_live import eventually

pytestmark = pytest.mark.slow
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Browser:
    """One browser visiting two sites: a cookie jar per site (both live on 127.0.0.1, and cookies
    ignore ports), redirects followed by hand so each hop goes out with its own site's cookies."""

    def __init__(self, sites: list[str]) -> None:
        self.sessions = {site: aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for site in sites}

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()

    async def open(self, method: str, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, text, address) of the page the request ends on."""
        for _ in range(10):
            parts = urlsplit(url)
            session = self.sessions[f"{parts.scheme}://{parts.netloc}"]
            async with session.request(method, url, data=data, allow_redirects=False,
                                       headers={"Accept": "text/html"}) as reply:
                text = await reply.text()
                if reply.status not in (302, 303):
                    return reply.status, text, url
                url, method, data = urljoin(url, reply.headers["Location"]), "GET", None
        raise AssertionError("too many redirects")


def hidden_fields(text: str, action: str) -> dict[str, str]:
    """The hidden inputs of the form posted to `action`."""
    form = text.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(form)}


@pytest.fixture
def two(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[list[LiveServer]]:
    with federated_servers(template_database, tmp_path, ("a", "b")) as made:
        for server in made:
            server.start()
        yield made


@pytest.fixture
async def browser(two: list[LiveServer]) -> AsyncIterator[Browser]:
    made = Browser([server.base_url for server in two])
    yield made
    await made.close()


async def sign_in_with_b(browser: Browser, a: str, handle: str) -> tuple[int, str, str]:
    """Post A's fediverse form; on B, sign in as dave when asked, then approve; where it ends."""
    status, page, _ = await browser.open("GET", f"{a}/signin")
    assert status == 200
    fields = hidden_fields(page, "/signin/fediverse") | {"handle": handle}
    status, page, url = await browser.open("POST", f"{a}/signin/fediverse", fields)
    if urlsplit(url).path == "/signin":  # B asks dave to sign in first
        assert status == 200 and not url.startswith(a), url
        login = hidden_fields(page, "/signin") | {"username": "dave", "password": "correct horse"}
        status, page, url = await browser.open("POST", urljoin(url, "/signin"), login)
    assert status == 200 and urlsplit(url).path == "/oauth/authorize", (status, url, page[:2000])
    assert "asks to act for you, <strong>@dave</strong>" in page and "see who you are" in page
    approve = hidden_fields(page, "/oauth/authorize") | {"decision": "approve"}
    return await browser.open("POST", urljoin(url, "/oauth/authorize"), approve)


async def test_live__dave_of_b_signs_in_on_a_through_b_and_gets_a_linked_account(
    two: list[LiveServer], browser: Browser
) -> None:
    a, b = two
    b.create_user("dave")
    handle = f"@dave@{b.base_url.removeprefix('http://')}"

    status, page, url = await sign_in_with_b(browser, a.base_url, handle)
    assert status == 200 and url == f"{a.base_url}/", (status, url)
    assert "Welcome! Your account here is dave, signed in with " + handle in html.unescape(page)
    status, page, _ = await browser.open("GET", f"{a.base_url}/app/account/identities")
    assert status == 200 and handle in page and f"{b.base_url}/users/dave" in page

    signout = hidden_fields(page, "/signout")
    status, page, _ = await browser.open("POST", f"{a.base_url}/signout", signout)
    assert status == 200 and "You are signed out." in html.unescape(page)

    status, page, url = await sign_in_with_b(browser, a.base_url, handle)  # still signed in on B: consent only
    assert status == 200 and url == f"{a.base_url}/"
    assert "Signed in as dave with " + handle in html.unescape(page)
    status, page, _ = await browser.open("GET", f"{a.base_url}/app/account/identities")
    assert status == 200 and page.count(f"{b.base_url}/users/dave\"") == 1


async def api(site: str, method: str, path: str, token: str, expect: int, body: object = None) -> dict:
    """A JSON API call on `site` as the token's user; the reply must have status `expect`."""
    async with aiohttp.ClientSession() as session, session.request(
        method, site + path, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as reply:
        parsed = orjson.loads(await reply.read() or b"null")
        assert reply.status == expect, (method, path, reply.status, parsed)
        return parsed  # type: ignore[no-any-return]


async def until(site: str, path: str, token: str, done: str) -> dict:
    """GET `path` until its `state` is `done` (the workers of the live server run the machines)."""

    async def reached() -> dict | None:
        read = await api(site, "GET", path, token, 200)
        return read if read["state"] == done else None

    return await eventually(reached, f"{path} to be {done}", limit=60)


async def test_live__what_a_distribution_held_for_dave_of_b_is_his_after_signing_in_on_a(
    two: list[LiveServer], browser: Browser
) -> None:
    a, b = two
    alice, dave = a.create_user("alice"), b.create_user("dave")
    a_host = a.base_url.removeprefix("http://")
    # dave of B follows alice of A: he is then in alice's followers, which a discovery on A reads.
    await api(b.base_url, "POST", "/api/v1/follows", dave, 201, {"target": f"alice@{a_host}"})

    async def accepted() -> bool:
        listed = await api(b.base_url, "GET", "/api/v1/follows", dave, 200)
        return [item["state"] for item in listed["items"]] == ["accepted"]

    await eventually(accepted, "A to accept dave's follow")
    coin = await api(a.base_url, "POST", "/api/v1/types", alice, 201,
                     {"name": "Welcome coin", "symbol": "WC", "fungible": True, "smallest_unit": 0})
    await api(a.base_url, "POST", "/api/v1/ledger/create", alice, 201, {"type": coin["id"], "amount": "100"})
    network = await api(a.base_url, "POST", "/api/v1/networks", alice, 201, {"name": "My followers"})
    found = await api(a.base_url, "POST", f"/api/v1/networks/{network['id']}/discover", alice, 201,
                      {"start": f"{a.base_url}/users/alice"})
    found = await until(a.base_url, f"/api/v1/discoveries/{found['id']}", alice, "done")
    assert found["found"] == 1, found
    made = await api(a.base_url, "POST", "/api/v1/distributions", alice, 201,
                     {"network": network["id"], "type": coin["id"], "amount": "7", "name": "Hello"})
    await until(a.base_url, f"/api/v1/distributions/{made['id']}", alice, "allocated")

    handle = f"@dave@{b.base_url.removeprefix('http://')}"
    status, wallet, url = await sign_in_with_b(browser, a.base_url, handle)  # ends on his wallet
    assert status == 200 and url == f"{a.base_url}/", (status, url)
    row = wallet.split(f'<tr data-type="{coin["id"]}"', 1)[1].split("</tr>", 1)[0]  # his balance of the coin
    assert re.search(r'<td data-label="Symbol">WC</td>', row) and re.search(r'class="num balance">7</td>', row), row
    async with aiohttp.ClientSession() as session, session.get(
        f"{a.base_url}/api/v1/ledger/balance", params={"type": coin["id"], "owner": "dave"}
    ) as reply:
        assert reply.status == 200 and (await reply.json())["balance"] == "7"
    claimed = await api(a.base_url, "GET", f"/api/v1/distributions/{made['id']}/allocations", alice, 200)
    [allocation] = claimed["items"]
    assert (allocation["state"], allocation["actor_url"]) == ("claimed", f"{b.base_url}/users/dave")
    trace = await api(a.base_url, "GET", f"/api/v1/ledger/operations/{allocation['entry']}/trace", alice, 200)
    assert made["hold"] in orjson.dumps(trace).decode()  # traceable to the give into the distribution
