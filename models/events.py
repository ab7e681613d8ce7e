"""The transactional outbox: domain events written in the same transaction as the change.

Every event name is declared here with the type of its payload (`EVENTS`), and an event is
checked against its declaration when it is recorded (`check_payload`, called by
`Context.emit` and, for events created through the ORM, by a pre-save hook): an undeclared
name or a payload with a missing, unknown or mistyped key is a bug and fails the transaction
that records it, instead of surprising the outbox, webhooks or federation later.

Payloads name what they are about by id (entry, actor, type, token ids); readers such as the
federation outbox read the models by those ids rather than parsing handles or API views.
Handles that are kept beside an id (`agent_handle`, `author_handle`) are for people reading
webhook bodies. The payload is also what webhook subscribers receive in `data.payload`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, NotRequired

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from tortoise import fields
from tortoise.signals import pre_save
from typing_extensions import TypedDict

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import Actor

__all__ = ["EVENTS", "Event", "EventPayloadError", "LedgerEntryPayload", "check_payload"]

# Unknown keys are refused: a key that nobody declared is a key nobody reads.
_STRICT = ConfigDict(extra="forbid")


class EventPayloadError(Exception):
    """An event was recorded under an undeclared name or with a payload that does not match its type."""


class Event(Entity):
    name = fields.CharField(max_length=64)  # e.g. "ledger.give", "token.updated"
    actor_id: str | None
    actor: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        app = APP
        table = "events"
        indexes = (("object_type", "object_id"),)


# --- payload types, by subject ------------------------------------------------------------


@with_config(_STRICT)
class Empty(TypedDict):
    """No payload: the event's object says it all."""


@with_config(_STRICT)
class UserNamed(TypedDict):
    username: str


@with_config(_STRICT)
class UserStatusChanged(TypedDict):
    username: str
    status: str


@with_config(_STRICT)
class UserRolesChanged(TypedDict):
    username: str
    roles: list[str]


@with_config(_STRICT)
class ActorCreated(TypedDict):
    username: str
    kind: str


@with_config(_STRICT)
class ActorUpdated(TypedDict):
    username: str
    changed: list[str]


@with_config(_STRICT)
class ActorDeleted(TypedDict):
    username: str
    audience: list[str]  # actor ids of the remote followers and followed, who hear of the deletion


@with_config(_STRICT)
class ActorKeysCreated(TypedDict):
    rsa_public_pem: str
    ed25519_public_pem: str


@with_config(_STRICT)
class LedgerEntryPayload(TypedDict):
    """ledger.create, ledger.give, ledger.burn: the entry just written (object_id is its id too)."""

    entry: str  # ledger entry id
    kind: str  # create, give or burn
    type: str  # token type id
    token: str | None  # the unique token this entry moves, if any
    author: str  # actor id
    author_handle: str
    recipient: str | None  # actor id (local or remote); None for a burn
    recipient_handle: str | None
    amount: str  # decimal string in the type's units, as the API shows it


@with_config(_STRICT)
class LedgerFlagChanged(TypedDict):
    flag: str
    flags: list[str]
    by: str  # handle of who set or removed it


@with_config(_STRICT)
class TokenCreated(TypedDict):
    type: str
    owner: str  # actor id
    version: int
    content_hash: str


@with_config(_STRICT)
class TokenUpdated(TypedDict):
    version: int
    content_hash: str
    fields: NotRequired[list[str]]
    owner: NotRequired[str]  # actor id of the new owner, on a transfer
    agent: NotRequired[str]  # actor id of the agent whose report made the change
    agent_handle: NotRequired[str]
    report: NotRequired[str]  # agent report id
    moderator: NotRequired[str]  # actor id of the moderator who made the change
    moderator_handle: NotRequired[str]


@with_config(_STRICT)
class Versioned(TypedDict):
    version: int


@with_config(_STRICT)
class TypeCreated(TypedDict):
    name: str
    symbol: str


@with_config(_STRICT)
class FieldsChanged(TypedDict):
    fields: list[str]
    version: int


@with_config(_STRICT)
class SetCreated(TypedDict):
    name: str
    owner: str  # actor id
    parent: str | None
    links: list[str]
    version: int


@with_config(_STRICT)
class SetDeleted(TypedDict):
    version: int
    name: str


