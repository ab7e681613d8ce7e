"""Follows read from the database: the follows you made and the followers you have.

Following, answering and the inbox side need the network and live in federation/follows.py;
listing is a plain query, so it lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.actors import Actor, local_actor_url
from models.base import iso
from models.context import Context, Site
from models.federation import Follow, FollowState
from models.outputs import FollowOut, Paged
from models.paging import ListInput, Page, paginate
from models.registry import REGISTRY, Access

__all__ = ["FollowListInput", "actors_by_id", "follow_view"]


async def actors_by_id(actor_ids: list[str]) -> dict[str, Actor]:
    return {actor.id: actor for actor in await Actor.filter(id__in=actor_ids)}


def follow_view(site: Site, follow: Follow, actors: Mapping[str, Actor]) -> dict[str, Any]:
    follower, target = actors[follow.follower_id], actors[follow.target_id]
    return {
        "id": follow.id,
        "follower": follower.handle(site.domain),
        "follower_uri": follower.uri or local_actor_url(site.base_url, follower),
        "target": target.handle(site.domain),
        "target_uri": target.uri or local_actor_url(site.base_url, target),
        "object": follow.object_uri or None,
        "state": follow.state,
        "created_at": iso(follow.created_at),
        "updated_at": iso(follow.updated_at),
    }


async def _render_page(site: Site, page: Page) -> Page:
    ids = [row.follower_id for row in page.items] + [row.target_id for row in page.items]
    actors = await actors_by_id(ids)
    return page.map(lambda row: follow_view(site, row, actors))


class FollowListInput(ListInput):
    state: FollowState | None = None


@REGISTRY.operation("follows.list", FollowListInput, output=Paged[FollowOut], access=Access.USER)
async def list_follows(ctx: Context, params: FollowListInput) -> Page:
    """The actors you follow (or asked to follow)."""
    query = Follow.filter(follower_id=ctx.require_actor().id)
    if params.state is not None:
        query = query.filter(state=params.state.value)
    return await _render_page(ctx.site, await paginate(query, params))


@REGISTRY.operation("followers.list", FollowListInput, output=Paged[FollowOut], access=Access.USER)
async def list_followers(ctx: Context, params: FollowListInput) -> Page:
    """The actors who follow you; `state=pending` lists requests awaiting your approval."""
    query = Follow.filter(target_id=ctx.require_actor().id)
    if params.state is not None:
        query = query.filter(state=params.state.value)
    return await _render_page(ctx.site, await paginate(query, params))
