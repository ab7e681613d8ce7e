"""Admin pages for federation and jobs: domain blocks, and stuck jobs to end or queue again."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .wording import HELPERS, words

__all__ = ["blocks_page", "block_domain", "unblock_domain", "stuck_jobs_page", "terminate_job", "set_job_state"]


async def _blocks_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    blocks = await REGISTRY.call(request[CTX], "admin.federation.blocks", {"page_size": page_size(request[CTX])})
    return render(
        request, "admin_blocks.html.j2", status=status, blocks=blocks.items, values=values or {}, errors=errors or {}
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
