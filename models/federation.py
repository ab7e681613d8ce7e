"""Federation tables: keys, remote actors, follows, received and sent activities, deliveries.

Keys are made lazily the first time an actor is published or signs something; the unique
actor column makes concurrent first fetches agree on one pair. Everything that crosses the
network is a row first (inbox activities, outbox activities, deliveries), so a process that
dies loses nothing: the loops in server/jobs.py pick the rows up again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields

from .actors import Actor
from .base import APP, Entity
from .engine import Durable

__all__ = [
    "ActorBlock",
    "ActorKey",
    "Backfill",
    "BackfillState",
    "Delivery",
    "DeliveryState",
    "DomainHealth",
    "FederationCursor",
    "FederationProfile",
    "Follow",
    "FollowState",
    "InboxActivity",
    "InboxState",
    "OnwardGive",
    "OnwardState",
    "OutboxActivity",
    "RemoteActor",
    "RemoteCredit",
    "RemoteDebit",
    "RemoteObject",
    "Subscription",
]


class ActorKey(Entity):
    """RSA and Ed25519 key pairs of a local actor, stored as PEM text"""

    actor_id: str
    actor: fields.OneToOneRelation[Actor] = fields.OneToOneField(
        f"{APP}.Actor", related_name="keys", on_delete=fields.CASCADE
    )
    rsa_private_pem = fields.TextField()
    rsa_public_pem = fields.TextField()
    ed25519_private_pem = fields.TextField()
    ed25519_public_pem = fields.TextField()

    class Meta:
        app = APP
        table = "actor_keys"


class RemoteActor(Entity):
    """The cached actor document of a remote actor, refetched when older than the cache time"""

    actor_id: str
    actor: fields.OneToOneRelation[Actor] = fields.OneToOneField(
        f"{APP}.Actor", related_name="remote", on_delete=fields.CASCADE
    )
    uri = fields.CharField(max_length=2048, unique=True)
    inbox = fields.CharField(max_length=2048)
    shared_inbox = fields.CharField(max_length=2048, null=True)
    key_id = fields.CharField(max_length=2048, default="")
    public_key_pem = fields.TextField(default="")
    preferred_username = fields.CharField(max_length=255)
    summary = fields.TextField(default="")  # HTML from the actor document, sanitised before it is stored
    domain = fields.CharField(max_length=255, db_index=True)
    fetched_at = fields.DatetimeField()
    gone_at = fields.DatetimeField(null=True)  # when the actor told us it was deleted: never fetched again

    class Meta:
        app = APP
        table = "remote_actors"
        indexes = (("key_id",),)  # a key id that is a URL of its own (GoToSocial) finds its actor


class FederationProfile(Entity):
    """Per-actor federation preferences (created on first change)"""

    actor_id: str
    actor: fields.OneToOneRelation[Actor] = fields.OneToOneField(
        f"{APP}.Actor", related_name="federation_profile", on_delete=fields.CASCADE
    )
    manually_approves_followers = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "federation_profiles"


class FollowState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Follow(Entity):
    """One follower relation, in either direction (local follows remote, or remote follows local)"""

    follower_id: str
    follower: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="following_rows", on_delete=fields.CASCADE
    )
    target_id: str
    target: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="follower_rows", on_delete=fields.CASCADE
    )
    state = fields.CharField(max_length=16, default=FollowState.PENDING.value)
    activity_uri = fields.CharField(max_length=2048, unique=True)
    # Empty for following the actor itself, else the one remote token, type or set we subscribe to.
    object_uri = fields.CharField(max_length=2048, default="")

    class Meta:
        app = APP
        table = "follows"
        unique_together = (("follower", "target", "object_uri"),)


class Subscription(Entity):
    """A remote actor following one of our tokens, types or sets (not its owner)"""

    follower_id: str
    follower: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="subscriptions", on_delete=fields.CASCADE
    )
    object_kind = fields.CharField(max_length=16)  # token, type or set
    object_id = fields.CharField(max_length=64)
    activity_uri = fields.CharField(max_length=2048, unique=True)

    class Meta:
        app = APP
        table = "subscriptions"
        unique_together = (("follower", "object_kind", "object_id"),)
        indexes = (("object_kind", "object_id"),)


class BackfillState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Backfill(Durable, Entity):
    """Copying what a followed remote actor (or one followed object) held before the follow
    (the machine federation.backfills; the handler is federation/backfill.py `run`)"""

    follow_id: str
    follow: fields.OneToOneRelation[Follow] = fields.OneToOneField(
        f"{APP}.Follow", related_name="backfill", on_delete=fields.CASCADE
    )
    state = fields.CharField(max_length=16, default=BackfillState.PENDING.value)
    next_url = fields.CharField(max_length=2048, null=True)  # the page to read next; null before the first
    pages = fields.IntField(default=0)  # pages read
    copied = fields.IntField(default=0)  # objects we now hold a copy of (new, or held already)
    refused = fields.IntField(default=0)  # objects refused: a bad proof, another server's, malformed
    # The URLs of the objects a subscription to one type or set brought (its tokens, entries,
    # members): federation.remote_objects lists them to the subscriber.
    members: fields.JSONField[list[str]] = fields.JSONField(default=list)
    note = fields.CharField(max_length=500, null=True)  # why it ended early, in words
    # A board's history (the follow is of a group whose board we mirror: federation/board_backfill.py):
    # threads copied so far, and how many the group lists (capped by our limit) once its outbox is read.
    threads = fields.IntField(default=0)
    total = fields.IntField(null=True)

    class Meta:
        app = APP
        table = "federation_backfills"
        indexes = (("state", "next_at"),)


class InboxState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    IGNORED = "ignored"
    FAILED = "failed"


class InboxActivity(Durable, Entity):
    """A verified activity received in an inbox, stored once by its id and processed later"""

    activity_uri = fields.CharField(max_length=2048, unique=True)
    type = fields.CharField(max_length=64)
    actor_uri = fields.CharField(max_length=2048)
    recipient_id: str | None
    recipient: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="inbox_activities", null=True, on_delete=fields.SET_NULL
    )
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    state = fields.CharField(max_length=16, default=InboxState.QUEUED.value)  # the machine: federation/inbox.py
    outcome = fields.CharField(max_length=500, null=True)  # what processing did, as the inbox list shows

    class Meta:
        app = APP
        table = "inbox_activities"
        indexes = (("state", "lease_expires_at"), ("state", "created_at"), ("state", "next_at"))


class RemoteObject(Entity):
    """A remote copy of a token, type or set created by a remote actor we follow"""

    uri = fields.CharField(max_length=2048, unique=True)
    type = fields.CharField(max_length=64)
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="remote_objects", on_delete=fields.CASCADE
    )
    document: fields.JSONField[dict[str, Any]] = fields.JSONField()
    is_deleted = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "remote_objects"


class OutboxActivity(Entity):
    """An activity published by a local actor, made from one domain event"""

    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="outbox_activities", on_delete=fields.CASCADE
    )
    event_id = fields.CharField(max_length=26, null=True, unique=True)
    type = fields.CharField(max_length=32)
    document: fields.JSONField[dict[str, Any]] = fields.JSONField()

    class Meta:
        app = APP
        table = "outbox_activities"
        indexes = (("actor_id", "id"),)


class FederationCursor(Entity):
    """How far a loop has read the events table (the last event id fully handled)"""

    name = fields.CharField(max_length=64, unique=True)
    position = fields.CharField(max_length=26, default="")

    class Meta:
        app = APP
        table = "federation_cursors"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # permanent refusal or out of attempts
    SKIPPED = "skipped"  # the domain was unavailable or blocked


class Delivery(Durable, Entity):
    """One signed POST of an activity to one inbox, retried with backoff until it lands
    (the machine federation.deliveries keeps its state, attempts, next_at, lease and last_error)"""

    signer_id: str
    signer: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="deliveries", on_delete=fields.CASCADE
    )
    activity_uri = fields.CharField(max_length=2048)
    inbox = fields.CharField(max_length=2048)
    domain = fields.CharField(max_length=255)
    body = fields.TextField()
    state = fields.CharField(max_length=16, default=DeliveryState.PENDING.value)
    last_status = fields.IntField(null=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "deliveries"
        unique_together = (("activity_uri", "inbox"),)
        indexes = (("state", "next_at"), ("state", "created_at"))


class DomainHealth(Entity):
    """Delivery failures of a remote domain by day, and whether it counts as unavailable"""

    domain = fields.CharField(max_length=255, unique=True)
    failure_days: fields.JSONField[list[str]] = fields.JSONField(default=list)
    unavailable = fields.BooleanField(default=False)
    blocked = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "domain_health"


class RemoteCredit(Entity):
    """Units of a remote token type given to a local actor, confirmed with the origin server"""

    entry_uri = fields.CharField(max_length=2048, unique=True)
    recipient_id: str
    recipient: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="remote_credits", on_delete=fields.CASCADE
    )
    sender_id: str
    sender: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="remote_debits", on_delete=fields.CASCADE
    )
    type_uri = fields.CharField(max_length=2048)
    symbol = fields.CharField(max_length=64, default="")
    amount = fields.CharField(max_length=40)  # a decimal string, as the origin wrote it

    class Meta:
        app = APP
        table = "remote_credits"
        indexes = (("recipient_id", "type_uri"),)


class ActorBlock(Entity):
    """A remote actor an admin blocked: its activities are refused and nothing is sent to it"""

    uri = fields.CharField(max_length=2048, unique=True)

    class Meta:
        app = APP
        table = "actor_blocks"


class OnwardState(StrEnum):
    PENDING = "pending"  # not answered yet: sent again with backoff while the origin is away
    DONE = "done"  # the origin recorded it; `entry_uri` is its entry
    REFUSED = "refused"  # the origin said no; `answer` is its problem document
    FAILED = "failed"  # no answer after every try


class OnwardGive(Durable, Entity):
    """A give or burn of units held on another server, asked of their origin in the holder's name.

    The origin keeps the ledger of its types, so only it can spend a holder's outputs; this row
    is what the holder sees until it has answered, and the engine sends it again (the same
    `request_uri`, which the origin answers once) while the origin is away.
    """

    holder_id: str
    holder: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="onward_gives", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=8)  # give or burn
    type_uri = fields.CharField(max_length=2048)
    symbol = fields.CharField(max_length=64, default="")
    endpoint = fields.CharField(max_length=2048)  # where the origin takes ledger requests
    amount = fields.CharField(max_length=40)  # a decimal string
    target_uri = fields.CharField(max_length=2048, null=True)  # who receives (null for a burn)
    target_handle = fields.CharField(max_length=320, default="")
    sources: fields.JSONField[list[list[str]]] = fields.JSONField(default=list)  # [[amount, entry uri], ...]
    description = fields.TextField(default="")
    request_uri = fields.CharField(max_length=2048, unique=True)
    entry_uri = fields.CharField(max_length=2048, null=True)
    answer: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)  # the entry, or the problem
    last_status = fields.IntField(null=True)
    is_bid = fields.BooleanField(default=False, db_default=False)  # a bid on the lot `target_uri` names, holding `amount`
    bid_amount = fields.CharField(max_length=40, null=True)  # a proxy bid's opening bid (`amount` is its ceiling)

    class Meta:
        app = APP
        table = "onward_gives"
        indexes = (("state", "next_at"), ("holder_id", "type_uri"))


class RemoteDebit(Entity):
    """Units of a remote holding the origin spent: a give or burn it recorded in our user's name"""

    entry_uri = fields.CharField(max_length=2048, unique=True)
    holder_id: str
    holder: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="remote_spends", on_delete=fields.CASCADE
    )
    type_uri = fields.CharField(max_length=2048)
    kind = fields.CharField(max_length=8)
    amount = fields.CharField(max_length=40)
    sources: fields.JSONField[list[list[str]]] = fields.JSONField(default=list)  # [[amount, credited entry uri], ...]

    class Meta:
        app = APP
        table = "remote_debits"
        indexes = (("holder_id", "type_uri"),)
