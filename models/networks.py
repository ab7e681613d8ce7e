"""Networks (issue 21, items 3 and 4): people elsewhere who might become users, as tokens.

A **network** is a token set (models/sets.py) whose tokens are *network entries*: one unique
token per external account (a fediverse actor), of the owner's built-in `network-entry` type,
owned by the user who discovered it. The `networks` row says which set is a network, which
type its entries are, and, for a **subnetwork**, the parent network and the filter (a set
search) that chose its members; the subnetwork's set names the parent's set as its parent.
`network_entries` keeps one row per (network, actor URL), so an account is in a network once
and a distribution (models/distributions.py) can read the actor URLs without parsing tokens.

A **discovery** is a row of the machine networks.discoveries (models/machines.py): it reads an
actor's followers/following collections page by page through a discovery plugin
(federation/discovery.py) and adds an entry per account found; its counters are the progress
its page shows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor
    from .sets import TokenSet
    from .tokens import Token, TokenType

__all__ = [
    "ENTRY_ATTRIBUTES", "ENTRY_TYPE_NAME", "Discovery", "DiscoveryState", "Network", "NetworkEntry",
]

ENTRY_TYPE_NAME = "network-entry"  # each user's built-in type of network entries

# The attributes of a network entry (AttributeDef shapes, models/attributes.py): what a filter
# (set search) can choose members by.
ENTRY_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "handle", "type": "string", "description": "name@server"},
    {"name": "actor_url", "type": "url", "description": "the account's ActivityPub id"},
    {"name": "display_name", "type": "string"},
    {"name": "discovered_by", "type": "string", "description": "who found it, and how"},
    {"name": "followers_count", "type": "integer", "description": "its followers, as its server counts them"},
    {"name": "instance", "type": "string", "description": "the server it lives on"},
    {"name": "tags", "type": "string", "description": "words, separated by commas"},
]


class Network(Entity):
    set_id: str
    set: fields.OneToOneRelation[TokenSet] = fields.OneToOneField(
        f"{APP}.TokenSet", related_name="network", on_delete=fields.RESTRICT
    )
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="networks", on_delete=fields.RESTRICT
    )
    entry_type_id: str
    entry_type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="networks", on_delete=fields.RESTRICT
    )
    parent_id: str | None  # a subnetwork: the network it was filtered from
    parent: fields.ForeignKeyNullableRelation[Network] = fields.ForeignKeyField(
        f"{APP}.Network", related_name="subnetworks", null=True, on_delete=fields.RESTRICT
    )
    # a subnetwork: the set-search filters (models/set_search.py SearchFilter) that chose its members
    filters: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)

    class Meta:
        app = APP
        table = "networks"
        indexes = (("owner_id",), ("parent_id",))


class NetworkEntry(Entity):
    """One external account in one network: the token that stands for it, and its actor URL."""

    network_id: str
    network: fields.ForeignKeyRelation[Network] = fields.ForeignKeyField(
        f"{APP}.Network", related_name="entries", on_delete=fields.CASCADE
    )
    token_id: str
    token: fields.ForeignKeyRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="network_entries", on_delete=fields.CASCADE
    )
    actor_url = fields.CharField(max_length=2048)
    handle = fields.CharField(max_length=300, default="")

    class Meta:
        app = APP
        table = "network_entries"
        unique_together = (("network", "actor_url"),)
        indexes = (("actor_url",),)


class DiscoveryState(StrEnum):
    PENDING = "pending"  # waiting to start (or to try again after the other server was down)
    RUNNING = "running"
    DONE = "done"  # read all it could; `note` says why it stopped early (hidden, a limit)
    FAILED = "failed"  # could not start or go on (refused address, no such account)


class Discovery(Durable, Entity):
    """Reading an account's followers/following into a network: a row of networks.discoveries."""

    network_id: str
    network: fields.ForeignKeyRelation[Network] = fields.ForeignKeyField(
        f"{APP}.Network", related_name="discoveries", on_delete=fields.CASCADE
    )
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="discoveries", on_delete=fields.RESTRICT
    )
    plugin = fields.CharField(max_length=64, default="fediverse")
    start = fields.CharField(max_length=2048)  # the handle or actor URL it starts from
    actor_url = fields.CharField(max_length=2048, null=True)  # the start, resolved
    # what to read, in order; done ones are dropped as it goes
    collections: fields.JSONField[list[str]] = fields.JSONField(default=list)
    next_url = fields.CharField(max_length=2048, null=True)  # the page to read next in collections[0]
    pages = fields.IntField(default=0)  # pages read
    found = fields.IntField(default=0)  # entries added (new to the network)
    seen = fields.IntField(default=0)  # accounts listed (new or already in the network)
    skipped = fields.IntField(default=0)  # accounts whose profile could not be read
    note = fields.CharField(max_length=500, null=True)  # how it ended, in words

    class Meta:
        app = APP
        table = "network_discoveries"
        indexes = (("state", "next_at"), ("network_id",))
