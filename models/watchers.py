"""Watchers (issue 19, item 5): a user's saved query with a schedule, a fire-on rule and an action.

A watcher is checked by the WATCHER_CHECKS machine (models/machines.py): one `WatcherCheck` row
per enabled watcher, due at its next check; the handler (models/operations/watchers.py
`run_check`) evaluates the query, maybe fires, and writes the next row, in one transaction.
`last_digest` is the digest of the last result, `fired_digest` that of the state it last fired
on, so a watcher never fires twice for one state. Firings keep the last FIRINGS_KEPT rows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:
    from .actors import User

__all__ = ["CheckState", "FIRINGS_KEPT", "FireOn", "WatchKind", "Watcher", "WatcherCheck", "WatcherFiring"]

FIRINGS_KEPT = 10


class WatchKind(StrEnum):
    TOKENS = "tokens"  # tokens of a set matching set-search filters (eq, range, regex on RE2)
    BALANCE = "balance"  # an actor's balance of a type above or below an amount
    LEDGER = "ledger"  # gives of a type to an actor since the watcher was made
    LOTS = "lots"  # open lots of a type that close within N minutes


class FireOn(StrEnum):
    HIT = "hit"  # the result is not empty
    EMPTY = "empty"  # the result is empty
    CHANGE = "change"  # the result differs from the last check's


class Watcher(Entity):
    owner_id: str
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="watchers", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    kind = fields.CharField(max_length=12)
    query: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    every_seconds = fields.IntField()
    fire_on = fields.CharField(max_length=8)
    chain: fields.JSONField[list[dict[str, Any]] | None] = fields.JSONField(null=True)  # job steps queued on a firing
    enabled = fields.BooleanField(default=True)
    expires_at = fields.DatetimeField(null=True)
    last_checked_at = fields.DatetimeField(null=True)
    last_digest = fields.CharField(max_length=64, null=True)
    last_count = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, null=True)  # why the last check could not evaluate
    fired_digest = fields.CharField(max_length=64, null=True)
    fired_count = fields.IntField(default=0)
    last_fired_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)

    class Meta:
        app = APP
        table = "watchers"
        indexes = (("owner_id",),)


class WatcherFiring(Entity):
    """One firing: the state it fired on (count and the first ids), and the job it queued."""

    watcher_id: str
    watcher: fields.ForeignKeyRelation[Watcher] = fields.ForeignKeyField(
        f"{APP}.Watcher", related_name="firings", on_delete=fields.CASCADE
    )
    digest = fields.CharField(max_length=64)
    count = fields.IntField()
    items: fields.JSONField[list[str]] = fields.JSONField(default=list)
    job_id = fields.CharField(max_length=26, null=True)

    class Meta:
        app = APP
        table = "watcher_firings"
        indexes = (("watcher_id", "id"),)


class CheckState(StrEnum):
    PENDING = "pending"  # due at next_at
    DONE = "done"
    FAILED = "failed"


class WatcherCheck(Durable, Entity):
    """The next check of a watcher: a row of the WATCHER_CHECKS machine, due at its time."""

    watcher_id: str
    watcher: fields.ForeignKeyRelation[Watcher] = fields.ForeignKeyField(
        f"{APP}.Watcher", related_name="checks", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "watcher_checks"
        indexes = (("state", "next_at"), ("watcher_id", "state"))
