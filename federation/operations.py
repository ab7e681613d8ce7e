"""Import this to register every operation: the domain ones (models.operations) and those
that live in federation because they touch keys, documents or the network."""

import models.operations  # noqa: F401
from . import actors, callbacks, follows, inbox, integrity, outbox, verification  # noqa: F401
