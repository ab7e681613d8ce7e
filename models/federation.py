"""Federation tables: the key pairs each local actor signs with.

Keys are made lazily the first time an actor is published or signs something; the unique
actor column makes concurrent first fetches agree on one pair.
"""

from __future__ import annotations

from tortoise import fields

from .actors import Actor
from .base import APP, Entity

__all__ = ["ActorKey"]


class ActorKey(Entity):
    """RSA and Ed25519 key pairs of a local actor, stored as PEM text"""

    actor: fields.OneToOneRelation[Actor] = fields.OneToOneField(f"{APP}.Actor", related_name="keys", on_delete=fields.CASCADE)
    rsa_private_pem = fields.TextField()
    rsa_public_pem = fields.TextField()
    ed25519_private_pem = fields.TextField()
    ed25519_public_pem = fields.TextField()

    class Meta:
        app = APP
        table = "actor_keys"
