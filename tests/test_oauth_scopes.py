"""OAuth scopes follow what an operation does, never how its transaction is run.

Every registered operation is listed here with the scope a token needs for it: an operation
added without an entry fails `test_required_scope__every_operation_is_decided`, so someone
decides its scope before it ships.
"""

from __future__ import annotations

import server.app  # noqa: F401  (registers every operation, as the server does)
from models.oauth import required_scope
from models.registry import REGISTRY

from .conftest import Api, assert_problem
from .pagehelpers import Browser
from .test_oauth import authorize, exchange, pkce, register_app

R, W, AR, AW = "read", "write", "admin:read", "admin:write"

EXPECTED_SCOPES = {
    "accounts.fediverse.finish": W,
    "accounts.fediverse.start": W,
    "accounts.identities.list": R,
    "accounts.identities.unlink": W,  # Effect.RELINQUISH: only takes back a way in
    "accounts.verify_credentials": R,  # or read:accounts, or Mastodon's profile scope
    "admin.federation.actor_blocks": AR,
    "admin.federation.block": AW,
    "admin.federation.block_actor": AW,
    "admin.federation.blocks": AR,
    "admin.federation.deliveries": AR,
    "admin.federation.unblock": AW,
    "admin.federation.unblock_actor": AW,
    "admin.jobs.metrics": AR,
    "admin.jobs.set_state": AW,
    "admin.jobs.stuck": AR,
    "admin.jobs.terminate": AW,
    "admin.ownership.change": AW,
    "admin.users.create": AW,
    "admin.users.delete": AW,
    "admin.users.freeze": AW,
    "admin.users.list": AR,
    "admin.mail.list": AR,
    "admin.users.regenerate_token": AW,
    "admin.users.set_roles": AW,
    "admin.users.unfreeze": AW,
    "agents.grants.create": W,
    "agents.grants.delete": W,
    "agents.grants.list": R,
    "agents.reports.approve": W,
    "agents.reports.create": W,
    "agents.reports.list": R,
    "agents.reports.reject": W,
    "agents.reports.send": W,
    "agents.reports.sent": R,
    "auth.login": W,
    "auth.logout": W,  # Effect.RELINQUISH: frozen accounts may, a read-only app may not
    "auth.register": W,
    "auth.password.change": W,  # needs the current password too
    "auth.password_reset.request": W,
    "auth.password_reset.confirm": W,
    "auth.email.change": W,  # needs the current password too
    "auth.email_verification.request": W,
    "auth.email_verification.confirm": W,
    "copies.list": R,
    "copies.verify": R,  # asks the origin; refreshes only the caller's cached copy
    "exports.build": W,
    "exports.create": W,
    "exports.get": R,
    "federation.activity": R,
    "federation.actor": R,
    "federation.backfills": R,
    "federation.collection": R,
    "federation.holdings": R,
    "federation.inbox": R,
    "federation.lookup": R,
    "federation.nodeinfo": R,
    "federation.object": R,
    "federation.proposal": R,
    "federation.board_entry": R,
    "federation.objects": R,
    "federation.remote_follow": R,
    "federation.remote_objects": R,
    "federation.settings": W,
    "federation.signed_object": R,
    "federation.signed_trace": R,
    "federation.webfinger": R,
    "followers.approve": W,
    "followers.list": R,
    "followers.reject": W,
    "follows.create": W,
    "follows.delete": W,
    "follows.list": R,
    "groups.add_member": W,
    "groups.create": W,
    "groups.delete": W,
    "groups.get": R,
    "groups.list": R,
    "groups.remove_member": W,
    "groups.update": W,
    "imports.create": W,
    "imports.get": R,
    "imports.list": R,
    "jobs.cancel": W,
    "jobs.delete": W,
    "jobs.get": R,
    "jobs.list": R,
    "jobs.redeliver": W,
    "jobs.submit": W,  # queues work (and a callback POST); each step is checked as well
    "ledger.balance": R,
    "ledger.remote_gives.list": R,
    "ledger.remote_gives.get": R,
    "ledger.remote_trace": R,
    "ledger.burn": W,
    "ledger.create": W,
    "ledger.descendants": R,
    "ledger.flag": W,
    "ledger.get": R,
    "ledger.give": W,
    "ledger.list": R,
    "ledger.trace": R,
    "ledger.unflag": W,
    "contracts.accept": W,
    "contracts.admin.end": AW,
    "contracts.admin.update": AW,
    "contracts.cancel": W,
    "contracts.get": R,
    "contracts.list": R,
    "contracts.offers.create": W,
    "contracts.offers.get": R,
    "contracts.offers.list": R,
    "contracts.offers.withdraw": W,
    "organizations.create": W,
    "organizations.get": R,
    "organizations.members.add": W,
    "organizations.members.remove": W,
    "organizations.members.role": W,
    "organizations.mine": R,
    "organizations.proposals.create": W,
    "organizations.proposals.get": R,
    "organizations.proposals.list": R,
    "organizations.proposals.vote": W,
    "organizations.rules.update": W,
    "organizations.remote.list": R,
    "organizations.remote.vote": W,
    "organizations.shares.issue": W,
    "stores.create": W,
    "stores.get": R,
    "stores.items.create": W,
    "stores.items.get": R,
    "stores.items.list": R,
    "stores.items.update": W,
    "stores.collections.create": W,
    "stores.collections.delete": W,
    "stores.collections.get": R,
    "stores.collections.list": R,
    "stores.collections.update": W,
    "stores.list": R,
    "stores.orders.cancel": W,
    "stores.orders.confirm": W,
    "stores.orders.create": W,
    "stores.orders.deliver": W,
    "stores.orders.feedback": W,
    "stores.orders.fulfil": W,
    "stores.orders.get": R,
    "stores.orders.issue": W,
    "stores.orders.list": R,
    "stores.orders.pay": W,
    "stores.orders.place": W,
    "stores.orders.resolve": W,
    "stores.remote.orders.cancel": W,
    "stores.remote.orders.confirm": W,
    "stores.remote.orders.create": W,
    "stores.remote.orders.feedback": W,
    "stores.remote.orders.get": R,
    "stores.remote.orders.issue": W,
    "stores.remote.orders.list": R,
    "stores.remote.orders.pay": W,
    "stores.remote.orders.place": W,
    "stores.remote.storefront": R,
    "stores.staff.add": W,
    "stores.staff.remove": W,
    "stores.update": W,
    "promotions.campaigns.create": W,
    "promotions.campaigns.end": W,
    "promotions.campaigns.get": R,
    "promotions.campaigns.list": R,
    "promotions.campaigns.pause": W,
    "promotions.campaigns.resume": W,
    "promotions.campaigns.start": W,
    "promotions.campaigns.stats": R,
    "promotions.click": W,
    "promotions.impression": W,
    "promotions.join": W,
    "promotions.leave": W,
    "promotions.mine": R,
    "promotions.snippets": R,
    "contracts.pay": W,
    "contracts.remote.accept": W,
    "contracts.remote.list": R,
    "contracts.remote.pay": W,
    "market.bids.list": R,
    "market.bids.place": W,
    "market.lots.award": W,
    "market.lots.create": W,
    "market.lots.get": R,
    "market.lots.list": R,
    "market.lots.relist": W,
    "market.lots.update": W,
    "market.lots.withdraw": W,
    "market.offers.place": W,
    "market.offers.withdraw": W,
    "market.remote_bids.get": R,
    "market.remote_bids.list": R,
    "market.remote_bids.place": W,
    "moderation.assignments.create": W,
    "moderation.assignments.list": R,
    "moderation.assignments.revoke": W,
    "boards.bans.create": W,
    "boards.bans.lift": W,
    "boards.bans.list": R,
    "boards.create": W,
    "boards.entries.attach": W,
    "boards.entries.create": W,
    "boards.entries.delete": W,
    "boards.entries.get": R,
    "boards.entries.history": R,
    "boards.entries.list": R,
    "boards.entries.media": R,
    "boards.entries.reply": W,
    "boards.entries.unvote": W,
    "boards.entries.update": W,
    "boards.entries.vote": W,
    "boards.get": R,
    "boards.invites.accept": W,
    "boards.invites.create": W,
    "boards.invites.list": R,
    "boards.invites.revoke": W,
    "boards.join": W,
    "boards.leave": W,
    "boards.list": R,
    "boards.members.list": R,
    "boards.members.role": W,
    "boards.mutes.create": W,
    "boards.mutes.delete": W,
    "boards.mutes.list": R,
    "boards.reviews.list": R,
    "boards.remote.join": W,
    "boards.reviews.summary": R,
    "boards.update": W,
    "moderation.audit": R,
    "moderation.feed": R,
    "moderation.tokens.edit": W,
    "watchers.create": W,
    "watchers.delete": W,
    "watchers.firings": R,
    "watchers.get": R,
    "watchers.list": R,
    "watchers.update": W,
    "networks.create": W,
    "networks.discover": W,
    "networks.discoveries.get": R,
    "networks.entries": R,
    "networks.get": R,
    "networks.list": R,
    "networks.subnetwork": W,
    "distributions.allocations": R,
    "distributions.create": W,
    "distributions.get": R,
    "distributions.list": R,
    "pools.batches.create": W,
    "pools.create": W,
    "pools.get": R,
    "pools.list": R,
    "pools.reservations.cancel": W,
    "pools.reservations.claim": W,
    "pools.reservations.create": W,
    "pools.reservations.list": R,
    "pools.reservations.mine": R,
    "pools.subpools.create": W,
    "media.get": R,
    "media.upload": W,
    "oauth.apps.create": W,
    "oauth.apps.verify": R,
    "oauth.authorization.check": R,
    "oauth.authorization.grant": W,
    "oauth.authorizations.list": R,
    "oauth.authorizations.revoke": W,
    "oauth.revoke": W,
    "oauth.token": W,
    "sets.add_tokens": W,
    "sets.create": W,
    "sets.delete": W,
    "sets.format": R,
    "sets.get": R,
    "sets.list": R,
    "sets.remove_token": W,
    "sets.search": R,
    "sets.tokens": R,
    "sets.update": W,
    # internal: no token reaches them (404 to everyone); the strictest scope all the same
    "system.federation.prune": AW,
    "system.accounts.prune": AW,
    "system.jobs.purge": AW,
    "system.jobs.sweep": AW,
    "tokens.create": W,
    "tokens.delete": W,
    "tokens.disclosures": R,
    "tokens.get": R,
    "tokens.list": R,
    "tokens.update": W,
    "trends.get": R,
    "trends.list": R,
    "types.create": W,
    "types.delete": W,
    "types.get": R,
    "types.list": R,
    "types.update": W,
    "users.me": R,
    "users.me.delete": W,
    "users.me.update": W,
    "verify.token": R,
    "delegations.grant": W,
    "delegations.list": R,
    "delegations.revoke": W,
    "webhooks.create": W,
    "webhooks.delete": W,
    "webhooks.deliveries": R,
    "webhooks.get": R,
    "webhooks.list": R,
    "webhooks.secret.get": R,
    "webhooks.secret.rotate": W,
    "webhooks.update": W,
}


