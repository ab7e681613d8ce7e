"""Email verification, password change and reset by emailed link (issue 21, item 2), through a
real SMTP server (aiosmtpd, on a port the system picks) whose received messages are read back."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session
from tortoise.expressions import Q

from models.email_links import EmailLink, RequestCount
from models.engine import run_due
from models.machines import MAIL
from models.mail import WIPED, MailState, OutgoingMail
from server.app import create_app
from server.appkeys import SITE
from server.system import system_call

from .conftest import Api, assert_problem
from .dbutil import test_settings as app_settings
from .pagehelpers import Browser

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
LOGIN = "/api/v1/auth/login"
TOKEN = re.compile(r"token=([\w%-]+)")


@dataclass
class Mailbox:
    """What the SMTP server received; addresses in `refuse` get 550, in `defer` 451."""

    received: list[email.message.EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        if address in self.defer:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.received.append(email.message_from_bytes(content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [message for message in self.received if message["To"] == address]


@dataclass
class Setup:
    api: Api
    mailbox: Mailbox
    browser: Browser

    async def deliver(self) -> None:
        """Send what is queued (the app's own runner may be sending too: wait until none is pending)."""
        site = self.api.client.app[SITE]
        for _ in range(200):
            await run_due(site, MAIL)
            untried_or_in_flight = Q(attempts=0) | Q(lease_owner__isnull=False)
            if not await OutgoingMail.filter(untried_or_in_flight, state=MailState.PENDING.value).exists():
                return
            await asyncio.sleep(0.02)
        rows = await OutgoingMail.all().values("to_address", "state", "attempts", "last_error")
        raise AssertionError(f"queued mail was not sent: {rows}")

    async def link(self, address: str, path: str) -> str:
        """The token in the newest message to `address` whose link opens `path`."""
        await self.deliver()
        for message in reversed(self.mailbox.to(address)):
            body = message.get_content()
            if path in body:
                match = TOKEN.search(body)
                assert match, body
                return unquote(match.group(1))
        rows = await OutgoingMail.all().values("to_address", "state", "attempts", "last_error")
        raise AssertionError(f"no message to {address} with a {path} link: {rows}")


async def _smtp_server(mailbox: Mailbox) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTPProtocol(mailbox, hostname="localhost"), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def mailed(aiohttp_client: Any, tmp_path: Path, database_url: str) -> AsyncIterator[Setup]:
    """The app sending through a local SMTP server, with a small per-client reset budget."""
    mailbox = Mailbox()
    server, port = await _smtp_server(mailbox)
    settings = app_settings(
        tmp_path, database_url,
        mail={"host": "127.0.0.1", "port": port, "security": "none", "from_address": "tokens@example.test"},
        accounts={"reset_requests_per_client": 6},
    )
    client = await aiohttp_client(create_app(settings))
    yield Setup(Api(client, settings), mailbox, Browser(client))
    await client.close()
    server.close()
    await server.wait_closed()


async def _login(api: Api, username: str, password: str) -> Any:
    return await api.post(LOGIN, {"username": username, "password": password})


# ---------------------------------------------------------------- password reset


async def test_reset__mail_link_new_password_works_old_does_not(mailed: Setup) -> None:
    api = mailed.api
    await api.user("ann")
    session = (await _login(api, "ann", "correct horse")).body["token"]
    asked = await api.post(RESET, {"email": "ann@example.org"})
    assert asked.status == 202, asked
    secret = await mailed.link("ann@example.org", "/reset-password")
    message = mailed.mailbox.to("ann@example.org")[-1]
    assert message["From"] == "tokens@example.test" and "Reset your password" in message["Subject"]
    assert await EmailLink.filter(token_hash=secret).count() == 0  # stored hashed, never in clear
    assert await EmailLink.filter(token_hash=hashlib.sha256(secret.encode()).hexdigest()).count() == 1

    done = await api.post(CONFIRM, {"token": secret, "new_password": "battery staple"})
    assert done.status == 200 and done.body["username"] == "ann", done
    assert (await _login(api, "ann", "battery staple")).status == 200
    assert_problem(await _login(api, "ann", "correct horse"), 401, "invalid-credentials")
    assert_problem(await api.get("/api/v1/me", token=session), 401)  # the reset ended every session
    await mailed.deliver()
    notice = mailed.mailbox.to("ann@example.org")[-1]
    assert "was changed" in notice["Subject"]
    reset_mail = await OutgoingMail.get(purpose="reset-password")
    assert reset_mail.state == MailState.SENT.value and reset_mail.body == WIPED  # the link left the table


async def test_reset__a_used_link_is_refused(mailed: Setup) -> None:
    await mailed.api.user("ann")
    await mailed.api.post(RESET, {"email": "ann@example.org"}, expect=202)
    secret = await mailed.link("ann@example.org", "/reset-password")
    await mailed.api.post(CONFIRM, {"token": secret, "new_password": "battery staple"}, expect=200)
    again = await mailed.api.post(CONFIRM, {"token": secret, "new_password": "another password"})
    assert_problem(again, 410, "link-used")
    assert (await _login(mailed.api, "ann", "battery staple")).status == 200  # the second try changed nothing


async def test_reset__one_link_sent_twice_at_once_sets_one_password(mailed: Setup) -> None:
    await mailed.api.user("ann")
    await mailed.api.post(RESET, {"email": "ann@example.org"}, expect=202)
    secret = await mailed.link("ann@example.org", "/reset-password")
    first, second = await asyncio.gather(
        mailed.api.post(CONFIRM, {"token": secret, "new_password": "battery staple"}),
        mailed.api.post(CONFIRM, {"token": secret, "new_password": "another password"}),
    )
    assert sorted([first.status, second.status]) == [200, 410], (first, second)
    winner = "battery staple" if first.status == 200 else "another password"
    loser = "another password" if first.status == 200 else "battery staple"
    assert (await _login(mailed.api, "ann", winner)).status == 200
    assert_problem(await _login(mailed.api, "ann", loser), 401)


async def test_reset__an_expired_link_is_refused(mailed: Setup) -> None:
    await mailed.api.user("ann")
    await mailed.api.post(RESET, {"email": "ann@example.org"}, expect=202)
    secret = await mailed.link("ann@example.org", "/reset-password")
    # An hour passes (the link's lifetime, [accounts] reset_link_seconds): move its expiry into the past.
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert await EmailLink.filter(purpose="reset-password").update(expires_at=past) == 1
    late = await mailed.api.post(CONFIRM, {"token": secret, "new_password": "battery staple"})
    assert_problem(late, 410, "link-expired")
    assert (await _login(mailed.api, "ann", "correct horse")).status == 200


async def test_reset__an_unknown_address_gets_the_same_answer_and_no_mail(mailed: Setup) -> None:
    await mailed.api.user("ann")
    known = await mailed.api.post(RESET, {"email": "ann@example.org"})
    unknown = await mailed.api.post(RESET, {"email": "nobody@example.org"})
    assert (known.status, known.body, known.headers["Content-Type"]) == (
        unknown.status, unknown.body, unknown.headers["Content-Type"]
    )
    await mailed.deliver()
    assert [m["To"] for m in mailed.mailbox.received] == ["ann@example.org"]


async def test_reset__limited_per_address_and_per_client(mailed: Setup) -> None:
    api = mailed.api
    await api.user("ann")
    for _ in range(3):  # [accounts] reset_requests_per_address
        await api.post(RESET, {"email": "ann@example.org"}, expect=202)
    limited = await api.post(RESET, {"email": "ANN@example.org"})  # the same address in other case
    assert_problem(limited, 429, "too-many-requests")
    assert 1 <= int(limited.headers["Retry-After"]) <= 3600
    for _ in range(3):  # an unknown address is limited the same way, so a 429 tells nothing either
        await api.post(RESET, {"email": "nobody@example.org"}, expect=202)
    assert_problem(await api.post(RESET, {"email": "nobody@example.org"}), 429, "too-many-requests")
    # This client has now asked 6 times (reset_requests_per_client): a fresh address is refused too.
    assert_problem(await api.post(RESET, {"email": "fresh@example.org"}), 429, "too-many-requests")
    await mailed.deliver()
    assert len(mailed.mailbox.to("ann@example.org")) == 3


async def test_reset__the_limit_is_kept_in_the_database_across_processes(
    mailed: Setup, aiohttp_client: Any, tmp_path: Path, database_url: str
) -> None:
    """A second app on the same database (another server process) sees the first one's count."""
    for _ in range(3):
        await mailed.api.post(RESET, {"email": "ann@example.org"}, expect=202)
    other = await aiohttp_client(create_app(app_settings(tmp_path, database_url)))
    refused = await other.post(RESET, json={"email": "ann@example.org"})
    assert refused.status == 429, await refused.text()


async def test_reset__bad_input_is_refused_clearly(mailed: Setup) -> None:
    api = mailed.api
    await api.user("ann")
    problem = assert_problem(await api.post(RESET, {"email": "not an address"}), 400)
    assert "email" in str(problem["errors"])
    assert_problem(await api.post(RESET, {}), 400)
    assert_problem(await api.post(CONFIRM, {"token": "x" * 40, "new_password": "battery staple"}), 400, "invalid-link")
    await api.post(RESET, {"email": "ann@example.org"}, expect=202)
    secret = await mailed.link("ann@example.org", "/reset-password")
    short = assert_problem(await api.post(CONFIRM, {"token": secret, "new_password": "short"}), 400)
    assert "new_password" in str(short["errors"])
    assert (await _login(api, "ann", "correct horse")).status == 200  # nothing changed, the link still works
    await api.post(CONFIRM, {"token": secret, "new_password": "battery staple"}, expect=200)


# ---------------------------------------------------------------- verification


async def test_verification__sign_up_mails_a_link_that_verifies_the_address(mailed: Setup) -> None:
    api = mailed.api
    created = await api.post("/api/v1/auth/register", {"username": "dora", "password": "correct horse", "email": "dora@example.org"})
    assert created.status == 201 and created.body["user"]["email_verified"] is False, created
    token = created.body["token"]
    secret = await mailed.link("dora@example.org", "/verify-email")
    verified = await api.post("/api/v1/auth/email-verification/confirm", {"token": secret})
    assert verified.status == 200 and verified.body == {"username": "dora", "email": "dora@example.org", "email_verified": True}
    me = await api.get("/api/v1/me", token=token)
    assert me.body["email_verified"] is True, me
    again = await api.post("/api/v1/auth/email-verification/confirm", {"token": secret})  # opened twice: still fine
    assert again.status == 200, again
    assert_problem(await api.post("/api/v1/auth/email-verification", token=token), 409, "email-verified")


async def test_verification__changing_the_address_needs_the_password_and_verifies_anew(mailed: Setup) -> None:
    api = mailed.api
    token = await api.user("ann")
    wrong = await api.post("/api/v1/auth/email", {"email": "ann@new.example", "password": "nope"}, token=token)
    assert_problem(wrong, 403, "invalid-password")
    await api.post("/api/v1/auth/email-verification", token=token, expect=202)
    old_link = await mailed.link("ann@example.org", "/verify-email")
    changed = await api.post("/api/v1/auth/email", {"email": "ann@new.example", "password": "correct horse"}, token=token)
    assert changed.status == 200 and changed.body["email_verified"] is False, changed
    assert_problem(await api.post("/api/v1/auth/email-verification/confirm", {"token": old_link}), 410)
    new_link = await mailed.link("ann@new.example", "/verify-email")
    await mailed.deliver()
    assert any("was changed" in m["Subject"] for m in mailed.mailbox.to("ann@example.org"))  # the old address is told
    await api.post("/api/v1/auth/email-verification/confirm", {"token": new_link}, expect=200)
    assert (await api.get("/api/v1/me", token=token)).body["email_verified"] is True


# ---------------------------------------------------------------- password change


async def test_password_change__needs_the_current_password_and_ends_other_sessions(mailed: Setup) -> None:
    api = mailed.api
    personal = await api.user("ann")
    mine = (await _login(api, "ann", "correct horse")).body["token"]
    other = (await _login(api, "ann", "correct horse")).body["token"]
    change = "/api/v1/auth/password"
    assert_problem(await api.post(change, {"current_password": "nope", "new_password": "battery staple"}, token=mine), 403)
    assert_problem(await api.post(change, {"current_password": "correct horse", "new_password": "battery staple"}), 401)
    done = await api.post(change, {"current_password": "correct horse", "new_password": "battery staple"}, token=mine)
    assert done.status == 200 and done.body == {"signed_out_sessions": 1, "revoked_app_tokens": 0}, done
    assert (await api.get("/api/v1/me", token=mine)).status == 200  # this session stays
    assert (await api.get("/api/v1/me", token=personal)).status == 200  # the personal token stays (see the docs)
    assert_problem(await api.get("/api/v1/me", token=other), 401)
    assert_problem(await _login(api, "ann", "correct horse"), 401)
    assert (await _login(api, "ann", "battery staple")).status == 200
    await mailed.deliver()
    assert "was changed" in mailed.mailbox.to("ann@example.org")[-1]["Subject"]


# ---------------------------------------------------------------- sending


async def test_sending__a_refused_address_fails_and_a_deferred_one_is_retried(mailed: Setup) -> None:
    mailed.mailbox.refuse.add("gone@example.org")
    mailed.mailbox.defer.add("later@example.org")
    for name, address in (("gone", "gone@example.org"), ("later", "later@example.org")):
        await mailed.api.post("/api/v1/auth/register", {"username": name, "password": "correct horse", "email": address}, expect=201)
    await mailed.deliver()
    gone = await OutgoingMail.get(to_address="gone@example.org")
    assert gone.state == MailState.FAILED.value and "550" in (gone.last_error or ""), gone.last_error
    later = await OutgoingMail.get(to_address="later@example.org")
    assert later.state == MailState.PENDING.value and later.attempts == 1 and "451" in (later.last_error or "")
    assert later.next_at is not None and later.next_at > datetime.now(timezone.utc)
    mailed.mailbox.defer.clear()
    await run_due(mailed.api.client.app[SITE], MAIL, now=later.next_at + timedelta(seconds=1))
    assert (await OutgoingMail.get(id=later.id)).state == MailState.SENT.value
    assert len(mailed.mailbox.to("later@example.org")) == 1


async def test_sending__without_an_smtp_server_nothing_breaks_and_admins_are_told(api: Api) -> None:
    created = await api.post("/api/v1/auth/register", {"username": "dora", "password": "correct horse", "email": "dora@example.org"})
    assert created.status == 201, created
    site = api.client.app[SITE]
    for _ in range(100):
        await run_due(site, MAIL)
        mail = await OutgoingMail.get(to_address="dora@example.org")
        if mail.state != MailState.PENDING.value:
            break
        await asyncio.sleep(0.02)
    assert mail.state == MailState.UNSENT.value and "no SMTP server" in (mail.last_error or ""), mail.last_error
    admin = await api.user("root", roles=["admin"])
    listed = await api.get("/api/v1/admin/mail", token=admin)
    assert listed.status == 200 and listed.body["items"][0]["state"] == "unsent", listed
    assert "body" not in listed.body["items"][0]
    assert_problem(await api.get("/api/v1/admin/mail", token=created.body["token"]), 403)
    browser = Browser(api.client)
    await browser.submit("/signin", "/signin", {"username": "root", "password": "correct horse"}, expect=200)
    page = await browser.get("/app/admin/users", expect=200)
    assert "No mail server is set up" in page and 'href="/app/admin/mail"' in page.text
    listed_page = await browser.get("/app/admin/mail?state=unsent", expect=200)
    assert "To dora@example.org" in listed_page and "not sent" in listed_page and "no SMTP server" in listed_page


# ---------------------------------------------------------------- pages


async def test_pages__forgot_password_from_the_sign_in_page_to_a_new_password(mailed: Setup) -> None:
    await mailed.api.user("ann")
    browser = mailed.browser
    signin = await browser.get("/signin", expect=200)
    assert 'href="/forgot-password"' in signin.text and "Forgot your password?" in signin
    sent = await browser.submit("/forgot-password", "/forgot-password", {"email": "ann@example.org"}, expect=200)
    assert "a link to choose a new password is on its way" in sent
    unknown = await browser.submit("/forgot-password", "/forgot-password", {"email": "zed@example.org"}, expect=200)
    assert unknown.text.replace("zed@example.org", "ann@example.org") == sent.text.replace(
        sent.csrf(), unknown.csrf()
    )  # the same page for an address without an account
    secret = await mailed.link("ann@example.org", "/reset-password")
    form = await browser.get(f"/reset-password?token={secret}", expect=200)
    differ = await browser.post(
        "/reset-password", {"token": secret, "new_password": "battery staple", "repeat_password": "other"},
        csrf=form.csrf(), expect=400,
    )
    assert differ.field_error("repeat_password") == "The two passwords differ."
    done = await browser.post(
        "/reset-password", {"token": secret, "new_password": "battery staple", "repeat_password": "battery staple"},
        csrf=form.csrf(), expect=200,
    )
    assert "Your password is changed" in done and done.url.endswith("/signin")
    used = await browser.post(
        "/reset-password", {"token": secret, "new_password": "battery staple", "repeat_password": "battery staple"},
        csrf=form.csrf(), expect=410,
    )
    assert "used already" in used and 'href="/forgot-password"' in used.text
    await browser.sign_in("ann", "battery staple")


async def test_pages__account_page_shows_verification_and_changes_password_and_address(mailed: Setup) -> None:
    browser = mailed.browser
    await browser.sign_up("dora")
    account = await browser.get("/app/account", expect=200)
    assert "dora@example.org" in account and "not verified yet" in account
    secret = await mailed.link("dora@example.org", "/verify-email")
    verified = await browser.get(f"/verify-email?token={secret}", expect=200)
    assert "is verified" in verified
    assert "not verified yet" not in await browser.get("/app/account", expect=200)

    wrong = await browser.submit(
        "/app/account", "/app/account/password",
        {"current_password": "nope", "new_password": "battery staple", "repeat_password": "battery staple"}, expect=403,
    )
    assert wrong.field_error("current_password") == "the current password is not right"
    changed = await browser.submit(
        "/app/account", "/app/account/password",
        {"current_password": "correct horse", "new_password": "battery staple", "repeat_password": "battery staple"},
        expect=200,
    )
    assert "Your password is changed" in changed
    refused = await browser.submit(
        "/app/account", "/app/account/email", {"email": "dora@new.example", "password": "nope"}, expect=403,
    )
    assert refused.field_error("password") == "the current password is not right"
    moved = await browser.submit(
        "/app/account", "/app/account/email", {"email": "dora@new.example", "password": "battery staple"}, expect=200,
    )
    assert "dora@new.example" in moved and "not verified yet" in moved
    bad = await browser.submit("/app/account", "/app/account/email", {"email": "nope", "password": "battery staple"}, expect=400)
    assert bad.field_error("email")


async def test_prune__forgets_old_finished_mail_ended_links_and_old_counts(mailed: Setup) -> None:
    api = mailed.api
    await api.user("ann")
    for _ in range(2):
        await api.post(RESET, {"email": "ann@example.org"}, expect=202)
    await mailed.deliver()
    long_ago = datetime.now(timezone.utc) - timedelta(days=31)
    old_mail = await OutgoingMail.filter(state=MailState.SENT.value).order_by("id").first()
    old_link = await EmailLink.filter().order_by("id").first()
    assert old_mail is not None and old_link is not None
    await OutgoingMail.filter(id=old_mail.id).update(created_at=long_ago)
    waiting = await OutgoingMail.create(
        to_address="ann@example.org", purpose="password-changed", subject="s", body="b",
        next_at=datetime.now(timezone.utc) + timedelta(hours=1),  # a retry not yet due
    )
    await OutgoingMail.filter(id=waiting.id).update(created_at=long_ago)
    await EmailLink.filter(id=old_link.id).update(expires_at=long_ago)
    await RequestCount.all().update(created_at=long_ago)
    pruned = await system_call(api.settings, "system.accounts.prune", {})
    assert pruned == {"mail": 1, "links": 1, "request_counts": 4, "more": False}, pruned
    assert await OutgoingMail.filter(id=waiting.id).exists()  # waiting mail is never pruned, however old
    assert await OutgoingMail.all().count() == 2 and await EmailLink.all().count() == 1
