"""Import this to register every operation: the domain ones (models.operations) and those
that live in federation because they touch keys, documents or the network."""

import models.operations  # noqa: F401
from . import (  # noqa: F401
    actors, blocks, callbacks, credits, delivery, exports, follows, imports, inbox, integrity, outbox, pruning,
    verification, webhooks,
)
