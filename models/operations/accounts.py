"""Accounts: registration, login, the caller's profile, and admin user management.

A profile change emits `actor.updated` and a deletion `actor.deleted` (besides `user.deleted`),
both about the actor: the outbox (federation/outbox.py) turns them into Update and Delete of
the actor for its followers. A deletion removes the account's follows in its own transaction,
so the remote actors to tell are recorded in the event first (its `audience`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from .. import sql
from ..account_mail import queue_verification
from ..actors import AccessToken, Actor, Role, TokenKind, User, UserStatus
from ..context import Context
from ..errors import Conflict, Forbidden, NotFound, Unauthorized
from ..federation import Follow
from ..identities import LinkedIdentity
from ..names import Name
from ..outputs import Output, Paged, UserOut
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Effect, Input, Transaction
from ..security import check_password_off_loop, hash_password, hash_password_off_loop, new_bearer_token, token_digest
from ..views import user_view

__all__ = ["authenticate_token", "create_user", "find_user", "issue_token", "profile_view"]

USERNAME = re.compile(r"^[a-z0-9_]{1,30}$")
DISPLAY_NAME_MAX = 100
SUMMARY_MAX = 2000
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{1,63}$")
LOGIN_TOKEN_DAYS = 30
_DUMMY_HASH = hash_password("timing-equaliser")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Credentials(Input):
    username: str = Field(min_length=1, max_length=30)
    password: str = Field(min_length=1, max_length=256)

    @field_validator("username")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class RegisterInput(Credentials):
    password: str = Field(min_length=8, max_length=256)
    email: str = Field(max_length=254)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME.match(value):
            raise ValueError("use 1-30 characters: letters, digits and underscore")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL.match(value):
            raise ValueError("is not an email address")
        return value


async def create_user(username: str, password: str, email: str, roles: list[str] | None = None) -> User:
    """Create the local actor and user; 409 if the name is taken."""
    if await User.filter(username=username).exists() or await Actor.filter(username=username, domain="").exists():
        raise Conflict(f"the username {username!r} is taken", code="username-taken")
    password_hash = await hash_password_off_loop(password)
    try:  # a savepoint: a name taken meanwhile (by a user, an organization or a board's group) is a 409
        async with in_transaction():
            actor = await Actor.create(username=username, display_name=username, kind="Person")
    except IntegrityError:
        raise Conflict(f"the username {username!r} is taken", code="username-taken") from None
    return await User.create(
        actor=actor,
        username=username,
        email=email,
        password_hash=password_hash,
        roles=sorted(set(roles or [])),
    )


async def issue_token(user: User, kind: TokenKind, *, lifetime: timedelta | None = None) -> str:
    """Store a new token's hash and return the secret (the only time it is visible)."""
    secret = new_bearer_token()
    await AccessToken.create(
        user=user,
        kind=kind.value,
        token_hash=token_digest(secret),
        expires_at=_now() + lifetime if lifetime else None,
    )
    return secret


@cache
def _auth_sql() -> str:
    """Built on first use: the models know their foreign-key columns only after ORM init."""
    return (
        f"SELECT {sql.columns(AccessToken, 't')}, {sql.columns(User, 'u')}, {sql.columns(Actor, 'a')} "
        "FROM access_tokens t JOIN users u ON u.id = t.user_id JOIN actors a ON a.id = u.actor_id "
        "WHERE t.token_hash = ?"
    )


async def authenticate_token(secret: str) -> tuple[User, AccessToken]:
    """Resolve a bearer token to an active user, or raise 401."""
    rows = await sql.fetch(_auth_sql(), token_digest(secret))
    token = sql.load(AccessToken, rows[0], "t") if rows else None
    if token is None or token.revoked_at is not None:
        raise Unauthorized("the bearer token is not valid", code="invalid-token")
    if token.expires_at is not None and token.expires_at <= _now():
        raise Unauthorized("the bearer token has expired", code="token-expired")
    user = sql.load(User, rows[0], "u")
    if user.status == UserStatus.DELETED.value:
        raise Unauthorized("this account has been deleted", code="account-deleted")
    user.actor = sql.load(Actor, rows[0], "a")
    return user, token


