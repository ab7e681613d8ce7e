"""Federation reads: actor documents, objects, WebFinger, NodeInfo, and actor keys.

What other servers read about us. Every operation here is public and read-only; the one write
is the lazy creation of an actor's key pair (and of the instance actor), which is idempotent
and guarded by unique constraints, so concurrent first fetches agree on one result.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.actors import INSTANCE_USERNAME, AccessToken, Actor, User, UserStatus, local_actor_url
from models.base import iso
from models.boards import GROUP_KIND, Board, BoardMember, MemberRole, Visibility
from models.context import Context
from models.errors import BadInput, Gone, NotFound
from models.events import Event
from models.federation import ActorKey, FederationProfile
from models.markdown import markdown_to_html
from models.organizations import ORGANIZATION_KIND
from models.registry import REGISTRY, Access, Input
from models.tokens import Token

from . import documents
from .keys import KeyPair, ed25519_to_multibase, generate_ed25519, generate_rsa, load_public_key
from .objects import read_object
from .outputs import ActorDocument, NodeInfoDocument, ObjectDocument, WebFingerDocument

__all__ = ["actor_keys", "instance_actor", "local_actor_named", "local_user_actor", "software_version"]

ACCT = re.compile(r"^@?([a-z0-9_.]{1,64})@([a-z0-9.\-]{1,253}(?::[0-9]{1,5})?)$")
ID = Field(min_length=1, max_length=64)


def software_version() -> str:
    try:
        return version("tallystick")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0"


def _make_keys() -> tuple[KeyPair, KeyPair]:
    """Fresh RSA-2048 and Ed25519 pairs (CPU-bound: run it in a thread)."""
    return generate_rsa(), generate_ed25519()


async def actor_keys(actor: Actor) -> ActorKey:
    """The actor's key pairs, created on first use exactly once.

    Two concurrent first calls may both generate keys; the unique actor column lets one insert
    win and the loser reads the winner's row, so every caller sees the same keys.
    """
    existing = await ActorKey.get_or_none(actor_id=actor.id)
    if existing is not None:
        return existing
    rsa, ed = await asyncio.to_thread(_make_keys)
    try:
        async with in_transaction():  # a savepoint when nested, so a lost race does not spoil the caller
            keys = await ActorKey.create(
                actor_id=actor.id,
                rsa_private_pem=rsa.private_pem,
                rsa_public_pem=rsa.public_pem,
                ed25519_private_pem=ed.private_pem,
                ed25519_public_pem=ed.public_pem,
            )
            # New keys are security-relevant: record them in the outbox with the public halves only.
            await Event.create(
                name="actor.keys_created",
                actor_id=actor.id,
                object_type="actor",
                object_id=actor.id,
                payload={"rsa_public_pem": rsa.public_pem, "ed25519_public_pem": ed.public_pem},
            )
            return keys
    except IntegrityError:
        return await ActorKey.get(actor_id=actor.id)


async def instance_actor() -> Actor:
    """The Service actor that speaks for the instance itself (created on first use)."""
    actor = await Actor.get_or_none(username=INSTANCE_USERNAME, domain="")
    if actor is not None:
        return actor
    try:
        async with in_transaction():
            actor = await Actor.create(username=INSTANCE_USERNAME, domain="", kind="Service", display_name="Tallystick")
            await Event.create(name="actor.created", actor_id=actor.id, object_type="actor", object_id=actor.id,
                               payload={"username": INSTANCE_USERNAME, "kind": "Service"})
            return actor
    except IntegrityError:
        return await Actor.get(username=INSTANCE_USERNAME, domain="")


OWN_ACTOR_KINDS = (ORGANIZATION_KIND, GROUP_KIND)  # local actors without a user: organizations, boards' groups


async def local_actor_named(username: str) -> Actor | None:
    """The local actor served at /users/{username}: a user's (not deleted), an organization's or a
    board's group."""
    name = username.lower()
    user = await User.get_or_none(username=name).select_related("actor")
    if user is not None:
        return None if user.status == UserStatus.DELETED.value else user.actor
    return await Actor.get_or_none(username=name, domain="", kind__in=OWN_ACTOR_KINDS)


