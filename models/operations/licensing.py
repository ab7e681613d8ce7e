"""Licensing enforced where types are derived and units minted (issue 18, items 1 and 3).

`license_parents` decides, for each parent a type is given, on what basis it may be used
(models/contracts.py LinkBasis) and counts the derivation against the caller's contract;
`charge_mint` checks and counts units minted of a derived type against each contract it was
derived under. Both lock the contract row first (a conditional version bump, as the market
locks a lot), so racing derivations or mints cannot pass a limit together.

Money owed (a type's price, per-unit rates) is recorded on the contract as `owed` and taken
with the next periodic payment (models/operations/contracts.py): deriving and minting never
move units themselves, so they cannot fail on the licensee's balance.

A parent of another server (named by its URL) is used under a contract held there (issue 18,
item 5): `license_remote_parents` and `charge_mint` ask that server through the hook the
server installs (Site.remote_contracts, federation/remote_contracts.py), which counts the
derivation or the units there with `count_derivation` / `count_units`, as for a local one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import F

from ..actors import Actor
from ..amounts import to_decimal_string
from ..base import column
from ..context import Context
from ..contracts import MINTING, Contract, ContractState, Licensing, LinkBasis
from ..errors import Forbidden, NotFound, Unprocessable
from ..tokens import RemoteTypeParent, TokenType, TypeParent

__all__ = [
    "Link", "charge_mint", "contract_payload", "count_derivation", "count_units", "license_parents",
    "license_remote_parents", "lock_contract", "money_text", "refuse_remote_parents", "remote_parent_urls", "units_of",
]


@dataclass(frozen=True)
class Link:
    """How a new link to a parent is made: its basis and, under a contract, the contract's id."""

    basis: str
    contract_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def units_of(amount: int, token_type: TokenType) -> Decimal:
    """Minor units of a type as whole units."""
    scale: Decimal = Decimal(10) ** token_type.smallest_unit
    return Decimal(amount) / scale


def contract_payload(contract: Contract, **extra: Any) -> dict[str, Any]:
    """The common part of every contract.* event: who, what, and the state now."""
    return {
        "contract": contract.id, "type": contract.type_id, "licensor": contract.licensor_id,
        "licensee": contract.licensee_id, "state": contract.state, **extra,
    }


async def money_text(contract: Contract, minor: int) -> str:
    """An amount of the contract's payment type as a decimal string."""
    payment = await TokenType.get_or_none(id=contract.payment_type_id) if contract.payment_type_id else None
    return to_decimal_string(minor, payment.smallest_unit if payment else 0)


async def lock_contract(contract_id: str, states: frozenset[str] | None = None) -> Contract | None:
    """Bump the contract's version (the row's lock on PostgreSQL) and read it; None when it is
    not in one of `states`."""
    query = Contract.filter(id=contract_id)
    if states is not None:
        query = query.filter(state__in=list(states))
    if await query.update(version=F("version") + 1) != 1:
        return None
    return await Contract.get(id=contract_id)


def _refuse_state(contract: Contract) -> Forbidden:
    if contract.state == ContractState.SUSPENDED.value:
        return Forbidden(
            f"contract {contract.id} is suspended for unpaid arrears; pay them to use type {contract.type_id} again",
            code="contract-suspended",
        )
    return Forbidden(f"contract {contract.id} has {contract.state}", code="contract-ended")


async def _usable_contract(licensee: Actor, parent: TokenType) -> Contract:
    """The caller's oldest contract on `parent` that may derive; 403 with why not otherwise."""
    contracts = await Contract.filter(type_id=parent.id, licensee_id=licensee.id).order_by("created_at", "id")
    live = [contract for contract in contracts if contract.state in MINTING]
    if live:
        return live[0]
    suspended = [contract for contract in contracts if contract.state == ContractState.SUSPENDED.value]
    if suspended:
        raise _refuse_state(suspended[0])
    raise Forbidden(
        f"type {parent.id} may be used as a parent only under a contract with its owner; accept one of its offers first",
        code="contract-required",
    )


def remote_parent_urls(parent_ids: list[str]) -> list[str]:
    """The parents named by URL: types of another server."""
    return [pid for pid in parent_ids if pid.startswith(("https://", "http://"))]


def refuse_remote_parents(parent_ids: list[str], why: str = "contracts across servers are not supported here") -> None:
    """A parent of another server where it cannot be licensed: 422 remote-type."""
    remote = remote_parent_urls(parent_ids)
    if remote:
        raise Unprocessable(f"parent {remote[0]!r} is a type of another server; {why}", code="remote-type")


async def license_parents(ctx: Context, owner: Actor, parent_ids: list[str]) -> dict[str, Link]:
    """Each new parent's basis; counts a derivation (and its price) on the contract used.

    The owner of a parent may always derive from it. Another server's type (a URL) is licensed
    by `license_remote_parents`, not here: 422 remote-type. `closed`: 403 licensing-closed;
    `contract` without a usable contract: 403 contract-required (or contract-suspended)."""
    refuse_remote_parents(parent_ids)
    parents = {row.id: row for row in await TokenType.filter(id__in=parent_ids, is_deleted=False)}
    links: dict[str, Link] = {}
    for parent_id in parent_ids:
        parent = parents.get(parent_id)
        if parent is None:
            raise NotFound(f"parent type {parent_id!r} does not exist", code="type-not-found")
        if parent.owner_id == owner.id or ctx.system:
            links[parent_id] = Link(LinkBasis.OWN.value)
        elif parent.licensing == Licensing.OPEN.value:
            links[parent_id] = Link(LinkBasis.OPEN.value)
        elif parent.licensing == Licensing.CLOSED.value:
            raise Forbidden(f"the owner of type {parent_id} does not let others derive from it", code="licensing-closed")
        else:
            links[parent_id] = Link(LinkBasis.CONTRACT.value, await _derive_under(ctx, owner, parent))
    return links


