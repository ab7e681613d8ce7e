"""Browser sessions: sign up, sign in and out, CSRF, friendly error pages, the layout."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Api
from .pagehelpers import Browser


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def test_pages__sign_up_signs_in_and_shows_the_wallet(browser: Browser, api: Api) -> None:
    opened = await browser.get("/signup")
    response = await browser.client.post(
        "/signup",
        data={"username": "dora", "email": "d@example.org", "password": "correct horse", "csrf_token": opened.csrf()},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = next(value for value in response.headers.getall("Set-Cookie") if value.startswith("tallystick_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = await browser.get("/")
    assert page.status == 200 and "Your wallet" in page and "@dora" in page
    # the session is a real account: the API knows dora
    assert (await api.post("/api/v1/auth/login", {"username": "dora", "password": "correct horse"})).status == 200


async def test_pages__session_cookie_is_not_accepted_by_the_json_api(browser: Browser) -> None:
    await browser.sign_up("dora")
    reply = await browser.client.get("/api/v1/me")
    assert reply.status == 401


async def test_pages__sign_out_revokes_the_session(browser: Browser) -> None:
    await browser.sign_up("dora")
    secret = browser.client.session.cookie_jar.filter_cookies(browser.client.make_url("/"))["tallystick_session"].value
    home = await browser.get("/")
    page = await browser.post("/signout", {}, csrf=home.csrf())
    assert "You are signed out." in page and "Sign in" in page and "@dora" not in page
    reply = await browser.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert reply.status == 401  # the session token itself is revoked, not only forgotten


async def test_pages__wrong_password_is_said_on_the_form(browser: Browser, api: Api) -> None:
    await api.user("erin")
    page = await browser.sign_in("erin", "not the password", expect=401)
    assert page.status == 401 and "Wrong username or password." in page
    assert "@erin" not in page


async def test_pages__sign_in_returns_to_the_page_asked_for(browser: Browser, api: Api) -> None:
    await api.user("erin")
    opened = await browser.get("/app/jobs")
    assert "/signin?next=" in opened.url and opened.url.endswith("jobs")
    page = await browser.post(
        "/signin", {"username": "erin", "password": "correct horse", "next": "/app/jobs"}, csrf=opened.csrf()
    )
    assert page.url.endswith("/app/jobs")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
async def test_pages__sign_in_never_redirects_off_site(browser: Browser, api: Api, target: str) -> None:
    await api.user("erin")
    opened = await browser.get("/signin")
    response = await browser.client.post(
        "/signin",
        data={"username": "erin", "password": "correct horse", "next": target, "csrf_token": opened.csrf()},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/"


async def test_pages__signup_errors_sit_beside_their_fields(browser: Browser) -> None:
    page = await browser.submit("/signup", "/signup", {"username": "Bad Name!", "email": "nope", "password": "short"})
    assert page.status == 400
    assert page.field_error("username") and page.field_error("email") and page.field_error("password")
    assert 'value="Bad Name!"' in page.text  # what was typed stays (but never the password)
    assert "short" not in re.sub(r"<p [^>]*>[^<]*</p>", "", page.text.split("<main")[1]).split("password")[-1]


async def test_pages__a_taken_username_is_refused_beside_the_field(browser: Browser, api: Api) -> None:
    await api.user("dora")
    page = await browser.sign_up("dora", expect=409)
    assert page.status == 409 and "taken" in (page.field_error("username") or "")


@pytest.mark.parametrize("token", [None, "forged", ""])
async def test_pages__a_post_without_a_valid_csrf_token_is_refused(browser: Browser, api: Api, token: Any) -> None:
    await browser.get("/signup", expect=200)  # the browser has its CSRF cookie
    page = await browser.post(
        "/signup", {"username": "mallory", "email": "m@example.org", "password": "correct horse"}, csrf=token
    )
    assert page.status == 403 and "security token" in page and "<title>Not allowed" in page.text
    assert (await api.post("/api/v1/auth/login", {"username": "mallory", "password": "correct horse"})).status == 401


async def test_pages__csrf_token_of_another_browser_is_refused(api: Api, aiohttp_client: Any) -> None:
    first = Browser(api.client)
    token = (await first.get("/signup")).csrf()
    other = Browser(await aiohttp_client(api.client.server))
    await other.get("/signup", expect=200)
    page = await other.post(
        "/signup", {"username": "mallory", "email": "m@example.org", "password": "correct horse"}, csrf=token
    )
    assert page.status == 403


async def test_pages__unknown_page_is_a_friendly_404(browser: Browser) -> None:
    page = await browser.get("/no/such/page")
    assert page.status == 404 and "<title>Page not found" in page.text and "Traceback" not in page.text


async def test_pages__api_clients_still_get_problem_json(api: Api) -> None:
    reply = await api.get("/no/such/page")
    assert reply.status == 404 and reply.headers["Content-Type"].startswith("application/problem+json")


async def test_pages__stylesheet_is_served(browser: Browser) -> None:
    response = await browser.client.get("/static/style.css")
    assert response.status == 200 and response.content_type == "text/css"


@pytest.mark.parametrize("path", ["/", "/signin", "/signup"])
async def test_pages__every_page_has_a_title_and_labelled_inputs(browser: Browser, path: str) -> None:
    page = await browser.get(path)
    assert re.search(r"<title>[^<]+</title>", page.text)
    assert_labelled(page.text)


def assert_labelled(text: str) -> None:
    """Every visible input, select and textarea has a <label for=...> naming its id."""
    labels = set(re.findall(r'<label for="([^"]+)"', text))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", text):
        if 'type="hidden"' in tag or 'type="submit"' in tag:
            continue
        match = re.search(r'id="([^"]+)"', tag)
        assert match and match.group(1) in labels, f"unlabelled: {tag}"


async def test_pages__a_crash_is_a_friendly_500_without_the_traceback(aiohttp_client: Any, settings: Any) -> None:
    from aiohttp import web

    from server.app import create_app

    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    response = await client.get("/boom", headers={"Accept": "text/html"})
    text = await response.text()
    assert response.status == 500 and "<title>Something broke" in text
    assert "secret internals" not in text and "Traceback" not in text


async def test_pages__bad_input_in_a_url_is_a_friendly_400(browser: Browser) -> None:
    page = await browser.get("/app/types/" + "x" * 100)
    assert page.status == 400 and "<title>Bad request" in page.text


async def test_pages__pages_forbid_scripts_and_framing(browser: Browser) -> None:
    response = await browser.client.get("/signin", headers={"Accept": "text/html"})
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy
    missing = await browser.client.get("/nothing/here", headers={"Accept": "text/html"})
    assert "script-src 'none'" in missing.headers["Content-Security-Policy"]
