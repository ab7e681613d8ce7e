"""Email and password lifecycle (issue 21, item 2): verify an address, change the address or
the password, and reset a forgotten password by an emailed single-use link.

Changing the password (knowing the current one) signs out every other session and revokes
every app's token: someone who learnt the password could have made either, and this is the
moment the owner takes the account back. The personal token stays (the password cannot
reveal it; an admin regenerates it), and so do running jobs' tokens. A reset by link does the
same for every session, the current one included, since the person resetting holds none.

A reset request answers the same for any address (202, the same body), does the same
queries and counts, and queues a message only when an active account uses the address:
whether an address has an account cannot be learnt from it. Requests are limited per address
asked for and per client address, in the database (models/email_links.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import Field, field_validator
from tortoise.transactions import in_transaction

from ..account_mail import queue_address_changed, queue_password_changed, queue_reset, queue_verification
from ..actors import AccessToken, Role, TokenKind, User, UserStatus
from ..base import iso
from ..context import Context
from ..email_links import (
    EmailLink,
    LinkPurpose,
    LinkState,
    RequestCount,
    count_request,
    find_link,
    retire_links,
    use_link,
)
from ..errors import BadInput, Conflict, Forbidden, Gone
from ..mail import MailState, OutgoingMail
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Effect, Input, Transaction
from ..security import check_password_off_loop, hash_password_off_loop
from .accounts import EMAIL

__all__ = ["MAIL_RETENTION_DAYS", "MAX_ACCOUNTS_PER_ADDRESS", "RESET_ANSWER"]

MAIL_RETENTION_DAYS = 30  # finished mail rows (bodies already wiped) and ended links are kept this long
MAX_ACCOUNTS_PER_ADDRESS = 5  # accounts sharing one address each get a reset link, up to this many
RESET_ANSWER = (
    "If an account on this server uses that address, a link to choose a new password is on its way to it. "
    "It works once and expires; check your spam folder if nothing arrives."
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _email(value: str) -> str:
    value = value.strip()
    if not EMAIL.match(value):
        raise ValueError("is not an email address")
    return value


class NewPassword(Input):
    new_password: str = Field(min_length=8, max_length=256, description="at least 8 characters")


class ChangePasswordInput(NewPassword):
    current_password: str = Field(min_length=1, max_length=256)


class ChangePasswordOut(Output):
    """What changing the password ended."""

    signed_out_sessions: int = Field(description="other sign-ins (browsers, API logins) that were ended")
    revoked_app_tokens: int = Field(description="tokens of apps you had allowed (OAuth) that were revoked")


class ResetRequestInput(Input):
    email: str = Field(min_length=3, max_length=254)

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        return _email(value)


class AcceptedOut(Output):
    """Queued: what happens now, in words."""

    detail: str


class ResetConfirmInput(NewPassword):
    token: str = Field(min_length=16, max_length=128, description="the token from the emailed link")


class ResetDoneOut(Output):
    username: str = Field(description="the account whose password is now the new one; sign in with it")


class TokenInput(Input):
    token: str = Field(min_length=16, max_length=128, description="the token from the emailed link")


class VerifiedOut(Output):
    username: str
    email: str
    email_verified: bool


class ChangeEmailInput(Input):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256, description="your current password")

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        return _email(value)


class NoInput(Input):
    pass


async def _check_current_password(ctx: Context, user: User, password: str, field: str = "current_password") -> None:
    """403 for a wrong password, counted like a failed sign-in (a stolen session is no password oracle)."""
    throttle = ctx.site.login_throttle
    if throttle is not None:
        await throttle.check(user.username, ctx.client_address)
    if not await check_password_off_loop(password, user.password_hash):
        if throttle is not None:
            await throttle.failed(user.username, ctx.client_address)
        raise Forbidden("the current password is not right", code="invalid-password", extra={"field": field})


async def _end_sign_ins(user: User, *, keep: str | None = None) -> tuple[int, int]:
    """Revoke the user's login tokens (but `keep`) and app tokens; (sessions, app tokens) ended."""
    now = _now()
    sessions = AccessToken.filter(user_id=user.id, kind=TokenKind.LOGIN.value, revoked_at=None)
    if keep is not None:
        sessions = sessions.exclude(id=keep)
    ended = await sessions.update(revoked_at=now)
    apps = await AccessToken.filter(user_id=user.id, kind=TokenKind.OAUTH.value, revoked_at=None).update(revoked_at=now)
    return ended, apps


# Transaction.OWN: the password checks and hashes (~50 ms of scrypt each) run before a short
# transaction, so they never hold the database's write lock.
@REGISTRY.operation(
    "auth.password.change", ChangePasswordInput, output=ChangePasswordOut, access=Access.USER, effect=Effect.WRITE,
    transaction=Transaction.OWN,
)
async def change_password(ctx: Context, params: ChangePasswordInput) -> dict[str, Any]:
    """Change your password (give the current one); your other sessions and apps' tokens end."""
    user = ctx.require_user()
    await _check_current_password(ctx, user, params.current_password)
    new_hash = await hash_password_off_loop(params.new_password)
    current = ctx.extra.get("access_token")
    keep = current.id if isinstance(current, AccessToken) and current.kind == TokenKind.LOGIN.value else None
    async with in_transaction():
        await User.filter(id=user.id).update(password_hash=new_hash, updated_at=_now())
        user.password_hash = new_hash
        sessions, apps = await _end_sign_ins(user, keep=keep)
        await retire_links(user, LinkPurpose.RESET_PASSWORD)  # a reset link asked for before is void now
        await queue_password_changed(ctx.site, user, "with the current password")
        await ctx.emit("user.password_changed", "user", user.id, {"username": user.username})
    return {"signed_out_sessions": sessions, "revoked_app_tokens": apps}


