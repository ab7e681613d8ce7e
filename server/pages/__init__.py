"""Server-rendered web pages for people on their home instance (see server/pages/base.py)."""

from __future__ import annotations

from aiohttp import web

from . import (
    account,
    admin,
    contracts,
    delegations,
    holdings,
    manage,
    market,
    market_elsewhere,
    moderation,
    organizations,
    pools,
    watchers,
    social,
    stores,
    tokens,
    trends,
    verify,
)
from .base import STATIC_DIR, html_error_pages

__all__ = ["add_page_routes", "html_error_pages"]


def add_page_routes(router: web.UrlDispatcher) -> None:
    router.add_static("/static", STATIC_DIR, name="static", append_version=False)
    router.add_get("/", account.home, name="page_home")
    router.add_get("/signup", account.signup_form, name="page_signup")
    router.add_post("/signup", account.signup)
    router.add_get("/signin", account.signin_form, name="page_signin")
    router.add_post("/signin", account.signin)
    router.add_post("/signout", account.signout, name="page_signout")
    router.add_get("/app/types/new", tokens.new_type_form, name="page_type_new")
    router.add_post("/app/types/new", tokens.create_type)
    router.add_get("/app/types/{id}", tokens.type_page, name="page_type")
    router.add_get("/app/types/{id}/edit", tokens.edit_type_form, name="page_type_edit")
    router.add_post("/app/types/{id}/edit", tokens.update_type)
    router.add_post("/app/types/{id}/{action:mint|give|burn}", tokens.ledger_action)
    router.add_post("/app/types/{id}/tokens", tokens.create_token)
    router.add_post("/app/types/{id}/licensing", contracts.set_licensing)
    router.add_post("/app/types/{id}/offers", contracts.make_offer)
    router.add_get("/app/contracts", contracts.my_contracts_page, name="page_contracts")
    router.add_post("/app/contracts", contracts.accept)
    router.add_get("/app/contracts/{id}", contracts.contract_page, name="page_contract")
    router.add_post("/app/contracts/{id}/{action:pay|cancel|end}", contracts.act)
    router.add_post("/app/contracts/{id}/terms", contracts.admin_change)
    router.add_get("/app/tokens/{id}", tokens.token_page, name="page_token")
    router.add_get("/app/entries/{id}", tokens.entry_page, name="page_entry")
    router.add_get("/app/ledger", tokens.ledger_page, name="page_ledger")
    router.add_get("/app/holdings", holdings.holding_page, name="page_holding")
    router.add_post("/app/holdings/{action:give|burn}", holdings.holding_action)
    router.add_get("/app/remote-gives", holdings.remote_gives_page, name="page_remote_gives")
    router.add_get("/app/remote-trace", holdings.remote_trace_page, name="page_remote_trace")
    router.add_get("/app/sets", manage.sets_page, name="page_sets")
    router.add_post("/app/sets", manage.create_set)
    router.add_get("/app/sets/{id}", manage.set_page, name="page_set")
    router.add_post("/app/sets/{id}/tokens", manage.add_set_tokens)
    router.add_get("/app/jobs", manage.jobs_page, name="page_jobs")
    router.add_get("/app/apps", manage.apps_page, name="page_apps")
    router.add_post("/app/apps/{app}/revoke", manage.revoke_app)
    router.add_get("/app/delegations", delegations.delegations_page, name="page_delegations")
    router.add_post("/app/delegations", delegations.grant_delegation)
    router.add_post("/app/delegations/{id}/revoke", delegations.revoke_delegation)
    router.add_get("/app/market", market.browse_page, name="page_market")
    router.add_get("/app/market/mine", market.my_lots_page, name="page_market_mine")
    router.add_post("/app/market/mine", market.create_lot)
    router.add_get("/app/market/bids", market.my_bids_page, name="page_market_bids")
    router.add_get("/app/market/elsewhere", market_elsewhere.elsewhere_page, name="page_market_elsewhere")
    router.add_post("/app/market/elsewhere", market_elsewhere.bid_elsewhere)
    router.add_get("/app/market/lots/{id}", market.lot_page, name="page_market_lot")
    router.add_post("/app/market/lots/{id}/bid", market.bid)
    router.add_post("/app/market/lots/{id}/offer", market.offer)
    router.add_post("/app/market/lots/{id}/award", market.award)
    router.add_post("/app/market/lots/{id}/withdraw", market.withdraw)
    router.add_post("/app/market/lots/{id}/relist", market.relist)
    router.add_post("/app/market/lots/{id}/offers/{offer}/withdraw", market.withdraw_offer)
    router.add_get("/app/watchers", watchers.my_watchers_page, name="page_watchers")
    router.add_post("/app/watchers", watchers.create_watcher)
    router.add_post("/app/watchers/{id}/{action:on|off|delete}", watchers.act)
    router.add_get("/app/organizations/{name}", organizations.organization_page, name="page_organization")
    router.add_get("/app/organizations/{name}/proposals/{id}", organizations.proposal_page, name="page_proposal")
    router.add_post("/app/organizations/{name}/proposals/{id}/vote", organizations.vote)
    router.add_get("/app/stores/{slug}", stores.storefront, name="page_store")
    router.add_get("/app/stores/{slug}/items/{id}", stores.item_page, name="page_store_item")
    router.add_post("/app/stores/{slug}/items/{id}/basket", stores.basket)
    router.add_get("/app/stores/{slug}/orders", stores.board_page, name="page_store_orders")
    router.add_get("/app/orders", stores.my_orders_page, name="page_orders")
    router.add_get("/app/orders/{id}", stores.order_page, name="page_order")
    router.add_post("/app/orders/{id}/{verb:place|pay|cancel|fulfil|deliver|confirm|issue|resolve|feedback}", stores.act)
    router.add_get("/app/pools", pools.my_pools_page, name="page_pools")
    router.add_post("/app/pools", pools.create_pool)
    router.add_get("/app/pools/reservations", pools.my_reservations_page, name="page_pool_reservations")
    router.add_get("/app/pools/{id}", pools.pool_page, name="page_pool")
    router.add_post("/app/pools/{id}/{action:batches|reserve|subpools}", pools.act)
    router.add_post("/app/pools/{id}/reservations/{reservation}/{action:claim|cancel}", pools.act)
    router.add_get("/trends", trends.trends_page, name="page_trends")
    router.add_get("/trends/{type}", trends.trend_page, name="page_trend")
    router.add_get("/app/admin/users", manage.admin_users, name="page_admin_users")
    router.add_post("/app/admin/users/{username}/{action:freeze|unfreeze|token|roles}", manage.admin_action)
    router.add_get("/app/follows", social.follows_page, name="page_follows")
    router.add_post("/app/follows", social.follow)
    router.add_post("/app/follows/{id}/delete", social.unfollow)
    router.add_post("/app/followers/{id}/{action:approve|reject}", social.answer_follower)
    router.add_get("/app/actors", social.profile_page, name="page_profile")
    router.add_post("/app/profile", social.edit_profile)
    router.add_get("/app/copies", social.copies_page, name="page_copies")
    router.add_post("/app/copies/{id}/verify", social.verify_copy)
    router.add_get("/app/verify", verify.verify_form, name="page_verify")
    router.add_post("/app/verify", verify.verify)
    router.add_get("/app/moderation", moderation.queue_page, name="page_moderation")
    router.add_post("/app/moderation/tokens/{id}/edit", moderation.edit_token)
    router.add_get("/app/moderation/audit", moderation.audit_page, name="page_moderation_audit")
    router.add_get("/app/moderation/assignments", moderation.assignments_page, name="page_moderation_assignments")
    router.add_post("/app/moderation/assignments", moderation.create_assignment)
    router.add_post("/app/moderation/assignments/{id}/revoke", moderation.revoke_assignment)
    router.add_post("/app/admin/ownership", moderation.change_ownership)
    router.add_get("/app/admin/blocks", admin.blocks_page, name="page_admin_blocks")
    router.add_post("/app/admin/blocks", admin.block_domain)
    router.add_post("/app/admin/blocks/unblock", admin.unblock_domain)
    router.add_get("/app/admin/jobs", admin.stuck_jobs_page, name="page_admin_jobs")
    router.add_post("/app/admin/jobs/{id}/terminate", admin.terminate_job)
