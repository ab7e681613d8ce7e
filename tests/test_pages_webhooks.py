"""The webhooks pages: add a webhook from a form (errors beside the fields, input kept), read its
delivery log in words, change it, turn it off and on, delete it after a confirm step; the signing
secret only in answer to a "show" form, replaced after a confirm step; no JavaScript."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from models import webhooks as webhook_models
from models.webhooks import Webhook
from server.settings import Settings

from .conftest import Api
from .dbutil import test_settings as settings_for
from .jobhelpers import FAST_JOBS
from .pagehelpers import Browser
from .test_callbacks import Receiver
from .test_pages_session import assert_labelled
from .test_webhooks import coin, deliver

PAGE = "/app/webhooks"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """No embedded workers (the test runs the delivery pass), receivers on 127.0.0.1 allowed,
    events fanned out at once."""
    monkeypatch.setattr(webhook_models, "SETTLE_SECONDS", 0)
    return settings_for(tmp_path, database_url, jobs=FAST_JOBS, embedded_workers=False,
                        federation={"allow_private_addresses": True})


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = Receiver()
    await started.start()
    yield started
    await started.stop()


async def _alice(browser: Browser, api: Api) -> str:
    await browser.sign_up("alice")
    login = await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)
    return str(login.body["token"])


async def test_pages_webhooks__add_see_deliveries_change_and_delete(browser: Browser, api: Api,
                                                                    receiver: Receiver) -> None:
    alice = await _alice(browser, api)
    receiver.secret = (await api.get("/api/v1/me/webhook-secret", token=alice, expect=200)).body["secret"]
    form = await browser.get(PAGE, expect=200)
    assert "You have no webhooks yet" in form and "<script" not in form.text
    assert_labelled(form.text)

    made = await browser.post(PAGE, [("url", receiver.url), ("description", "my books"), ("events", "ledger.*")],
                              csrf=form.csrf(), expect=200)
    assert "Webhook saved" in made and "my books" in made and "Gives, mints and burns" in made
    assert "Nothing sent yet" in made
    assert_labelled(made.text)
    hook = await Webhook.get(description="my books")
    assert hook.events == ["ledger.*"]

    await coin(api, alice)
    await deliver(api)
    log = await browser.get(f"{PAGE}/{hook.id}", expect=200)
    assert "<strong>Units minted</strong> <code>ledger.create</code>" in log.text and "Delivered just now" in log
    assert "1 delivered, 0 waiting, 0 failed" in log
    assert not re.search(r">\d{4}-\d\d-\d\dT", log.text), "no raw timestamps shown"
    failed_only = await browser.get(f"{PAGE}/{hook.id}?state=failed", expect=200)
    assert "Nothing failed yet" in failed_only

    receiver.status = 500
    await api.post("/api/v1/ledger/create", {"type": (await api.get("/api/v1/types", token=alice, expect=200))
                                             .body["items"][0]["id"], "amount": "1"}, token=alice, expect=201)
    await deliver(api)
    retrying = await browser.get(f"{PAGE}/{hook.id}?state=pending", expect=200)
    assert "Not delivered yet: 1 try so far, trying again" in retrying and "It answered 500" in retrying

    changed = await browser.post(f"{PAGE}/{hook.id}", [("url", receiver.url), ("description", "books and types"),
                                                        ("events", "ledger.*"), ("events", "type.*"),
                                                        ("version", str(hook.version))], csrf=form.csrf(), expect=200)
    assert "Webhook saved" in changed and "Token types made or changed" in changed
    assert (await Webhook.get(id=hook.id)).events == ["ledger.*", "type.*"]
    stale = await browser.post(f"{PAGE}/{hook.id}", {"url": receiver.url, "description": "old tab",
                                                     "version": str(hook.version)}, csrf=form.csrf(), expect=409)
    assert "Someone changed this webhook while you were editing" in stale and "books and types" in stale
    assert (await Webhook.get(id=hook.id)).description == "books and types"

    off = await browser.post(f"{PAGE}/{hook.id}/off", {}, csrf=form.csrf(), expect=200)
    assert "Webhook off" in off and "Off: disabled by its owner" in off and "Turn on again" in off
    on = await browser.post(f"{PAGE}/{hook.id}/on", {}, csrf=form.csrf(), expect=200)
    assert "Turn off" in on and (await Webhook.get(id=hook.id)).enabled

    asked = await browser.get(f"{PAGE}/{hook.id}?confirm=delete", expect=200)
    assert "Delete this webhook?" in asked and "cannot be undone" in asked
    assert await Webhook.filter(id=hook.id).exists(), "asking deletes nothing"
    gone = await browser.post(f"{PAGE}/{hook.id}/delete", {}, csrf=asked.csrf(), expect=200)
    assert "Webhook deleted" in gone and "You have no webhooks yet" in gone
    assert not await Webhook.filter(id=hook.id).exists()


async def test_pages_webhooks__bad_input_is_explained_beside_the_field_and_kept(browser: Browser, api: Api) -> None:
    await _alice(browser, api)
    form = await browser.get(PAGE, expect=200)
    empty = await browser.post(PAGE, {"url": "", "description": "kept"}, csrf=form.csrf(), expect=400)
    assert "Enter the address" in (empty.field_error("url") or "") and 'value="kept"' in empty.text
    ftp = await browser.post(PAGE, [("url", "ftp://example.org/hook"), ("events", "market.*")],
                             csrf=form.csrf(), expect=422)
    assert "ftp://example.org/hook" in ftp and ftp.field_error("url"), ftp.text[:3000]
    assert re.search(r'value="market\.\*" checked', ftp.text), "the families picked stay picked"
    named = await browser.post(PAGE, {"url": "https://example.org/hook", "other_events": "Ledger Give"},
                               csrf=form.csrf(), expect=400)
    assert "is not an event name" in (named.field_error("other_events") or ""), named.text[:3000]
    loose = await browser.post(PAGE, {"url": "https://example.org/hook", "object_id": "01abc"},
                               csrf=form.csrf(), expect=400)
    assert loose.field_error("object_type") and 'value="01abc"' in loose.text
    assert_labelled(loose.text)
    assert not await Webhook.all().exists()


async def test_pages_webhooks__the_secret_is_shown_only_when_asked_and_replaced_after_a_confirm(
    browser: Browser, api: Api
) -> None:
    alice = await _alice(browser, api)
    secret = (await api.get("/api/v1/me/webhook-secret", token=alice, expect=200)).body["secret"]
    listed = await browser.get(PAGE, expect=200)
    assert secret not in listed and "Show my secret" in listed
    shown = await browser.post("/app/webhook-secret", {}, csrf=listed.csrf(), expect=200)
    assert secret in shown and shown.text.count(secret) == 1
    assert "no-store" in (await browser.client.post("/app/webhook-secret", data={"csrf_token": listed.csrf()},
                                                    headers={"Accept": "text/html"})).headers["Cache-Control"]
    asked = await browser.get(f"{PAGE}?confirm=rotate", expect=200)
    assert "Replace your secret?" in asked and secret not in asked
    assert (await api.get("/api/v1/me/webhook-secret", token=alice, expect=200)).body["secret"] == secret
    rotated = await browser.post("/app/webhook-secret/rotate", {}, csrf=asked.csrf(), expect=200)
    new = (await api.get("/api/v1/me/webhook-secret", token=alice, expect=200)).body["secret"]
    assert new != secret and new in rotated and secret not in rotated and "the old one no longer works" in rotated


async def test_pages_webhooks__another_users_webhook_is_not_found(browser: Browser, api: Api) -> None:
    bob = await api.user("bob")
    theirs = (await api.post("/api/v1/webhooks", {"url": "https://example.org/bob"}, token=bob, expect=201)).body
    await _alice(browser, api)
    form = await browser.get(PAGE, expect=200)
    assert "example.org/bob" not in form
    seen = await browser.get(f"{PAGE}/{theirs['id']}", expect=404)
    assert "example.org/bob" not in seen and "<title>Page not found" in seen.text
    await browser.post(f"{PAGE}/{theirs['id']}/off", {}, csrf=form.csrf(), expect=404)
    await browser.post(f"{PAGE}/{theirs['id']}/delete", {}, csrf=form.csrf(), expect=404)
    await browser.post(f"{PAGE}/{theirs['id']}", {"url": "https://example.org/mine", "version": "1"},
                       csrf=form.csrf(), expect=404)
    hook = await Webhook.get(id=theirs["id"])
    assert hook.enabled and hook.url == "https://example.org/bob"


@pytest.mark.parametrize("token", [None, "forged"])
async def test_pages_webhooks__a_post_without_the_csrf_token_is_refused(browser: Browser, api: Api,
                                                                        token: str | None) -> None:
    alice = await _alice(browser, api)
    secret = (await api.get("/api/v1/me/webhook-secret", token=alice, expect=200)).body["secret"]
    refused = await browser.post(PAGE, {"url": "https://example.org/hook"}, csrf=token, expect=403)
    assert "security token" in refused and not await Webhook.all().exists()
    shown = await browser.post("/app/webhook-secret", {}, csrf=token, expect=403)
    assert secret not in shown
    await browser.post("/app/webhook-secret/rotate", {}, csrf=token, expect=403)
    assert (await api.get("/api/v1/me/webhook-secret", token=alice, expect=200)).body["secret"] == secret
