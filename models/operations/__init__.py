"""Importing this package registers every operation in REGISTRY."""

from . import (  # noqa: F401
    accounts,  # noqa: F401
    account_lifecycle,  # noqa: F401  (after accounts)
    agents,  # noqa: F401  (after sets, tokens)
    groups,  # noqa: F401
    identities,  # noqa: F401
    jobs,  # noqa: F401
    jobs_admin,  # noqa: F401  (after jobs)
    chains,  # noqa: F401  (after jobs)
    callbacks,  # noqa: F401  (after jobs)
    boards,  # noqa: F401
    boards_entries,  # noqa: F401  (after boards, media)
    webhooks,  # noqa: F401
    ledger,  # noqa: F401
    contracts,  # noqa: F401  (after ledger)
    market,  # noqa: F401  (after ledger, tokens)
    media,
    moderation,  # noqa: F401  (after sets, tokens, types)
    oauth,  # noqa: F401
    watchers,  # noqa: F401  (after chains, ledger, market, sets)
    pools,  # noqa: F401  (after ledger, tokens)
    delegations,  # noqa: F401  (after oauth)
    follows,
    imports,
    sets,  # noqa: F401
    tokens,
    trends,  # noqa: F401  (reads market lots)
    types,
    organizations,  # noqa: F401  (runs types, ledger and chains operations)
    stores,  # noqa: F401  (after organizations: runs types, tokens and ledger operations as one)
    stores_orders,  # noqa: F401  (after stores)
    stores_collections,  # noqa: F401  (after stores)
    promotions,  # noqa: F401  (after stores)
    promotions_beacons,  # noqa: F401
    networks,  # noqa: F401  (after sets, tokens, types)
    distributions,  # noqa: F401  (after networks, market)
)