@with_config(_STRICT)
class SetTokensAdded(TypedDict):
    tokens: list[str]
    version: int


@with_config(_STRICT)
class SetTokenRemoved(TypedDict):
    token: str
    version: int


@with_config(_STRICT)
class MediaUploaded(TypedDict):
    token: str
    attribute: str
    content_type: str
    size: int
    sha256: str


@with_config(_STRICT)
class GroupCreated(TypedDict):
    name: str
    owner: str  # username


@with_config(_STRICT)
class GroupUpdated(TypedDict):
    name: str
    changes: dict[str, Any]


@with_config(_STRICT)
class GroupDeleted(TypedDict):
    name: str
    members_removed: int


@with_config(_STRICT)
class GroupMember(TypedDict):
    username: str
    role: str
    previous_role: NotRequired[str]
    left: NotRequired[bool]


@with_config(_STRICT)
class AgentGrantCreated(TypedDict):
    agent: str  # actor id
    token: str | None
    set: str | None
    needs_approval: bool


@with_config(_STRICT)
class AgentGrantDeleted(TypedDict):
    agent: str


@with_config(_STRICT)
class AgentReportDecided(TypedDict):
    agent: str  # actor id
    report: str  # agent report id
    fields: NotRequired[list[str]]


@with_config(_STRICT)
class AgentReportSent(TypedDict):
    token: str  # the token's URL on its owner's server
    fields: list[str]


@with_config(_STRICT)
class DelegationGranted(TypedDict):
    to: str
    scopes: list[str]


@with_config(_STRICT)
class ByUser(TypedDict):
    by: str


@with_config(_STRICT)
class OAuthApp(TypedDict):
    name: str


@with_config(_STRICT)
class OAuthGrant(TypedDict):
    user: str
    scopes: list[str]


@with_config(_STRICT)
class OAuthUser(TypedDict):
    user: str


@with_config(_STRICT)
class IdentityEvent(TypedDict):
    username: str
    acct: str
    actor: str


@with_config(_STRICT)
class WebhookCreated(TypedDict):
    url: str
    events: list[str]


@with_config(_STRICT)
class WebhookUpdated(TypedDict):
    fields: list[str]
    enabled: bool


@with_config(_STRICT)
class WebhookUrl(TypedDict):
    url: str


@with_config(_STRICT)
class WebhookDisabled(TypedDict):
    url: str
    reason: str


@with_config(_STRICT)
class ExportCreated(TypedDict):
    set: str
    tokens: int


@with_config(_STRICT)
class ImportCreated(TypedDict):
    export: str
    origin: str
    tokens: int


@with_config(_STRICT)
class SubscriptionCreated(TypedDict):
    follower: str  # the remote actor's URI
    owner: str  # our owner's actor URL


@with_config(_STRICT)
class FollowRequested(TypedDict):
    target: str  # handle
    state: str


@with_config(_STRICT)
class FollowUndone(TypedDict):
    target: str


@with_config(_STRICT)
class FollowReceived(TypedDict):
    follower: str  # the remote actor's URI
    state: str


@with_config(_STRICT)
class FederationSettingsChanged(TypedDict):
    manually_approves_followers: bool


@with_config(_STRICT)
class DomainBlocked(TypedDict):
    domain: str
    follows_ended: int


@with_config(_STRICT)
class DomainUnblocked(TypedDict):
    domain: str


@with_config(_STRICT)
class ActorBlocked(TypedDict):
    actor: str  # the remote actor's URI
    follows_ended: int


@with_config(_STRICT)
class ActorUnblocked(TypedDict):
    actor: str


# A job's events carry its operation and state, plus what the change was about
# (functional form: "from" is a keyword).
JobPayload = TypedDict(
    "JobPayload",
    {
        "operation": str,
        "state": str,
        "on_behalf_of": NotRequired[str | None],  # username
        "steps": NotRequired[list[str]],
        "by": NotRequired[str],
        "attempts": NotRequired[int],
        "from": NotRequired[str],
        "reason": NotRequired[str],
        "callback_attempts": NotRequired[int],
        "status": NotRequired[int | None],
    },
)
# with_config cannot decorate the functional form; pydantic reads the attribute the same way
JobPayload.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]  # pydantic reads it off a TypedDict

