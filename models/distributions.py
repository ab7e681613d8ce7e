"""Handing a distribution's allocations over (issue 21, item 5); the tables: models/allocations.py.

`claim_for_identity` is what signing in with an external identity calls (the hook list
ON_IDENTITY_LINKED in models/identities.py): everything allocated to that identity (an actor
URL) in every distribution goes from each distribution's escrow to the user, one ledger give
per allocation whose description names the distribution, all in one transaction. Each
allocation moves held -> claimed by a conditional update first (the engine's manual move), so
two sign-ins at once, or a claim racing the expiry, hand it over once.
"""

from __future__ import annotations

from dataclasses import replace

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from .actors import Actor
from .allocations import Allocation, AllocationState, Distribution
from .context import Context
from .engine import move
from .identities import ON_IDENTITY_LINKED
from .ledger import EntryKind
from .machines import DISTRIBUTION_EXPIRIES
from .operations.entries import amount_text, record_entry
from .operations.ledger import _spend
from .tokens import TokenType

__all__ = ["claim_for_identity", "release_from_escrow"]


async def release_from_escrow(
    ctx: Context, distribution: Distribution, token_type: TokenType, amount: int, to: Actor, description: str,
) -> str:
    """Give `amount` out of the distribution's escrow to `to` (oldest outputs first); the entry id.
    The escrow writes the entry, as a lot's escrow does (models/operations/market_escrow.py)."""
    escrow = await Actor.get(id=distribution.escrow_id)
    ectx = replace(ctx, actor=escrow, user=None, remote=True)
    spent = await _spend(escrow, token_type, amount, None)
    return str((await record_entry(ectx, EntryKind.GIVE, token_type, amount, to, spent, description))["id"])


async def claim_for_identity(ctx: Context, user_actor: Actor, remote_actor_url: str) -> list[str]:
    """Give everything still held for `remote_actor_url` to `user_actor`: the ids of the ledger
    gives made (none when nothing waits). One transaction (a savepoint inside the caller's)."""
    given: list[str] = []
    async with in_transaction():
        waiting = await Allocation.filter(actor_url=remote_actor_url, state=AllocationState.HELD.value).order_by("id")
        for allocation in waiting:
            if not await move(
                DISTRIBUTION_EXPIRIES, allocation.id, AllocationState.HELD.value, AllocationState.CLAIMED.value,
                claimed_by_id=user_actor.id,
            ):
                continue  # claimed (or expired) by someone else a moment ago
            distribution = await Distribution.get(id=allocation.distribution_id)
            token_type = await TokenType.get(id=distribution.type_id)
            entry_id = await release_from_escrow(
                ctx, distribution, token_type, int(allocation.amount), user_actor,
                f"distribution {distribution.id} ({distribution.name}): claimed by {remote_actor_url}"[:500],
            )
            await Allocation.filter(id=allocation.id).update(entry_id=entry_id)
            await Distribution.filter(id=distribution.id).update(claimed=F("claimed") + 1)
            await ctx.emit("distribution.allocation.claimed", "distribution_allocation", allocation.id, {
                "distribution": distribution.id, "type": token_type.id,
                "amount": amount_text(int(allocation.amount), token_type), "actor_url": remote_actor_url,
                "to": user_actor.id, "entry": entry_id,
            })
            given.append(entry_id)
    return given


async def _claim_when_linked(ctx: Context, user_actor: Actor, remote_actor_url: str) -> None:
    await claim_for_identity(ctx, user_actor, remote_actor_url)


ON_IDENTITY_LINKED.append(_claim_when_linked)  # a sign-in with that identity takes what waits for it
