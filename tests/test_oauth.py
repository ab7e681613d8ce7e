"""OAuth 2 for apps: register, consent page, code + PKCE, client_credentials, revoke, scopes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import Api, assert_problem
from .pagehelpers import Browser

REDIRECT = "https://app.example/callback"
OOB = "urn:ietf:wg:oauth:2.0:oob"
NEW_TYPE = {"name": "T", "symbol": "T", "fungible": True, "smallest_unit": 0}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def register_app(api: Api, scopes: str = "read write") -> dict[str, Any]:
    reply = await api.post("/api/v1/apps", {"client_name": "Pocket", "redirect_uris": REDIRECT, "scopes": scopes})
    assert reply.status == 200, reply
    return reply.body


async def authorize(
    browser: Browser,
    app: dict[str, Any],
    *,
    scope: str = "read write",
    challenge: str | None = None,
    state: str = "xyz",
) -> str:
    """Walk the consent page as the signed-in browser; return the code from the redirect."""
    query = {
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope,
        "state": state,
    }
    if challenge:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    consent = await browser.client.get("/oauth/authorize", params=query, headers={"Accept": "text/html"})
    text = await consent.text()
    assert consent.status == 200 and "Authorize Pocket?" in text, text[:1000]
    token = text.split('name="csrf_token" value="')[1].split('"')[0]
    response = await browser.client.post(
        "/oauth/authorize", data={**query, "decision": "approve", "csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    values = parse_qs(location.query)
    assert values["state"] == [state]
    return values["code"][0]


async def exchange(api: Api, app: dict[str, Any], code: str, verifier: str | None, *, secret: bool = False) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": app["client_id"]}
    if verifier:
        form["code_verifier"] = verifier
    if secret:
        form["client_secret"] = app["client_secret"]
    response = await api.client.post("/oauth/token", data=form)
    return response.status, await response.json()


@pytest.fixture
async def signed_in(api: Api) -> Browser:
    browser = Browser(api.client)
    await browser.sign_up("ann")
    return browser


async def test_oauth__metadata_names_the_endpoints(api: Api) -> None:
    reply = await api.get("/.well-known/oauth-authorization-server")
    assert reply.body["token_endpoint"].endswith("/oauth/token")
    assert reply.body["code_challenge_methods_supported"] == ["S256"]


async def test_oauth__public_client_code_with_pkce_calls_the_api(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, challenge=challenge)
    status, body = await exchange(api, app, code, verifier)
    assert status == 200 and body["token_type"] == "Bearer" and body["scope"] == "read write"
    me = await api.get("/api/v1/me", token=body["access_token"])
    assert me.body["username"] == "ann"
    created = await api.post("/api/v1/types", NEW_TYPE, token=body["access_token"])
    assert created.status == 201


async def test_oauth__code_works_once_and_its_reuse_revokes_the_token_it_gave(api: Api, signed_in: Browser) -> None:
    """RFC 6749 4.1.2: a code seen twice was intercepted; the token issued for it stops working."""
    app = await register_app(api)
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, challenge=challenge)
    status, first = await exchange(api, app, code, verifier)
    assert status == 200
    assert (await api.get("/api/v1/me", token=first["access_token"])).status == 200
    status, second = await exchange(api, app, code, verifier)
    assert status == 400 and second["error"] == "invalid_grant" and "revoked" in second["error_description"]
    assert_problem(await api.get("/api/v1/me", token=first["access_token"]), 401, "invalid-token")
    listed = await signed_in.get("/app/apps")
    assert listed.status == 200 and f'id="app-{app["id"]}"' not in listed.text
    # another code of the same app and user is not affected
    verifier, challenge = pkce()
    status, other = await exchange(api, app, await authorize(signed_in, app, challenge=challenge), verifier)
    assert status == 200 and (await api.get("/api/v1/me", token=other["access_token"])).status == 200


async def test_oauth__app_website_must_be_http_or_https(api: Api, signed_in: Browser) -> None:
    for website in ("javascript:alert(document.cookie)", "data:text/html,hi", "ftp://files.example", "//evil.example"):
        reply = await api.post(
            "/api/v1/apps", {"client_name": "X", "redirect_uris": REDIRECT, "website": website}
        )
        problem = assert_problem(reply, 400, "invalid-website")
        assert "http:// or https://" in problem["detail"], problem
    good = await api.post(
        "/api/v1/apps", {"client_name": "Pocket", "redirect_uris": REDIRECT, "website": "https://pocket.example"}
    )
    assert good.status == 200 and good.body["website"] == "https://pocket.example", good


async def test_oauth__a_stored_non_http_website_is_not_linked(api: Api, signed_in: Browser) -> None:
    """Apps registered before websites were checked keep working; their bad website is not shown."""
    from models.oauth import OAuthApp

    app = await register_app(api)
    assert await OAuthApp.filter(id=app["id"]).update(website="javascript:alert(1)") == 1
    query = {"client_id": app["client_id"], "redirect_uri": REDIRECT, "response_type": "code"}
    consent = await signed_in.get("/oauth/authorize", params=query)
    assert consent.status == 200 and "Authorize Pocket?" in consent.text
    assert "javascript:" not in consent.text


async def test_oauth__public_client_without_pkce_is_refused(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    code = await authorize(signed_in, app)
    status, body = await exchange(api, app, code, None)
    assert status == 400 and body["error"] == "invalid_request" and "PKCE" in body["error_description"]


async def test_oauth__wrong_verifier_is_refused(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    _, challenge = pkce()
    code = await authorize(signed_in, app, challenge=challenge)
    status, body = await exchange(api, app, code, pkce()[0])
    assert status == 400 and body["error"] == "invalid_grant"


async def test_oauth__confidential_client_with_secret_needs_no_pkce(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    code = await authorize(signed_in, app)
    status, body = await exchange(api, app, code, None, secret=True)
    assert status == 200 and body["access_token"]


async def test_oauth__read_scope_cannot_write(api: Api, signed_in: Browser) -> None:
    app = await register_app(api, "read")
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, scope="read", challenge=challenge)
    _, body = await exchange(api, app, code, verifier)
    token = body["access_token"]
    assert (await api.get("/api/v1/ledger/balance", token=token)).status == 200
    assert_problem(await api.post("/api/v1/types", NEW_TYPE, token=token), 403, "insufficient-scope")
    # nor through the job queue
    chain = {"steps": [{"id": "a", "operation": "types.create", "input": NEW_TYPE}]}
    assert_problem(await api.post("/api/v1/jobs", chain, token=token), 403, "insufficient-scope")


async def test_oauth__admin_scope_is_needed_for_admin_operations(api: Api) -> None:
    await api.user("root", roles=["admin"])
    browser = Browser(api.client)
    await browser.sign_in("root")
    app = await register_app(api, "read write")
    verifier, challenge = pkce()
    code = await authorize(browser, app, challenge=challenge)
    _, body = await exchange(api, app, code, verifier)
    assert_problem(await api.get("/api/v1/admin/users", token=body["access_token"]), 403, "insufficient-scope")
    admin_app = await register_app(api, "read admin:read")
    verifier, challenge = pkce()
    code = await authorize(browser, admin_app, scope="read admin:read", challenge=challenge)
    _, body = await exchange(api, admin_app, code, verifier)
    assert (await api.get("/api/v1/admin/users", token=body["access_token"])).status == 200
    assert_problem(
        await api.post("/api/v1/admin/users/root/token", token=body["access_token"]), 403, "insufficient-scope"
    )


async def test_oauth__scopes_beyond_the_registration_are_refused(api: Api, signed_in: Browser) -> None:
    app = await register_app(api, "read")
    response = await signed_in.client.get(
        "/oauth/authorize",
        headers={"Accept": "text/html"},
        params={"client_id": app["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "write"},
    )
    assert response.status == 400 and "not registered" in await response.text()


async def test_oauth__unregistered_redirect_uri_is_never_followed(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    response = await signed_in.client.get(
        "/oauth/authorize",
        headers={"Accept": "text/html"},
        allow_redirects=False,
        params={"client_id": app["client_id"], "redirect_uri": "https://evil.example/", "response_type": "code"},
    )
    assert response.status == 400 and "Location" not in response.headers


async def test_oauth__consent_needs_sign_in_first(api: Api) -> None:
    app = await register_app(api)
    browser = Browser(api.client)
    response = await browser.client.get(
        "/oauth/authorize",
        allow_redirects=False,
        headers={"Accept": "text/html"},
        params={"client_id": app["client_id"], "redirect_uri": REDIRECT, "response_type": "code"},
    )
    location = response.headers["Location"]
    assert response.status == 303 and location.startswith("/signin?next=") and "authorize" in location


async def test_oauth__deny_sends_access_denied_back(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    query = {"client_id": app["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "state": "s1"}
    consent = await signed_in.get("/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in query.items()))
    response = await signed_in.client.post(
        "/oauth/authorize", data={**query, "decision": "deny", "csrf_token": consent.csrf()}, allow_redirects=False
    )
    values = parse_qs(urlsplit(response.headers["Location"]).query)
    assert values == {"error": ["access_denied"], "state": ["s1"]}


async def test_oauth__consent_without_csrf_is_refused(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    response = await signed_in.client.post(
        "/oauth/authorize",
        allow_redirects=False,
        headers={"Accept": "text/html"},
        data={"client_id": app["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "decision": "approve"},
    )
    assert response.status == 403


async def test_oauth__an_app_token_cannot_grant_itself_more(api: Api, signed_in: Browser) -> None:
    app = await register_app(api, "read write")
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, challenge=challenge)
    _, body = await exchange(api, app, code, verifier)
    # the bearer token is ignored by pages: without the session cookie this is a signed-out request
    response = await api.client.post(
        "/oauth/authorize",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        data={"client_id": app["client_id"], "redirect_uri": REDIRECT, "decision": "approve"},
        allow_redirects=False,
        cookies={},
    )
    assert response.status in (303, 403)
    assert "code=" not in response.headers.get("Location", "")


async def test_oauth__client_credentials_token_reads_public_data_only(api: Api) -> None:
    app = await register_app(api)
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    response = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    body = await response.json()
    assert response.status == 200 and body["access_token"].startswith("tsa_")
    token = body["access_token"]
    assert (await api.get("/api/v1/types", token=token)).status == 200
    assert (await api.get("/api/v1/me", token=token)).status == 401  # no user behind it
    wrong = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": "nope"},
    )
    assert wrong.status == 401 and (await wrong.json())["error"] == "invalid_client"


async def test_oauth__revoke_ends_the_token(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, challenge=challenge)
    _, body = await exchange(api, app, code, verifier)
    other = await register_app(api)
    response = await api.client.post(
        "/oauth/revoke", data={"token": body["access_token"], "client_id": other["client_id"]}
    )
    assert response.status == 200
    assert (await api.get("/api/v1/me", token=body["access_token"])).status == 200  # another app cannot revoke it
    response = await api.client.post(
        "/oauth/revoke", data={"token": body["access_token"], "client_id": app["client_id"]}
    )
    assert response.status == 200
    assert (await api.get("/api/v1/me", token=body["access_token"])).status == 401


async def test_oauth__registration_refuses_bad_redirect_uris_and_scopes(api: Api) -> None:
    bad = await api.post("/api/v1/apps", {"client_name": "X", "redirect_uris": "javascript:alert(1)"})
    assert bad.status == 400
    bad = await api.post("/api/v1/apps", {"client_name": "X", "redirect_uris": REDIRECT, "scopes": "root"})
    assert_problem(bad, 400, "invalid_scope")


async def test_oauth__unsupported_grant_type(api: Api) -> None:
    app = await register_app(api)
    response = await api.client.post("/oauth/token", data={"grant_type": "password", "client_id": app["client_id"]})
    assert response.status == 400 and (await response.json())["error"] == "unsupported_grant_type"


async def test_oauth__apps_register_with_a_form_body_as_mastodon_clients_do(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/apps", data={"client_name": "Tuskish", "redirect_uris": OOB, "scopes": "read"}
    )
    body = await response.json()
    assert (
        response.status == 200 and body["name"] == "Tuskish" and body["redirect_uri"] == OOB and body["client_secret"]
    )


async def test_oauth__out_of_band_redirect_shows_the_code(api: Api, signed_in: Browser) -> None:
    reply = await api.post("/api/v1/apps", {"client_name": "Cli", "redirect_uris": OOB, "scopes": "read"})
    app = reply.body
    query = {"client_id": app["client_id"], "redirect_uri": OOB, "response_type": "code"}
    consent = await signed_in.get("/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in query.items()))
    shown = await signed_in.post("/oauth/authorize", {**query, "decision": "approve"}, csrf=consent.csrf())
    code = shown.text.split('id="code">')[1].split("<")[0]
    response = await api.client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": OOB,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert response.status == 200 and (await response.json())["scope"] == "read"


async def test_oauth__finer_scopes_reach_only_their_area(api: Api, signed_in: Browser) -> None:
    app = await register_app(api, "read:ledger write:types")
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, scope="read:ledger write:types", challenge=challenge)
    _, body = await exchange(api, app, code, verifier)
    token = body["access_token"]
    assert (await api.get("/api/v1/ledger/balance", token=token)).status == 200
    assert (await api.post("/api/v1/types", NEW_TYPE, token=token)).status == 201
    assert_problem(await api.get("/api/v1/sets", token=token), 403, "insufficient-scope")
    assert_problem(
        await api.post("/api/v1/ledger/burn", {"type": "x", "amount": "1"}, token=token), 403, "insufficient-scope"
    )


async def test_oauth__people_see_and_revoke_the_apps_they_authorized(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, challenge=challenge)
    _, body = await exchange(api, app, code, verifier)
    token = body["access_token"]
    listed = await signed_in.get("/app/apps")
    assert f'id="app-{app["id"]}"' in listed.text and "<code>write</code>" in listed.text
    revoked = await signed_in.post(f"/app/apps/{app['id']}/revoke", {}, csrf=listed.csrf())
    assert "Access revoked." in revoked and f'id="app-{app["id"]}"' not in revoked.text
    assert (await api.get("/api/v1/me", token=token)).status == 401


async def test_oauth__verify_credentials_names_the_app_behind_a_token(api: Api, signed_in: Browser) -> None:
    app = await register_app(api)
    response = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"]},
    )
    app_token = (await response.json())["access_token"]
    assert (await api.get("/api/v1/apps/verify_credentials", token=app_token)).body["name"] == "Pocket"
    verifier, challenge = pkce()
    code = await authorize(signed_in, app, challenge=challenge)
    _, body = await exchange(api, app, code, verifier)
    assert (await api.get("/api/v1/apps/verify_credentials", token=body["access_token"])).body["name"] == "Pocket"
    personal = await api.user("zed")
    assert_problem(await api.get("/api/v1/apps/verify_credentials", token=personal), 401, "app-token-required")