_JOB_EVENTS = (
    "queued", "running", "succeeded", "failed", "cancelled", "requeued", "deleted", "terminated", "state_set",
    "callback_delivered", "callback_failed", "callback_retrying",
)

@with_config(_STRICT)
class MarketLot(TypedDict):
    """market.lot.created|withdrawn|sold|unsold (object: the lot)."""

    lot: str
    kind: str  # fixed_price, offers, english_auction, dutch_auction or sealed_auction
    seller: str  # actor id
    item_type: str  # token type id
    item_amount: str  # decimal string
    tokens: list[str]  # unique tokens sold, by id
    price_type: str  # token type id


@with_config(_STRICT)
class MarketBid(TypedDict):
    """market.bid.placed|released|withdrawn (object: the bid): a bid or offer held, its hold given
    back, or an offer taken back by its bidder. Webhooks deliver it to the bidder alone."""

    lot: str
    bid: str
    kind: str  # bid or offer
    bidder: str  # actor id
    amount: str  # decimal string of the lot's price type
    entry: str  # the ledger entry that held (placed) or gave back (released) the payment


@with_config(_STRICT)
class MarketLotExtended(TypedDict):
    """market.lot.extended (object: the lot): a late bid moved an english auction's close (soft close)."""

    lot: str
    bid: str  # the bid that moved it
    previous_closes_at: str  # ISO 8601
    closes_at: str  # ISO 8601, the new closing time


@with_config(_STRICT)
class MarketSale(TypedDict):
    """market.sale (object: the lot): what was sold, to whom, for what; the award's entries."""

    lot: str
    seller: str  # actor id
    buyer: str  # actor id
    item_type: str
    item_amount: str
    tokens: list[str]
    price_type: str
    price: str
    entries: list[str]  # the award's ledger entries: item to the buyer, payment to the seller


@with_config(_STRICT)
class PoolChanged(TypedDict):
    """pool.created|subpool_created (object: the pool, or the sub-pool)."""

    pool: str
    parent: str | None  # a sub-pool's pool
    owner: str  # actor id
    type: str  # token type id
    capacity: str  # decimal string


@with_config(_STRICT)
class PoolBatch(TypedDict):
    """pool.batch.assigned|generated|failed (object: the batch): a quantity assigned to its owner,
    or a part of it generated (minted to the owner: `entries`)."""

    pool: str
    batch: str
    owner: str  # actor id of the batch's owner
    quantity: str  # decimal string: assigned, or generated now
    entries: list[str]  # the create entries generated now (none when assigned)


@with_config(_STRICT)
class NetworkEvent(TypedDict):
    """network.created (object: the network); network.discovery.started (object: the network)."""

    set: NotRequired[str]
    owner: NotRequired[str]
    parent: NotRequired[str]  # a subnetwork's parent network
    discovery: NotRequired[str]
    start: NotRequired[str]  # the handle or URL a discovery starts from


@with_config(_STRICT)
class DistributionEvent(TypedDict):
    """distribution.created|allocated (object: the distribution); distribution.allocation.claimed|expired
    (object: the allocation)."""

    distribution: str
    type: str
    amount: str  # decimal string: per entry, or of this allocation
    entries: NotRequired[int]
    actor_url: NotRequired[str]  # an allocation's identity
    to: NotRequired[str]  # actor id it went to (claimed: the user; expired: the distributor)
    entry: NotRequired[str]  # the ledger entry that moved it


@with_config(_STRICT)
class PoolReservation(TypedDict):
    """pool.reservation.created|claimed|cancelled|expired (object: the reservation)."""

    pool: str
    reservation: str
    actor: str  # actor id of the reserver
    quantity: str  # decimal string
    batch: NotRequired[str]  # claimed: the batch made for the reserver


@with_config(_STRICT)
class ContractEvent(TypedDict):
    """contract.* (object: the contract): every step of a contract's life, seen by both parties."""

    contract: str
    type: str  # the licensed type's id
    licensor: str  # actor id
    licensee: str  # actor id
    state: str  # the contract's state after the event
    amount: NotRequired[str]  # a payment asked or taken (decimal string of the payment type)
    owed: NotRequired[str]  # what a derivation or a mint added to what is owed
    units: NotRequired[str]  # units minted of a derived type
    minted_type: NotRequired[str]  # the derived type minted
    derived_type: NotRequired[str]  # a type derived on another server (its URL), under this contract
    entry: NotRequired[str]  # the payment's ledger entry
    reason: NotRequired[str]  # an admin's reason
    effective_at: NotRequired[str]  # a cancellation takes effect then (ISO 8601)
    fields: NotRequired[list[str]]  # the terms an admin changed