async def find_user(username: str) -> User:
    user = await User.get_or_none(username=username.lower())
    if user is None or user.status == UserStatus.DELETED.value:
        raise NotFound(f"there is no user named {username!r}", code="user-not-found")
    return user


class UserWithTokenOut(Output):
    """A new account (or one whose token was replaced) and its personal bearer token, shown once."""

    user: UserOut
    token: str


class LoginOut(Output):
    token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds")


class RevokedOut(Output):
    revoked: bool


class ProfileOut(UserOut):
    """The signed-in user's own view: private fields and the public profile."""

    display_name: str | None
    summary: str | None


@REGISTRY.operation("auth.register", RegisterInput, output=UserWithTokenOut, access=Access.PUBLIC, effect=Effect.WRITE)
async def register(ctx: Context, params: RegisterInput) -> dict[str, Any]:
    """Create an account and return it with its non-expiring personal bearer token.

    A link that verifies the address is mailed to it (models/account_mail.py)."""
    user = await create_user(params.username, params.password, params.email)
    token = await issue_token(user, TokenKind.PERSONAL)
    await queue_verification(ctx.site, user)
    ctx.actor = await user.actor
    await ctx.emit("user.registered", "user", user.id, {"username": user.username})
    return {"user": user_view(user, private=True), "token": token}


# Transaction.NONE: the password check (~50 ms of scrypt on a thread) must not hold the database's
# write lock; the one write, the new token, commits on its own.
@REGISTRY.operation(
    "auth.login", Credentials, output=LoginOut, access=Access.PUBLIC, effect=Effect.WRITE, transaction=Transaction.NONE
)
async def login(ctx: Context, params: Credentials) -> dict[str, Any]:
    """Check a password and issue a login token valid for 30 days.

    Failed attempts are counted per account and per client address (models/login_throttle.py):
    too many answer 429 for a growing while. A frozen account cannot sign in (403).
    """
    throttle = ctx.site.login_throttle
    if throttle is not None:
        await throttle.check(params.username, ctx.client_address)
    user = await User.get_or_none(username=params.username)
    stored = user.password_hash if user else _DUMMY_HASH
    valid = await check_password_off_loop(params.password, stored)  # always hash: no hint for unknown names
    if user is None or not valid or user.status == UserStatus.DELETED.value:
        if throttle is not None:
            await throttle.failed(params.username, ctx.client_address)
        raise Unauthorized("wrong username or password", code="invalid-credentials")
    if throttle is not None:
        await throttle.succeeded(params.username)
    if user.status == UserStatus.FROZEN.value:
        raise Forbidden(
            "this account is frozen: it cannot sign in; ask an administrator to unfreeze it", code="account-frozen"
        )
    token = await issue_token(user, TokenKind.LOGIN, lifetime=timedelta(days=LOGIN_TOKEN_DAYS))
    return {"token": token, "token_type": "Bearer", "expires_in": LOGIN_TOKEN_DAYS * 86400}


class NoInput(Input):
    pass


@REGISTRY.operation("auth.logout", NoInput, output=RevokedOut, access=Access.USER, effect=Effect.RELINQUISH)
async def logout(ctx: Context, params: NoInput) -> dict[str, Any]:
    """Revoke the token used for this call."""
    token = ctx.extra.get("access_token")
    if isinstance(token, AccessToken):
        await AccessToken.filter(id=token.id).update(revoked_at=_now())
    return {"revoked": True}


def profile_view(user: User, actor: Actor) -> dict[str, Any]:
    """The user's own view: private fields and the public profile (display name, markdown summary)."""
    return user_view(user, private=True) | {"display_name": actor.display_name, "summary": actor.summary}


@REGISTRY.operation("users.me", NoInput, output=ProfileOut, access=Access.USER)
async def me(ctx: Context, params: NoInput) -> dict[str, Any]:
    """The signed-in user, with private fields."""
    return profile_view(ctx.require_user(), ctx.require_actor())


