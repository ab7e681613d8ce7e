"""Actors (local users and, later, remote accounts), users, and user groups."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields

from .base import APP, Entity

__all__ = ["INSTANCE_USERNAME", "local_actor_url", "owner_filter", "AccessToken", "TokenKind", "Actor", "User", "Role", "UserStatus", "UserGroup", "GroupMember", "GroupRole"]


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    TESTER = "tester"
    JOB_READ = "job-read"
    JOB_WRITE = "job-write"
    AGENT = "agent"


class UserStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    DELETED = "deleted"


class Actor(Entity):
    """Anyone who can own tokens or appear in the ledger. Local actors have an empty domain."""

    kind = fields.CharField(max_length=16, default="Person")
    username = fields.CharField(max_length=64)
    domain = fields.CharField(max_length=255, default="")
    display_name = fields.CharField(max_length=200, default="")
    summary = fields.TextField(default="")  # a local actor's bio as markdown (rendered and sanitised when shown)
    uri = fields.CharField(max_length=2048, null=True, unique=True)

    class Meta:
        app = APP
        table = "actors"
        unique_together = (("username", "domain"),)

    @property
    def is_local(self) -> bool:
        return self.domain == ""

    def handle(self, local_domain: str) -> str:
        return f"{self.username}@{self.domain or local_domain}"


INSTANCE_USERNAME = "instance.actor"  # a dot is not allowed in usernames, so no user can take it


def local_actor_url(base_url: str, actor: Actor) -> str:
    """The ActivityPub id of a local actor (the same URLs federation/documents.py serves)."""
    if actor.username == INSTANCE_USERNAME:
        return f"{base_url}/actor"
    return f"{base_url}/users/{actor.username}"


def owner_filter(handle: str, local_domain: str, field: str = "owner") -> dict[str, str]:
    """Query filter for rows owned by `name`, `@name` or `name@domain` (ours or remote)."""
    username, _, domain = handle.lower().lstrip("@").partition("@")
    local = domain in ("", local_domain.lower())
    return {f"{field}__username": username, f"{field}__domain": "" if local else domain}


class User(Entity):
    """A local account. Credentials live in AccessToken, stored only as hashes."""

    actor_id: str
    actor: fields.OneToOneRelation[Actor] = fields.OneToOneField(
        f"{APP}.Actor", related_name="user", on_delete=fields.RESTRICT
    )
    username = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=254)
    email_verified_at = fields.DatetimeField(null=True)  # when a verification link for `email` was opened
    password_hash = fields.CharField(max_length=255)
    roles: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=16, default=UserStatus.ACTIVE.value)

    class Meta:
        app = APP
        table = "users"

    def has_role(self, role: Role) -> bool:
        return role.value in (self.roles or [])


class GroupRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class UserGroup(Entity):
    owner_id: str
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="owned_groups", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=100, unique=True)
    description = fields.TextField(default="")

    class Meta:
        app = APP
        table = "user_groups"


class GroupMember(Entity):
    group_id: str
    group: fields.ForeignKeyRelation[UserGroup] = fields.ForeignKeyField(
        f"{APP}.UserGroup", related_name="members", on_delete=fields.CASCADE
    )
    user_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16, default=GroupRole.MEMBER.value)

    class Meta:
        app = APP
        table = "group_members"
        unique_together = (("group", "user"),)


class TokenKind(StrEnum):
    PERSONAL = "personal"  # the user's non-expiring token; an admin can regenerate it
    LOGIN = "login"  # issued by /auth/login
    JOB = "job"  # acts for a running job, revoked when it ends
    OAUTH = "oauth"  # issued to an app


class AccessToken(Entity):
    """A bearer credential. Only the SHA-256 of the secret is kept."""

    user_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="access_tokens", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "access_tokens"