def test_required_scope__every_operation_is_decided() -> None:
    registered = {operation.name for operation in REGISTRY.all()}
    assert sorted(registered - EXPECTED_SCOPES.keys()) == [], "new operations: add them to EXPECTED_SCOPES"
    assert sorted(EXPECTED_SCOPES.keys() - registered) == [], "operations that no longer exist"
    actual = {operation.name: required_scope(operation) for operation in REGISTRY.all()}
    wrong = {name: (actual[name], EXPECTED_SCOPES[name]) for name in actual if actual[name] != EXPECTED_SCOPES[name]}
    assert wrong == {}, "(required now, expected)"


async def app_token(api: Api, browser: Browser, scope: str) -> str:
    """An OAuth access token the signed-in browser's user granted an app with `scope`."""
    app = await register_app(api, scope)
    verifier, challenge = pkce()
    code = await authorize(browser, app, scope=scope, challenge=challenge)
    status, body = await exchange(api, app, code, verifier)
    assert status == 200 and sorted(body["scope"].split()) == sorted(scope.split()), body
    return str(body["access_token"])


async def test_scope__read_token_cannot_post_operations_that_run_their_own_transactions(api: Api) -> None:
    browser = Browser(api.client)
    assert (await browser.sign_up("ann")).status == 200
    personal = await api.user("bob")
    token = await app_token(api, browser, "read")
    queued = await api.get("/api/v1/ledger/balance", token=personal, headers={"Prefer": "respond-async"})
    assert queued.status == 202, queued
    calls = [
        ("/api/v1/agents/grants", {"agent": "bob", "token": "t1"}),
        ("/api/v1/follows", {"target": "bob"}),
        ("/api/v1/imports", {"url": "https://origin.example/exports/1"}),
        (f"/api/v1/jobs/{queued.body['id']}/callback", {}),
    ]
    for path, body in calls:
        problem = assert_problem(await api.post(path, body, token=token), 403, "insufficient-scope")
        assert problem["required_scope"] == "write", path
    # nor queued as a chain of steps, nor as a job of its own
    for operation, body in [("agents.grants.create", calls[0][1]), ("follows.create", calls[1][1])]:
        chain = {"steps": [{"id": "a", "operation": operation, "input": body}]}
        assert_problem(await api.post("/api/v1/jobs", chain, token=token), 403, "insufficient-scope")
    async_follow = await api.post("/api/v1/follows", calls[1][1], token=token, headers={"Prefer": "respond-async"})
    assert_problem(async_follow, 403, "insufficient-scope")
    # reads still work with it
    assert (await api.get("/api/v1/follows", token=token)).status == 200