class ProfileInput(Input):
    display_name: Name | None = Field(None, min_length=1, max_length=DISPLAY_NAME_MAX)
    summary: str | None = Field(None, max_length=SUMMARY_MAX, description="markdown; shown sanitised")

    @model_validator(mode="after")
    def _something(self) -> ProfileInput:
        if self.display_name is None and self.summary is None:
            raise ValueError("give display_name, summary or both")
        return self


@REGISTRY.operation("users.me.update", ProfileInput, output=ProfileOut)
async def update_profile(ctx: Context, params: ProfileInput) -> dict[str, Any]:
    """Change your display name and summary; your followers elsewhere get the new profile."""
    user, actor = ctx.require_user(), ctx.require_actor()
    changes = {
        name: value
        for name, value in (("display_name", params.display_name), ("summary", params.summary))
        if value is not None and value != getattr(actor, name)
    }
    if changes:
        await Actor.filter(id=actor.id).update(**changes)
        for name, value in changes.items():
            setattr(actor, name, value)
        await ctx.emit("actor.updated", "actor", actor.id, {"username": user.username, "changed": sorted(changes)})
    return profile_view(user, actor)


class UserListInput(ListInput):
    status: Literal["active", "frozen", "deleted"] | None = None
    role: Role | None = None


@REGISTRY.operation("admin.users.list", UserListInput, output=Paged[UserOut], access=Access.USER, role=Role.ADMIN)
async def list_users(ctx: Context, params: UserListInput) -> Any:
    """All users, filterable by status and role (admin)."""
    query = User.all()
    if params.status:
        query = query.filter(status=params.status)
    page = await paginate(query, params)
    if params.role:  # roles are a JSON list; filter the page portably
        page.items = [user for user in page.items if user.has_role(params.role)]
    return page.map(lambda user: user_view(user, private=True))


class UsernameInput(Input):
    username: str = Field(min_length=1, max_length=30)


async def _set_status(ctx: Context, username: str, status: UserStatus, event: str) -> dict[str, Any]:
    user = await find_user(username)
    if ctx.user is not None and user.id == ctx.user.id and status != UserStatus.ACTIVE:
        raise Conflict("an admin cannot freeze or delete their own account", code="self-lockout")
    if status == UserStatus.DELETED:
        return await _delete_account(ctx, user)
    user.status = status.value
    await user.save(update_fields=["status", "updated_at"])
    await ctx.emit(event, "user", user.id, {"username": user.username, "status": user.status})
    return user_view(user, private=True)


async def _delete_account(ctx: Context, user: User) -> dict[str, Any]:
    """Soft-delete the user, revoke their tokens and drop their follows, in the caller's transaction.

    The actors on either side of those follows are collected before the rows go: the outbox
    sends them the actor's Delete (remote ones only; local ones need no message).
    """
    actor_id = user.actor_id
    user.status = UserStatus.DELETED.value
    await user.save(update_fields=["status", "updated_at"])
    await AccessToken.filter(user=user, revoked_at=None).update(revoked_at=_now())
    await LinkedIdentity.filter(user_id=user.id).delete()  # the identities may open a new account
    follows = Follow.filter(Q(follower_id=actor_id) | Q(target_id=actor_id))
    pairs = await follows.values_list("follower_id", "target_id")
    audience = sorted({other for pair in pairs for other in pair if other != actor_id})
    await follows.delete()
    await ctx.emit("user.deleted", "user", user.id, {"username": user.username, "status": user.status})
    await ctx.emit("actor.deleted", "actor", actor_id, {"username": user.username, "audience": audience})
    return user_view(user, private=True)


@REGISTRY.operation("admin.users.freeze", UsernameInput, output=UserOut, role=Role.ADMIN)
async def freeze(ctx: Context, params: UsernameInput) -> dict[str, Any]:
    """Freeze a user: their existing tokens can still read, but they cannot sign in or change anything."""
    return await _set_status(ctx, params.username, UserStatus.FROZEN, "user.frozen")


