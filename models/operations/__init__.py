"""Importing this package registers every operation in REGISTRY."""

from . import (  # noqa: F401
    accounts,  # noqa: F401
    agents,  # noqa: F401  (after sets, tokens)
    callbacks,  # noqa: F401  (after jobs)
    chains,  # noqa: F401  (after jobs)
    contracts,  # noqa: F401  (after ledger)
    delegations,  # noqa: F401  (after oauth)
    follows,
    groups,  # noqa: F401
    imports,
    jobs,  # noqa: F401
    jobs_admin,  # noqa: F401  (after jobs)
    ledger,  # noqa: F401
    market,  # noqa: F401  (after ledger, tokens)
    media,
    moderation,  # noqa: F401  (after sets, tokens, types)
    oauth,  # noqa: F401
    organizations,  # noqa: F401  (runs types, ledger and chains operations)
    pools,  # noqa: F401  (after ledger, tokens)
    promotions,  # noqa: F401  (after stores)
    promotions_beacons,  # noqa: F401
    sets,  # noqa: F401
    stores,  # noqa: F401  (after organizations: runs types, tokens and ledger operations as one)
    stores_orders,  # noqa: F401  (after stores)
    tokens,
    trends,  # noqa: F401  (reads market lots)
    types,
    watchers,  # noqa: F401  (after chains, ledger, market, sets)
    webhooks,  # noqa: F401
)
