"""Delegations as users see them: grant, list and revoke; and the consent check for acting on behalf.

Acting for someone (`X-On-Behalf-Of`) needs that user's consent: an active delegation from
them to the caller whose scopes cover the operation, or the admin role. The scope an
operation needs is the one an app's OAuth token would need (`required_scope`), so a `read`
delegation cannot give anyone's coins away. The check runs when the job is queued and again
when it starts, so a revoked or expired delegation stops queued work too.

Consent comes from the user: an app's OAuth token cannot grant delegations, and no one can
grant, list or revoke them on behalf of someone else.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field
from tortoise.expressions import Q

from ..actors import Role, User, UserStatus
from ..base import iso
from ..context import Context
from ..delegations import DELEGATION_SCOPES, Delegation, DelegationState
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from ..oauth import granted_scopes, required_scope
from ..paging import ListInput, paginate
from ..outputs import Output, Paged, Timestamp
from ..registry import REGISTRY, Access, Effect, Input

__all__ = ["DELEGATIONS_PAGE", "ACT_FOR_SELF_ONLY", "needed_scope", "require_consent", "delegation_view"]

DELEGATIONS_PAGE = "/app/delegations"
# Consent cannot itself be delegated, nor the secret that signs the user's job callbacks handed
# out: these run only for the signed-in user (or an admin).
ACT_FOR_SELF_ONLY = frozenset(
    {"delegations.grant", "delegations.list", "delegations.revoke", "webhooks.secret.get", "webhooks.secret.rotate"}
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def needed_scope(operation: str) -> str:
    """The scope an operation needs, as for an app's OAuth token: read, write or admin:*."""
    return required_scope(REGISTRY.get(operation))


def _active(grantor_id: str, delegate_id: str) -> Any:
    now = _now()
    return Delegation.filter(grantor_id=grantor_id, delegate_id=delegate_id, revoked_at=None).filter(
        Q(expires_at=None) | Q(expires_at__gt=now)
    )


async def require_consent(caller: User, grantor: User, operation: str) -> None:
    """403 unless `caller` may run `operation` as `grantor`: an admin, or an active delegation covering it."""
    if caller.id == grantor.id or caller.has_role(Role.ADMIN):
        return
    if operation in ACT_FOR_SELF_ONLY:
        raise Forbidden(
            f"{operation} runs only for the signed-in user: no one can manage delegations or "
            "webhook secrets for someone else",
            code="on-behalf-of-not-allowed",
        )
    delegations = await _active(grantor.id, caller.id)
    if not delegations:
        raise Forbidden(
            f"{grantor.username} has not allowed you to act for them: they can grant it on their "
            f"Delegations page ({DELEGATIONS_PAGE})",
            code="on-behalf-of-forbidden",
        )
    needed = needed_scope(operation)
    if not any(needed in (delegation.scopes or []) for delegation in delegations):
        allowed = sorted({scope for delegation in delegations for scope in delegation.scopes or []})
        raise Forbidden(
            f"{grantor.username} allowed you only {' and '.join(allowed) or 'nothing'}; {operation} needs "
            f"the {needed!r} scope: they can grant it on their Delegations page ({DELEGATIONS_PAGE})",
            code="delegation-scope-insufficient",
            extra={"required_scope": needed},
        )


class DelegationOut(Output):
    id: str
    grantor: str | None = Field(description="username")
    delegate: str | None = Field(description="username")
    scopes: list[str]
    state: str
    expires_at: Timestamp
    revoked_at: Timestamp
    created_at: Timestamp


def delegation_view(delegation: Delegation, usernames: dict[str, str]) -> dict[str, Any]:
    return {
        "id": delegation.id,
        "grantor": usernames.get(delegation.grantor_id),
        "delegate": usernames.get(delegation.delegate_id),
        "scopes": list(delegation.scopes or []),
        "state": delegation.state().value,
        "expires_at": iso(delegation.expires_at),
        "revoked_at": iso(delegation.revoked_at),
        "created_at": iso(delegation.created_at),
    }


async def _views(delegations: list[Delegation]) -> list[dict[str, Any]]:
    ids = {d.grantor_id for d in delegations} | {d.delegate_id for d in delegations}
    rows = await User.filter(id__in=list(ids)).values_list("id", "username")
    usernames = {user_id: username for user_id, username in rows}
    return [delegation_view(delegation, usernames) for delegation in delegations]