@with_config(_STRICT)
class OrganizationEvent(TypedDict):
    """organization.* (object: the organization): its creation, members and shares."""

    organization: str
    name: NotRequired[str]  # created: the organization's handle
    username: NotRequired[str]  # the member added, removed, whose role changed or who got shares
    actor: NotRequired[str]  # member.added: the member's actor id (a remote member is told: federation/org_votes.py)
    role: NotRequired[str]
    amount: NotRequired[str]  # shares issued (whole shares)
    rule: NotRequired[str]  # rules_changed: shares or signers, and the rest of the rules as they are now
    threshold: NotRequired[int]
    quorum_percent: NotRequired[int]
    voting_seconds: NotRequired[int]
    signers: NotRequired[list[str]]


@with_config(_STRICT)
class ProposalEvent(TypedDict):
    """organization.proposal.* (object: the proposal): opened, voted, and how it was decided."""

    organization: str
    proposal: str
    deadline: NotRequired[str]  # opened (ISO 8601)
    username: NotRequired[str]  # voted: who
    choice: NotRequired[str]  # voted: yes, no or abstain
    outcome: NotRequired[str]  # decided: passed, no-quorum, not-a-majority, not-enough-signers
    code: NotRequired[str]  # failed: the failing step's problem code


@with_config(_STRICT)
class StoreEvent(TypedDict):
    """store.created|updated|staff.added|staff.removed (object: the store)."""

    store: str
    organization: str  # the organization's id
    slug: str
    username: NotRequired[str]  # staff: who
    role: NotRequired[str]  # staff: manager or salesman
    fields: NotRequired[list[str]]  # updated: what changed


@with_config(_STRICT)
class StoreItemEvent(TypedDict):
    """store.item.created|updated (object: the item)."""

    store: str
    item: str
    type: str  # the item's token type id
    fields: NotRequired[list[str]]  # updated: what changed
    stock_added: NotRequired[str]  # units minted into stock


@with_config(_STRICT)
class StoreCollectionEvent(TypedDict):
    """store.collection.created|updated|deleted (object: the collection)."""

    store: str
    collection: str
    name: str
    items: NotRequired[list[str]]  # created, updated: the item ids, in order
    fields: NotRequired[list[str]]  # updated: what changed


@with_config(_STRICT)
class StoreOrderEvent(TypedDict):
    """store.order.<state> (object: the order): each move of an order, by whom, with the note."""

    store: str
    order: str
    state: str
    by: str | None  # username of who moved it; None when the deadline did
    note: str
    total: str  # decimal string of the price type
    resolution: NotRequired[str]  # issue_resolved: refund or replacement
    rating: NotRequired[int]  # feedback


@with_config(_STRICT)
class PromotionCampaignEvent(TypedDict):
    """promotion.campaign.<move> (object: the campaign): created, started, paused, resumed, ended,
    and a promoter joining or leaving."""

    store: str
    campaign: str
    state: str
    by: str | None  # username of who did it; None when the machine ended it
    reason: NotRequired[str]  # ended: why (the end time, the budget spent, the store)


@with_config(_STRICT)
class ContractOfferEvent(TypedDict):
    """contract.offer.created|withdrawn (object: the offer)."""

    offer: str
    type: str
    licensor: str


@with_config(_STRICT)
class WatcherFired(TypedDict):
    """watcher.fired (object: the watcher; actor: its owner, who alone sees it)."""

    watcher: str
    name: str
    kind: str  # tokens, balance, ledger or lots
    fire_on: str  # hit, empty or change
    count: int  # how many things the result holds
    items: list[str]  # the first ids (tokens, entries, lots) or the balance
    firing: str  # the firing's id
    job: str | None  # the chain queued, if the watcher has one


@with_config(_STRICT)
class AssignmentEvent(TypedDict):
    """moderation.assignment.created|revoked (object: the assignment)."""

    moderator: str  # actor id
    type: str | None
    set: str | None
    attributes: list[str]  # empty: every attribute
    can_edit: bool


