"""Blocks (moderation): a blocked domain's or actor's inbox traffic is refused, nothing is
delivered to it or fetched from it, and its follow relations with our users end."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator
from tortoise.expressions import Q

from models.actors import Actor, Role
from models.base import iso
from models.context import Context
from models.errors import NotFound
from models.federation import ActorBlock, Delivery, DeliveryState, DomainHealth, Follow, RemoteActor
from models.outputs import Paged
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access, Input

from .fetch import DOMAIN_STATES
from .outputs import ActorBlockOut, DomainBlockOut

__all__ = ["block_actor", "block_domain", "list_actor_blocks", "list_blocks", "unblock_actor", "unblock_domain"]

DOMAIN = re.compile(r"^[a-z0-9.\-]{1,253}(?::[0-9]{1,5})?$")


class DomainInput(Input):
    domain: str = Field(min_length=1, max_length=260, description="host, or host:port")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.lower()
        if not DOMAIN.match(value):
            raise ValueError("a domain is a host name, optionally with :port")
        return value


def _view(row: DomainHealth) -> dict[str, Any]:
    return {"domain": row.domain, "blocked": row.blocked, "unavailable": row.unavailable,
            "failure_days": row.failure_days, "updated_at": iso(row.updated_at)}


@REGISTRY.operation("admin.federation.block", DomainInput, output=DomainBlockOut, access=Access.WRITE, role=Role.ADMIN)
async def block_domain(ctx: Context, params: DomainInput) -> dict[str, Any]:
    """Block a domain: refuse its activities, stop delivering to it, end its follows."""
    row, _ = await DomainHealth.get_or_create(domain=params.domain)
    row.blocked = True
    await row.save(update_fields=["blocked", "updated_at"])
    actors = await Actor.filter(domain=params.domain).values_list("id", flat=True)
    ended = await Follow.filter(Q(follower_id__in=list(actors)) | Q(target_id__in=list(actors))).delete()
    await Delivery.filter(domain=params.domain, state=DeliveryState.PENDING.value).update(
        state=DeliveryState.SKIPPED.value, last_error="the domain is blocked"
    )
    DOMAIN_STATES.forget()  # this process sees the block at once; others within seconds
    await ctx.emit("federation.domain_blocked", "domain", params.domain[:64], {"domain": params.domain, "follows_ended": ended})
    return _view(row)


@REGISTRY.operation("admin.federation.unblock", DomainInput, output=None, access=Access.WRITE, role=Role.ADMIN)
async def unblock_domain(ctx: Context, params: DomainInput) -> None:
    """Lift a domain block (ended follows stay ended)."""
    changed = await DomainHealth.filter(domain=params.domain, blocked=True).update(blocked=False)
    DOMAIN_STATES.forget()
    if changed:
        await ctx.emit("federation.domain_unblocked", "domain", params.domain[:64], {"domain": params.domain})


@REGISTRY.operation(
    "admin.federation.blocks", ListInput, output=Paged[DomainBlockOut], access=Access.USER, role=Role.ADMIN
)
async def list_blocks(ctx: Context, params: ListInput) -> Page:
    """Blocked domains."""
    return (await paginate(DomainHealth.filter(blocked=True), params)).map(_view)


class ActorBlockInput(Input):
    actor: str = Field(min_length=8, max_length=2048, pattern=r"^https?://", description="the actor's id (URL)")


def _actor_view(row: ActorBlock) -> dict[str, Any]:
    return {"id": row.id, "actor": row.uri, "created_at": iso(row.created_at)}


@REGISTRY.operation(
    "admin.federation.block_actor", ActorBlockInput, output=ActorBlockOut, access=Access.WRITE, role=Role.ADMIN
)
async def block_actor(ctx: Context, params: ActorBlockInput) -> dict[str, Any]:
    """Block one remote actor: refuse its activities, stop delivering to its own inbox, end its follows."""
    row, _ = await ActorBlock.get_or_create(uri=params.actor)
    actor = await Actor.get_or_none(uri=params.actor)
    ended = 0
    if actor is not None:
        ended = await Follow.filter(Q(follower_id=actor.id) | Q(target_id=actor.id)).delete()
        remote = await RemoteActor.get_or_none(actor_id=actor.id)
        if remote is not None:
            await Delivery.filter(inbox=remote.inbox, state=DeliveryState.PENDING.value).update(
                state=DeliveryState.SKIPPED.value, last_error="the actor is blocked"
            )
    DOMAIN_STATES.forget()
    await ctx.emit("federation.actor_blocked", "actor_block", row.id, {"actor": params.actor, "follows_ended": ended})
    return _actor_view(row)


class ActorBlockIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


@REGISTRY.operation(
    "admin.federation.unblock_actor", ActorBlockIdInput, output=None, access=Access.WRITE, role=Role.ADMIN
)
async def unblock_actor(ctx: Context, params: ActorBlockIdInput) -> None:
    """Lift an actor block (ended follows stay ended)."""
    row = await ActorBlock.get_or_none(id=params.id)
    if row is None:
        raise NotFound("there is no actor block with this id", code="block-not-found")
    await row.delete()
    DOMAIN_STATES.forget()
    await ctx.emit("federation.actor_unblocked", "actor_block", row.id, {"actor": row.uri})


@REGISTRY.operation(
    "admin.federation.actor_blocks", ListInput, output=Paged[ActorBlockOut], access=Access.USER, role=Role.ADMIN
)
async def list_actor_blocks(ctx: Context, params: ListInput) -> Page:
    """Blocked remote actors."""
    return (await paginate(ActorBlock.all(), params)).map(_actor_view)
