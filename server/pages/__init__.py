"""Server-rendered web pages for people on their home instance (see server/pages/base.py)."""

from __future__ import annotations

from aiohttp import web

from ..favicon import favicon
from . import (
    account,
    admin,
    agents,
    contracts,
    contracts_elsewhere,
    delegations,
    exports,
    groups,
    holdings,
    jobs,
    manage,
    market,
    market_elsewhere,
    media,
    moderation,
    org_elsewhere,
    organizations,
    pools,
    promotions,
    proposals,
    sets_manage,
    social,
    stores,
    stores_manage,
    tokens,
    tokens_manage,
    trends,
    verify,
    watchers,
    webhooks,
)
from .base import STATIC_DIR, html_error_pages

__all__ = ["add_page_routes", "html_error_pages"]


def add_page_routes(router: web.UrlDispatcher) -> None:
    router.add_static("/static", STATIC_DIR, name="static", append_version=False)
    router.add_get("/favicon.ico", favicon, name="favicon")
    router.add_get("/", account.home, name="page_home")
    router.add_get("/signup", account.signup_form, name="page_signup")
    router.add_post("/signup", account.signup)
    router.add_get("/signin", account.signin_form, name="page_signin")
    router.add_post("/signin", account.signin)
    router.add_post("/signout", account.signout, name="page_signout")
    router.add_get("/app/account/delete", account.delete_account_form, name="page_account_delete")
    router.add_post("/app/account/delete", account.delete_account)
    router.add_get("/app/types/new", tokens.new_type_form, name="page_type_new")
    router.add_post("/app/types/new", tokens.create_type)
    router.add_get("/app/types/{id}", tokens.type_page, name="page_type")
    router.add_get("/app/types/{id}/edit", tokens.edit_type_form, name="page_type_edit")
    router.add_post("/app/types/{id}/edit", tokens.update_type)
    router.add_get("/app/types/{id}/delete", tokens_manage.delete_type_form, name="page_type_delete")
    router.add_post("/app/types/{id}/delete", tokens_manage.delete_type)
    router.add_post("/app/types/{id}/{action:mint|give|burn}", tokens.ledger_action)
    router.add_post("/app/types/{id}/tokens", tokens.create_token)
    router.add_post("/app/types/{id}/licensing", contracts.set_licensing)
    router.add_post("/app/types/{id}/offers", contracts.make_offer)
    router.add_get("/app/offers/{id}", contracts.offer_page, name="page_offer")
    router.add_post("/app/offers/{id}/withdraw", contracts.withdraw_offer)
    router.add_get("/app/contracts", contracts.my_contracts_page, name="page_contracts")
    router.add_post("/app/contracts", contracts.accept)
    router.add_get("/app/contracts/{id}", contracts.contract_page, name="page_contract")
    router.add_post("/app/contracts/{id}/{action:pay|cancel|end}", contracts.act)
    router.add_post("/app/contracts/{id}/terms", contracts.admin_change)
    router.add_get("/app/remote-contracts", contracts_elsewhere.contracts_elsewhere_page, name="page_remote_contracts")
    router.add_post("/app/remote-contracts", contracts_elsewhere.accept_elsewhere)
    router.add_post("/app/remote-contracts/pay", contracts_elsewhere.pay_elsewhere)
    router.add_get("/app/tokens/{id}", tokens.token_page, name="page_token")
    router.add_get("/app/tokens/{id}/edit", tokens_manage.edit_token_form, name="page_token_edit")
    router.add_post("/app/tokens/{id}/edit", tokens_manage.edit_token)
    router.add_get("/app/tokens/{id}/delete", tokens_manage.delete_token_form, name="page_token_delete")
    router.add_post("/app/tokens/{id}/delete", tokens_manage.delete_token)
    router.add_get("/app/media/{id}", media.media_file, name="page_media")
    router.add_get("/app/entries/{id}", tokens.entry_page, name="page_entry")
    router.add_post("/app/entries/{id}/flags", tokens.flag_entry)
    router.add_get("/app/ledger", tokens.ledger_page, name="page_ledger")
    router.add_get("/app/holdings", holdings.holding_page, name="page_holding")
    router.add_post("/app/holdings/{action:give|burn}", holdings.holding_action)
    router.add_get("/app/remote-gives", holdings.remote_gives_page, name="page_remote_gives")
    router.add_get("/app/remote-trace", holdings.remote_trace_page, name="page_remote_trace")
    router.add_get("/app/sets", manage.sets_page, name="page_sets")
    router.add_post("/app/sets", manage.create_set)
    router.add_get("/app/sets/{id}", manage.set_page, name="page_set")
    router.add_post("/app/sets/{id}/tokens", manage.add_set_tokens)
    router.add_post("/app/sets/{id}/tokens/{token}/remove", sets_manage.remove_set_token)
    router.add_get("/app/sets/{id}/edit", sets_manage.edit_set_form, name="page_set_edit")
    router.add_post("/app/sets/{id}/edit", sets_manage.edit_set)
    router.add_get("/app/sets/{id}/delete", sets_manage.delete_set_form, name="page_set_delete")
    router.add_post("/app/sets/{id}/delete", sets_manage.delete_set)
    router.add_get("/app/sets/{id}/search", sets_manage.search_set, name="page_set_search")
    router.add_post("/app/sets/{id}/export", exports.export_set)
    router.add_get("/app/imports", exports.imports_page, name="page_imports")
    router.add_post("/app/imports", exports.import_export)
    router.add_get("/app/imports/{id}", exports.import_page, name="page_import")
    router.add_get("/app/jobs", jobs.jobs_page, name="page_jobs")
    router.add_get("/app/jobs/{id}", jobs.job_page, name="page_job")
    router.add_post("/app/jobs/{id}/{action:cancel|delete|redeliver}", jobs.job_action)
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
    router.add_post("/app/market/lots/{id}/edit", market.edit)
    router.add_post("/app/market/lots/{id}/withdraw", market.withdraw)
    router.add_post("/app/market/lots/{id}/relist", market.relist)
    router.add_post("/app/market/lots/{id}/offers/{offer}/withdraw", market.withdraw_offer)
    router.add_get("/app/watchers", watchers.my_watchers_page, name="page_watchers")
    router.add_post("/app/watchers", watchers.create_watcher)
    router.add_post("/app/watchers/{id}/{action:on|off|delete}", watchers.act)
    router.add_get("/app/organizations", organizations.my_organizations_page, name="page_organizations")
    router.add_post("/app/organizations", organizations.create_organization)
    router.add_get("/app/agents", agents.agents_page, name="page_agents")
    router.add_post("/app/agents/grants", agents.create_grant)
    router.add_post("/app/agents/grants/{id}/withdraw", agents.withdraw_grant)
    router.add_post("/app/agents/reports/{id}/{action:approve|reject}", agents.decide)
    router.add_get("/app/groups", groups.my_groups_page, name="page_groups")
    router.add_post("/app/groups", groups.create_group)
    router.add_get("/app/groups/{id}", groups.group_page, name="page_group")
    router.add_post("/app/groups/{id}/members", groups.add_member)
    router.add_post("/app/groups/{id}/members/{username}/remove", groups.remove_member)
    router.add_post("/app/groups/{id}/{action:description|owner|delete}", groups.act)
    router.add_get("/app/webhooks", webhooks.my_webhooks_page, name="page_webhooks")
    router.add_post("/app/webhooks", webhooks.create_webhook)
    router.add_post("/app/webhook-secret", webhooks.reveal_secret)
    router.add_post("/app/webhook-secret/rotate", webhooks.rotate_secret)
    router.add_get("/app/webhooks/{id}", webhooks.webhook_page, name="page_webhook")
    router.add_post("/app/webhooks/{id}", webhooks.update_webhook)
    router.add_post("/app/webhooks/{id}/{action:on|off|delete}", webhooks.act)
    router.add_get("/app/proposals-elsewhere", org_elsewhere.proposals_elsewhere_page, name="page_proposals_elsewhere")
    router.add_post("/app/proposals-elsewhere", org_elsewhere.vote_elsewhere)
    router.add_get("/app/organizations/{name}", organizations.organization_page, name="page_organization")
    router.add_post("/app/organizations/{name}/members", organizations.add_member)
    router.add_post("/app/organizations/{name}/members/{username}/role", organizations.change_role)
    router.add_get("/app/organizations/{name}/members/{username}/remove", organizations.confirm_remove,
                   name="page_organization_remove")
    router.add_post("/app/organizations/{name}/members/{username}/remove", organizations.remove_member)
    router.add_post("/app/organizations/{name}/shares", organizations.issue_shares)
    router.add_post("/app/organizations/{name}/rules", organizations.update_rules)
    router.add_get("/app/organizations/{name}/proposals/new", proposals.new_proposal_form, name="page_proposal_new")
    router.add_post("/app/organizations/{name}/proposals", proposals.create_proposal)
    router.add_get("/app/organizations/{name}/proposals/{id}", proposals.proposal_page, name="page_proposal")
    router.add_post("/app/organizations/{name}/proposals/{id}/vote", proposals.vote)
    router.add_get("/app/stores", stores_manage.stores_page, name="page_stores")
    router.add_post("/app/stores", stores_manage.open_store)
    router.add_get("/app/stores/{slug}", stores.storefront, name="page_store")
    router.add_get("/app/stores/{slug}/manage", stores_manage.manage_page, name="page_store_manage")
    router.add_post("/app/stores/{slug}/manage/settings", stores_manage.update_settings)
    router.add_post("/app/stores/{slug}/manage/staff", stores_manage.add_staff)
    router.add_get("/app/stores/{slug}/manage/staff/{username}/remove", stores_manage.confirm_remove_staff,
                   name="page_store_staff_remove")
    router.add_post("/app/stores/{slug}/manage/staff/{username}/remove", stores_manage.remove_staff)
    router.add_post("/app/stores/{slug}/manage/items", stores_manage.add_item)
    router.add_get("/app/stores/{slug}/manage/items/{id}", stores_manage.edit_item_form, name="page_store_item_edit")
    router.add_post("/app/stores/{slug}/manage/items/{id}", stores_manage.edit_item)
    router.add_get("/app/stores/{slug}/items/{id}", stores.item_page, name="page_store_item")
    router.add_post("/app/stores/{slug}/items/{id}/basket", stores.basket)
    router.add_get("/app/stores/{slug}/orders", stores.board_page, name="page_store_orders")
    router.add_get("/app/orders", stores.my_orders_page, name="page_orders")
    router.add_get("/app/orders/{id}", stores.order_page, name="page_order")
    router.add_post("/app/orders/{id}/{verb:place|pay|cancel|fulfil|deliver|confirm|issue|resolve|feedback}", stores.act)
    router.add_get("/app/stores/{slug}/campaigns", promotions.store_campaigns_page, name="page_store_campaigns")
    router.add_post("/app/stores/{slug}/campaigns", promotions.create_campaign)
    router.add_get("/app/campaigns/{id}", promotions.campaign_page, name="page_campaign")
    router.add_post("/app/campaigns/{id}/{verb:start|pause|resume|end|join|leave}", promotions.act)
    router.add_get("/app/promotions", promotions.promotions_page, name="page_promotions")
    router.add_get("/app/promotions/{id}", promotions.promotion_page, name="page_promotion")
    router.add_get("/app/pools", pools.my_pools_page, name="page_pools")
    router.add_post("/app/pools", pools.create_pool)
    router.add_get("/app/pools/reservations", pools.my_reservations_page, name="page_pool_reservations")
    router.add_get("/app/pools/{id}", pools.pool_page, name="page_pool")
    router.add_post("/app/pools/{id}/{action:batches|reserve|subpools}", pools.act)
    router.add_get("/app/pools/{id}/reservations", pools.pool_reservations_page, name="page_pool_reservation_list")
    router.add_post("/app/pools/{id}/reservations/{reservation}/{action:claim|cancel}", pools.act)
    router.add_get("/trends", trends.trends_page, name="page_trends")
    router.add_get("/trends/{type}", trends.trend_page, name="page_trend")
    router.add_get("/app/admin/users", manage.admin_users, name="page_admin_users")
    router.add_post("/app/admin/users", manage.admin_create_user)
    router.add_get("/app/admin/users/{username}/delete", manage.admin_delete_form, name="page_admin_user_delete")
    router.add_post("/app/admin/users/{username}/delete", manage.admin_delete_user)
    router.add_post("/app/admin/users/{username}/{action:freeze|unfreeze|token|roles}", manage.admin_action)
    router.add_get("/app/follows", social.follows_page, name="page_follows")
    router.add_post("/app/follows", social.follow)
    router.add_post("/app/follows/settings", social.approval_setting)
    router.add_get("/app/inbox", social.inbox_page, name="page_inbox")
    router.add_post("/app/follows/{id}/delete", social.unfollow)
    router.add_post("/app/followers/{id}/{action:approve|reject}", social.answer_follower)
    router.add_get("/app/actors", social.profile_page, name="page_profile")
    router.add_get("/app/profile", social.my_profile, name="page_my_profile")
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
    router.add_post("/app/admin/blocks/actors", admin.block_actor)
    router.add_post("/app/admin/blocks/actors/unblock", admin.unblock_actor)
    router.add_get("/app/admin/deliveries", admin.deliveries_page, name="page_admin_deliveries")
    router.add_get("/app/admin/jobs", admin.stuck_jobs_page, name="page_admin_jobs")
    router.add_post("/app/admin/jobs/{id}/terminate", admin.terminate_job)
    router.add_post("/app/admin/jobs/set-state", admin.set_job_state)
    router.add_post("/app/admin/jobs/{id}/state", admin.set_job_state)