@with_config(_STRICT)
class TokenModerated(TypedDict):
    """moderation.token_edited (object: the token); the change itself is its token.updated."""

    moderator: str  # actor id
    owner: str  # actor id
    fields: list[str]
    version: int
    reason: str


@with_config(_STRICT)
class OwnershipChanged(TypedDict):
    """admin.ownership_changed (object: the token, type or set)."""

    object_type: str
    owner: str  # actor id, before
    new_owner: str  # actor id
    reason: str


@with_config(_STRICT)
class BoardEvent(TypedDict):
    """board.created|updated|member.*|invite.*|ban.* (object: the board); member.requested: one of our
    users asked to join a board of another server (its group answers with Accept or Reject)."""

    board: str
    kind: NotRequired[str]  # created
    visibility: NotRequired[str]  # created
    fields: NotRequired[list[str]]  # updated: what changed
    username: NotRequired[str]  # member, ban: whom
    how: NotRequired[str]  # joined: joined or invite; role: the new role; ban: the reason
    invite: NotRequired[str]  # invite: its id
    follow: NotRequired[str]  # member.requested, and member.left on a board of another server: the Follow's id


@with_config(_STRICT)
class BoardEntryEvent(TypedDict):
    """board.entry.created|edited|deleted|voted (object: the entry)."""

    board: str
    entry: str
    parent: str | None  # the entry replied to
    author: str  # actor id of who did it (the author; for a deletion, maybe a moderator)
    version: NotRequired[int]  # edited
    value: NotRequired[int]  # voted: 1 up, -1 down, 0 taken back


# --- the declaration: every event name and its payload type --------------------------------

