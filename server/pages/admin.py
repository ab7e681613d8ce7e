"""Admin pages for federation and jobs: domain and actor blocks, outgoing deliveries, and stuck
jobs to end or queue again."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .wording import HELPERS, moment, until, words

__all__ = [
    "block_actor",
    "block_domain",
    "blocks_page",
    "deliveries_page",
    "set_job_state",
    "stuck_jobs_page",
    "terminate_job",
    "unblock_actor",
    "unblock_domain",
]


async def _blocks_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    blocks = await REGISTRY.call(ctx, "admin.federation.blocks", {"page_size": page_size(ctx)})
    actors = await REGISTRY.call(ctx, "admin.federation.actor_blocks", {"page_size": page_size(ctx)})
    return render(
        request, "admin_blocks.html.j2", status=status, blocks=blocks.items, actor_blocks=actors.items,
        values=values or {}, errors=errors or {}, moment=moment,
    )


@page
async def blocks_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _blocks_page(request)


@page
async def block_domain(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    domain = form.get("domain", "").strip()
    try:
        blocked = await call(request, "admin.federation.block", {"domain": domain})
    except FormError as error:
        fields = {"domain": next(iter(error.fields.values()), error.general)}
        return await _blocks_page(request, values={"domain": domain}, errors=fields, status=error.status)
    raise redirect("/app/admin/blocks", f"{blocked['domain']} is blocked.")


@page
async def unblock_domain(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    try:
        await call(request, "admin.federation.unblock", {"domain": form.get("domain", "")})
    except FormError as error:
        raise redirect("/app/admin/blocks", error.problem.detail) from None
    raise redirect("/app/admin/blocks", f"{form.get('domain', '')} is no longer blocked.")


@page
async def block_actor(request: web.Request) -> web.StreamResponse:
    """Block one remote account, named by its handle (looked up as a follow does) or its URL."""
    require_signed_in(request)
    form = await read_form(request)
    named = form.get("actor", "").strip()
    values = {"actor": named}
    try:
        uri = named
        if named and not named.startswith(("http://", "https://")):
            found = await call(request, "federation.lookup", {"target": named}, {"target": "actor"})
            uri = found["uri"]
            if found["local"]:
                fields = {"actor": f"{named} is an account on this server; freeze it on the users page instead"}
                return await _blocks_page(request, values=values, errors=fields, status=422)
        blocked = await call(request, "admin.federation.block_actor", {"actor": uri})
    except FormError as error:
        # Field errors are the URL's shape (pydantic's words); a lookup's problem says what went wrong.
        message = "give the account as user@host or as its URL (https://...)" if error.fields else error.problem.detail
        return await _blocks_page(request, values=values, errors={"actor": message}, status=error.status)
    raise redirect("/app/admin/blocks", f"{named} is blocked." if named == blocked["actor"] else
                   f"{named} ({blocked['actor']}) is blocked.")


@page
async def unblock_actor(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    try:
        await call(request, "admin.federation.unblock_actor", {"id": form.get("id", "")})
    except FormError as error:
        if error.status == 403:
            raise error.problem from None
        raise redirect("/app/admin/blocks", error.problem.detail) from None
    raise redirect("/app/admin/blocks", f"{form.get('actor') or 'The account'} is no longer blocked.")


DELIVERY_STATES = {
    "pending": "waiting to be sent",
    "delivered": "delivered",
    "failed": "gave up",
    "skipped": "not sent: the server is blocked or down",
}


def _delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    problem = row.get("last_error") or ""
    if row.get("last_status") and str(row["last_status"]) not in problem:
        problem = f"the server answered {row['last_status']}" + (f": {problem}" if problem else "")
    return {
        **row,
        "words": DELIVERY_STATES.get(row["state"], row["state"]),
        "problem": problem,
        "next": until(row["next_attempt_at"]) if row.get("next_attempt_at") else "",
    }


@page
async def deliveries_page(request: web.Request) -> web.StreamResponse:
    """What this server sends to others: per inbox, its state in words, tries and last problem."""
    require_signed_in(request)
    ctx = request[CTX]
    state = request.query.get("state", "")
    domain = request.query.get("domain", "").strip()
    number = request.query.get("page", "1")  # anything but a page number reads as the first page
    page_number = int(number) if number.isdigit() and 0 < int(number) < 100_000 else 1
    query: dict[str, Any] = {"page_size": page_size(ctx), "page": page_number}
    if state in DELIVERY_STATES:
        query["state"] = state
    if domain:
        query["domain"] = domain
    error, status, rows, following = "", 200, [], None
    try:
        listed = await call(request, "admin.federation.deliveries", query)
    except FormError as refused:
        if refused.status == 403:
            raise refused.problem from None
        error = "no server has a name that long" if "domain" in refused.fields else refused.problem.detail
        status = refused.status
    else:
        rows = [_delivery_view(row) for row in listed.items]
        if listed.has_next:
            kept = {key: value for key, value in (("state", query.get("state")), ("domain", domain)) if value}
            following = "/app/admin/deliveries?" + urlencode({**kept, "page": listed.page + 1})
    return render(request, "admin_deliveries.html.j2", status=status, deliveries=rows, state=state, domain=domain,
                  states=DELIVERY_STATES, next=following, error=error, moment=moment)


async def _stuck_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    stuck = await REGISTRY.call(request[CTX], "admin.jobs.stuck", {"page_size": page_size(request[CTX])})
    return render(request, "admin_stuck.html.j2", status=status, jobs=stuck.items, error=error, **HELPERS)


@page
async def stuck_jobs_page(request: web.Request) -> web.StreamResponse:
    """Running jobs whose worker died or that run too long; each can be ended with a reason."""
    require_signed_in(request)
    return await _stuck_page(request)


@page
async def terminate_job(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    job_id = request.match_info["id"]
    form = await read_form(request)
    data: dict[str, Any] = {"id": job_id, "reason": form.get("reason", "").strip(), "state": form.get("state", "failed")}
    try:
        await call(request, "admin.jobs.terminate", data)
    except FormError as error:
        detail = next(iter(error.fields.values()), error.problem.detail)
        return await _stuck_page(request, error=f"{job_id}: {detail}", status=error.status)
    raise redirect("/app/admin/jobs", f"Job {job_id} ended.")


@page
async def set_job_state(request: web.Request) -> web.StreamResponse:
    """Queue a stopped job again, or fail or cancel it, with a reason (kept in the job's history)."""
    require_signed_in(request)
    form = await read_form(request)
    job_id = request.match_info.get("id") or form.get("job", "").strip()  # a row's button, or the form below
    reason, state = form.get("reason", "").strip(), form.get("state", "queued")
    data: dict[str, Any] = {"id": job_id, "reason": reason, "state": state}
    try:
        await call(request, "admin.jobs.set_state", data)
    except FormError as error:
        detail = next(iter(error.fields.values()), error.problem.detail)
        return await _stuck_page(request, error=f"{job_id}: {detail}", status=error.status)
    raise redirect("/app/admin/jobs", f"Job {job_id} is now {words('job', data['state'])}.")
