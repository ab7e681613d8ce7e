"""Outgoing mail: one row per message, sent by the MAIL machine (models/machines.py).

An operation queues a message in its own transaction (`queue_mail`), so a message exists
exactly when what it tells of was committed, and a process killed before sending loses
nothing: the engine's runner claims due rows under a lease and federation/mail.py sends them
over SMTP with no transaction open. Failures retry with the shared backoff.

A message may carry a link with a secret (verification, password reset). The secret is kept
hashed in models/email_links.py; its only clear copy is this row's body, which is wiped when
the message is sent or given up, so the table never keeps usable links for long.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity
from .engine import MACHINES, Durable

if TYPE_CHECKING:
    from .actors import User

__all__ = ["MailState", "OutgoingMail", "WIPED", "queue_mail"]

WIPED = "(removed once the message left: it may have held a link)"


class MailState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # the server refused it for good, or out of tries
    UNSENT = "unsent"  # no SMTP server is configured ([mail] host), or its link expired first


class OutgoingMail(Durable, Entity):
    """One message to one address, with its tries (the Durable columns belong to the engine)."""

    state = fields.CharField(max_length=16, default=MailState.PENDING.value)
    user_id: str | None
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="mail", on_delete=fields.SET_NULL, null=True
    )
    to_address = fields.CharField(max_length=254)
    purpose = fields.CharField(max_length=32)  # verify-email, reset-password, password-changed, email-changed
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    expires_at = fields.DatetimeField(null=True)  # a message whose link expired first is not sent
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "outgoing_mail"
        indexes = (("state", "next_at"), ("user_id",))


async def queue_mail(
    to_address: str, subject: str, body: str, *, purpose: str, user: User | None = None,
    expires_at: datetime | None = None,
) -> OutgoingMail:
    """Queue one message in the caller's transaction; the MAIL machine sends it after commit."""
    mail = await OutgoingMail.create(
        user_id=user.id if user is not None else None, to_address=to_address, purpose=purpose,
        subject=subject, body=body, expires_at=expires_at,
    )
    MACHINES.wake("mail.outgoing")  # a runner in this process looks at once (it finds the row after commit)
    return mail
