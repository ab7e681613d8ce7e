"""Organizations (issue 19, items 1-3): actors of their own with members, a shared wallet,
a share type, and proposals that run a chain of operations as the organization.

An organization is an `Actor` (kind "Organization"): ledger outputs name it like any owner,
and nobody spends its wallet directly. It issues one fungible share type; a member's voting
weight is their share balance when a proposal opens, kept in that proposal's `Voter` rows so
shares given away during the vote do not count twice.

A proposal is a row of the ORGANIZATION_PROPOSALS machine (models/machines.py), due at its
deadline. The handler tallies the votes and, if the proposal passed, runs its chain as the
organization in the same transaction as the row's move out of `open`: a restart between the
deadline and the run runs it once, and a chain that fails changes nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor, User
    from .federation import RemoteObject
    from .tokens import TokenType

__all__ = [
    "Choice", "MemberRole", "OrgMember", "Organization", "ORGANIZATION_KIND", "Proposal", "ProposalState",
    "RemoteBallot", "Rule", "Voter",
]

ORGANIZATION_KIND = "Organization"  # Actor.kind, and the ActivityPub actor type


class MemberRole(StrEnum):
    OWNER = "owner"  # the creator: everything an admin may, and changing admins
    ADMIN = "admin"  # adds and removes members, issues shares
    MEMBER = "member"  # proposes and votes


class Rule(StrEnum):
    """How an organization decides a proposal."""

    SHARES = "shares"  # a majority of the shares cast, with a quorum, at the deadline
    SIGNERS = "signers"  # M of its N named signers approve (one each, like a Safe): it runs then


class Organization(Entity):
    actor_id: str
    actor: fields.OneToOneRelation[Actor] = fields.OneToOneField(
        f"{APP}.Actor", related_name="organization", on_delete=fields.RESTRICT
    )
    created_by_id: str
    created_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="organizations_created", on_delete=fields.RESTRICT
    )
    share_type_id: str | None
    share_type: fields.ForeignKeyNullableRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="organizations", null=True, on_delete=fields.RESTRICT
    )
    quorum_percent = fields.IntField(default=50)  # shares that voted (any choice), of all members' shares
    voting_seconds = fields.IntField(default=3 * 86400)  # a proposal's deadline is this long after it opens
    rule = fields.CharField(max_length=8, default=Rule.SHARES.value, db_default=Rule.SHARES.value)
    threshold = fields.IntField(default=1, db_default=1)  # M: the signers' approvals a proposal needs (rule "signers")

    class Meta:
        app = APP
        table = "organizations"


class OrgMember(Entity):
    organization_id: str
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        f"{APP}.Organization", related_name="members", on_delete=fields.CASCADE
    )
    actor_id: str  # who the member is: a local user's actor, or a remote actor (issue 19 item 4)
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="organization_memberships", on_delete=fields.CASCADE
    )
    user_id: str | None  # the local user, or None for a member on another server
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="organization_memberships", on_delete=fields.CASCADE, null=True
    )
    role = fields.CharField(max_length=8, default=MemberRole.MEMBER.value)
    signer = fields.BooleanField(default=False, db_default=False)  # one of the N named signers (rule "signers")

    class Meta:
        app = APP
        table = "organization_members"
        unique_together = (("organization", "user"), ("organization", "actor"))
        indexes = (("user_id",), ("actor_id",))


class ProposalState(StrEnum):
    OPEN = "open"  # votes are taken until the deadline (next_at)
    EXECUTED = "executed"  # passed, and its chain ran as the organization
    REJECTED = "rejected"  # no quorum, not a majority of the shares cast, or not enough signers (outcome)
    FAILED = "failed"  # passed, but its chain failed: nothing changed (error says why)


class Choice(StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class Proposal(Durable, Entity):
    """A chain to run as the organization if the members' shares approve it by the deadline."""

    organization_id: str
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        f"{APP}.Organization", related_name="proposals", on_delete=fields.CASCADE
    )
    proposer_id: str
    proposer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="proposals", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    steps: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)  # the chain format of jobs.submit
    deadline = fields.DatetimeField()
    quorum_percent = fields.IntField()  # the organization's rules when it opened
    rule = fields.CharField(max_length=8, default=Rule.SHARES.value, db_default=Rule.SHARES.value)
    threshold = fields.IntField(null=True)  # M, under the signers rule (its voters are the signers, one share each)
    total_shares = fields.BigIntField(default=0)  # all voters' snapshotted shares (minor units; signers: N)
    yes = fields.BigIntField(default=0)  # the tally at the deadline
    no = fields.BigIntField(default=0)
    abstain = fields.BigIntField(default=0)
    outcome = fields.CharField(max_length=32, null=True)  # passed, no-quorum, not-a-majority, not-enough-signers
    results: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)  # each step's result
    error: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)  # why the chain failed
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "organization_proposals"
        indexes = (("organization_id", "state"), ("state", "next_at"))


class Voter(Entity):
    """A member's weight on one proposal, snapshotted when it opened, and their current vote."""

    # Under the signers rule: one row per named signer, with weight 1.

    proposal_id: str
    proposal: fields.ForeignKeyRelation[Proposal] = fields.ForeignKeyField(
        f"{APP}.Proposal", related_name="voters", on_delete=fields.CASCADE
    )
    actor_id: str  # the voter: a local user's actor, or a remote member's
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="proposal_votes", on_delete=fields.CASCADE
    )
    user_id: str | None  # the local user, or None for a voter on another server
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="proposal_votes", on_delete=fields.CASCADE, null=True
    )
    shares = fields.BigIntField()  # minor units of the share type
    choice = fields.CharField(max_length=8, null=True)  # null: has not voted
    voted_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "organization_voters"
        unique_together = (("proposal", "user"), ("proposal", "actor"))


class RemoteBallot(Entity):
    """A local user's ballot on a proposal of an organization on another server.

    The proposal (a `Question` copy) was addressed to them; `choice` is what they last sent
    (a signed Note, as a Mastodon poll vote)."""

    copy_id: str
    copy: fields.ForeignKeyRelation[RemoteObject] = fields.ForeignKeyField(
        f"{APP}.RemoteObject", related_name="ballots", on_delete=fields.CASCADE
    )
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="remote_ballots", on_delete=fields.CASCADE
    )
    choice = fields.CharField(max_length=8, null=True)  # null: has not voted from here
    voted_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "organization_remote_ballots"
        unique_together = (("copy", "actor"),)
        indexes = (("actor_id", "id"),)
