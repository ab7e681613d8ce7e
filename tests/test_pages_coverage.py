"""Every capability a user has in the API has a page (issue 23, item 1).

The registry is the list of capabilities; a page "has" an operation when its handler or
template names it (pages call operations as the API does: `call(request, "ledger.give", ...)`).
What is API-only by design says why below; what still lacks a page is listed by name, so a new
operation cannot arrive without one unnoticed, and the list can only shrink.
"""

from __future__ import annotations

import re
from pathlib import Path

from models.registry import REGISTRY
from server.app import create_app  # imports every operation module, as the app does

from .dbutil import test_settings as settings_in

ROOT = Path(__file__).resolve().parent.parent

# Operations no person drives from a page, and why.
API_ONLY = {
    # The federation protocol: other servers (and `tallystick verify`) read these documents.
    **dict.fromkeys([
        "federation.activity", "federation.actor", "federation.collection", "federation.nodeinfo",
        "federation.object", "federation.objects", "federation.signed_object", "federation.signed_trace",
        "federation.webfinger", "federation.proposal", "federation.board_entry", "ledger.get", "exports.get", "media.get", "sets.format",
    ], "a document other servers and programs read; people see it rendered on the object's page"),
    # OAuth 2 endpoints: the client application drives them; the person sees /oauth/authorize.
    **dict.fromkeys([
        "oauth.apps.create", "oauth.apps.verify", "oauth.authorization.check", "oauth.token", "oauth.revoke",
        "accounts.verify_credentials",
    ], "an OAuth endpoint a client application calls"),
    # The scheduler's own work.
    **dict.fromkeys(
        ["system.federation.prune", "system.jobs.purge", "system.jobs.sweep", "system.accounts.prune"],
        "periodic, run by the scheduler",
    ),
    # Agents are programs reporting off-server changes; their owners approve on the agents page.
    **dict.fromkeys(["agents.reports.create", "agents.reports.send", "agents.reports.sent"], "an agent program's call"),
    # What a promoter's snippet makes a viewer's browser fetch (server/promo.py: /promo/i/ and /promo/c/).
    **dict.fromkeys(["promotions.impression", "promotions.click"], "a beacon a viewer's browser fetches from a snippet"),
    "admin.jobs.metrics": "numbers for monitoring systems (Prometheus-style scraping)",
    "jobs.submit": "runs any operation later; every page runs its operation directly",
    "exports.build": "the job an export runs; people start it with exports.create",
}

# Pages that do an operation's work without naming it: the page's path, and how.
ELSEWHERE = {
    "verify.token": ("/app/verify", "checks a copy through federation.verify_client, as `tallystick verify` does"),
    "federation.remote_follow": ("/authorize_interaction", "where the remote-follow form lands"),
    "oauth.authorization.grant": ("/oauth/authorize", "the consent form (server/oauth.py)"),
    # One item of a list whose page shows every field of every item.
    "ledger.remote_gives.get": ("/app/remote-gives", "each give onward in full, newest first"),
    "market.remote_bids.get": ("/app/market/elsewhere", "each bid on another server's lot in full"),
    "watchers.get": ("/app/watchers", "each watcher with its rule and last firings"),
    "federation.backfills": ("/app/follows", "each follow's copying of what existed before, in words"),
}

# Capabilities still without a page (issue 23). Remove a name when its page lands; never add one
# (except a new layer's own, merged with its API first and given pages in the same session).
NO_PAGE_YET: set[str] = set()

_NAME = re.compile(r"""["']([a-z_]+(?:\.[a-z_]+)+)["']""")


def named_by_pages() -> set[str]:
    """Every dotted name a page handler or page template spells out."""
    files = [*(ROOT / "server" / "pages").glob("*.py"), *(ROOT / "templates" / "pages").glob("*.j2")]
    return {name for path in files for name in _NAME.findall(path.read_text(encoding="utf-8"))}


def test_every_operation_has_a_page_or_a_reason() -> None:
    operations = {operation.name for operation in REGISTRY.all()}
    shown = named_by_pages()
    unexplained = sorted(operations - shown - API_ONLY.keys() - ELSEWHERE.keys() - NO_PAGE_YET)
    assert not unexplained, (
        "these operations have no page: build one (issue 23: every capability a user has in the API "
        f"has a page), or say in API_ONLY why people never drive them: {unexplained}"
    )


def test_the_lists_only_name_what_is_true() -> None:
    """A name that got a page leaves NO_PAGE_YET; a removed operation leaves every list."""
    operations = {operation.name for operation in REGISTRY.all()}
    shown = named_by_pages()
    landed = sorted(NO_PAGE_YET & shown)
    assert not landed, f"these have a page now: remove them from NO_PAGE_YET: {landed}"
    for listed in (API_ONLY.keys(), ELSEWHERE.keys(), NO_PAGE_YET):
        assert not sorted(set(listed) - operations), f"no such operations any more: {sorted(set(listed) - operations)}"
    assert not (API_ONLY.keys() & NO_PAGE_YET) and not (ELSEWHERE.keys() & NO_PAGE_YET)


def test_pages_said_to_do_the_work_elsewhere_exist(tmp_path: Path) -> None:
    """The ELSEWHERE reasons point at real routes, so the list cannot hide a missing page."""
    settings = settings_in(tmp_path, f"sqlite://{tmp_path / 'unused.sqlite3'}")
    app = create_app(settings, with_database=False)
    paths = {getattr(resource, "canonical", "") for resource in app.router.resources()}
    missing = {name: path for name, (path, _) in ELSEWHERE.items() if path not in paths}
    assert not missing, f"no such page: {missing}"