EVENTS: dict[str, Any] = {
    "user.registered": UserNamed,
    "user.frozen": UserStatusChanged,
    "user.unfrozen": UserStatusChanged,
    "user.deleted": UserStatusChanged,
    "user.token_regenerated": UserNamed,
    "user.password_changed": UserNamed,  # with the current password, or by an emailed reset link
    "user.email_changed": UserNamed,
    "user.email_verified": UserNamed,
    "user.roles_changed": UserRolesChanged,
    "actor.created": ActorCreated,
    "actor.updated": ActorUpdated,
    "actor.deleted": ActorDeleted,
    "actor.keys_created": ActorKeysCreated,
    "ledger.create": LedgerEntryPayload,
    "ledger.give": LedgerEntryPayload,
    "ledger.burn": LedgerEntryPayload,
    "ledger.flagged": LedgerFlagChanged,
    "ledger.unflagged": LedgerFlagChanged,
    "token.created": TokenCreated,
    "token.updated": TokenUpdated,
    "token.deleted": Versioned,
    "type.created": TypeCreated,
    "type.updated": FieldsChanged,
    "type.deleted": Versioned,
    "set.created": SetCreated,
    "set.updated": FieldsChanged,
    "set.deleted": SetDeleted,
    "set.tokens_added": SetTokensAdded,
    "set.token_removed": SetTokenRemoved,
    "media.uploaded": MediaUploaded,
    "group.created": GroupCreated,
    "group.updated": GroupUpdated,
    "group.deleted": GroupDeleted,
    "group.member_added": GroupMember,
    "group.member_role_changed": GroupMember,
    "group.member_removed": GroupMember,
    "agent.grant.created": AgentGrantCreated,
    "agent.grant.deleted": AgentGrantDeleted,
    "agent.report.pending": AgentReportDecided,
    "agent.report.applied": AgentReportDecided,
    "agent.report.rejected": AgentReportDecided,
    "agent.report.sent": AgentReportSent,
    "delegation.granted": DelegationGranted,
    "delegation.revoked": ByUser,
    "oauth.app_registered": OAuthApp,
    "oauth.authorized": OAuthGrant,
    "oauth.token_issued": OAuthGrant,
    "oauth.access_revoked": OAuthUser,
    "identity.linked": IdentityEvent,
    "identity.unlinked": IdentityEvent,
    "webhook.created": WebhookCreated,
    "webhook.updated": WebhookUpdated,
    "webhook.deleted": WebhookUrl,
    "webhook.disabled": WebhookDisabled,
    "webhook_secret.created": Empty,
    "webhook_secret.rotated": Empty,
    "export.created": ExportCreated,
    "import.created": ImportCreated,
    "subscription.created": SubscriptionCreated,
    "follow.requested": FollowRequested,
    "follow.undone": FollowUndone,
    "follow.accepted": Empty,
    "follow.rejected": Empty,
    "follow.received": FollowReceived,
    "federation.settings_changed": FederationSettingsChanged,
    "federation.domain_blocked": DomainBlocked,
    "federation.domain_unblocked": DomainUnblocked,
    "federation.actor_blocked": ActorBlocked,
    "federation.actor_unblocked": ActorUnblocked,
    "market.lot.created": MarketLot,
    "market.lot.withdrawn": MarketLot,
    "market.lot.sold": MarketLot,
    "market.lot.unsold": MarketLot,
    "market.bid.placed": MarketBid,
    "market.bid.released": MarketBid,
    "market.bid.withdrawn": MarketBid,
    "market.lot.extended": MarketLotExtended,
    "market.sale": MarketSale,
    "pool.created": PoolChanged,
    "pool.subpool_created": PoolChanged,
    "pool.batch.assigned": PoolBatch,
    "pool.batch.generated": PoolBatch,
    "pool.batch.failed": PoolBatch,
    "pool.reservation.created": PoolReservation,
    "pool.reservation.claimed": PoolReservation,
    "pool.reservation.cancelled": PoolReservation,
    "pool.reservation.expired": PoolReservation,
    "moderation.assignment.created": AssignmentEvent,
    "moderation.assignment.revoked": AssignmentEvent,
    "moderation.token_edited": TokenModerated,
    "admin.ownership_changed": OwnershipChanged,
    "contract.offer.created": ContractOfferEvent,
    "contract.offer.withdrawn": ContractOfferEvent,
    **{f"contract.{name}": ContractEvent for name in (
        "accepted", "derived", "owed", "paid", "payment_missed", "suspended", "restored", "cancel_given",
        "cancelled", "ended", "terms_changed",
    )},
    "watcher.fired": WatcherFired,
    **{f"board.{name}": BoardEvent for name in (
        "created", "updated", "member.joined", "member.requested", "member.left", "member.role", "invite.created",
        "invite.revoked",
        "ban.created", "ban.lifted",
    )},
    **{f"board.entry.{name}": BoardEntryEvent for name in ("created", "edited", "deleted", "voted")},
    **{f"organization.{name}": OrganizationEvent for name in (
        "created", "member.added", "member.removed", "member.role", "shares.issued", "rules_changed",
    )},
    **{f"organization.proposal.{name}": ProposalEvent for name in ("opened", "voted", "executed", "rejected", "failed")},
    **{f"store.{name}": StoreEvent for name in ("created", "updated", "staff.added", "staff.removed")},
    **{f"store.item.{name}": StoreItemEvent for name in ("created", "updated")},
    **{f"store.collection.{name}": StoreCollectionEvent for name in ("created", "updated", "deleted")},
    **{f"store.order.{name}": StoreOrderEvent for name in (
        "basket", "ordered", "paid", "fulfilled", "delivered", "closed", "issue_opened", "issue_resolved", "cancelled",
        "feedback",
    )},
    "network.created": NetworkEvent,
    "network.discovery.started": NetworkEvent,
    **{f"distribution.{name}": DistributionEvent for name in ("created", "allocated")},
    **{f"distribution.allocation.{name}": DistributionEvent for name in ("claimed", "expired")},
    **{f"promotion.campaign.{name}": PromotionCampaignEvent for name in (
        "created", "started", "paused", "resumed", "ended", "joined", "left",
    )},
    **{f"job.{name}": JobPayload for name in _JOB_EVENTS},
}


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(EVENTS[name])


def check_payload(name: str, payload: Any) -> None:
    """Refuse an undeclared event name or a payload that does not match the name's type."""
    if name not in EVENTS:
        raise EventPayloadError(f"event {name!r} is not declared in models/events.py")
    try:
        _adapter(name).validate_python(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'payload'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise EventPayloadError(f"the payload of event {name!r} does not match its declaration: {problems}") from None


@pre_save(Event)
async def _check_before_save(sender: type[Event], instance: Event, using_db: Any, update_fields: Any) -> None:
    """Events created through the ORM (not Context.emit) are checked as well."""
    check_payload(instance.name, instance.payload)
