"""Domain blocks (moderation): a blocked domain's inbox traffic is refused, nothing is
delivered to it or fetched from it, and its follow relations with our users end."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator
from tortoise.expressions import Q

from models.actors import Actor, Role
from models.base import iso
from models.context import Context
from models.federation import Delivery, DeliveryState, DomainHealth, Follow
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access, Input

from .remote import DOMAIN_STATES

__all__ = ["block_domain", "list_blocks", "unblock_domain"]

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


@REGISTRY.operation("admin.federation.block", DomainInput, access=Access.WRITE, role=Role.ADMIN)
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


@REGISTRY.operation("admin.federation.unblock", DomainInput, access=Access.WRITE, role=Role.ADMIN)
async def unblock_domain(ctx: Context, params: DomainInput) -> None:
    """Lift a domain block (ended follows stay ended)."""
    changed = await DomainHealth.filter(domain=params.domain, blocked=True).update(blocked=False)
    DOMAIN_STATES.forget()
    if changed:
        await ctx.emit("federation.domain_unblocked", "domain", params.domain[:64], {"domain": params.domain})


@REGISTRY.operation("admin.federation.blocks", ListInput, access=Access.USER, role=Role.ADMIN)
async def list_blocks(ctx: Context, params: ListInput) -> Page:
    """Blocked domains."""
    return (await paginate(DomainHealth.filter(blocked=True), params)).map(_view)
