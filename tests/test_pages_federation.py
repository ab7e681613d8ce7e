"""Pages for following, verification and the federation/job admin: they call the same operations as the API."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from aiohttp import FormData

from .conftest import Api
from .fedhelpers import Remote, fed_api, remote  # noqa: F401
from .jobhelpers import queue_api, worker  # noqa: F401
from .pagehelpers import HTML, Browser, Page
from .test_jobs_admin import balance_job
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


def assert_accessible(page: Page) -> None:
    assert page.status == 200, page.text[:1000]
    assert re.search(r"<title>[^<]+</title>", page.text) and page.text.count("<h1") == 1
    assert_labelled(page.text)


async def test_pages_federation__follow_a_local_user_who_approves(browser: Browser, api: Api) -> None:
    bob = await api.user("bob")
    settings = await api.patch("/api/v1/me/federation", {"manually_approves_followers": True}, token=bob)
    assert settings.status == 200, settings
    bob_uri = (await api.post("/api/v1/federation/lookup", {"target": "bob@" + api.settings.domain},
                              token=bob)).body["uri"]
    await browser.sign_up("ann")
    followed = await browser.submit("/app/follows", "/app/follows", {"target": bob_uri})
    assert followed.status == 200 and "waiting for their approval" in followed
    assert re.search(r'class="state">pending<', followed.text)

    pending = (await api.get("/api/v1/followers", token=bob, params={"state": "pending"})).body["items"]
    assert [item["follower"].split("@")[0] for item in pending] == ["ann"]
    bob_browser = Browser(browser.client)
    browser.client.session.cookie_jar.clear()
    await bob_browser.sign_in("bob")
    bob_page = await bob_browser.get("/app/follows")
    assert "Approve" in bob_page
    approved = await bob_browser.post(f"/app/followers/{pending[0]['id']}/approve", {}, csrf=bob_page.csrf())
    assert approved.status == 200 and "Follower approved." in approved
    assert (await api.get("/api/v1/followers", token=bob)).body["items"][0]["state"] == "accepted"


async def test_pages_federation__unfollow_and_bad_targets_show_beside_the_field(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await browser.sign_up("ann")
    domain = api.settings.domain
    followed = await browser.submit("/app/follows", "/app/follows", {"target": f"bob@{domain}"})
    assert "You follow bob@" in followed and re.search(r'class="state">accepted<', followed.text)
    nobody = await browser.submit("/app/follows", "/app/follows", {"target": f"nobody@{domain}"})
    assert nobody.status == 404 and "nobody" in (nobody.field_error("target") or "")
    malformed = await browser.submit("/app/follows", "/app/follows", {"target": "just-a-name"})
    assert malformed.status == 400 and malformed.field_error("target")

    follow_id = re.search(r'id="following-([0-9a-z]+)"', followed.text).group(1)  # type: ignore[union-attr]
    gone = await browser.post(f"/app/follows/{follow_id}/delete", {}, csrf=followed.csrf())
    assert gone.status == 200 and "Unfollowed." in gone and "You follow no one yet." in gone


async def test_pages_federation__admin_blocks_and_unblocks_a_domain(browser: Browser, api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    await browser.sign_in("root")
    blocked = await browser.submit("/app/admin/blocks", "/app/admin/blocks", {"domain": "Spam.Example"})
    assert blocked.status == 200 and "spam.example is blocked." in blocked
    assert [b["domain"] for b in (await api.get("/api/v1/admin/federation/blocks", token=admin)).body["items"]] == [
        "spam.example"
    ]
    bad = await browser.submit("/app/admin/blocks", "/app/admin/blocks", {"domain": "not a domain!"})
    assert bad.status == 400 and bad.field_error("domain")
    lifted = await browser.post("/app/admin/blocks/unblock", {"domain": "spam.example"}, csrf=blocked.csrf())
    assert lifted.status == 200 and "No domain is blocked." in lifted
    assert (await api.get("/api/v1/admin/federation/blocks", token=admin)).body["items"] == []


async def test_pages_federation__admin_pages_are_refused_to_other_users(browser: Browser, api: Api) -> None:
    await browser.sign_up("ann")
    for path in ("/app/admin/blocks", "/app/admin/jobs"):
        assert (await browser.get(path)).status == 403
    home = await browser.get("/")
    refused = await browser.post("/app/admin/blocks", {"domain": "spam.example"}, csrf=home.csrf())
    assert refused.status == 403


async def test_pages_federation__admin_terminates_a_stuck_job(queue_api: Api) -> None:  # noqa: F811
    await queue_api.user("root", roles=["admin"])
    alice = await queue_api.user("alice")
    job_id = await balance_job(queue_api, alice)
    assert (await worker(queue_api, "dead", lease_seconds=0.05).claim()).id == job_id  # type: ignore[union-attr]
    await asyncio.sleep(0.2)  # the lease runs out; nobody renews it
    browser = Browser(queue_api.client)
    await browser.sign_in("root")
    stuck = await browser.get("/app/admin/jobs")
    assert_accessible(stuck)
    assert f'id="job-{job_id}"' in stuck.text and "lease-expired" in stuck
    no_reason = await browser.post(f"/app/admin/jobs/{job_id}/terminate", {"reason": ""}, csrf=stuck.csrf())
    assert no_reason.status == 400 and job_id in no_reason
    done = await browser.post(
        f"/app/admin/jobs/{job_id}/terminate", {"reason": "worker died", "state": "cancelled"}, csrf=stuck.csrf()
    )
    assert done.status == 200 and "No stuck jobs." in done
    job = (await queue_api.get(f"/api/v1/jobs/{job_id}", token=alice)).body
    assert job["state"] == "cancelled" and "worker died" in job["error"]["detail"]


async def _post_file(browser: Browser, form_page: Page, content: bytes) -> Page:
    data = FormData()
    data.add_field("csrf_token", form_page.csrf())
    data.add_field("url", "")
    data.add_field("file", io.BytesIO(content), filename="copy.json", content_type="application/json")
    response = await browser.client.post("/app/verify", data=data, headers=HTML)
    return Page(response.status, await response.text(), str(response.url))


async def test_pages_federation__verify_page_refuses_what_it_cannot_check(browser: Browser) -> None:
    await browser.sign_up("ann")
    opened = await browser.get("/app/verify")
    assert_accessible(opened)
    empty = await browser.post("/app/verify", {"url": ""}, csrf=opened.csrf())
    assert empty.status == 422 and empty.field_error("url")
    not_json = await _post_file(browser, opened, b"\x00 not json")
    assert not_json.status == 422 and "not JSON" in (not_json.field_error("file") or "")
    other = await _post_file(browser, opened, b'{"type": "Note", "id": "https://a.example/n/1"}')
    assert other.status == 200 and "REFUSED" in other and "neither a token nor an export" in other
    unreachable = await browser.post("/app/verify", {"url": "http://127.0.0.1:9/tokens/x"}, csrf=opened.csrf())
    assert unreachable.status == 200 and "REFUSED" in unreachable and "0 of 1 token(s) accurate" in unreachable


async def test_pages_federation__verify_page_takes_an_empty_file_field_as_no_file(browser: Browser) -> None:
    """Chromium sends an unchosen file input as an empty part (filename="", octet-stream): no file, not a 500."""
    await browser.sign_up("ann")
    opened = await browser.get("/app/verify")
    assert opened.status == 200, opened.text[:500]
    for url, status in (("", 422), ("http://127.0.0.1:9/tokens/x", 200)):
        data = FormData()
        data.add_field("csrf_token", opened.csrf())
        data.add_field("url", url)
        data.add_field("content_hash", "")
        data.add_field("file", b"", filename="", content_type="application/octet-stream")
        response = await browser.client.post("/app/verify", data=data, headers=HTML)
        page = Page(response.status, await response.text(), str(response.url))
        assert page.status == status, page.text[:1000]
        if url:
            assert "REFUSED" in page and "0 of 1 token(s) accurate" in page
        else:
            assert page.field_error("url") and not page.field_error("file")


async def test_pages_federation__new_pages_pass_the_accessibility_smoke_check(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    await browser.sign_in("root")
    for path in ("/app/follows", "/app/verify", "/app/copies", "/app/admin/blocks", "/app/admin/jobs",
                 "/app/remote-gives", "/app/remote-trace"):
        assert_accessible(await browser.get(path))
    assert (await browser.get("/app/verify")).status == 200
    browser.client.session.cookie_jar.clear()
    assert "/signin?next=" in (await browser.get("/app/verify")).url


async def test_pages_federation__profile_of_a_local_user_has_a_follow_button(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await browser.sign_up("ann")
    profile = await browser.get(f"/app/actors?target=bob@{api.settings.domain}")
    assert_accessible(profile)
    assert "@bob@" in profile and "An account on this server" in profile and ">Follow</button>" in profile
    back = re.search(r'name="back" value="([^"]+)"', profile.text).group(1)  # type: ignore[union-attr]
    target = re.search(r'name="target" value="([^"]+)"', profile.text).group(1)  # type: ignore[union-attr]
    followed = await browser.post("/app/follows", {"target": target, "back": back.replace("&amp;", "&")},
                                  csrf=profile.csrf())
    assert followed.status == 200 and "/app/actors" in followed.url
    assert "You follow them (accepted)." in followed and ">Unfollow</button>" in followed
    mine = await browser.get(f"/app/actors?target=ann@{api.settings.domain}")
    assert "This is you." in mine and ">Follow</button>" not in mine
    missing = await browser.get(f"/app/actors?target=nobody@{api.settings.domain}")
    assert missing.status == 404 and "nobody" in (missing.field_error("target") or "")


async def test_pages_federation__profile_of_a_remote_actor_and_following_it(
    fed_api: Api, remote: Remote  # noqa: F811
) -> None:
    browser = Browser(fed_api.client)
    await browser.sign_up("ann")
    bob = remote.actor("bob")
    profile = await browser.get(f"/app/actors?target={bob.handle}")
    assert_accessible(profile)
    assert "<h1>Bob</h1>" in profile.text and f"@{bob.handle}" in profile
    assert "An account on another server" in profile and f'href="{remote.base}/"' in profile.text
    followed = await browser.post("/app/follows", {"target": bob.uri}, csrf=profile.csrf())
    assert "waiting for their approval" in followed and re.search(r'class="state">pending<', followed.text)
    again = await browser.get(f"/app/actors?target={bob.uri}")
    assert "You follow them (pending)." in again


async def test_pages_federation__copies_page_without_copies_and_an_unknown_copy(browser: Browser) -> None:
    await browser.sign_up("ann")
    copies = await browser.get("/app/copies")
    assert_accessible(copies)
    assert "No copies." in copies
    unknown = await browser.post("/app/copies/01aaaaaaaaaaaaaaaaaaaaaaaa/verify", {}, csrf=copies.csrf())
    assert unknown.status == 200 and "you have no copy" in unknown


async def test_pages_federation__approve_followers_by_hand_and_see_what_servers_sent(
    fed_api: Api, remote: Remote  # noqa: F811
) -> None:
    from federation.inbox import process_due  # noqa: PLC0415

    from .fedhelpers import signed_post, site_of  # noqa: PLC0415
    from .test_federation_inbox import follow  # noqa: PLC0415

    browser = Browser(fed_api.client)
    await browser.sign_up("ann")
    follows = await browser.get("/app/follows")
    assert_accessible(follows)
    form = follows.text.split('id="approval-form"')[1].split("</form>")[0]
    assert 'name="manually_approves_followers"' in form and "checked" not in form
    saved = await browser.post("/app/follows/settings", {"manually_approves_followers": "on"}, csrf=follows.csrf())
    assert saved.status == 200 and "New followers now wait for your approval." in saved
    assert "checked" in saved.text.split('id="approval-form"')[1].split("</form>")[0]

    empty = await browser.get("/app/inbox")
    assert_accessible(empty)
    assert "Nothing yet." in empty
    bob = remote.actor("bob")
    reply = await signed_post(fed_api, "/users/ann/inbox", follow(bob.uri, target="http://127.0.0.1:8080/users/ann"), bob)
    assert reply.status == 202, reply
    assert await process_due(site_of(fed_api)) == 1
    sent = await browser.get("/app/inbox")
    assert "<strong>Follow</strong> from" in sent.text and bob.uri in sent.text and 'class="state">handled<' in sent.text
    assert "<script" not in sent.text and "{" not in sent.text.split('<ul class="inbox">')[1].split("</ul>")[0]  # no raw JSON
    waiting = await browser.get("/app/follows")
    assert re.search(r'class="state">pending<', waiting.text)  # approval by hand: bob waits

    off = await browser.post("/app/follows/settings", {}, csrf=waiting.csrf())
    assert "Anyone may now follow you at once." in off
    settings = await fed_api.post("/api/v1/auth/login", {"username": "ann", "password": "correct horse"}, expect=200)
    got = await fed_api.patch("/api/v1/me/federation", {}, token=settings.body["token"], expect=200)
    assert got.body["manually_approves_followers"] is False
