"""Asking another server in a local person's name, answered at once (a contract of a licensor
elsewhere, an order at a store elsewhere): one request signed by that person, POSTed to the
other server's endpoint, whose answer reads the same way for every kind of request.

The refusals keep the other server's status and code, so a person sees "out-of-stock" from the
store, not a generic failure; a server that is down, overloaded or unsure who signed (401) is
"unreachable" (503), which a caller may try again later.
"""

from __future__ import annotations

from typing import Any

from models.actors import Actor, local_actor_url
from models.context import Context
from models.errors import DomainError, Forbidden
from models.ids import new_id

from . import documents
from .as2 import domain_of
from .fetch import FetchError, post_json, refuse_blocked

__all__ = ["OriginRefused", "OriginUnreachable", "ask"]


class OriginRefused(DomainError):
    """The other server said no; its status and code are passed on (set per refusal)."""

    status, code, title = 409, "origin-refused", "Refused by the other server"


class OriginUnreachable(DomainError):
    status, code, title = 503, "origin-unreachable", "The other server did not answer"


async def ask(
    ctx: Context,
    signer: Actor,
    endpoint: str,
    kind: str,
    activity: dict[str, Any],
    *,
    refused: type[OriginRefused] = OriginRefused,
    unreachable: type[OriginUnreachable] = OriginUnreachable,
) -> dict[str, Any]:
    """POST `activity` signed by `signer` to `endpoint` (its id under `<actor>/<kind>/`): the
    answer's body on 2xx, the other server's refusal otherwise (as `refused` / `unreachable`)."""
    base = local_actor_url(ctx.site.base_url, signer)
    request = {
        "@context": [documents.AS_CONTEXT, documents.vocabulary_url(ctx.site.base_url)],
        "id": f"{base}/{kind}/{new_id()}", "actor": base, "to": [endpoint], **activity,
    }
    host = domain_of(endpoint)
    try:
        await refuse_blocked(endpoint)
        answer = await post_json(ctx.site, endpoint, request, signer=signer)
    except FetchError as error:
        if error.kind == "refused":
            raise Forbidden(f"{host} may not be reached from here: {error.detail}", code="domain-blocked") from None
        raise unreachable(f"{host} did not answer: {error.detail}") from None
    body = answer.document or {}
    if 200 <= answer.status < 300:
        return body
    detail = str(body.get("detail") or body.get("title") or f"status {answer.status}")[:300]
    if answer.status >= 500 or answer.status in (401, 408, 429):
        raise unreachable(f"{host} answered {answer.status}: {detail}")
    refusal = refused(f"{host} refused: {detail}", code=str(body.get("code") or "origin-refused"))
    refusal.status = answer.status
    raise refusal