def _refuse_apps(ctx: Context) -> None:
    if granted_scopes(ctx.extra) is not None:
        raise Forbidden(
            "delegations are granted by you, not by an app: use your own token or the Delegations page",
            code="consent-required",
        )


class GrantInput(Input):
    to: str = Field(min_length=1, max_length=64, description="the local username who may act for you")
    scopes: list[Literal["read", "write"]] = Field(
        min_length=1, max_length=len(DELEGATION_SCOPES), description="read: look on your behalf; write: also change"
    )
    expires_at: datetime | None = Field(None, description="when it ends (ISO 8601, UTC if no zone); none: until revoked")


@REGISTRY.operation("delegations.grant", GrantInput, output=DelegationOut)
async def grant(ctx: Context, params: GrantInput) -> dict[str, Any]:
    """Allow another local user to act for you (X-On-Behalf-Of) within scopes, until revoked or expired."""
    user = ctx.require_user()
    _refuse_apps(ctx)
    name = params.to.lower().lstrip("@")
    delegate = await User.get_or_none(username=name)
    if delegate is None or delegate.status == UserStatus.DELETED.value:
        raise Unprocessable(
            f"there is no user named {params.to!r} on this server", code="unknown-user", extra={"field": "to"}
        )
    if delegate.id == user.id:
        raise Unprocessable("you cannot delegate to yourself: you already act for yourself", code="self-delegation",
                            extra={"field": "to"})
    expires_at = params.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=timezone.utc)
        if expires_at <= _now():
            raise Unprocessable("the expiry is in the past: choose a later time or none", code="expiry-in-past",
                                extra={"field": "expires_at"})
    existing = await _active(user.id, delegate.id).first()
    if existing is not None:
        raise Conflict(
            f"you already allow {delegate.username} to act for you ({', '.join(existing.scopes)}); "
            "revoke that delegation first to change it",
            code="delegation-exists",
            extra={"id": existing.id, "field": "to"},
        )
    scopes = [scope for scope in DELEGATION_SCOPES if scope in params.scopes]
    delegation = await Delegation.create(grantor=user, delegate=delegate, scopes=scopes, expires_at=expires_at)
    await ctx.emit(
        "delegation.granted", "delegation", delegation.id, {"to": delegate.username, "scopes": scopes}
    )
    return delegation_view(delegation, {user.id: user.username, delegate.id: delegate.username})


class ListDelegationsInput(ListInput):
    role: Literal["grantor", "delegate"] | None = Field(
        None, description="grantor: those you granted; delegate: those granted to you; none: both"
    )


@REGISTRY.operation("delegations.list", ListDelegationsInput, output=Paged[DelegationOut], access=Access.USER)
async def list_delegations(ctx: Context, params: ListDelegationsInput) -> Any:
    """Delegations you granted and those granted to you (with their state: active, expired, revoked)."""
    user = ctx.require_user()
    if params.role == "grantor":
        query = Delegation.filter(grantor_id=user.id)
    elif params.role == "delegate":
        query = Delegation.filter(delegate_id=user.id)
    else:
        query = Delegation.filter(Q(grantor_id=user.id) | Q(delegate_id=user.id))
    page = await paginate(query, params)
    page.items = await _views(page.items)
    return page


class DelegationIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


# A frozen account may still take back what it allowed (USER access, but it writes).
@REGISTRY.operation(
    "delegations.revoke", DelegationIdInput, output=DelegationOut, access=Access.USER, effect=Effect.RELINQUISH
)
async def revoke(ctx: Context, params: DelegationIdInput) -> dict[str, Any]:
    """End a delegation at once: its grantor takes it back, or its delegate gives it up."""
    user = ctx.require_user()
    delegation = await Delegation.filter(Q(grantor_id=user.id) | Q(delegate_id=user.id), id=params.id).first()
    if delegation is None:
        raise NotFound(f"there is no delegation {params.id!r}", code="delegation-not-found")
    if delegation.state() is not DelegationState.REVOKED:
        now = _now()
        await Delegation.filter(id=delegation.id, revoked_at=None).update(revoked_at=now, updated_at=now)
        await delegation.refresh_from_db()
        await ctx.emit("delegation.revoked", "delegation", delegation.id, {"by": user.username})
    return (await _views([delegation]))[0]
