"""Follows: who follows whom across servers, the API over it, and the inbox side.

A `follows` row links a follower actor to a target actor, in either direction: a local user
following a remote actor (we send Follow and wait for Accept/Reject) or a remote actor
following a local user (we receive Follow and answer Accept, at once or after the user
approves when `manually_approves_followers` is set). Undo(Follow) removes the row.

The API operations that need the network (resolving `user@host` through WebFinger, fetching
the actor) do it before opening their transaction; the activities they send are only queued
(federation/delivery.py) in that transaction and posted later by the sweep. Listing follows and
followers is a plain query: models/operations/follows.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import Field
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.boards import Board
from models.context import Context, Site
from models.errors import BadInput, Conflict, NotFound, Unprocessable
from models.federation import FederationProfile, Follow, FollowState, RemoteActor, Subscription
from models.ids import new_id
from models.markdown import markdown_to_html
from models.operations.boards import mirror_follow_answered
from models.operations.follows import actors_by_id, follow_view
from models.outputs import FollowOut
from models.registry import REGISTRY, Access, Input, Transaction

from . import documents
from .actors import SUBSCRIBE_REL, local_actor_named
from .as2 import as_id, domain_of
from .backfill import start_backfill
from .fetch import FetchError, remote_object_owner
from .outbox import activity_url, publish
from .outputs import FederationSettingsOut, LookupOut, RemoteFollowOut
from .remote_actors import remote_actor
from .subscriptions import on_follow_object
from .webfinger import webfinger_document, webfinger_lookup

__all__ = ["local_actor_of", "on_accept", "on_follow", "on_reject", "on_undo", "resolve_target"]

ID = Field(min_length=1, max_length=64)


async def local_actor_of(site: Site, url: str) -> Actor | None:
    """The local actor an URL of ours names (a user's actor URL), or None."""
    prefix = documents.actor_url(site.base_url, "")
    if not url.startswith(prefix):
        return None
    return await local_actor_named(url[len(prefix):])  # a user's, or an organization's


async def manually_approves(actor: Actor) -> bool:
    profile = await FederationProfile.get_or_none(actor_id=actor.id)
    return bool(profile and profile.manually_approves_followers)


# ---------------------------------------------------------------- the API


class FollowInput(Input):
    target: str = Field(min_length=3, max_length=2048, description="user@host, or the URL of an actor")


class FollowTargetInput(Input):
    target: str = Field(
        min_length=3, max_length=2048, description="user@host, the URL of an actor, or the URL of a remote token, type or set"
    )


FOLLOWABLE_TYPES = {"Token", "TokenType", "TokenSet"}


async def _remote_object_owner(site: Site, uri: str) -> Actor:
    """The owner of a remote token, type or set (fetched), for a subscription to that object alone."""
    try:
        owner = await remote_object_owner(site, uri, FOLLOWABLE_TYPES)
    except FetchError as error:
        if error.kind == "not-object":
            raise Unprocessable(f"{uri} is neither an actor nor a token, type or set", code="not-followable") from None
        raise Unprocessable(f"cannot fetch {uri}: {error.detail}", code="remote-actor-unavailable") from None
    try:
        remote = await remote_actor(site, owner)
    except FetchError as error:
        raise Unprocessable(f"cannot fetch {owner}: {error.detail}", code="remote-actor-unavailable") from None
    return await Actor.get(id=remote.actor_id)


async def follow_target(ctx: Context, target: str) -> tuple[Actor, str]:
    """(actor to follow, object URL or "" for the actor itself)."""
    if target.startswith(("http://", "https://")) and domain_of(target) != domain_of(ctx.site.base_url):
        try:
            remote = await remote_actor(ctx.site, target)
            return await Actor.get(id=remote.actor_id), ""
        except FetchError as error:
            if error.kind != "invalid":
                raise Unprocessable(f"cannot fetch {target}: {error.detail}", code="remote-actor-unavailable") from None
        return await _remote_object_owner(ctx.site, target), target
    return await resolve_target(ctx, target), ""


async def resolve_target(ctx: Context, target: str) -> Actor:
    """The actor to follow; remote ones are looked up (WebFinger) and fetched before any transaction."""
    site = ctx.site
    if target.startswith(("http://", "https://")):
        local = await local_actor_of(site, target)
        if local is not None:
            return local
        uri = target
    else:
        username, _, host = target.lstrip("@").partition("@")
        if not username or not host:
            raise BadInput("target must be user@host or an actor URL", code="invalid-target")
        if host.lower() == site.domain.lower():
            actor = await local_actor_named(username)  # a user's, or an organization's
            if actor is None:
                raise NotFound(f"there is no user named {username!r} here", code="actor-not-found")
            return actor
        try:
            uri = await webfinger_lookup(site, target)
        except FetchError as error:
            raise Unprocessable(f"cannot find {target}: {error.detail}", code="remote-actor-unavailable") from None
    try:
        remote = await remote_actor(site, uri)
    except FetchError as error:
        raise Unprocessable(f"cannot fetch {uri}: {error.detail}", code="remote-actor-unavailable") from None
    return await Actor.get(id=remote.actor_id)


async def find_remote_actor(site: Site, handle: str) -> Actor:
    """`user@host` through WebFinger, then its actor fetched and stored (Site.find_remote_actor:
    a give to someone this server has not seen yet looks them up itself). The SSRF guard of
    every remote fetch applies; a failure is a 422 that says why."""
    try:
        remote = await remote_actor(site, await webfinger_lookup(site, handle))
    except FetchError as error:
        raise Unprocessable(
            f"no account {handle} could be found: {error.detail}", code="remote-actor-unavailable"
        ) from None
    return await Actor.get(id=remote.actor_id)


@REGISTRY.operation("federation.lookup", FollowInput, output=LookupOut, access=Access.USER)
async def lookup(ctx: Context, params: FollowInput) -> dict[str, Any]:
    """Find an actor by user@host or URL (WebFinger and a fetch for remote ones) so you can give to it."""
    actor = await resolve_target(ctx, params.target)
    if actor.is_local:
        summary = markdown_to_html(actor.summary)
    else:
        cached = await RemoteActor.get_or_none(actor_id=actor.id)
        summary = cached.summary if cached else ""  # sanitised when it was stored
    return {
        "handle": actor.handle(ctx.site.domain),
        "uri": actor.uri or local_actor_url(ctx.site.base_url, actor),
        "name": actor.display_name or actor.username,
        "summary": summary,
        "kind": actor.kind,
        "local": actor.is_local,
    }


@REGISTRY.operation("follows.create", FollowTargetInput, output=FollowOut, transaction=Transaction.NONE)
async def follow(ctx: Context, params: FollowTargetInput) -> dict[str, Any]:
    """Follow an actor, or one remote token, type or set; remote ones answer with Accept or Reject."""
    me = ctx.require_actor()
    target, object_uri = await follow_target(ctx, params.target)
    if target.id == me.id:
        raise Unprocessable("you cannot follow yourself", code="self-follow")
    async with in_transaction():
        existing = await Follow.get_or_none(follower_id=me.id, target_id=target.id, object_uri=object_uri)
        if existing is not None:
            return follow_view(ctx.site, existing, {me.id: me, target.id: target})
        row_id = new_id()
        if target.is_local:
            state = FollowState.PENDING if await manually_approves(target) else FollowState.ACCEPTED
        else:
            state = FollowState.PENDING
        row = await Follow.create(
            id=row_id, follower=me, target=target, state=state.value,
            activity_uri=activity_url(ctx.site.base_url, row_id), object_uri=object_uri,
        )
        if not target.is_local:
            remote = await RemoteActor.get(actor_id=target.id)
            await publish(ctx.site, me, "Follow", object_uri or target.uri, inboxes=[remote.inbox], to=[target.uri or ""],
                          row_id=row_id)
        await ctx.emit("follow.requested", "follow", row.id, {"target": target.handle(ctx.site.domain), "state": state.value})
    return follow_view(ctx.site, row, {me.id: me, target.id: target})


class FollowIdInput(Input):
    id: str = ID


async def _undo_payload(site: Site, row: Follow, me: Actor, target: Actor) -> dict[str, Any]:
    return {"id": row.activity_uri, "type": "Follow", "actor": local_actor_url(site.base_url, me),
            "object": row.object_uri or target.uri}


@REGISTRY.operation("follows.delete", FollowIdInput, output=None, access=Access.WRITE)
async def unfollow(ctx: Context, params: FollowIdInput) -> None:
    """Stop following (sends Undo(Follow) to a remote actor)."""
    me = ctx.require_actor()
    row = await Follow.get_or_none(id=params.id, follower_id=me.id)
    if row is None:
        raise NotFound("you do not follow anything with this id", code="follow-not-found")
    target = await Actor.get(id=row.target_id)
    if not target.is_local:
        remote = await RemoteActor.get(actor_id=target.id)
        undo = await _undo_payload(ctx.site, row, me, target)
        await publish(ctx.site, me, "Undo", undo, inboxes=[remote.inbox], to=[target.uri or ""])
    await row.delete()
    await ctx.emit("follow.undone", "follow", row.id, {"target": target.handle(ctx.site.domain)})


async def _answer(ctx: Context, row: Follow, kind: str) -> None:
    """Send Accept or Reject of a remote actor's Follow."""
    follower = await Actor.get(id=row.follower_id)
    if follower.is_local:
        return
    remote = await RemoteActor.get(actor_id=follower.id)
    me = await Actor.get(id=row.target_id)
    original = {"id": row.activity_uri, "type": "Follow", "actor": follower.uri,
                "object": local_actor_url(ctx.site.base_url, me)}
    await publish(ctx.site, me, kind, original, inboxes=[remote.inbox], to=[follower.uri or ""])


async def _pending_request(ctx: Context, follow_id: str) -> Follow:
    row = await Follow.get_or_none(id=follow_id, target_id=ctx.require_actor().id)
    if row is None:
        raise NotFound("nobody asked to follow you with this id", code="follow-not-found")
    return row


@REGISTRY.operation("followers.approve", FollowIdInput, output=FollowOut, access=Access.WRITE)
async def approve(ctx: Context, params: FollowIdInput) -> dict[str, Any]:
    """Accept a pending follow request."""
    row = await _pending_request(ctx, params.id)
    if row.state != FollowState.PENDING.value:
        raise Conflict(f"this follow is already {row.state}", code="follow-not-pending")
    row.state = FollowState.ACCEPTED.value
    await row.save(update_fields=["state", "updated_at"])
    await _answer(ctx, row, "Accept")
    await ctx.emit("follow.accepted", "follow", row.id, {})
    return follow_view(ctx.site, row, await actors_by_id([row.follower_id, row.target_id]))


@REGISTRY.operation("followers.reject", FollowIdInput, output=None, access=Access.WRITE)
async def reject(ctx: Context, params: FollowIdInput) -> None:
    """Refuse a follow request, or remove a follower."""
    row = await _pending_request(ctx, params.id)
    await _answer(ctx, row, "Reject")
    await row.delete()
    await ctx.emit("follow.rejected", "follow", row.id, {})


class FederationSettingsInput(Input):
    manually_approves_followers: bool | None = None


@REGISTRY.operation("federation.settings", FederationSettingsInput, output=FederationSettingsOut, access=Access.WRITE)
async def federation_settings(ctx: Context, params: FederationSettingsInput) -> dict[str, Any]:
    """Read or change your federation settings (omit a field to keep it)."""
    me = ctx.require_actor()
    profile, _ = await FederationProfile.get_or_create(actor_id=me.id)
    if params.manually_approves_followers is not None:
        profile.manually_approves_followers = params.manually_approves_followers
        await profile.save(update_fields=["manually_approves_followers", "updated_at"])
        await ctx.emit("federation.settings_changed", "actor", me.id, {"manually_approves_followers": params.manually_approves_followers})
    return {"manually_approves_followers": profile.manually_approves_followers}


# ---------------------------------------------------------------- the inbox side


async def on_follow(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    """A remote actor follows one of our users: record it and answer (now, or after approval).

    A Follow from an actor that already follows (or asked to) is answered once, not again each
    time: a repeated Follow would otherwise make us queue and sign an Accept per request. Our
    Accept is delivered durably, with retries over days; after an Undo a Follow is new again.
    """
    target = await local_actor_of(site, as_id(activity.get("object")) or "")
    if target is None:
        return await on_follow_object(site, activity, sender)
    ctx = Context(site=site, actor=target, system=True)
    async with in_transaction():
        row = await Follow.get_or_none(follower_id=sender.actor_id, target_id=target.id, object_uri="")
        if row is None:
            manual = await manually_approves(target)
            state = FollowState.PENDING if manual else FollowState.ACCEPTED
            row = await Follow.create(
                follower_id=sender.actor_id, target=target, state=state.value,
                activity_uri=str(activity["id"]),
            )
            await ctx.emit("follow.received", "follow", row.id, {"follower": sender.uri, "state": state.value})
        else:  # a repeated Follow: an Undo naming the newest one must still find the row
            if row.activity_uri != activity["id"]:
                await Follow.filter(id=row.id).update(activity_uri=str(activity["id"]))
            return f"ignored: already a follower ({row.state})"
        if row.state == FollowState.ACCEPTED.value:
            await _answer(ctx, row, "Accept")
    return row.state


async def _our_follow(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> Follow | None:
    """The follow of ours an Accept/Reject answers: by the Follow's id, else by who and whom."""
    obj = activity.get("object")
    uri = as_id(obj)
    if uri and domain_of(uri) == domain_of(site.base_url):
        row = await Follow.get_or_none(activity_uri=uri, target_id=sender.actor_id)
        if row is not None:
            return row
    if isinstance(obj, Mapping):
        follower = await local_actor_of(site, as_id(obj.get("actor")) or "")
        if follower is not None:
            return await Follow.get_or_none(
                follower_id=follower.id, target_id=sender.actor_id, object_uri=as_id(obj.get("object")) or ""
            ) or await Follow.get_or_none(follower_id=follower.id, target_id=sender.actor_id, object_uri="")
    return None


async def on_accept(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    row = await _our_follow(site, activity, sender)
    if row is None:
        return "ignored: no such follow"
    async with in_transaction():
        await Follow.filter(id=row.id).update(state=FollowState.ACCEPTED.value)
        joined = await mirror_follow_answered(row, accepted=True)  # a board of another server: now a member
        if joined is not None:
            if joined == "accepted: member of the board" and await Board.filter(id=row.target_id, member_count=1).exists():
                await start_backfill(row)  # the copy's first member: its history (federation/board_backfill.py)
            return joined
        await start_backfill(row)  # what the actor (or object) held before the follow
    return "accepted"


async def on_reject(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    row = await _our_follow(site, activity, sender)
    if row is None:
        return "ignored: no such follow"
    await Follow.filter(id=row.id).update(state=FollowState.REJECTED.value)
    return await mirror_follow_answered(row, accepted=False) or "rejected"


async def on_undo(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str:
    """Undo(Follow): the sender stops following one of our users (or one of our objects)."""
    obj = activity.get("object")
    uri = as_id(obj)
    removed = await Follow.filter(activity_uri=uri or "", follower_id=sender.actor_id).delete()
    if not removed:
        removed = await Subscription.filter(activity_uri=uri or "", follower_id=sender.actor_id).delete()
    if not removed and isinstance(obj, Mapping):
        target = await local_actor_of(site, as_id(obj.get("object")) or "")
        if target is not None:
            removed = await Follow.filter(follower_id=sender.actor_id, target_id=target.id, object_uri="").delete()
    return "unfollowed" if removed else "ignored: no such follow"


class RemoteFollowInput(Input):
    handle: str = Field(min_length=3, max_length=320, description="the visitor's own account, user@their.server")
    target: str = Field(min_length=8, max_length=2048, description="the URL of our actor, token, type or set")


@REGISTRY.operation("federation.remote_follow", RemoteFollowInput, output=RemoteFollowOut, access=Access.PUBLIC)
async def remote_follow(ctx: Context, params: RemoteFollowInput) -> dict[str, Any]:
    """Where a visitor from another server follows one of ours: their server's subscribe page.

    Their WebFinger names it (rel http://ostatus.org/schema/1.0/subscribe, as Mastodon and
    Tallystick publish it); the visitor confirms the follow there, signed in at home.
    """
    if not params.target.startswith(ctx.site.base_url + "/"):
        raise BadInput("only actors and objects of this server can be followed from here", code="not-our-object")
    username, _, host = params.handle.strip().lstrip("@").partition("@")
    if not username or not host or "/" in host:
        raise BadInput("give your account as user@your.server", code="invalid-handle",
                       errors=[{"field": "handle", "message": "not user@host"}])
    try:
        document = await webfinger_document(ctx.site, f"{username}@{host}")
    except FetchError as error:
        raise Unprocessable(f"cannot ask {host} about {params.handle}: {error.detail}", code="remote-follow-unavailable") from None
    for link in document.get("links") or []:
        template = link.get("template") if isinstance(link, Mapping) else None
        if link.get("rel") == SUBSCRIBE_REL and isinstance(template, str) and "{uri}" in template:
            return {"location": template.replace("{uri}", quote(params.target, safe=""))}
    raise Unprocessable(f"{host} does not offer following from other servers", code="remote-follow-unavailable")
