"""The operation registry: the one dispatch point for every public action.

HTTP routes, jobs, the inbox and pages call `REGISTRY.call(ctx, name, raw_input)`. The
registry validates input with the operation's pydantic model, checks the declared
permission, and runs writing operations in one transaction with their outbox events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from tortoise.exceptions import ValidationError as OrmValidationError
from tortoise.transactions import in_transaction

from .actors import Role, UserStatus
from .context import Context
from .errors import BadInput, Forbidden, NotFound

__all__ = ["Access", "Input", "Operation", "Registry", "REGISTRY", "validation_problem"]

InputT = TypeVar("InputT", bound=BaseModel)


class Input(BaseModel):
    """Base for operation inputs: unknown fields are refused, strings are bounded."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000, str_strip_whitespace=True)


class Access(Enum):
    PUBLIC = "public"  # anyone, signed in or not
    USER = "user"  # any signed-in, active user
    WRITE = "write"  # a signed-in user who is not frozen
    SYSTEM = "system"  # internal (periodic work): only a system context; unknown to everyone else


@dataclass(frozen=True)
class Operation:
    name: str
    input: type[BaseModel]
    run: Callable[[Context, Any], Awaitable[Any]]
    access: Access
    role: Role | None
    summary: str
    writes: bool
    own_transaction: bool = False  # the operation opens its own transaction(s) (hot paths)


class Registry:
    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def operation(
        self,
        name: str,
        input: type[InputT],
        *,
        access: Access = Access.WRITE,
        role: Role | None = None,
        summary: str = "",
        writes: bool | None = None,
        own_transaction: bool = False,
    ) -> Callable[[Callable[[Context, InputT], Awaitable[Any]]], Callable[[Context, InputT], Awaitable[Any]]]:
        """Register `run(ctx, params)` under `name`; a name may be registered once."""

        def register(run: Callable[[Context, InputT], Awaitable[Any]]) -> Callable[[Context, InputT], Awaitable[Any]]:
            if name in self._operations:
                raise ValueError(f"operation {name!r} is registered twice")
            doc = (run.__doc__ or "").strip().splitlines()
            self._operations[name] = Operation(
                name=name,
                input=input,
                run=run,
                access=access,
                role=role,
                summary=summary or (doc[0] if doc else name),
                writes=(access is Access.WRITE) if writes is None else writes,
                own_transaction=own_transaction,
            )
            return run

        return register

    def __contains__(self, name: str) -> bool:
        return name in self._operations

    def get(self, name: str) -> Operation:
        try:
            return self._operations[name]
        except KeyError:
            raise NotFound(f"there is no operation named {name!r}", code="unknown-operation") from None

    def all(self) -> list[Operation]:
        return sorted(self._operations.values(), key=lambda op: op.name)

    def parse(self, name: str, raw: dict[str, Any], ctx: Context | None = None) -> Any:
        """Validate raw input for an operation; BadInput lists every field error.

        The caller's site is the validation context: inputs read instance limits from it
        (page sizes, models/paging.py).
        """
        operation = self.get(name)
        try:
            return operation.input.model_validate(raw, context={"site": ctx.site} if ctx is not None else None)
        except ValidationError as error:
            raise validation_problem(error) from None

    def authorize(self, ctx: Context, operation: Operation) -> None:
        if operation.access is Access.PUBLIC or ctx.system:
            return
        if operation.access is Access.SYSTEM:
            raise NotFound(f"there is no operation named {operation.name!r}", code="unknown-operation")
        user = ctx.require_user()
        if operation.access is Access.WRITE and user.status == UserStatus.FROZEN.value:
            raise Forbidden("this account is frozen and cannot change anything", code="account-frozen")
        if operation.role is not None:
            ctx.require_role(operation.role)

    async def call(self, ctx: Context, name: str, raw: dict[str, Any]) -> Any:
        operation = self.get(name)
        self.authorize(ctx, operation)
        params = self.parse(name, raw, ctx)
        try:
            if not operation.writes or operation.own_transaction:
                return await operation.run(ctx, params)
            async with in_transaction():
                return await operation.run(ctx, params)
        except OrmValidationError as error:
            # A value the columns cannot hold (e.g. an over-long id in a lookup) is bad input.
            raise BadInput(f"a value does not fit: {error}", code="invalid-value") from None


def validation_problem(error: ValidationError) -> BadInput:
    fields = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        fields.append({"field": location, "message": item["msg"], "type": item["type"]})
    summary = "; ".join(f"{entry['field']}: {entry['message']}" for entry in fields[:5])
    return BadInput(f"the input is not valid: {summary}", code="validation-failed", errors=fields)


REGISTRY = Registry()