async def _derive_under(ctx: Context, owner: Actor, parent: TokenType) -> str:
    found = await _usable_contract(owner, parent)
    return (await count_derivation(ctx, found.id)).id


async def count_derivation(ctx: Context, contract_id: str, derived: str | None = None) -> Contract:
    """Count one derived type on a contract that may derive (its type limit, its price owed);
    `derived`: the derived type's URL when it lives on the licensee's server."""
    contract = await lock_contract(contract_id, MINTING)
    if contract is None:
        current = await Contract.get(id=contract_id)
        if current.state == ContractState.SUSPENDED.value:
            raise _refuse_state(current)
        raise Forbidden(f"contract {contract_id} has {current.state}", code="contract-ended")
    if contract.max_types is not None and contract.derived_types >= contract.max_types:
        raise Unprocessable(
            f"contract {contract.id} covers at most {contract.max_types} derived type(s), all used",
            code="contract-type-limit",
        )
    await Contract.filter(id=contract.id).update(
        derived_types=contract.derived_types + 1, owed=contract.owed + contract.price_per_type, updated_at=_now(),
    )
    extra = {"derived_type": derived} if derived else {}
    await ctx.emit("contract.derived", "contract", contract.id, contract_payload(
        contract, owed=await money_text(contract, contract.price_per_type), **extra,
    ))
    return await Contract.get(id=contract.id)


async def count_units(ctx: Context, contract_id: str, units: Decimal, minted_type: str) -> Contract:
    """Count `units` minted of a type derived under the contract: it must allow minting (403
    contract-suspended / contract-ended) and have room in this period's unit limit (422
    contract-unit-limit); the per-unit rate is added to what is owed."""
    contract = await lock_contract(contract_id)
    assert contract is not None  # a link's contract is never deleted (RESTRICT)
    if contract.state not in MINTING:
        raise _refuse_state(contract)
    counted = Decimal(contract.period_units)  # reset by each period's payment step
    if contract.max_units_per_period is not None and counted + units > contract.max_units_per_period:
        left = max(Decimal(0), contract.max_units_per_period - counted)
        raise Unprocessable(
            f"contract {contract.id} allows {contract.max_units_per_period} unit(s) of derived types per period;"
            f" {left.normalize():f} left in this one",
            code="contract-unit-limit",
        )
    rate = math.ceil(Decimal(contract.rate_per_unit) * units)
    await Contract.filter(id=contract.id).update(period_units=counted + units, owed=contract.owed + rate, updated_at=_now())
    if rate:
        await ctx.emit("contract.owed", "contract", contract.id, contract_payload(
            contract, owed=await money_text(contract, rate), units=f"{units.normalize():f}", minted_type=minted_type,
        ))
    return await Contract.get(id=contract.id)


async def license_remote_parents(ctx: Context, owner: Actor, child: TokenType, remote: list[tuple[int, str]]) -> None:
    """Link a new type to its parents of other servers, (position, URL) each: the owner's
    contract there is asked to count the derivation (Site.remote_contracts), and the link
    records that contract's URL. Without the hook: 422 remote-type."""
    if not remote:
        return
    hook = ctx.site.remote_contracts
    if hook is None:
        refuse_remote_parents([uri for _, uri in remote])
    assert hook is not None
    for position, parent_uri in remote:
        answer = await hook(ctx, "derive", {"licensee": owner, "parent": parent_uri, "child": child})
        await RemoteTypeParent.create(child=child, parent_uri=parent_uri, contract_uri=answer["contract"], position=position)


async def charge_mint(ctx: Context, token_type: TokenType, amount: int) -> None:
    """Before `amount` (minor units) of a derived type is minted: each contract it was derived
    under must allow minting and have room (count_units); the per-unit rate is added to what
    is owed. A contract on another server is asked there, in the type owner's name."""
    links = TypeParent.filter(child_id=token_type.id, basis=LinkBasis.CONTRACT.value).order_by("position")
    contract_ids = [cid for cid in await column(links.values_list("contract_id", flat=True), str) if cid]
    remote = await RemoteTypeParent.filter(child_id=token_type.id).order_by("position", "id")
    if not contract_ids and not remote:
        return
    units = units_of(amount, token_type)
    for contract_id in contract_ids:
        await count_units(ctx, contract_id, units, token_type.id)
    if remote:
        hook = ctx.site.remote_contracts
        if hook is None:
            raise Unprocessable(
                f"type {token_type.id} is derived under a contract of another server, which cannot be asked from here",
                code="remote-type",
            )
        licensee = await Actor.get(id=token_type.owner_id)
        for link in remote:
            await hook(ctx, "mint", {"licensee": licensee, "contract": link.contract_uri, "child": token_type, "units": units})