@REGISTRY.operation(
    "auth.password_reset.request", ResetRequestInput, output=AcceptedOut, access=Access.PUBLIC, effect=Effect.WRITE,
)
async def request_reset(ctx: Context, params: ResetRequestInput) -> dict[str, Any]:
    """Mail a single-use link to choose a new password; the answer is the same for any address."""
    accounts = ctx.site.accounts
    if ctx.client_address:
        await count_request(
            "reset:client", ctx.client_address, limit=accounts.reset_requests_per_client,
            window_seconds=accounts.reset_request_window_seconds, what="for password resets from your address",
        )
    await count_request(
        "reset:address", params.email, limit=accounts.reset_requests_per_address,
        window_seconds=accounts.reset_request_window_seconds, what="for a password reset of this address",
    )
    users = await User.filter(email__iexact=params.email, status=UserStatus.ACTIVE.value).order_by("id").limit(
        MAX_ACCOUNTS_PER_ADDRESS
    )
    for user in users:
        await queue_reset(ctx.site, user)
    return {"detail": RESET_ANSWER}


async def _valid_link(secret: str, purpose: LinkPurpose, what: str) -> Any:
    found = await find_link(secret, purpose)
    if found.state is LinkState.UNKNOWN:
        raise BadInput(
            f"this {what} link is not valid: copy the whole link from the message, or ask for a new one",
            code="invalid-link", extra={"field": "token"},
        )
    if found.state is LinkState.USED:
        raise Gone(f"this {what} link was used already; ask for a new one", code="link-used", extra={"field": "token"})
    if found.state is LinkState.EXPIRED:
        raise Gone(f"this {what} link has expired; ask for a new one", code="link-expired", extra={"field": "token"})
    return found.link


@REGISTRY.operation(
    "auth.password_reset.confirm", ResetConfirmInput, output=ResetDoneOut, access=Access.PUBLIC, effect=Effect.WRITE,
    transaction=Transaction.OWN,
)
async def confirm_reset(ctx: Context, params: ResetConfirmInput) -> dict[str, Any]:
    """Set a new password with an emailed reset link; every session of the account ends."""
    link = await _valid_link(params.token, LinkPurpose.RESET_PASSWORD, "password reset")
    new_hash = await hash_password_off_loop(params.new_password)
    async with in_transaction():
        if not await use_link(link):  # another request took it first, or it expired meanwhile
            raise Gone("this password reset link was used already; ask for a new one", code="link-used")
        user = await User.get(id=link.user_id)
        if user.status != UserStatus.ACTIVE.value:
            raise Forbidden(f"this account is {user.status}: its password cannot be reset", code=f"account-{user.status}")
        changes: dict[str, Any] = {"password_hash": new_hash, "updated_at": _now()}
        if user.email.lower() == link.email.lower() and user.email_verified_at is None:
            changes["email_verified_at"] = _now()  # opening the mailed link proves the address
        await User.filter(id=user.id).update(**changes)
        user.password_hash = new_hash
        await _end_sign_ins(user)
        await retire_links(user, LinkPurpose.RESET_PASSWORD)
        await queue_password_changed(ctx.site, user, "with a reset link sent by mail")
        ctx.actor = await user.actor
        await ctx.emit("user.password_changed", "user", user.id, {"username": user.username})
    if ctx.site.login_throttle is not None:
        await ctx.site.login_throttle.succeeded(user.username)  # a lock-out from guessing ends with the reset
    return {"username": user.username}


