"""Import this to register every operation: the domain ones (models.operations) and those
that live in federation because they touch keys, documents or the network."""

import models.operations  # noqa: F401
from . import actors, callbacks, exports, follows, imports, inbox, integrity, outbox, verification  # noqa: F401