@REGISTRY.operation("admin.users.unfreeze", UsernameInput, output=UserOut, role=Role.ADMIN)
async def unfreeze(ctx: Context, params: UsernameInput) -> dict[str, Any]:
    """Make a frozen user active again."""
    return await _set_status(ctx, params.username, UserStatus.ACTIVE, "user.unfrozen")


@REGISTRY.operation("admin.users.delete", UsernameInput, output=UserOut, role=Role.ADMIN)
async def delete_user(ctx: Context, params: UsernameInput) -> dict[str, Any]:
    """Soft-delete a user and revoke all their tokens; history stays."""
    return await _set_status(ctx, params.username, UserStatus.DELETED, "user.deleted")


class PasswordInput(Input):
    password: str = Field(min_length=1, max_length=256)


# Transaction.OWN: a wrong password is counted (models/login_throttle.py) although the request fails.
@REGISTRY.operation("users.me.delete", PasswordInput, output=UserOut, transaction=Transaction.OWN)
async def delete_me(ctx: Context, params: PasswordInput) -> dict[str, Any]:
    """Delete your own account (give your current password); servers that follow you are told."""
    user = ctx.require_user()
    throttle = ctx.site.login_throttle  # a stolen token must not become a password oracle
    if throttle is not None:
        await throttle.check(user.username, ctx.client_address)
    if not await check_password_off_loop(params.password, user.password_hash):
        if throttle is not None:
            await throttle.failed(user.username, ctx.client_address)
        raise Forbidden("the password is not right", code="invalid-password")
    if user.has_role(Role.ADMIN):
        raise Conflict("an admin cannot delete their own account; ask another admin", code="self-lockout")
    async with in_transaction():
        return await _delete_account(ctx, user)


@REGISTRY.operation("admin.users.regenerate_token", UsernameInput, output=UserWithTokenOut, role=Role.ADMIN)
async def regenerate_token(ctx: Context, params: UsernameInput) -> dict[str, Any]:
    """Revoke a user's personal token and issue a new one."""
    user = await find_user(params.username)
    await AccessToken.filter(user=user, kind=TokenKind.PERSONAL.value, revoked_at=None).update(revoked_at=_now())
    token = await issue_token(user, TokenKind.PERSONAL)
    await ctx.emit("user.token_regenerated", "user", user.id, {"username": user.username})
    return {"user": user_view(user, private=True), "token": token}


class RolesInput(UsernameInput):
    roles: list[Role] = Field(max_length=len(Role))


@REGISTRY.operation("admin.users.set_roles", RolesInput, output=UserOut, role=Role.ADMIN)
async def set_roles(ctx: Context, params: RolesInput) -> dict[str, Any]:
    """Replace a user's roles."""
    user = await find_user(params.username)
    roles = sorted({role.value for role in params.roles})
    if ctx.user is not None and user.id == ctx.user.id and Role.ADMIN.value not in roles:
        raise Conflict("an admin cannot remove their own admin role", code="self-lockout")
    user.roles = roles
    await user.save(update_fields=["roles", "updated_at"])
    await ctx.emit("user.roles_changed", "user", user.id, {"username": user.username, "roles": roles})
    return user_view(user, private=True)


class CreateUserInput(RegisterInput):
    roles: list[Role] = Field(default_factory=list, max_length=len(Role))


@REGISTRY.operation("admin.users.create", CreateUserInput, output=UserWithTokenOut, role=Role.ADMIN)
async def admin_create_user(ctx: Context, params: CreateUserInput) -> dict[str, Any]:
    """Create a user with roles and return their personal token."""
    user = await create_user(params.username, params.password, params.email, [r.value for r in params.roles])
    token = await issue_token(user, TokenKind.PERSONAL)
    await ctx.emit("user.registered", "user", user.id, {"username": user.username})
    return {"user": user_view(user, private=True), "token": token}
