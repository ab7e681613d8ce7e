"""The verification page: a token URL or an exported file, checked at its origin like `tallystick verify`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from federation.verify_client import Verdict, check_document, check_token_url

from ..appkeys import CTX
from .base import page, render, require_signed_in

__all__ = ["read_uploaded_json", "verify_form", "verify"]


def _verify_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    verdicts: list[Verdict] | None = None,
    status: int = 200,
) -> web.Response:
    shown = verdicts or []
    return render(
        request,
        "verify.html.j2",
        status=status,
        values=values or {},
        errors=errors or {},
        verdicts=shown,
        accurate=sum(verdict.accurate for verdict in shown),
    )


@page
async def verify_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return _verify_page(request, values={"url": request.query.get("url", "")})


async def read_uploaded_json(
    form: Any, wanted: str = "a token or export file saved from a Tallystick server"
) -> tuple[dict[str, Any] | None, str]:
    """The uploaded file (the form's `file`) as a JSON object, or why it is not one; `wanted`
    says in the messages what the page expects.

    A file input left empty arrives as a part without a filename, which aiohttp hands over
    as bytes (Chromium: filename="", application/octet-stream): that is no file.
    """
    upload = form.get("file")
    if isinstance(upload, web.FileField):
        content = upload.file.read() if upload.filename else b""
        if upload.filename and not content:
            return None, f"the file is empty; upload {wanted}"
    elif isinstance(upload, (bytes, bytearray)):
        content = bytes(upload)
    else:
        content = b""
    if not content:
        return None, ""
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None, f"the file is not JSON; upload {wanted}"
    if not isinstance(document, dict):
        return None, "the file is not a JSON object"
    return document, ""


@page
async def verify(request: web.Request) -> web.StreamResponse:
    """Fetches happen here, outside any transaction; signed in only, so strangers cannot make us fetch."""
    require_signed_in(request)
    form = await request.post()
    url = str(form.get("url") or "").strip()
    content_hash = str(form.get("content_hash") or "").strip() or None
    values = {"url": url, "content_hash": content_hash or ""}
    site = request[CTX].site
    document, problem = await read_uploaded_json(form)
    if problem:
        return _verify_page(request, values=values, errors={"file": problem}, status=422)
    if document is not None:
        verdicts = await check_document(site, document)
    elif url.startswith(("https://", "http://")):
        verdicts = [await check_token_url(site, url, claimed_hash=content_hash)]
    else:
        message = "paste the URL of a token (https://...)" if url else "paste a token URL or choose a file"
        return _verify_page(request, values=values, errors={"url": message}, status=422)
    return _verify_page(request, values=values, verdicts=verdicts)
