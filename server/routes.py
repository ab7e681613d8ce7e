"""The route table: HTTP method and path -> operation. OpenAPI is generated from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ROUTES", "Route"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    operation: str
    status: int = 200
    location: str | None = None  # e.g. "/api/v1/types/{id}" for 201 responses
    body: Literal["json", "raw", "none"] = "json"
    anonymous_limited: bool = False  # callers without a token get a per-address budget (server/ratelimit.py)
    forms: bool = False  # also accept application/x-www-form-urlencoded (Mastodon clients send it)


V1 = "/api/v1"

ACCOUNTS = [
    Route("POST", f"{V1}/auth/register", "auth.register", status=201),
    Route("POST", f"{V1}/auth/login", "auth.login"),
    Route("POST", f"{V1}/auth/logout", "auth.logout"),
    Route("GET", f"{V1}/me", "users.me"),
    Route("GET", f"{V1}/users/me", "users.me"),  # the same answer where PATCH and DELETE live
    Route("PATCH", f"{V1}/users/me", "users.me.update"),
    Route("DELETE", f"{V1}/users/me", "users.me.delete"),
    Route("GET", f"{V1}/users/me/identities", "accounts.identities.list"),
    Route("DELETE", f"{V1}/users/me/identities/{{id}}", "accounts.identities.unlink"),
    Route("POST", f"{V1}/auth/password", "auth.password.change"),
    Route("POST", f"{V1}/auth/password-reset", "auth.password_reset.request", status=202),
    Route("POST", f"{V1}/auth/password-reset/confirm", "auth.password_reset.confirm"),
    Route("POST", f"{V1}/auth/email", "auth.email.change"),
    Route("POST", f"{V1}/auth/email-verification", "auth.email_verification.request", status=202),
    Route("POST", f"{V1}/auth/email-verification/confirm", "auth.email_verification.confirm"),
    Route("GET", f"{V1}/admin/users", "admin.users.list"),
    Route("GET", f"{V1}/admin/mail", "admin.mail.list"),
    Route("POST", f"{V1}/admin/users", "admin.users.create", status=201),
    Route("POST", f"{V1}/admin/users/{{username}}/freeze", "admin.users.freeze"),
    Route("POST", f"{V1}/admin/users/{{username}}/unfreeze", "admin.users.unfreeze"),
    Route("DELETE", f"{V1}/admin/users/{{username}}", "admin.users.delete"),
    Route("POST", f"{V1}/admin/users/{{username}}/token", "admin.users.regenerate_token"),
    Route("PUT", f"{V1}/admin/users/{{username}}/roles", "admin.users.set_roles"),
]

GROUPS = [
    Route("POST", f"{V1}/groups", "groups.create", status=201, location=f"{V1}/groups/{{id}}"),
    Route("GET", f"{V1}/groups", "groups.list"),
    Route("GET", f"{V1}/groups/{{id}}", "groups.get"),
    Route("PATCH", f"{V1}/groups/{{id}}", "groups.update"),
    Route("DELETE", f"{V1}/groups/{{id}}", "groups.delete"),
    Route("POST", f"{V1}/groups/{{id}}/members", "groups.add_member"),
    Route("DELETE", f"{V1}/groups/{{id}}/members/{{username}}", "groups.remove_member"),
]

TYPES = [
    Route("POST", f"{V1}/types", "types.create", status=201, location=f"{V1}/types/{{id}}"),
    Route("GET", f"{V1}/types", "types.list"),
    Route("GET", f"{V1}/types/{{id}}", "types.get"),
    Route("PATCH", f"{V1}/types/{{id}}", "types.update"),
    Route("DELETE", f"{V1}/types/{{id}}", "types.delete"),
]

TOKENS = [
    Route("POST", f"{V1}/tokens", "tokens.create", status=201, location=f"{V1}/tokens/{{id}}"),
    Route("GET", f"{V1}/tokens", "tokens.list"),
    Route("GET", f"{V1}/tokens/{{id}}", "tokens.get"),
    Route("PATCH", f"{V1}/tokens/{{id}}", "tokens.update"),
    Route("DELETE", f"{V1}/tokens/{{id}}", "tokens.delete"),
    Route("GET", f"{V1}/tokens/{{id}}/disclosures", "tokens.disclosures"),
]

MEDIA = [
    Route("POST", f"{V1}/tokens/{{id}}/media/{{attribute}}", "media.upload", body="raw"),
    Route("GET", f"{V1}/media/{{id}}", "media.get"),
]

LEDGER = [
    Route("POST", f"{V1}/ledger/create", "ledger.create", status=201, location=f"{V1}/ledger/operations/{{id}}"),
    Route("POST", f"{V1}/ledger/give", "ledger.give", status=201, location=f"{V1}/ledger/operations/{{id}}"),
    Route("POST", f"{V1}/ledger/burn", "ledger.burn", status=201, location=f"{V1}/ledger/operations/{{id}}"),
    Route("GET", f"{V1}/ledger/balance", "ledger.balance"),
    Route("GET", f"{V1}/ledger/remote-gives", "ledger.remote_gives.list"),
    Route("GET", f"{V1}/ledger/remote-gives/{{id}}", "ledger.remote_gives.get"),
    Route("GET", f"{V1}/ledger/remote-trace", "ledger.remote_trace"),
    Route("GET", f"{V1}/ledger/operations", "ledger.list"),
    Route("GET", f"{V1}/ledger/operations/{{id}}", "ledger.get"),
    Route("GET", f"{V1}/ledger/operations/{{id}}/trace", "ledger.trace"),
    Route("GET", f"{V1}/ledger/operations/{{id}}/descendants", "ledger.descendants"),
    Route("POST", f"{V1}/ledger/operations/{{id}}/flags", "ledger.flag"),
    Route("DELETE", f"{V1}/ledger/operations/{{id}}/flags/{{flag}}", "ledger.unflag"),
]

AGENTS = [
    Route("POST", f"{V1}/agents/grants", "agents.grants.create", status=201),
    Route("GET", f"{V1}/agents/grants", "agents.grants.list"),
    Route("DELETE", f"{V1}/agents/grants/{{id}}", "agents.grants.delete"),
    Route("POST", f"{V1}/agents/reports", "agents.reports.create", status=201),
    Route("GET", f"{V1}/agents/reports", "agents.reports.list"),
    Route("POST", f"{V1}/agents/reports/{{id}}/approve", "agents.reports.approve"),
    Route("POST", f"{V1}/agents/reports/{{id}}/reject", "agents.reports.reject"),
    Route("POST", f"{V1}/agents/sent-reports", "agents.reports.send", status=202),
    Route("GET", f"{V1}/agents/sent-reports", "agents.reports.sent"),
]

SETS = [
    Route("POST", f"{V1}/sets", "sets.create", status=201, location=f"{V1}/sets/{{id}}"),
    Route("GET", f"{V1}/sets", "sets.list"),
    Route("GET", f"{V1}/sets/{{id}}", "sets.get"),
    Route("PATCH", f"{V1}/sets/{{id}}", "sets.update"),
    Route("DELETE", f"{V1}/sets/{{id}}", "sets.delete"),
    Route("GET", f"{V1}/sets/{{id}}/tokens", "sets.tokens"),
    Route("POST", f"{V1}/sets/{{id}}/tokens", "sets.add_tokens"),
    Route("DELETE", f"{V1}/sets/{{id}}/tokens/{{token_id}}", "sets.remove_token"),
    Route("POST", f"{V1}/sets/{{id}}/search", "sets.search"),
    Route("GET", f"{V1}/sets/{{id}}/format/{{format}}", "sets.format"),
]

JOBS = [
    Route("GET", f"{V1}/jobs", "jobs.list"),
    Route("GET", f"{V1}/jobs/{{id}}", "jobs.get"),
    Route("POST", f"{V1}/jobs/{{id}}/cancel", "jobs.cancel"),
    Route("DELETE", f"{V1}/jobs/{{id}}", "jobs.delete"),
    Route("POST", f"{V1}/jobs", "jobs.submit", status=202, location=f"{V1}/jobs/{{id}}"),
    Route("POST", f"{V1}/jobs/{{id}}/callback", "jobs.redeliver"),
    Route("GET", f"{V1}/me/webhook-secret", "webhooks.secret.get"),
    Route("POST", f"{V1}/me/webhook-secret", "webhooks.secret.rotate"),
    Route("GET", f"{V1}/admin/jobs/stuck", "admin.jobs.stuck"),
    Route("GET", f"{V1}/admin/jobs/metrics", "admin.jobs.metrics"),
    Route("POST", f"{V1}/admin/jobs/{{id}}/terminate", "admin.jobs.terminate"),
    Route("PUT", f"{V1}/admin/jobs/{{id}}/state", "admin.jobs.set_state"),
]

FEDERATION = [
    Route("POST", f"{V1}/follows", "follows.create", status=201, location=f"{V1}/follows/{{id}}"),
    Route("GET", f"{V1}/follows", "follows.list"),
    Route("DELETE", f"{V1}/follows/{{id}}", "follows.delete"),
    Route("GET", f"{V1}/followers", "followers.list"),
    Route("POST", f"{V1}/followers/{{id}}/approve", "followers.approve"),
    Route("POST", f"{V1}/followers/{{id}}/reject", "followers.reject"),
    Route("PATCH", f"{V1}/me/federation", "federation.settings"),
    Route("GET", f"{V1}/federation/objects", "federation.remote_objects"),
    Route("GET", f"{V1}/federation/backfills", "federation.backfills"),
    Route("GET", f"{V1}/federation/inbox", "federation.inbox"),
    Route("POST", f"{V1}/federation/lookup", "federation.lookup"),
    Route("GET", f"{V1}/federation/holdings", "federation.holdings"),
    Route("GET", f"{V1}/admin/federation/deliveries", "admin.federation.deliveries"),
    Route("GET", f"{V1}/admin/federation/blocks", "admin.federation.blocks"),
    Route("PUT", f"{V1}/admin/federation/blocks/{{domain}}", "admin.federation.block"),
    Route("DELETE", f"{V1}/admin/federation/blocks/{{domain}}", "admin.federation.unblock"),
    Route("GET", f"{V1}/admin/federation/actor-blocks", "admin.federation.actor_blocks"),
    Route("POST", f"{V1}/admin/federation/actor-blocks", "admin.federation.block_actor", status=201),
    Route("DELETE", f"{V1}/admin/federation/actor-blocks/{{id}}", "admin.federation.unblock_actor"),
]

EXPORTS = [
    Route("POST", f"{V1}/sets/{{id}}/export", "exports.create", status=202, location=f"{V1}/jobs/{{id}}"),
    Route("GET", f"{V1}/exports/{{id}}", "exports.get"),
    Route("POST", f"{V1}/imports", "imports.create", status=201, location=f"{V1}/imports/{{id}}"),
    Route("GET", f"{V1}/imports", "imports.list"),
    Route("GET", f"{V1}/imports/{{id}}", "imports.get"),
    Route("GET", f"{V1}/copies", "copies.list"),
    Route("POST", f"{V1}/copies/{{id}}/verify", "copies.verify"),
]

VERIFY = [
    Route("POST", f"{V1}/verify", "verify.token", anonymous_limited=True),
    Route("GET", f"{V1}/verify", "verify.token", anonymous_limited=True),
]

WEBHOOKS = [
    Route("POST", f"{V1}/webhooks", "webhooks.create", status=201, location=f"{V1}/webhooks/{{id}}"),
    Route("GET", f"{V1}/webhooks", "webhooks.list"),
    Route("GET", f"{V1}/webhooks/{{id}}", "webhooks.get"),
    Route("PATCH", f"{V1}/webhooks/{{id}}", "webhooks.update"),
    Route("DELETE", f"{V1}/webhooks/{{id}}", "webhooks.delete"),
    Route("GET", f"{V1}/webhooks/{{id}}/deliveries", "webhooks.deliveries"),
]

DELEGATIONS = [
    Route("POST", f"{V1}/delegations", "delegations.grant", status=201),
    Route("GET", f"{V1}/delegations", "delegations.list"),
    Route("DELETE", f"{V1}/delegations/{{id}}", "delegations.revoke"),
]

OAUTH = [
    Route("POST", f"{V1}/apps", "oauth.apps.create", forms=True),
    Route("GET", f"{V1}/apps/verify_credentials", "oauth.apps.verify"),
    Route("GET", f"{V1}/accounts/verify_credentials", "accounts.verify_credentials"),
]

CONTRACTS = [
    Route("POST", f"{V1}/organizations", "organizations.create", status=201, location=f"{V1}/organizations/{{name}}"),
    Route("GET", f"{V1}/organizations", "organizations.mine"),
    Route("GET", f"{V1}/organizations/{{name}}", "organizations.get"),
    Route("POST", f"{V1}/organizations/{{name}}/members", "organizations.members.add"),
    Route("DELETE", f"{V1}/organizations/{{name}}/members/{{username}}", "organizations.members.remove"),
    Route("PATCH", f"{V1}/organizations/{{name}}/members/{{username}}", "organizations.members.role"),
    Route("POST", f"{V1}/organizations/{{name}}/shares", "organizations.shares.issue"),
    Route("PATCH", f"{V1}/organizations/{{name}}/rules", "organizations.rules.update"),
    Route("POST", f"{V1}/organizations/{{name}}/proposals", "organizations.proposals.create", status=201,
          location=f"{V1}/organizations/{{organization}}/proposals/{{id}}"),
    Route("GET", f"{V1}/organizations/{{name}}/proposals", "organizations.proposals.list"),
    Route("GET", f"{V1}/organizations/{{name}}/proposals/{{id}}", "organizations.proposals.get"),
    Route("POST", f"{V1}/organizations/{{name}}/proposals/{{id}}/vote", "organizations.proposals.vote"),
    Route("GET", f"{V1}/remote-organizations/proposals", "organizations.remote.list"),
    Route("POST", f"{V1}/remote-organizations/votes", "organizations.remote.vote"),
    Route("POST", f"{V1}/contracts/offers", "contracts.offers.create", status=201, location=f"{V1}/contracts/offers/{{id}}"),
    Route("GET", f"{V1}/contracts/offers", "contracts.offers.list"),
    Route("GET", f"{V1}/contracts/offers/{{id}}", "contracts.offers.get"),
    Route("POST", f"{V1}/contracts/offers/{{id}}/withdraw", "contracts.offers.withdraw"),
    Route("POST", f"{V1}/contracts", "contracts.accept", status=201, location=f"{V1}/contracts/{{id}}"),
    Route("GET", f"{V1}/contracts", "contracts.list"),
    Route("GET", f"{V1}/contracts/{{id}}", "contracts.get"),
    Route("POST", f"{V1}/contracts/{{id}}/pay", "contracts.pay"),
    Route("POST", f"{V1}/contracts/{{id}}/cancel", "contracts.cancel"),
    Route("PATCH", f"{V1}/admin/contracts/{{id}}", "contracts.admin.update"),
    Route("POST", f"{V1}/remote-contracts", "contracts.remote.accept", status=201),
    Route("GET", f"{V1}/remote-contracts", "contracts.remote.list"),
    Route("POST", f"{V1}/remote-contracts/pay", "contracts.remote.pay"),
    Route("POST", f"{V1}/admin/contracts/{{id}}/end", "contracts.admin.end"),
]

MARKET = [
    Route("POST", f"{V1}/market/lots", "market.lots.create", status=201, location=f"{V1}/market/lots/{{id}}"),
    Route("GET", f"{V1}/market/lots", "market.lots.list"),
    Route("GET", f"{V1}/market/lots/{{id}}", "market.lots.get"),
    Route("PATCH", f"{V1}/market/lots/{{id}}", "market.lots.update"),
    Route("POST", f"{V1}/market/lots/{{id}}/withdraw", "market.lots.withdraw"),
    Route("POST", f"{V1}/market/lots/{{id}}/relist", "market.lots.relist", status=201),
    Route("POST", f"{V1}/market/lots/{{id}}/bids", "market.bids.place", status=201),
    Route("POST", f"{V1}/market/lots/{{id}}/offers", "market.offers.place", status=201),
    Route("POST", f"{V1}/market/lots/{{id}}/offers/{{offer}}/withdraw", "market.offers.withdraw"),
    Route("POST", f"{V1}/market/lots/{{id}}/award", "market.lots.award"),
    Route("POST", f"{V1}/market/remote-bids", "market.remote_bids.place", status=201),
    Route("GET", f"{V1}/market/remote-bids", "market.remote_bids.list"),
    Route("GET", f"{V1}/market/remote-bids/{{id}}", "market.remote_bids.get"),
    Route("GET", f"{V1}/market/bids", "market.bids.list"),
]

POOLS = [
    Route("POST", f"{V1}/watchers", "watchers.create", status=201, location=f"{V1}/watchers/{{id}}"),
    Route("GET", f"{V1}/watchers", "watchers.list"),
    Route("GET", f"{V1}/watchers/{{id}}", "watchers.get"),
    Route("PATCH", f"{V1}/watchers/{{id}}", "watchers.update"),
    Route("DELETE", f"{V1}/watchers/{{id}}", "watchers.delete"),
    Route("GET", f"{V1}/watchers/{{id}}/firings", "watchers.firings"),
    Route("POST", f"{V1}/pools", "pools.create", status=201, location=f"{V1}/pools/{{id}}"),
    Route("GET", f"{V1}/pools", "pools.list"),
    Route("GET", f"{V1}/pools/{{id}}", "pools.get"),
    Route("POST", f"{V1}/pools/{{id}}/subpools", "pools.subpools.create", status=201, location=f"{V1}/pools/{{id}}"),
    Route("POST", f"{V1}/pools/{{id}}/batches", "pools.batches.create", status=201),
    Route("POST", f"{V1}/pools/{{id}}/reservations", "pools.reservations.create", status=201),
    Route("GET", f"{V1}/pools/{{id}}/reservations", "pools.reservations.list"),
    Route("POST", f"{V1}/pools/{{id}}/reservations/{{reservation}}/claim", "pools.reservations.claim", status=201),
    Route("POST", f"{V1}/pools/{{id}}/reservations/{{reservation}}/cancel", "pools.reservations.cancel"),
    Route("GET", f"{V1}/pool-reservations", "pools.reservations.mine"),
]

MODERATION = [
    Route("POST", f"{V1}/moderation/assignments", "moderation.assignments.create", status=201),
    Route("GET", f"{V1}/moderation/assignments", "moderation.assignments.list"),
    Route("POST", f"{V1}/moderation/assignments/{{id}}/revoke", "moderation.assignments.revoke"),
    Route("GET", f"{V1}/moderation/feed", "moderation.feed"),
    Route("POST", f"{V1}/moderation/tokens/{{token}}/edit", "moderation.tokens.edit"),
    Route("GET", f"{V1}/moderation/audit", "moderation.audit"),
    Route("POST", f"{V1}/admin/ownership", "admin.ownership.change"),
]

STORES = [
    Route("POST", f"{V1}/stores", "stores.create", status=201, location=f"{V1}/stores/{{slug}}"),
    Route("GET", f"{V1}/stores", "stores.list"),
    Route("GET", f"{V1}/stores/{{slug}}", "stores.get"),
    Route("PATCH", f"{V1}/stores/{{slug}}", "stores.update"),
    Route("POST", f"{V1}/stores/{{slug}}/staff", "stores.staff.add"),
    Route("DELETE", f"{V1}/stores/{{slug}}/staff/{{username}}", "stores.staff.remove"),
    Route("POST", f"{V1}/stores/{{slug}}/items", "stores.items.create", status=201,
          location=f"{V1}/stores/{{store}}/items/{{id}}"),
    Route("GET", f"{V1}/stores/{{slug}}/items", "stores.items.list"),
    Route("GET", f"{V1}/stores/{{slug}}/items/{{id}}", "stores.items.get"),
    Route("PATCH", f"{V1}/stores/{{slug}}/items/{{id}}", "stores.items.update"),
    Route("POST", f"{V1}/stores/{{slug}}/collections", "stores.collections.create", status=201,
          location=f"{V1}/stores/{{store}}/collections/{{id}}"),
    Route("GET", f"{V1}/stores/{{slug}}/collections", "stores.collections.list"),
    Route("GET", f"{V1}/stores/{{slug}}/collections/{{id}}", "stores.collections.get"),
    Route("PATCH", f"{V1}/stores/{{slug}}/collections/{{id}}", "stores.collections.update"),
    Route("DELETE", f"{V1}/stores/{{slug}}/collections/{{id}}", "stores.collections.delete"),
    Route("POST", f"{V1}/orders", "stores.orders.create", status=201, location=f"{V1}/orders/{{id}}"),
    Route("GET", f"{V1}/orders", "stores.orders.list"),
    Route("GET", f"{V1}/orders/{{id}}", "stores.orders.get"),
    *[Route("POST", f"{V1}/orders/{{id}}/{verb}", f"stores.orders.{verb}")
      for verb in ("place", "pay", "cancel", "fulfil", "deliver", "confirm", "issue", "resolve", "feedback")],
    Route("POST", f"{V1}/remote-stores", "stores.remote.storefront"),
    Route("POST", f"{V1}/remote-orders", "stores.remote.orders.create", status=201),
    Route("GET", f"{V1}/remote-orders", "stores.remote.orders.list"),
    Route("GET", f"{V1}/remote-orders/{{id}}", "stores.remote.orders.get"),
    *[Route("POST", f"{V1}/remote-orders/{{id}}/{verb}", f"stores.remote.orders.{verb}")
      for verb in ("place", "pay", "cancel", "confirm", "issue", "feedback")],
]

BOARDS = [
    Route("POST", f"{V1}/boards", "boards.create", status=201, location=f"{V1}/boards/{{id}}"),
    Route("GET", f"{V1}/boards", "boards.list"),
    Route("GET", f"{V1}/boards/{{id}}", "boards.get"),
    Route("PATCH", f"{V1}/boards/{{id}}", "boards.update"),
    Route("POST", f"{V1}/boards/{{id}}/join", "boards.join"),
    Route("POST", f"{V1}/remote-boards", "boards.remote.join"),
    Route("POST", f"{V1}/boards/{{id}}/leave", "boards.leave"),
    Route("GET", f"{V1}/boards/{{id}}/members", "boards.members.list"),
    Route("PUT", f"{V1}/boards/{{id}}/members/{{username}}/role", "boards.members.role"),
    Route("POST", f"{V1}/boards/{{id}}/invites", "boards.invites.create", status=201),
    Route("GET", f"{V1}/boards/{{id}}/invites", "boards.invites.list"),
    Route("DELETE", f"{V1}/boards/{{id}}/invites/{{invite}}", "boards.invites.revoke"),
    Route("POST", f"{V1}/boards/invites/accept", "boards.invites.accept"),
    Route("POST", f"{V1}/boards/{{id}}/bans", "boards.bans.create", status=201),
    Route("GET", f"{V1}/boards/{{id}}/bans", "boards.bans.list"),
    Route("DELETE", f"{V1}/boards/{{id}}/bans/{{username}}", "boards.bans.lift"),
    Route("GET", f"{V1}/boards/{{id}}/mutes", "boards.mutes.list"),
    Route("POST", f"{V1}/boards/{{id}}/mutes", "boards.mutes.create"),
    Route("DELETE", f"{V1}/boards/{{id}}/mutes/{{username}}", "boards.mutes.delete"),
    Route("POST", f"{V1}/boards/{{id}}/entries", "boards.entries.create", status=201, location=f"{V1}/entries/{{id}}"),
    Route("GET", f"{V1}/boards/{{id}}/entries", "boards.entries.list"),
    Route("GET", f"{V1}/entries/{{id}}", "boards.entries.get"),
    Route("PATCH", f"{V1}/entries/{{id}}", "boards.entries.update"),
    Route("DELETE", f"{V1}/entries/{{id}}", "boards.entries.delete"),
    Route("GET", f"{V1}/entries/{{id}}/history", "boards.entries.history"),
    Route("POST", f"{V1}/entries/{{id}}/media", "boards.entries.attach", body="raw"),
    Route("GET", f"{V1}/entries/{{id}}/media/{{media}}", "boards.entries.media"),
    Route("PUT", f"{V1}/entries/{{id}}/votes", "boards.entries.vote"),
    Route("DELETE", f"{V1}/entries/{{id}}/votes", "boards.entries.unvote"),
    Route("POST", f"{V1}/entries/{{id}}/replies", "boards.entries.reply", status=201, location=f"{V1}/entries/{{id}}"),
    Route("GET", f"{V1}/reviews/{{subject_kind}}/{{subject_id}}", "boards.reviews.list"),
    Route("GET", f"{V1}/reviews/{{subject_kind}}/{{subject_id}}/summary", "boards.reviews.summary"),
]

PROMOTIONS = [
    Route("POST", f"{V1}/stores/{{slug}}/campaigns", "promotions.campaigns.create", status=201,
          location=f"{V1}/campaigns/{{id}}"),
    Route("GET", f"{V1}/campaigns", "promotions.campaigns.list"),
    Route("GET", f"{V1}/campaigns/{{id}}", "promotions.campaigns.get"),
    Route("GET", f"{V1}/campaigns/{{id}}/stats", "promotions.campaigns.stats"),
    *[Route("POST", f"{V1}/campaigns/{{id}}/{verb}", f"promotions.campaigns.{verb}")
      for verb in ("start", "pause", "resume", "end")],
    Route("POST", f"{V1}/campaigns/{{id}}/join", "promotions.join"),
    Route("POST", f"{V1}/campaigns/{{id}}/leave", "promotions.leave"),
    Route("GET", f"{V1}/campaigns/{{id}}/snippets", "promotions.snippets"),
    Route("GET", f"{V1}/promotions", "promotions.mine"),
]

TRENDS = [
    Route("GET", f"{V1}/trends", "trends.list"),
    Route("GET", f"{V1}/trends/{{type}}", "trends.get"),
]

NETWORKS = [
    Route("POST", f"{V1}/networks", "networks.create", status=201, location=f"{V1}/networks/{{id}}"),
    Route("GET", f"{V1}/networks", "networks.list"),
    Route("GET", f"{V1}/networks/{{id}}", "networks.get"),
    Route("GET", f"{V1}/networks/{{id}}/entries", "networks.entries"),
    Route("POST", f"{V1}/networks/{{id}}/subnetworks", "networks.subnetwork", status=201, location=f"{V1}/networks/{{id}}"),
    Route("POST", f"{V1}/networks/{{id}}/discover", "networks.discover", status=201, location=f"{V1}/discoveries/{{id}}"),
    Route("GET", f"{V1}/discoveries/{{id}}", "networks.discoveries.get"),
    Route("POST", f"{V1}/distributions", "distributions.create", status=201, location=f"{V1}/distributions/{{id}}"),
    Route("GET", f"{V1}/distributions", "distributions.list"),
    Route("GET", f"{V1}/distributions/{{id}}", "distributions.get"),
    Route("GET", f"{V1}/distributions/{{id}}/allocations", "distributions.allocations"),
]

ROUTES: list[Route] = [
    *ACCOUNTS, *GROUPS, *TYPES, *TOKENS, *MEDIA, *LEDGER, *SETS, *AGENTS, *JOBS, *WEBHOOKS, *VERIFY, *FEDERATION, *EXPORTS, *OAUTH,
    *DELEGATIONS, *MARKET, *POOLS, *TRENDS, *CONTRACTS, *MODERATION, *STORES, *NETWORKS,
    *BOARDS,
    *PROMOTIONS,
]
