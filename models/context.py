"""What an operation knows about its caller and the instance it runs on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import sql
from .actors import Actor, Role, User
from .errors import BadInput, Conflict, Forbidden, Unauthorized
from .events import Event, check_payload
from .ids import new_ids
from .login_throttle import LoginThrottle
from .settings import AccountSettings, FederationSettings, JobSettings, Limits, MailSettings

__all__ = ["Context", "Site"]


@dataclass(frozen=True)
class Site:
    """Instance facts the domain needs, without importing the server's settings."""

    base_url: str
    domain: str
    data_dir: Path
    # The settings sections as loaded (server/settings.py); their defaults are in models/settings.py.
    # federation.allow_private_addresses turns the SSRF guard off (tests, closed networks).
    limits: Limits = field(default_factory=Limits)
    federation: FederationSettings = field(default_factory=FederationSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    mail: MailSettings = field(default_factory=MailSettings)  # the SMTP server (unset: mail is not sent)
    accounts: AccountSettings = field(default_factory=AccountSettings)  # emailed links and reset limits
    # failed sign-ins, counted in the database all processes share (None: not counted, as in the CLI)
    login_throttle: LoginThrottle | None = field(default=None, compare=False, repr=False)
    # The DNS half of the SSRF guard for URLs users save (webhooks): the server installs
    # federation.ssrf.check_callback_url here, as models do no network I/O. None: syntax only.
    check_url_host: Callable[[str], Awaitable[object]] | None = None
    # Finding a remote account not seen yet by `user@host` (WebFinger, then a fetch of its
    # actor, which stores it; returns its Actor), so a give to it needs no lookup first. The
    # server installs federation.follows.find_remote_actor here, as models do no network I/O;
    # it raises a DomainError when there is no such account. None: unknown ones are refused.
    find_remote_actor: Callable[[Site, str], Awaitable[Actor]] | None = field(default=None, compare=False, repr=False)
    # A give or burn of units of another server's type (`type` is its URL): asked of that origin
    # in the caller's name (federation/onward.py `ask_origin`, installed by the server; models do
    # no network I/O). Called as (ctx, kind, params); None: such gives are refused.
    remote_ledger: Callable[[Context, str, Any], Awaitable[dict[str, Any]]] | None = field(
        default=None, compare=False, repr=False
    )
    # Contracts held on another server (issue 18, item 5): a type derived from a type of that
    # server, and each mint of it, is asked of the licensor's server in the licensee's name
    # (federation/remote_contracts.py `use_remote_contract`, installed by the server). Called as
    # (ctx, action, params) with action "derive" or "mint"; None: remote parents are refused.
    remote_contracts: Callable[[Context, str, dict[str, Any]], Awaitable[dict[str, Any]]] | None = field(
        default=None, compare=False, repr=False
    )

@dataclass
class Context:
    """The caller (maybe anonymous), the instance, and per-call request facts."""

    site: Site
    user: User | None = None
    actor: Actor | None = None
    if_match: str | None = None
    system: bool = False  # trusted internal caller (CLI, demo): passes permission checks
    # `actor` acts with no user here: a remote holder whose signed request this origin carries
    # out (models/operations/remote_spends.py), or a lot's escrow (models/operations/market_escrow.py)
    remote: bool = False
    client_address: str | None = None  # the caller's IP address, as the server layer determined it
    extra: dict[str, Any] = field(default_factory=dict)
    # names of the events this call emitted (the list is shared with contexts derived by replace())
    emitted: list[str] = field(default_factory=list)

    def require_user(self) -> User:
        if self.user is None:
            raise Unauthorized("this action needs a bearer token", code="authentication-required")
        return self.user

    def require_actor(self) -> Actor:
        if self.remote and self.actor is not None:
            return self.actor
        self.require_user()
        assert self.actor is not None
        return self.actor

    def has_role(self, role: Role) -> bool:
        return self.system or (self.user is not None and self.user.has_role(role))

    def require_role(self, role: Role) -> User | None:
        if self.system:
            return self.user
        user = self.require_user()
        if not user.has_role(role):
            raise Forbidden(f"this action needs the {role.value} role", code="role-required")
        return user

    def _if_match_value(self) -> str | None:
        if self.if_match is None:
            return None
        value = self.if_match.strip()
        return None if value == "*" else value.removeprefix("W/").strip('"')

    def expected_version(self) -> int | None:
        """The version named by If-Match ("3", W/"3" or *), or None when absent."""
        value = self._if_match_value()
        if value is None:
            return None
        if not value.isdigit():
            raise BadInput("If-Match must be a version number such as \"3\"", code="invalid-if-match")
        return int(value)

    def check_version(self, current: int, what: str, checksum: str | None = None) -> None:
        """Honour If-Match: 409 version-mismatch (with the current version) when it differs.
        Where the resource has a checksum (a token's content hash, as verification answers
        give it), If-Match may name that instead of the version."""
        value = self._if_match_value()
        if checksum is not None and value is not None and value.startswith("sha256:"):
            if value != checksum:
                raise Conflict(
                    f"the {what} changed since the checksum in If-Match was given (now at version {current})",
                    code="checksum-mismatch",
                    extra={"current_version": current},
                )
            return
        expected = self.expected_version()
        if expected is not None and expected != current:
            raise Conflict(
                f"If-Match names version {expected} but the {what} is at version {current}",
                code="version-mismatch",
                extra={"current_version": current},
            )

    async def emit(self, name: str, object_type: str, object_id: str, payload: dict[str, Any]) -> None:
        """Record a domain event in the current transaction (the outbox); its payload must match
        the name's declaration in models/events.py."""
        await self.emit_many(name, object_type, [(object_id, payload)])

    async def emit_many(self, name: str, object_type: str, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """`emit` for events of one name, each (object id, payload), in that order; many are written
        by a few multi-row INSERTs (an award giving back thousands of holds)."""
        moment = sql.now()
        rows = []
        for event_id, (object_id, payload) in zip(new_ids(len(events)), events, strict=True):
            check_payload(name, payload)
            rows.append({
                "id": event_id, "name": name, "actor_id": self.actor.id if self.actor else None,
                "object_type": object_type, "object_id": object_id, "payload": orjson.dumps(payload).decode(),
                "created_at": moment, "updated_at": moment,
            })
        self.emitted.extend(name for _ in rows)
        await sql.insert_many(Event._meta.db_table, rows)
