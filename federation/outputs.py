"""Output models of the federation operations (what they answer; see models/outputs.py).

They live apart from the protocol code so that a view and its model are read side by side:
each class names the function whose dict it documents.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from models.outputs import CopyOut, Document, ImportOut, Output, Timestamp

__all__ = [
    "ActivityDocument",
    "ActorBlockOut",
    "ActorDocument",
    "CollectionDocument",
    "CopyVerdictOut",
    "DomainBlockOut",
    "ExportOut",
    "FederationSettingsOut",
    "HoldingsOut",
    "ImportedOut",
    "InboxActivityOut",
    "LookupOut",
    "NodeInfoDocument",
    "ObjectDocument",
    "OutgoingDeliveryOut",
    "PruneOut",
    "RemoteFollowOut",
    "RemoteObjectOut",
    "SentReportOut",
    "VerifyAnswerDocument",
    "WebFingerDocument",
]


class DomainBlockOut(Output):
    """federation/blocks.py _view: a remote domain's health and block."""

    domain: str
    blocked: bool
    unavailable: bool
    failure_days: list[Any]
    updated_at: Timestamp


class ActorBlockOut(Output):
    """federation/blocks.py _actor_view."""

    id: str
    actor: str = Field(description="the blocked actor's id (URL)")
    created_at: Timestamp


class OutgoingDeliveryOut(Output):
    """federation/delivery.py list_deliveries: one activity to one inbox."""

    id: str
    activity: str
    inbox: str
    domain: str
    state: str
    attempts: int
    next_attempt_at: Timestamp
    last_status: int | None
    last_error: str | None
    delivered_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp




class LookupOut(Output):
    """federation/follows.py lookup."""

    handle: str
    uri: str
    name: str
    summary: str = Field(description="sanitised HTML")
    kind: str
    local: bool


class RemoteFollowOut(Output):
    location: str = Field(description="the visitor's own server's page to confirm the follow")


class FederationSettingsOut(Output):
    manually_approves_followers: bool


class HoldingEntryOut(Output):
    entry: str = Field(description="the origin's entry that gave you these units")
    amount: str
    remaining: str = Field(description="what the origin has not spent of it for you yet")
    from_: str | None = Field(alias="from", description="the giver's handle")
    received_at: Timestamp


class HoldingOut(Output):
    type: str = Field(description="the remote type's URL")
    symbol: str | None
    origin: str = Field(description="the server that keeps this type's ledger")
    amount: str = Field(description="what you hold: received - given - burnt")
    balance: str = Field(description="the same as amount")
    received: str
    given: str = Field(description="given onward, as the origin recorded it")
    burnt: str
    pending: str = Field(description="asked of the origin, not answered yet (still counted in the balance)")
    entries: list[HoldingEntryOut]


class HoldingsOut(Output):
    """federation/remote_gives.py holdings."""

    items: list[HoldingOut]


class RemoteObjectOut(Output):
    """federation/inbox.py remote_objects."""

    id: str
    uri: str
    type: str
    owner: str | None = Field(description="handle")
    document: Any
    created_at: Timestamp
    updated_at: Timestamp


class InboxActivityOut(Output):
    """federation/inbox.py inbox_list."""

    id: str
    activity: str
    type: str
    actor: str
    state: str
    outcome: str | None  # what processing did
    last_error: str | None  # why the last try failed ("gave up after N tries: ..." once it stopped)
    payload: Any
    created_at: Timestamp
    updated_at: Timestamp








class NotFollowingOut(Output):
    actor: str
    reason: str


class ImportedOut(ImportOut):
    """A new import, and which of its actors are now followed (for later changes)."""

    following: list[str]
    not_following: list[NotFollowingOut]


class CopyVerdictOut(Output):
    """federation/imports.py verify_copy."""

    verdict: str
    detail: str | None
    origin_version: int | None
    refreshed: bool
    refresh_problem: str | None
    copy_: CopyOut = Field(alias="copy")


class ExportOut(Output):
    """federation/exports.py _summary."""

    id: str
    set: str
    token_count: int
    url: str
    created_at: Timestamp


class SentDeliveryOut(Output):
    state: str
    attempts: int
    last_status: int | None


class SentReportOut(Output):
    """federation/agent_reports.py _sent_view."""

    id: str
    token: str
    owner: str
    activity: str
    attributes: dict[str, Any]
    version: int | None
    note: str
    state: str
    detail: str
    delivery: SentDeliveryOut | None
    created_at: Timestamp
    decided_at: Timestamp


class PruneOut(Output):
    inbox_activities: int
    deliveries: int
    more: bool


class VerifyAnswerDocument(Document):
    """A signed verification answer (federation/verify_service.py, models/verify_answers.py)."""

    type: str
    origin: str
    token: str | None
    question: Any
    answered_at: Timestamp
    verdict: str


class ActorDocument(Document):
    """An ActivityPub actor (Person or Application)."""

    id: str
    type: str


class ObjectDocument(Document):
    """The ActivityPub form of a token, type, set or ledger entry."""

    id: str
    type: str


class ActivityDocument(Document):
    id: str
    type: str


class CollectionDocument(Document):
    """An ActivityStreams collection (outbox, followers, following)."""

    id: str
    type: str


class WebFingerDocument(Document):
    """RFC 7033 JRD."""

    subject: str
    links: list[dict[str, Any]]


class NodeInfoDocument(Document):
    version: str
