"""Contract offers and contracts (issue 18, items 2 and 4): offer, accept, pay, cancel, the
runner's steps, and an admin's term change or end.

Payments are ledger gives from the licensee to the licensor, made with the ledger's own
conditional spends (as the market holds a bid). A periodic payment falls due at the end of
each period (`started_at + n * period_seconds`) and asks for the fee, what the period's
derivations and mints made owed (models/operations/licensing.py), and any arrears: all of it,
or nothing. A payment that fails moves the contract to in_arrears and adds the penalty to the
arrears; at the end of the grace period a contract still in arrears is suspended (minting
derived types refused). The licensee pays the arrears with `contracts.pay` and the contract is
active again. Every move is an event on the contract, seen by both parties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field, model_validator
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ..actors import Actor, Role, UserGroup
from ..amounts import to_decimal_string, to_minor
from ..base import column, iso
from ..context import Context, Site
from ..contracts import (
    LIVE,
    MOVES,
    CancelBy,
    Contract,
    ContractChange,
    ContractOffer,
    ContractState,
    ContractStep,
    Licensing,
    OfferGroup,
    OfferState,
    OfferTaker,
    StepKind,
    StepState,
    Takers,
)
from ..engine import Go, Lease, Outcome, move
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from ..events import Event
from ..ledger import EntryKind
from ..machines import CONTRACT_STEPS
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input
from ..tokens import TokenType
from .entries import record_entry
from .groups import caller_role
from .ledger import _spend, resolve_actor
from .licensing import contract_payload, count_derivation, count_units, lock_contract, money_text

__all__ = ["accept_remote", "contract_views", "offer_views", "pay_as_licensee", "public_offer", "run_step", "use_remote"]

ID = Field(min_length=1, max_length=64)
MONEY = Field(None, min_length=1, max_length=40, description='decimal string of the payment type, e.g. "2.50"; "0" for none')
YEAR = 366 * 86400
MAX_LISTED = 100
HISTORY = 100  # steps and events a contract's view lists


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


# ---------------------------------------------------------------- terms


_MONEY_TERMS = ("price_per_type", "rate_per_unit", "fee", "penalty")
_PLAIN_TERMS = ("period_seconds", "max_types", "max_units_per_period", "notice_seconds", "grace_seconds")


class TermsInput(Input):
    """The terms an offer publishes (and an admin may change on a contract)."""

    price_per_type: str | None = Field(None, min_length=1, max_length=40, description="owed for each type derived")
    rate_per_unit: str | None = Field(None, min_length=1, max_length=40, description="owed per whole unit minted of derived types")
    fee: str | None = Field(None, min_length=1, max_length=40, description="taken every period")
    period_seconds: int | None = Field(None, ge=60, le=YEAR, description="payments fall due every period; the unit limit counts per period")
    max_types: int | None = Field(None, ge=1, le=1_000_000, description="derived types the contract covers")
    max_units_per_period: int | None = Field(None, ge=1, le=10**15, description="whole units of derived types minted per period")
    expires_at: datetime | None = Field(None, description="contracts end then")
    notice_seconds: int | None = Field(None, ge=0, le=YEAR, description="a cancellation takes effect this long after it is given")
    cancel_by: CancelBy | None = Field(None, description="who may cancel: licensee, licensor or either")
    penalty: str | None = Field(None, min_length=1, max_length=40, description="added to the arrears for each missed payment")
    grace_seconds: int | None = Field(None, ge=0, le=YEAR, description="in arrears this long, then suspended")


class OfferCreateInput(TermsInput):
    type: str = Field(min_length=1, max_length=2048, description="the type licensed (yours)")
    title: str = Field("", max_length=200)
    takers: Takers = Field(Takers.ANYONE, description="who may accept: anyone, or the users and groups listed")
    listed: list[str] | None = Field(None, min_length=1, max_length=MAX_LISTED, description="handles, when takers is listed")
    groups: list[str] | None = Field(
        None, min_length=1, max_length=MAX_LISTED,
        description="ids of groups you belong to, when takers is listed: any member (the owner too) may accept",
    )
    payment_type: str | None = Field(None, min_length=1, max_length=64, description="a fungible type of this server; needed for any price, rate, fee or penalty")

    @model_validator(mode="after")
    def _listed_with_takers(self) -> OfferCreateInput:
        if (self.takers is Takers.LISTED) != bool(self.listed or self.groups):
            raise ValueError("listed or groups name the takers exactly when takers is listed")
        return self


def _is_zero(value: str) -> bool:
    try:
        return Decimal(value) == 0
    except InvalidOperation:
        return False  # to_minor says what is wrong with it


def _minor(value: str | None, payment: TokenType | None, field: str) -> int:
    """A money term in minor units of the payment type; "0" or absent: none."""
    if value is None or _is_zero(value):
        return 0
    if payment is None:
        raise Unprocessable(
            f"{field} needs a payment_type to be paid in", code="payment-type-required",
            errors=[{"field": "payment_type", "message": "required with a price, rate, fee or penalty"}],
        )
    return to_minor(value, payment.smallest_unit, field=field)


async def _payment_type(type_id: str | None) -> TokenType | None:
    if type_id is None:
        return None
    payment = await TokenType.get_or_none(id=type_id, is_deleted=False)
    if payment is None:
        raise NotFound(f"there is no token type {type_id!r} on this server", code="type-not-found")
    if not payment.fungible:
        raise Unprocessable(
            "contracts are paid in units of a fungible type", code="unique-type",
            errors=[{"field": "payment_type", "message": "must be a fungible type"}],
        )
    return payment


def _future(moment: datetime | None, field: str) -> datetime | None:
    moment = _aware(moment)
    if moment is not None and moment <= _now():
        raise Unprocessable(f"{field} must be in the future", code="invalid-time", errors=[{"field": field, "message": "in the past"}])
    return moment


# ---------------------------------------------------------------- views


class TermsOut(Output):
    """The terms an offer publishes and a contract copies (`_terms_view`); money in decimal
    strings of the payment type."""

    payment_type: str | None
    payment_symbol: str | None
    price_per_type: str
    rate_per_unit: str
    fee: str
    period_seconds: int
    max_types: int | None
    max_units_per_period: int | None
    expires_at: Timestamp
    notice_seconds: int
    cancel_by: Literal["licensee", "licensor", "either"]
    penalty: str
    grace_seconds: int


class OfferOut(TermsOut):
    id: str
    type: str
    type_symbol: str
    licensor: str = Field(description="handle")
    title: str
    state: Literal["open", "withdrawn"]
    takers: Literal["anyone", "listed"]
    listed: list[str] | None = Field(description="handles; shown to the licensor only")
    groups: list[str] | None = Field(description="ids of the groups listed; shown to the licensor only")
    created_at: Timestamp


class StepOut(Output):
    id: str
    kind: Literal["payment", "grace_end", "notice_end", "expiry"]
    due_at: Timestamp
    state: Literal["pending", "done", "failed"]
    outcome: str | None = Field(description="paid, missed, nothing-due, suspended, cancelled, ended, skipped")
    amount: str | None = Field(description="a payment: what was asked")
    entry: str | None = Field(description="a payment taken: its ledger entry")


class ChangeOut(Output):
    id: str
    action: Literal["terms", "end"]
    admin: str | None
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    created_at: Timestamp


class ContractEventOut(Output):
    name: str
    at: Timestamp
    payload: dict[str, Any]


class ContractOut(TermsOut):
    id: str
    offer: str
    type: str
    type_symbol: str
    licensor: str = Field(description="handle")
    licensee: str = Field(description="handle")
    state: Literal["active", "in_arrears", "suspended", "ended", "cancelled"]
    started_at: Timestamp
    owed: str = Field(description="rates and type prices to be taken with the next payment")
    arrears: str = Field(description="missed payments and penalties")
    paid: str = Field(description="everything paid so far")
    derived_types: int
    units_this_period: str
    next_payment_at: Timestamp
    cancel_at: Timestamp = Field(description="a cancellation given takes effect then")
    ended_at: Timestamp
    version: int


class ContractDetailOut(ContractOut):
    steps: list[StepOut] = Field(description=f"the payment timeline: what fell due and what happened, oldest first (at most {HISTORY})")
    changes: list[ChangeOut] = Field(description="the audit trail of an admin's changes")
    events: list[ContractEventOut] = Field(description=f"every event of the contract, oldest first (at most {HISTORY})")


async def _types(ids: set[str]) -> dict[str, TokenType]:
    return {row.id: row for row in await TokenType.filter(id__in=list(ids))}


def _text(minor: int, payment: TokenType | None) -> str:
    return to_decimal_string(minor, payment.smallest_unit if payment else 0)


def _terms_view(row: ContractOffer | Contract, payment: TokenType | None) -> dict[str, Any]:
    return {
        "payment_type": row.payment_type_id, "payment_symbol": payment.symbol if payment else None,
        **{name: _text(getattr(row, name), payment) for name in _MONEY_TERMS},
        **{name: getattr(row, name) for name in _PLAIN_TERMS},
        "expires_at": iso(row.expires_at), "cancel_by": row.cancel_by,
    }


async def offer_views(ctx: Context, offers: Sequence[ContractOffer]) -> list[dict[str, Any]]:
    types = await _types({o.type_id for o in offers} | {o.payment_type_id for o in offers if o.payment_type_id})
    listed: dict[str, list[str]] = {}
    for taker in await OfferTaker.filter(offer_id__in=[o.id for o in offers]).order_by("id"):
        listed.setdefault(taker.offer_id, []).append(taker.actor_id)
    groups: dict[str, list[str]] = {}
    for row in await OfferGroup.filter(offer_id__in=[o.id for o in offers]).order_by("id"):
        groups.setdefault(row.offer_id, []).append(row.group_id)
    actor_ids = {o.licensor_id for o in offers} | {a for ids in listed.values() for a in ids}
    actors = {a.id: a for a in await Actor.filter(id__in=list(actor_ids))}
    me = ctx.actor.id if ctx.actor is not None else None
    domain = ctx.site.domain
    return [{
        "id": o.id, "type": o.type_id, "type_symbol": types[o.type_id].symbol, "licensor": actors[o.licensor_id].handle(domain),
        "title": o.title, "state": o.state, "takers": o.takers,
        "listed": [actors[a].handle(domain) for a in listed.get(o.id, [])] if me == o.licensor_id else None,
        "groups": groups.get(o.id, []) if me == o.licensor_id else None,
        **_terms_view(o, types.get(o.payment_type_id or "")), "created_at": iso(o.created_at),
    } for o in offers]


async def contract_views(ctx: Context, contracts: Sequence[Contract]) -> list[dict[str, Any]]:
    types = await _types({c.type_id for c in contracts} | {c.payment_type_id for c in contracts if c.payment_type_id})
    actors = {a.id: a for a in await Actor.filter(id__in=list({c.licensor_id for c in contracts} | {c.licensee_id for c in contracts}))}
    pending = {
        step.contract_id: step.due_at for step in await ContractStep.filter(
            contract_id__in=[c.id for c in contracts], kind=StepKind.PAYMENT.value, state=StepState.PENDING.value,
        ).order_by("-due_at")
    }
    domain = ctx.site.domain
    views = []
    for c in contracts:
        payment = types.get(c.payment_type_id or "")
        views.append({
            "id": c.id, "offer": c.offer_id, "type": c.type_id, "type_symbol": types[c.type_id].symbol,
            "licensor": actors[c.licensor_id].handle(domain), "licensee": actors[c.licensee_id].handle(domain),
            "state": c.state, **_terms_view(c, payment), "started_at": iso(c.started_at),
            "owed": _text(c.owed, payment), "arrears": _text(c.arrears, payment), "paid": _text(c.paid, payment),
            "derived_types": c.derived_types, "units_this_period": _units_now(c),
            "next_payment_at": iso(pending.get(c.id)), "cancel_at": iso(c.cancel_at), "ended_at": iso(c.ended_at),
            "version": c.version,
        })
    return views


def _units_now(contract: Contract) -> str:
    """Units minted of derived types in the current period (each period's payment step resets it)."""
    return f"{Decimal(contract.period_units).normalize():f}"


async def _detail(ctx: Context, contract: Contract) -> dict[str, Any]:
    [view] = await contract_views(ctx, [contract])
    payment = await TokenType.get_or_none(id=contract.payment_type_id) if contract.payment_type_id else None
    steps = await ContractStep.filter(contract_id=contract.id).order_by("due_at", "id").limit(HISTORY)
    changes = await ContractChange.filter(contract_id=contract.id).order_by("id")
    admins = {a.id: a for a in await Actor.filter(id__in=[c.admin_id for c in changes if c.admin_id])}
    events = await Event.filter(object_type="contract", object_id=contract.id).order_by("id").limit(HISTORY)
    return {
        **view,
        "steps": [{
            "id": s.id, "kind": s.kind, "due_at": iso(s.due_at), "state": s.state, "outcome": s.outcome,
            "amount": None if s.amount is None else _text(s.amount, payment), "entry": s.entry_id,
        } for s in steps],
        "changes": [{
            "id": c.id, "action": c.action, "admin": admins[c.admin_id].handle(ctx.site.domain) if c.admin_id in admins else None,
            "reason": c.reason, "before": c.before, "after": c.after, "created_at": iso(c.created_at),
        } for c in changes],
        "events": [{"name": e.name, "at": iso(e.created_at), "payload": e.payload} for e in events],
    }


# ---------------------------------------------------------------- offers


@REGISTRY.operation("contracts.offers.create", OfferCreateInput, output=OfferOut)
async def create_offer(ctx: Context, params: OfferCreateInput) -> dict[str, Any]:
    """Publish terms on which others may derive from your type (its licensing must be contract)."""
    licensor = ctx.require_actor()
    token_type = await TokenType.get_or_none(id=params.type, is_deleted=False)
    if token_type is None:
        raise NotFound(f"there is no token type {params.type!r} on this server", code="type-not-found")
    if token_type.owner_id != licensor.id:
        raise Forbidden("only the owner of a type may offer contracts for it", code="not-owner")
    if token_type.licensing != Licensing.CONTRACT.value:
        raise Conflict(
            f"type {token_type.id} is {token_type.licensing}: set its licensing to contract to offer contracts",
            code="licensing-not-contract",
        )
    payment = await _payment_type(params.payment_type)
    listed = []
    for handle in params.listed or []:
        taker = await resolve_actor(handle, ctx, field="listed")
        if taker.id != licensor.id and taker.id not in listed:
            listed.append(taker.id)
    groups = await _groups_of_licensor(ctx, params.groups or [])
    money: dict[str, Any] = {name: _minor(getattr(params, name), payment, name) for name in _MONEY_TERMS}
    offer = await ContractOffer.create(
        **money, type_id=token_type.id, licensor_id=licensor.id, title=params.title, takers=params.takers.value, listed=listed,
        payment_type_id=payment.id if payment else None,
        period_seconds=params.period_seconds or 30 * 86400, max_types=params.max_types,
        max_units_per_period=params.max_units_per_period, expires_at=_future(params.expires_at, "expires_at"),
        notice_seconds=params.notice_seconds or 0, cancel_by=(params.cancel_by or CancelBy.LICENSEE).value,
        grace_seconds=params.grace_seconds if params.grace_seconds is not None else 7 * 86400,
    )
    for actor_id in listed:
        await OfferTaker.create(offer_id=offer.id, actor_id=actor_id)
    for group_id in groups:
        await OfferGroup.create(offer_id=offer.id, group_id=group_id)
    await ctx.emit("contract.offer.created", "contract_offer", offer.id, {"offer": offer.id, "type": token_type.id, "licensor": licensor.id})
    [view] = await offer_views(ctx, [offer])
    return view


async def _groups_of_licensor(ctx: Context, group_ids: list[str]) -> list[str]:
    """The groups an offer lists: each must be one the licensor belongs to (404 otherwise, as
    groups.get answers: an offer must not tell whether someone else's group exists)."""
    if not group_ids:
        return []
    user = ctx.require_user()
    found = {group.id: group for group in await UserGroup.filter(id__in=group_ids)}
    chosen: list[str] = []
    for group_id in group_ids:
        group = found.get(group_id)
        if group is None or await caller_role(user, group) is None:
            raise NotFound(f"there is no group with id {group_id!r} that you belong to", code="group-not-found")
        if group_id not in chosen:
            chosen.append(group_id)
    return chosen


def _offers_seen_by(actor: Actor | None) -> Q:
    """Offers to anyone; listed ones to their takers, the members of their groups, and licensor."""
    if actor is None:
        return Q(takers=Takers.ANYONE.value)
    return (
        Q(takers=Takers.ANYONE.value) | Q(licensor_id=actor.id) | Q(taker_rows__actor_id=actor.id)
        | Q(group_rows__group__owner__actor_id=actor.id) | Q(group_rows__group__members__user__actor_id=actor.id)
    )


async def _taker(offer: ContractOffer, actor_id: str | None) -> bool:
    """Whether a listed offer is made to this actor: listed by name, or in a listed group now."""
    if actor_id is None:
        return False
    if await OfferTaker.filter(offer_id=offer.id, actor_id=actor_id).exists():
        return True
    return await OfferGroup.filter(
        Q(group__owner__actor_id=actor_id) | Q(group__members__user__actor_id=actor_id), offer_id=offer.id,
    ).exists()


async def public_offer(ctx: Context, offer_id: str) -> ContractOffer:
    """An offer as the caller may see it (its document, for anyone: an offer to anyone); 404 otherwise."""
    return await _visible_offer(ctx, offer_id)


async def _visible_offer(ctx: Context, offer_id: str) -> ContractOffer:
    offer = await ContractOffer.get_or_none(id=offer_id)
    me = ctx.actor.id if ctx.actor is not None else None
    if offer is None or (
        offer.takers == Takers.LISTED.value and me != offer.licensor_id and not await _taker(offer, me)
    ):
        raise NotFound(f"there is no contract offer {offer_id!r}", code="offer-not-found")
    return offer


class OfferListInput(ListInput):
    type: str | None = Field(None, min_length=1, max_length=64, description="offers for this type")
    state: Literal["open", "withdrawn", "all"] = "open"


@REGISTRY.operation("contracts.offers.list", OfferListInput, output=Paged[OfferOut], access=Access.PUBLIC)
async def list_offers(ctx: Context, params: OfferListInput) -> Any:
    """Contract offers you may see, newest first: to anyone, or listing you."""
    query = ContractOffer.filter(_offers_seen_by(ctx.actor)).distinct()
    if params.type:
        query = query.filter(type_id=params.type)
    if params.state != "all":
        query = query.filter(state=params.state)
    page = await paginate(query, params)
    page.items = await offer_views(ctx, page.items)
    return page


class OfferIdInput(Input):
    id: str = ID


@REGISTRY.operation("contracts.offers.get", OfferIdInput, output=OfferOut, access=Access.PUBLIC)
async def get_offer(ctx: Context, params: OfferIdInput) -> dict[str, Any]:
    """One contract offer (a listed one: to its takers and licensor only)."""
    [view] = await offer_views(ctx, [await _visible_offer(ctx, params.id)])
    return view


@REGISTRY.operation("contracts.offers.withdraw", OfferIdInput, output=OfferOut)
async def withdraw_offer(ctx: Context, params: OfferIdInput) -> dict[str, Any]:
    """Take an offer back: no new contracts on it; contracts already made go on."""
    offer = await _visible_offer(ctx, params.id)
    if offer.licensor_id != ctx.require_actor().id:
        raise Forbidden("only the licensor may withdraw an offer", code="not-owner")
    if await ContractOffer.filter(id=offer.id, state=OfferState.OPEN.value).update(state=OfferState.WITHDRAWN.value) != 1:
        raise Conflict("this offer was withdrawn already", code="offer-not-open")
    await ctx.emit("contract.offer.withdrawn", "contract_offer", offer.id, {"offer": offer.id, "type": offer.type_id, "licensor": offer.licensor_id})
    [view] = await offer_views(ctx, [await ContractOffer.get(id=offer.id)])
    return view


# ---------------------------------------------------------------- contracts


class AcceptInput(Input):
    offer: str = ID


def _terms_of(offer: ContractOffer | Contract) -> dict[str, Any]:
    return {
        "payment_type_id": offer.payment_type_id, **{name: getattr(offer, name) for name in _MONEY_TERMS + _PLAIN_TERMS},
        "expires_at": offer.expires_at, "cancel_by": offer.cancel_by,
    }


async def _step(contract: Contract, kind: StepKind, due_at: datetime) -> None:
    await ContractStep.create(contract_id=contract.id, kind=kind.value, due_at=due_at, next_at=due_at, state=StepState.PENDING.value)


@REGISTRY.operation("contracts.accept", AcceptInput, output=ContractDetailOut)
async def accept_offer(ctx: Context, params: AcceptInput) -> dict[str, Any]:
    """Accept an offer: a contract on its terms starts now; the first payment falls due after one period."""
    return await _detail(ctx, await _accept(ctx, params.offer))


async def accept_remote(ctx: Context, offer_id: str, request_uri: str) -> tuple[Contract, bool]:
    """A licensee of another server accepts (`ctx.actor`: its actor, whose signed request this
    is): (the contract, made now). A repeat of the same request answers the contract it made."""
    made = await Contract.get_or_none(request_uri=request_uri, licensee_id=ctx.require_actor().id)
    if made is not None:
        return made, False
    return await _accept(ctx, offer_id, request_uri), True


async def _accept(ctx: Context, offer_id: str, request_uri: str | None = None) -> Contract:
    licensee = ctx.require_actor()
    offer = await _visible_offer(ctx, offer_id)
    if offer.licensor_id == licensee.id:
        raise Unprocessable("you own this type: you may derive from it without a contract", code="own-type")
    if offer.state != OfferState.OPEN.value:
        raise Conflict("this offer was withdrawn", code="offer-not-open")
    offer_ends = _aware(offer.expires_at)
    if offer_ends is not None and offer_ends <= _now():
        raise Conflict("this offer has expired", code="offer-expired")
    if await Contract.filter(type_id=offer.type_id, licensee_id=licensee.id, state__in=list(LIVE)).exists():
        raise Conflict(f"you hold a contract on type {offer.type_id} already", code="contract-exists")
    now = _now()
    contract = await Contract.create(
        offer_id=offer.id, type_id=offer.type_id, licensor_id=offer.licensor_id, licensee_id=licensee.id,
        started_at=now, request_uri=request_uri, **_terms_of(offer),
    )
    await _step(contract, StepKind.PAYMENT, now + timedelta(seconds=contract.period_seconds))
    if contract.expires_at is not None:
        await _step(contract, StepKind.EXPIRY, contract.expires_at)
    await ctx.emit("contract.accepted", "contract", contract.id, contract_payload(contract))
    return contract


async def use_remote(ctx: Context, contract_id: str, action: str, derived: str, units: Decimal) -> Contract:
    """The licensee's server (its signed request) derives a type (`derive`) or mints `units`
    of one (`mint`) under a contract here: counted and checked as a local use is. 404 for
    anyone but the licensee (the contract is not theirs to see)."""
    contract = await Contract.get_or_none(id=contract_id)
    if contract is None or contract.licensee_id != ctx.require_actor().id:
        raise NotFound(f"there is no contract {contract_id!r} that you hold", code="contract-not-found")
    if action == "derive":
        licensed = await TokenType.get(id=contract.type_id)
        if licensed.licensing == Licensing.CLOSED.value:  # as a local derivation is refused
            raise Forbidden(f"the owner of type {licensed.id} does not let others derive from it", code="licensing-closed")
        return await count_derivation(ctx, contract.id, derived)
    return await count_units(ctx, contract.id, units, derived)


async def _party_contract(ctx: Context, contract_id: str) -> Contract:
    """A contract the caller is a party to (admins see every one); 404 otherwise."""
    contract = await Contract.get_or_none(id=contract_id)
    me = ctx.actor.id if ctx.actor is not None else None
    if contract is None or (me not in (contract.licensor_id, contract.licensee_id) and not ctx.has_role(Role.ADMIN)):
        raise NotFound(f"there is no contract {contract_id!r}", code="contract-not-found")
    return contract


class ContractListInput(ListInput):
    role: Literal["licensor", "licensee", "any"] = Field("any", description="contracts you granted, hold, or both")
    state: Literal["active", "in_arrears", "suspended", "ended", "cancelled", "live", "all"] = Field(
        "all", description="live: active, in arrears or suspended"
    )


@REGISTRY.operation("contracts.list", ContractListInput, output=Paged[ContractOut], access=Access.USER)
async def list_contracts(ctx: Context, params: ContractListInput) -> Any:
    """Your contracts, as licensor and licensee, newest first."""
    me = ctx.require_actor().id
    mine = {"licensor": Q(licensor_id=me), "licensee": Q(licensee_id=me), "any": Q(licensor_id=me) | Q(licensee_id=me)}
    query = Contract.filter(mine[params.role])
    if params.state == "live":
        query = query.filter(state__in=list(LIVE))
    elif params.state != "all":
        query = query.filter(state=params.state)
    page = await paginate(query, params)
    page.items = await contract_views(ctx, page.items)
    return page


class ContractIdInput(Input):
    id: str = ID


@REGISTRY.operation("contracts.get", ContractIdInput, output=ContractDetailOut, access=Access.USER)
async def get_contract(ctx: Context, params: ContractIdInput) -> dict[str, Any]:
    """A contract with its payment timeline, audit trail and events (its parties and admins only)."""
    return await _detail(ctx, await _party_contract(ctx, params.id))


# ---------------------------------------------------------------- moving a contract


async def _move(
    ctx: Context, contract: Contract, target: ContractState, event: str, *, running: str | None = None, **extra: Any,
) -> Contract:
    """Move a (locked) contract along its declared life and say so to both parties; an end
    closes its pending steps but the `running` one (the runner records that one itself)."""
    if target.value not in MOVES[ContractState(contract.state)]:
        raise Conflict(f"a {contract.state} contract cannot become {target.value}", code="contract-not-live")
    values: dict[str, Any] = {"state": target.value, "updated_at": _now()}
    if target in (ContractState.ENDED, ContractState.CANCELLED):
        values["ended_at"] = values["updated_at"]
    await Contract.filter(id=contract.id, state=contract.state).update(**values)
    contract = await Contract.get(id=contract.id)
    if target in (ContractState.ENDED, ContractState.CANCELLED):
        await _close_steps(contract.id, keep=running)
    await ctx.emit(event, "contract", contract.id, contract_payload(contract, **extra))
    return contract


async def _close_steps(contract_id: str, kind: StepKind | None = None, keep: str | None = None) -> None:
    """Pending steps the contract no longer needs: done, skipped (a person's move)."""
    query = ContractStep.filter(contract_id=contract_id, state=StepState.PENDING.value)
    if kind is not None:
        query = query.filter(kind=kind.value)
    for step_id in await column(query.values_list("id", flat=True), str):
        if step_id != keep:
            await move(CONTRACT_STEPS, step_id, StepState.PENDING.value, StepState.DONE.value, outcome="skipped")


async def _take(ctx: Context, contract: Contract, amount: int, description: str) -> str:
    """Give `amount` of the payment type from the licensee to the licensor; the entry id.
    409 insufficient (nothing moved) when the licensee has not that much."""
    payment = await TokenType.get(id=contract.payment_type_id)
    licensee, licensor = await Actor.get(id=contract.licensee_id), await Actor.get(id=contract.licensor_id)
    async with in_transaction():  # a savepoint: a spend that fails half way leaves nothing
        spent = await _spend(licensee, payment, amount, None)
        # the licensee's give, made by the contract in its name (as a lot's escrow gives)
        as_licensee = replace(ctx, actor=licensee, user=None, remote=True)
        view = await record_entry(as_licensee, EntryKind.GIVE, payment, amount, licensor, spent, description)
    return str(view["id"])


async def _settle(ctx: Context, contract: Contract, amount: int, description: str) -> tuple[str | None, Contract]:
    """Take everything due (fee passed in `amount`, plus owed and arrears) and clear it; the entry."""
    entry = await _take(ctx, contract, amount, description) if amount else None
    await Contract.filter(id=contract.id).update(owed=0, arrears=0, paid=contract.paid + amount, updated_at=_now())
    contract = await Contract.get(id=contract.id)
    if entry:
        await ctx.emit("contract.paid", "contract", contract.id, contract_payload(
            contract, amount=await money_text(contract, amount), entry=entry,
        ))
    if contract.state in (ContractState.IN_ARREARS.value, ContractState.SUSPENDED.value):
        await _close_steps(contract.id, StepKind.GRACE_END)
        contract = await _move(ctx, contract, ContractState.ACTIVE, "contract.restored")
    return entry, contract


@REGISTRY.operation("contracts.pay", ContractIdInput, output=ContractDetailOut)
async def pay_contract(ctx: Context, params: ContractIdInput) -> dict[str, Any]:
    """Pay the arrears and what is owed now (licensee): a suspended contract is active again."""
    _, contract = await pay_as_licensee(ctx, params.id)
    return await _detail(ctx, contract)


async def pay_as_licensee(ctx: Context, contract_id: str) -> tuple[str | None, Contract]:
    """The licensee pays what is due (a licensee of another server: by its signed request,
    from the units it holds here); (the payment's ledger entry, the contract after)."""
    contract = await _party_contract(ctx, contract_id)
    if contract.licensee_id != ctx.require_actor().id:
        raise Forbidden("only the licensee pays a contract", code="not-licensee")
    locked = await lock_contract(contract.id, LIVE)
    if locked is None:
        raise Conflict(f"this contract has {contract.state}", code="contract-not-live")
    due = locked.arrears + locked.owed
    if due == 0:
        raise Conflict("nothing is due on this contract", code="nothing-due")
    entry, _ = await _settle(ctx, locked, due, f"contract {locked.id}: arrears and what is owed")
    return entry, await Contract.get(id=contract.id)


@REGISTRY.operation("contracts.cancel", ContractIdInput, output=ContractDetailOut)
async def cancel_contract(ctx: Context, params: ContractIdInput) -> dict[str, Any]:
    """Give notice (a party the terms allow): the contract is cancelled when the notice ends."""
    contract = await _party_contract(ctx, params.id)
    me = ctx.require_actor().id
    side = "licensee" if me == contract.licensee_id else "licensor"
    if me not in (contract.licensor_id, contract.licensee_id) or contract.cancel_by not in (side, CancelBy.EITHER.value):
        raise Forbidden(f"the terms let the {contract.cancel_by} cancel this contract", code="cancel-not-allowed")
    locked = await lock_contract(contract.id, LIVE)
    if locked is None:
        raise Conflict(f"this contract has {contract.state}", code="contract-not-live")
    if locked.cancel_at is not None:
        raise Conflict(f"notice was given already; it ends {iso(locked.cancel_at)}", code="cancel-pending")
    now = _now()
    effective = now + timedelta(seconds=locked.notice_seconds)
    await Contract.filter(id=locked.id).update(cancel_at=effective, cancelled_by_id=me, updated_at=now)
    locked = await Contract.get(id=locked.id)
    if locked.notice_seconds == 0:
        await _final_collect(ctx, locked)
        await _move(ctx, await Contract.get(id=locked.id), ContractState.CANCELLED, "contract.cancelled")
    else:
        await _step(locked, StepKind.NOTICE_END, effective)
        await ctx.emit("contract.cancel_given", "contract", locked.id, contract_payload(locked, effective_at=iso(effective) or ""))
    return await _detail(ctx, await Contract.get(id=contract.id))


async def _final_collect(ctx: Context, contract: Contract) -> None:
    """At the end: try to take what is owed and in arrears; what cannot be taken stays recorded as arrears."""
    due = contract.owed + contract.arrears
    if not due:
        return
    try:
        entry = await _take(ctx, contract, due, f"contract {contract.id}: final payment")
    except Conflict:
        await Contract.filter(id=contract.id).update(arrears=due, owed=0)
        return
    await Contract.filter(id=contract.id).update(owed=0, arrears=0, paid=contract.paid + due)
    await ctx.emit("contract.paid", "contract", contract.id, contract_payload(contract, amount=await money_text(contract, due), entry=entry))


# ---------------------------------------------------------------- the runner's steps


async def _payment_step(ctx: Context, contract: Contract, step: ContractStep, now: datetime) -> dict[str, Any]:
    """Take the period's fee, what is owed and the arrears; on failure: arrears and penalty."""
    # a new period begins: the unit limit counts afresh
    await Contract.filter(id=contract.id).update(period_units=0, period_index=contract.period_index + 1)
    due = contract.fee + contract.owed + contract.arrears
    values: dict[str, Any] = {"amount": due}
    if due == 0:
        values["outcome"] = "nothing-due"
    else:
        try:
            entry, contract = await _settle(ctx, contract, due, f"contract {contract.id}: payment due {iso(step.due_at)}")
            values.update(outcome="paid", entry_id=entry)
        except Conflict as refused:
            if refused.code not in ("insufficient", "concurrent-spend"):
                raise
            arrears = contract.arrears + contract.fee + contract.owed + contract.penalty
            await Contract.filter(id=contract.id).update(arrears=arrears, owed=0, updated_at=now)
            contract = await Contract.get(id=contract.id)
            values["outcome"] = "missed"
            asked = await money_text(contract, due)
            if contract.state == ContractState.ACTIVE.value:  # the grace period starts
                contract = await _move(ctx, contract, ContractState.IN_ARREARS, "contract.payment_missed", amount=asked)
                await _step(contract, StepKind.GRACE_END, now + timedelta(seconds=contract.grace_seconds))
            else:  # already in arrears or suspended: the penalty accrues again
                await ctx.emit("contract.payment_missed", "contract", contract.id, contract_payload(contract, amount=asked))
    if contract.state in LIVE:
        due_at = _aware(step.due_at)
        assert due_at is not None
        await _step(contract, StepKind.PAYMENT, due_at + timedelta(seconds=contract.period_seconds))
    return values


async def _run_step(ctx: Context, step: ContractStep, now: datetime) -> dict[str, Any]:
    contract = await lock_contract(step.contract_id, LIVE)
    if contract is None:
        return {"outcome": "skipped"}  # the contract ended meanwhile
    if step.kind == StepKind.PAYMENT.value:
        return await _payment_step(ctx, contract, step, now)
    if step.kind == StepKind.GRACE_END.value:
        if contract.state != ContractState.IN_ARREARS.value:
            return {"outcome": "skipped"}
        await _move(ctx, contract, ContractState.SUSPENDED, "contract.suspended", running=step.id)
        return {"outcome": "suspended"}
    if step.kind == StepKind.NOTICE_END.value:
        await _final_collect(ctx, contract)
        await _move(ctx, await Contract.get(id=contract.id), ContractState.CANCELLED, "contract.cancelled", running=step.id)
        return {"outcome": "cancelled"}
    await _final_collect(ctx, contract)
    await _move(ctx, await Contract.get(id=contract.id), ContractState.ENDED, "contract.ended", running=step.id, reason="expired")
    return {"outcome": "ended"}


@CONTRACT_STEPS.handler(may={StepState.DONE.value})
async def run_step(site: Site, step: ContractStep, lease: Lease) -> Outcome:
    """The runner's handler: apply what fell due and queue the next, with the outcome, in one transaction."""
    ctx = Context(site=site, system=True)
    async with in_transaction():
        values = await _run_step(ctx, step, lease.now())
        return await lease.commit(step, Go(StepState.DONE.value, values=values))


# ---------------------------------------------------------------- admin


class AdminTermsInput(TermsInput):
    id: str = ID
    reason: str = Field(min_length=1, max_length=500, description="why: kept in the audit trail and told to both parties")


class AdminEndInput(Input):
    id: str = ID
    reason: str = Field(min_length=1, max_length=500)


def _audit_terms(contract: Contract) -> dict[str, Any]:
    return {**{name: getattr(contract, name) for name in _MONEY_TERMS + _PLAIN_TERMS},
            "expires_at": iso(contract.expires_at), "cancel_by": contract.cancel_by}


async def _admin_contract(ctx: Context, contract_id: str) -> Contract:
    contract = await Contract.get_or_none(id=contract_id)
    if contract is None:
        raise NotFound(f"there is no contract {contract_id!r}", code="contract-not-found")
    locked = await lock_contract(contract.id, LIVE)
    if locked is None:
        raise Conflict(f"this contract has {contract.state}; its terms cannot change", code="contract-not-live")
    return locked


@REGISTRY.operation("contracts.admin.update", AdminTermsInput, output=ContractDetailOut, role=Role.ADMIN)
async def admin_update(ctx: Context, params: AdminTermsInput) -> dict[str, Any]:
    """Change a live contract's terms (admin), with a reason kept in its audit trail."""
    contract = await _admin_contract(ctx, params.id)
    given = params.model_fields_set - {"id", "reason"}
    if not given:
        raise Unprocessable("name at least one term to change", code="no-change")
    nulls = sorted(name for name in given if getattr(params, name) is None and name not in ("max_types", "max_units_per_period", "expires_at"))
    if nulls:
        raise Unprocessable(f"{nulls[0]} cannot be null", code="validation-failed", errors=[{"field": n, "message": "cannot be null"} for n in nulls])
    payment = await TokenType.get_or_none(id=contract.payment_type_id) if contract.payment_type_id else None
    changes: dict[str, Any] = {}
    for name in given:
        value = getattr(params, name)
        if name in _MONEY_TERMS:
            value = _minor(value, payment, name)
        elif name == "expires_at":
            value = _future(value, "expires_at")
        elif name == "cancel_by":
            value = value.value
        changes[name] = value
    before = _audit_terms(contract)
    await Contract.filter(id=contract.id).update(**changes, updated_at=_now())
    contract = await Contract.get(id=contract.id)
    if "expires_at" in changes:
        await _close_steps(contract.id, StepKind.EXPIRY)
        if contract.expires_at is not None:
            await _step(contract, StepKind.EXPIRY, contract.expires_at)
    admin = ctx.actor.id if ctx.actor is not None else None
    await ContractChange.create(contract_id=contract.id, admin_id=admin, action="terms", reason=params.reason,
                                before={k: before[k] for k in sorted(given)}, after={k: _audit_terms(contract)[k] for k in sorted(given)})
    await ctx.emit("contract.terms_changed", "contract", contract.id, contract_payload(contract, reason=params.reason, fields=sorted(given)))
    return await _detail(ctx, contract)


@REGISTRY.operation("contracts.admin.end", AdminEndInput, output=ContractDetailOut, role=Role.ADMIN)
async def admin_end(ctx: Context, params: AdminEndInput) -> dict[str, Any]:
    """End a live contract now (admin), with a reason kept in its audit trail."""
    contract = await _admin_contract(ctx, params.id)
    before = {"state": contract.state}
    contract = await _move(ctx, contract, ContractState.ENDED, "contract.ended", reason=params.reason)
    admin = ctx.actor.id if ctx.actor is not None else None
    await ContractChange.create(contract_id=contract.id, admin_id=admin, action="end", reason=params.reason,
                                before=before, after={"state": contract.state})
    return await _detail(ctx, contract)

