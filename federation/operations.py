"""Import this to register every operation: the domain ones (models.operations) and those
that live in federation because they touch keys, documents or the network; and the engine's
machines and pumps declared here (webhooks: deliveries and the fan-out pump; callbacks: the
handler of the jobs.callbacks machine)."""

import models.operations  # noqa: F401

from . import (  # noqa: F401
    actors,
    backfill,
    blocks,
    board_events,
    callbacks,
    delivery,
    discovery,
    exports,
    follows,
    imports,
    inbox,
    mail,
    onward,
    org_votes,
    outbox,
    pruning,
    remote_bids,
    remote_contracts,
    remote_gives,
    remote_stores,
    remote_trace,
    signed_objects,
    signin,
    verify_service,
    webhooks,
)