@REGISTRY.operation(
    "auth.email_verification.request", NoInput, output=AcceptedOut, access=Access.USER, effect=Effect.WRITE,
)
async def request_verification(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Mail a new link that verifies your current address (nothing is sent if it is verified)."""
    user = ctx.require_user()
    if user.email_verified_at is not None:
        raise Conflict(f"{user.email} is verified already", code="email-verified")
    accounts = ctx.site.accounts
    await count_request(
        "verify:account", user.id, limit=accounts.reset_requests_per_address,
        window_seconds=accounts.reset_request_window_seconds, what="for verification links",
    )
    await queue_verification(ctx.site, user)
    return {"detail": f"A link to verify {user.email} is on its way; it works once."}


@REGISTRY.operation(
    "auth.email_verification.confirm", TokenInput, output=VerifiedOut, access=Access.PUBLIC, effect=Effect.WRITE,
)
async def confirm_verification(ctx: Context, params: TokenInput) -> dict[str, Any]:
    """Verify an address with the emailed link (the link's account need not be signed in)."""
    found = await find_link(params.token, LinkPurpose.VERIFY_EMAIL)
    if found.state is LinkState.USED and found.link is not None:
        user = await User.get(id=found.link.user_id)  # opened twice (or by a mail scanner first): already done
        if user.email_verified_at is not None and user.email.lower() == found.link.email.lower():
            return {"username": user.username, "email": user.email, "email_verified": True}
    link = await _valid_link(params.token, LinkPurpose.VERIFY_EMAIL, "verification")
    user = await User.get(id=link.user_id)
    if user.email.lower() != link.email.lower():
        raise Gone(
            f"this link was for {link.email}, which is no longer the account's address; ask for a new link",
            code="link-outdated",
        )
    if not await use_link(link):
        raise Gone("this verification link was used already; ask for a new one", code="link-used")
    user.email_verified_at = _now()
    await user.save(update_fields=["email_verified_at", "updated_at"])
    ctx.actor = await user.actor
    await ctx.emit("user.email_verified", "user", user.id, {"username": user.username})
    return {"username": user.username, "email": user.email, "email_verified": True}


@REGISTRY.operation(
    "auth.email.change", ChangeEmailInput, output=VerifiedOut, access=Access.USER, effect=Effect.WRITE,
    transaction=Transaction.OWN,
)
async def change_email(ctx: Context, params: ChangeEmailInput) -> dict[str, Any]:
    """Change your address (give your password); it is unverified until you open the link mailed to it."""
    user = ctx.require_user()
    await _check_current_password(ctx, user, params.password, "password")
    if params.email.lower() == user.email.lower():
        raise Conflict("that is your address already", code="email-unchanged", extra={"field": "email"})
    old = user.email
    async with in_transaction():
        await User.filter(id=user.id).update(email=params.email, email_verified_at=None, updated_at=_now())
        user.email, user.email_verified_at = params.email, None
        await retire_links(user, LinkPurpose.VERIFY_EMAIL)
        await retire_links(user, LinkPurpose.RESET_PASSWORD)  # a reset link sent to the old address is void
        await queue_verification(ctx.site, user)
        await queue_address_changed(ctx.site, user, old)
        await ctx.emit("user.email_changed", "user", user.id, {"username": user.username})
    return {"username": user.username, "email": user.email, "email_verified": False}



class MailListInput(ListInput):
    state: MailState | None = None


class MailOut(Output):
    """A queued message as admins see it: never its body (it may hold a link)."""

    id: str
    to_address: str
    purpose: str
    state: str
    attempts: int
    last_error: str | None
    created_at: Timestamp
    sent_at: Timestamp


@REGISTRY.operation("admin.mail.list", MailListInput, output=Paged[MailOut], access=Access.USER, role=Role.ADMIN)
async def list_mail(ctx: Context, params: MailListInput) -> Any:
    """Account mail, newest first, with how its sending went (admin); unsent ones say why."""
    query = OutgoingMail.all()
    if params.state:
        query = query.filter(state=params.state.value)
    return (await paginate(query, params)).map(lambda mail: {
        "id": mail.id, "to_address": mail.to_address, "purpose": mail.purpose, "state": mail.state,
        "attempts": mail.attempts, "last_error": mail.last_error, "created_at": iso(mail.created_at),
        "sent_at": iso(mail.sent_at),
    })


class PruneInput(Input):
    batch_size: int = Field(500, ge=1, le=10_000)
    max_batches: int = Field(100, ge=1, le=10_000)


class PruneOut(Output):
    mail: int
    links: int
    request_counts: int
    more: bool


async def _delete_batches(query: Any, batch_size: int, max_batches: int) -> tuple[int, bool]:
    """Delete what `query` selects, a batch per statement; (deleted, some left for the next run)."""
    removed = 0
    for _ in range(max_batches):
        ids = list(await query.order_by("id").limit(batch_size).values_list("id", flat=True))
        if not ids:
            return removed, False
        removed += await query.model.filter(id__in=ids).delete()
        if len(ids) < batch_size:
            return removed, False
    return removed, True


@REGISTRY.operation("system.accounts.prune", PruneInput, output=PruneOut, access=Access.SYSTEM, transaction=Transaction.NONE)
async def prune(ctx: Context, params: PruneInput) -> dict[str, Any]:
    """Forget finished account mail and ended links after MAIL_RETENTION_DAYS, and request counts past their window."""
    now = _now()
    old = now - timedelta(days=MAIL_RETENTION_DAYS)
    bounds = (params.batch_size, params.max_batches)
    finished = (MailState.SENT.value, MailState.FAILED.value, MailState.UNSENT.value)
    mail, more_mail = await _delete_batches(OutgoingMail.filter(state__in=finished, created_at__lt=old), *bounds)
    links, more_links = await _delete_batches(EmailLink.filter(expires_at__lt=old), *bounds)
    window = timedelta(seconds=ctx.site.accounts.reset_request_window_seconds)
    counts, more_counts = await _delete_batches(RequestCount.filter(created_at__lt=now - window), *bounds)
    return {"mail": mail, "links": links, "request_counts": counts, "more": more_mail or more_links or more_counts}
