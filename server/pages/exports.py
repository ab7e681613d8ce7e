"""Export a set (a job: its page has the download link), import an export file from another
server, and read what each import brought in."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, redirect, render, require_signed_in
from .verify import read_uploaded_json
from .wording import HELPERS

__all__ = ["export_set", "import_export", "import_page", "imports_page"]


@page
async def export_set(request: web.Request) -> web.StreamResponse:
    """Start an export of one of your sets; its job page shows progress, then the download link."""
    require_signed_in(request)
    set_id = request.match_info["id"]
    try:
        job = await call(request, "exports.create", {"id": set_id})
    except FormError as error:
        if error.status == 404:
            raise error.problem from None
        raise redirect(f"/app/sets/{set_id}", f"The export could not start: {error.problem.detail}") from None
    raise redirect(f"/app/jobs/{job['id']}", "Export started. The download link appears here when it is ready.")


async def _imports_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    imports = await REGISTRY.call(ctx, "imports.list", {"page_size": page_size(ctx)})
    return render(
        request,
        "imports.html.j2",
        status=status,
        imports=imports.items,
        values=values or {},
        errors=errors or {},
        error=error,
        **HELPERS,
    )


@page
async def imports_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _imports_page(request)


@page
async def import_export(request: web.Request) -> web.StreamResponse:
    """Import an uploaded export file, or one fetched from its download link. All or nothing:
    a refusal says which object failed which check, and nothing is kept."""
    require_signed_in(request)
    form = await request.post()
    url = str(form.get("url") or "").strip()
    values = {"url": url}
    document, problem = await read_uploaded_json(form, "an export file downloaded from a Tallystick server")
    if problem:
        return await _imports_page(request, values=values, errors={"file": problem}, status=422)
    if document is not None:
        data: dict[str, Any] = {"document": document}
    elif url:
        data = {"url": url}
    else:
        return await _imports_page(
            request, values=values, errors={"file": "choose an export file, or paste its download link below"},
            status=422,
        )
    try:
        imported = await call(request, "imports.create", data)
    except FormError as error:
        field = "url" if document is None else "file"
        message = next(iter(error.fields.values()), "") if error.fields else error.problem.detail
        return await _imports_page(request, values=values, errors={field: message}, status=error.status)
    count = len(imported.get("copies") or [])
    missed = imported.get("not_following") or []
    note = f" Could not follow {len(missed)} owner(s), so later changes may not arrive." if missed else ""
    raise redirect(f"/app/imports/{imported['id']}", f"Imported {count} token copy(ies).{note}")


@page
async def import_page(request: web.Request) -> web.StreamResponse:
    """One import: where it came from, and each copy with its version and how it was checked."""
    require_signed_in(request)
    record = await REGISTRY.call(request[CTX], "imports.get", {"id": request.match_info["id"]})
    return render(request, "import.html.j2", record=record, **HELPERS)