async def test_scope__admin_read_token_cannot_terminate_a_job(api: Api) -> None:
    await api.user("root", roles=["admin"])
    browser = Browser(api.client)
    assert (await browser.sign_in("root")).status == 200
    alice = await api.user("alice")
    queued = await api.get("/api/v1/ledger/balance", token=alice, headers={"Prefer": "respond-async"})
    assert queued.status == 202, queued
    token = await app_token(api, browser, "read admin:read")
    assert (await api.get("/api/v1/admin/jobs/stuck", token=token)).status == 200
    terminate = await api.post(f"/api/v1/admin/jobs/{queued.body['id']}/terminate", {"reason": "x"}, token=token)
    assert_problem(terminate, 403, "insufficient-scope")
    job = await api.get(f"/api/v1/jobs/{queued.body['id']}", token=alice)
    assert job.status == 200 and job.body["state"] != "failed", job


async def test_openapi__names_the_scope_each_operation_needs(api: Api) -> None:
    spec = await api.get("/api/v1/openapi.json")
    assert spec.status == 200, spec
    paths = spec.body["paths"]
    assert paths["/api/v1/follows"]["post"]["x-oauth-scope"] == "write"
    assert paths["/api/v1/follows"]["get"]["x-oauth-scope"] == "read"
    assert paths["/api/v1/admin/jobs/{id}/terminate"]["post"]["x-oauth-scope"] == "admin:write"
