"""The origin's side of a give onward: a remote holder spends its units of one of our types.

dave@B holds units of carol's type because our ledger has outputs whose recipient is dave's
(remote) actor. His server asks us, in a request signed with dave's key, to give or burn some
of them (federation/onward.py checks the signature and finds the actors); here the spend runs
exactly as a local one does (`_spend`: the conditional decrement that refuses a double spend)
and the entry is recorded with dave as its author. The request's id is recorded in the same
transaction: a repeat (dave's server retrying after a lost answer) finds it and gets the same
entry; two copies racing cannot both commit (the id is unique), so nothing moves twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from .. import sql
from ..actors import Actor
from ..amounts import to_minor
from ..context import Context, Site
from ..errors import Conflict, Unprocessable
from ..ids import new_id
from ..ledger import EntryKind, LedgerEntry, LedgerRequest
from .entries import entry_views, record_entry
from .ledger import _OLDEST_OUTPUT_SQL, _give_from_output, _ledger_type, _minor_sources, _spend

__all__ = ["answer_once", "carry_out_request", "earlier_answer"]


async def earlier_answer(site: Site, request_uri: str, holder: Actor) -> dict[str, Any] | None:
    """The entry an earlier copy of this request made, or None."""
    done = await LedgerRequest.get_or_none(request_uri=request_uri)
    if done is None:
        return None
    if done.actor_id != holder.id:
        raise Conflict("another actor already used this request id", code="request-id-taken")
    [view] = await entry_views([await LedgerEntry.get(id=done.entry_id)], Context(site=site))
    return view


async def carry_out_request(
    site: Site,
    holder: Actor,
    request_uri: str,
    *,
    kind: EntryKind,
    type_id: str,
    amount: str,
    recipient: Actor | None,
    sources: list[tuple[str, str]] | None,
    description: str,
) -> tuple[dict[str, Any], bool]:
    """Give (to `recipient`) or burn a remote holder's units; (entry view, True if made now).

    Explicit `sources` ([amount, entry id] pairs) or oldest-first, as for a local give. The
    refusals are the local ones: 409 insufficient, 404 a source that is not the holder's.
    """
    earlier = await earlier_answer(site, request_uri, holder)
    if earlier is not None:
        return earlier, False
    token_type = await _ledger_type(type_id)
    if not token_type.fungible:
        raise Unprocessable("only units of fungible types can be given onward from another server", code="unique-type")
    if recipient is not None and recipient.id == holder.id:
        raise Unprocessable("you cannot give to yourself", code="self-give")
    minor = to_minor(amount, token_type.smallest_unit)
    explicit = _minor_sources(sources, token_type)
    ctx = Context(site=site, actor=holder, remote=True)

    async def note_request(view: dict[str, Any]) -> None:
        moment = sql.now()
        await sql.insert(LedgerRequest._meta.db_table, id=new_id(), request_uri=request_uri, actor_id=holder.id,
                         entry_id=view["id"], created_at=moment, updated_at=moment)

    oldest = await sql.fetch(_OLDEST_OUTPUT_SQL, holder.id, token_type.id) if explicit is None else []
    if oldest and int(oldest[0]["remaining"]) >= minor:  # the common case in one trip, as a local give
        try:
            view = await _give_from_output(ctx, token_type, minor, recipient, oldest[0]["id"], description,
                                           kind=kind, then=note_request)
        except IntegrityError:  # a copy of this request committed first
            view = None
            earlier = await earlier_answer(site, request_uri, holder)
            if earlier is not None:
                return earlier, False
            raise
        if view is not None:
            return view, True
    async def spend() -> str:
        spent = await _spend(holder, token_type, minor, explicit)
        return str((await record_entry(ctx, kind, token_type, minor, recipient, spent, description))["id"])

    return await answer_once(site, holder, request_uri, spend)


async def answer_once(
    site: Site, holder: Actor, request_uri: str, work: Callable[[], Awaitable[str]]
) -> tuple[dict[str, Any], bool]:
    """Run `work` (it returns the id of the entry it made) in one transaction with the request's
    record: (the entry's view, True), or, when a copy of this request committed first, that
    copy's entry (False) and nothing of this one."""
    try:
        async with in_transaction():
            entry_id = await work()
            await LedgerRequest.create(request_uri=request_uri, actor_id=holder.id, entry_id=entry_id)
    except IntegrityError:
        earlier = await earlier_answer(site, request_uri, holder)
        if earlier is None:
            raise
        return earlier, False
    [view] = await entry_views([await LedgerEntry.get(id=entry_id)], Context(site=site))
    return view, True
