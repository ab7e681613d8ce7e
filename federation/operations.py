"""Import this to register every operation: the domain ones (models.operations) and those
that live in federation because they touch keys, documents or the network."""

import models.operations  # noqa: F401

from . import (  # noqa: F401
    actors,
    blocks,
    callbacks,
    delivery,
    exports,
    follows,
    imports,
    inbox,
    outbox,
    pruning,
    remote_gives,
    signed_objects,
    verify_service,
    webhooks,
)