async def local_user_actor(username: str) -> Actor:
    """A local user's actor, or an organization's (issue 19: one of its own, with its own keys
    and inbox, so it is followable): 404 when unknown, 410 when the account was deleted."""
    name = username.lower()
    user = await User.get_or_none(username=name).select_related("actor")
    if user is None:
        own = await Actor.get_or_none(username=name, domain="", kind__in=OWN_ACTOR_KINDS)  # an organization, a group
        if own is not None:
            return own
        raise NotFound(f"there is no user named {username!r} here", code="actor-not-found")
    if user.status == UserStatus.DELETED.value:
        raise Gone(f"the account {username!r} has been deleted", code="actor-gone")
    return user.actor


class ActorInput(Input):
    username: str | None = Field(None, min_length=1, max_length=64, description="omit for the instance actor")


@REGISTRY.operation("federation.actor", ActorInput, output=ActorDocument, access=Access.PUBLIC)
async def actor_document(ctx: Context, params: ActorInput) -> dict[str, Any]:
    """The ActivityPub actor document of a user or of the instance actor."""
    base = ctx.site.base_url
    if params.username is None:
        actor = await instance_actor()
    else:
        actor = await local_user_actor(params.username)
    keys = await actor_keys(actor)
    ed_key = load_public_key(keys.ed25519_public_pem)
    profile = await FederationProfile.get_or_none(actor_id=actor.id)
    document = documents.actor_document(
        {
            "username": actor.username,
            "display_name": actor.display_name,
            "summary_html": markdown_to_html(actor.summary),
            "kind": actor.kind,
            "created_at": iso(actor.created_at),
        },
        actor_id=local_actor_url(base, actor),
        base_url=base,
        rsa_public_pem=keys.rsa_public_pem,
        ed25519_multibase=ed25519_to_multibase(ed_key),  # type: ignore[arg-type]  # an Ed25519 key in that column
    )
    document["manuallyApprovesFollowers"] = bool(profile and profile.manually_approves_followers)
    if actor.kind == GROUP_KIND:
        document |= await _group_terms(ctx, actor)
    return document


async def _group_terms(ctx: Context, actor: Actor) -> dict[str, Any]:
    """What a board's Group actor says of its board (docs/boards.md "Across servers"): its page,
    kind and rules, and its owner and moderators; a board that is not public gives its name only."""
    base = ctx.site.base_url
    board = await Board.get_or_none(actor_id=actor.id)
    if board is None:  # its board was deleted: the name stays taken
        return {"name": actor.display_name or actor.username}
    terms: dict[str, Any] = {
        "name": board.name, "url": f"{base}/app/boards/{board.id}", "boardKind": board.kind,
        "boardVisibility": board.visibility, "manuallyApprovesFollowers": board.visibility == Visibility.INVITE.value,
        "membersOnly": board.members_only, "repliesAllowed": board.replies_allowed,
        "mediaAllowed": board.media_allowed, "votesAllowed": board.votes_allowed,
    }
    if board.visibility != Visibility.PUBLIC.value:
        return terms | {"summary": ""}
    rows = await BoardMember.filter(board_id=board.id, role__in=[MemberRole.OWNER.value, MemberRole.MODERATOR.value]
                                    ).select_related("actor").order_by("id")
    staff = [row.actor.uri or local_actor_url(base, row.actor) for row in rows]
    owner = [row.actor.uri or local_actor_url(base, row.actor) for row in rows if row.role == MemberRole.OWNER.value]
    return terms | {"summary": markdown_to_html(board.description), "attributedTo": owner, "moderators": staff}


class ObjectInput(Input):
    kind: Literal["token", "type", "set", "ledger", "lot", "contract", "offer", "store", "store_item"]
    id: str = ID


@REGISTRY.operation("federation.object", ObjectInput, output=ObjectDocument, access=Access.PUBLIC)
async def object_document(ctx: Context, params: ObjectInput) -> dict[str, Any]:
    """The ActivityPub form of a token, token type, set or ledger entry (public data only)."""
    return (await read_object(ctx.site, params.kind, params.id)).document


class WebFingerInput(Input):
    resource: str = Field(min_length=1, max_length=2048)


SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"  # "follow this from your server" (Mastodon's too)


def _jrd(subject: str, actor_id: str, base_url: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "aliases": [actor_id],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": actor_id},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": actor_id},
            {"rel": SUBSCRIBE_REL, "template": f"{base_url}/authorize_interaction?uri={{uri}}"},
        ],
    }


def _username_of(ctx: Context, resource: str) -> str:
    """The local username a WebFinger resource names: 400 when malformed, 404 when not ours."""
    base = ctx.site.base_url
    if resource.startswith(("http://", "https://")):
        if resource == documents.instance_actor_url(base):
            return INSTANCE_USERNAME
        prefix = documents.actor_url(base, "")
        name = resource[len(prefix):] if resource.startswith(prefix) else ""
        if not name or "/" in name or "?" in name or "#" in name:
            raise NotFound(f"{resource!r} is not an actor on this server", code="actor-not-found")
        return name.lower()
    match = ACCT.match(resource.lower().removeprefix("acct:"))
    if match is None:
        raise BadInput(
            "resource must be acct:user@domain or an actor URL of this server", code="invalid-resource"
        )
    username, domain = match.groups()
    if domain != ctx.site.domain.lower():
        raise NotFound(f"{domain!r} is not this server; ask that server instead", code="actor-not-found")
    return username


@REGISTRY.operation("federation.webfinger", WebFingerInput, output=WebFingerDocument, access=Access.PUBLIC)
async def webfinger(ctx: Context, params: WebFingerInput) -> dict[str, Any]:
    """WebFinger (RFC 7033): find the actor for acct:user@domain or an actor URL."""
    username = _username_of(ctx, params.resource)
    if username == INSTANCE_USERNAME:
        actor = await instance_actor()
    else:
        actor = await local_user_actor(username)
    return _jrd(f"acct:{actor.username}@{ctx.site.domain}", local_actor_url(ctx.site.base_url, actor), ctx.site.base_url)


class NoInput(Input):
    pass


async def _active_users(since: datetime) -> int:
    """Users who signed in or used a token since `since` (a new account counts: it got a token)."""
    recent = AccessToken.filter(user__status__not=UserStatus.DELETED.value)
    used = await recent.filter(last_used_at__gte=since).distinct().values_list("user_id", flat=True)
    issued = await recent.filter(created_at__gte=since).distinct().values_list("user_id", flat=True)
    return len(set(used) | set(issued))


@REGISTRY.operation("federation.nodeinfo", NoInput, output=NodeInfoDocument, access=Access.PUBLIC)
async def nodeinfo(ctx: Context, params: NoInput) -> dict[str, Any]:
    """NodeInfo 2.1: software, protocols and usage counts of this instance."""
    now = datetime.now(UTC)
    users = await User.filter(status__not=UserStatus.DELETED.value).count()
    posts = await Token.filter(is_deleted=False, owner__domain="").count()
    return {
        "version": "2.1",
        "software": {
            "name": "tallystick",
            "version": software_version(),
            "homepage": "https://tallystick.dev/",
        },
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": True,
        "usage": {
            "users": {
                "total": users,
                "activeMonth": await _active_users(now - timedelta(days=30)),
                "activeHalfyear": await _active_users(now - timedelta(days=180)),
            },
            "localPosts": posts,
        },
        "metadata": {"nodeName": ctx.site.domain},
    }
