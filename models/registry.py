"""The operation registry: the one dispatch point for every public action.

HTTP routes, jobs, the inbox and pages call `REGISTRY.call(ctx, name, raw_input)`. The
registry validates input with the operation's pydantic model, checks the declared
permission, and runs the operation as its `transaction` says.

Two declarations, one meaning each:
- `effect` is what an operation does (read, write, or relinquish: take back the caller's own
  access). It decides the OAuth scope a token needs (models/oauth.py `required_scope`; admin:*
  comes from the role) and whether a frozen account may call it.
- `transaction` is how its transaction is run: by the registry, by the operation itself, or
  none at all (reads, and operations that await network I/O and must hold no transaction).

Every operation also declares its `output`: the pydantic model of what it answers (OpenAPI's
response schema comes from it), `Paged[Model]` for a page of a list, `Rendered` or `FileResult`
for a document or a file, and None for an operation that answers no body (HTTP 204).
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
from .results import FileResult, Rendered

__all__ = [
    "Access",
    "Effect",
    "Input",
    "Operation",
    "OutputSpec",
    "Registry",
    "REGISTRY",
    "Transaction",
    "UNDECLARED",
    "validation_problem",
]

InputT = TypeVar("InputT", bound=BaseModel)


class Input(BaseModel):
    """Base for operation inputs: unknown fields are refused, strings are bounded."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000, str_strip_whitespace=True)


class Access(Enum):
    """Who may call an operation (what it does is its `Effect`)."""

    PUBLIC = "public"  # anyone, signed in or not
    USER = "user"  # any signed-in user; by default the operation only reads
    WRITE = "write"  # any signed-in user; the operation writes (the default access)
    SYSTEM = "system"  # internal (periodic work): only a system context; unknown to everyone else


class Effect(Enum):
    """What an operation does: it drives the OAuth scope and the frozen-account check."""

    READ = "read"  # changes nothing of anyone's: scope read; frozen accounts may call it
    WRITE = "write"  # changes state here or elsewhere (federates, fetches to store): scope write; not when frozen
    # only takes back the caller's own access (sign out, an app's access): scope write, and a
    # frozen account may still do it, since it can only shrink what the account exposes
    RELINQUISH = "relinquish"


class Transaction(Enum):
    """How an operation's transaction is run (nothing to do with its scope)."""

    REGISTRY = "registry"  # the registry (or a job, with the job's result) runs it in one transaction
    OWN = "own"  # it opens its own (hot paths); may still be nested in a job's transaction
    NONE = "none"  # never wrapped: reads, and work that awaits network I/O between short transactions


class _Undeclared:
    """The output of an operation registered without one (tests/test_openapi.py refuses it)."""

    def __repr__(self) -> str:
        return "UNDECLARED"


UNDECLARED = _Undeclared()

# What an operation answers: a pydantic model (JSON), a rendered document, a file, or nothing (204).
OutputSpec = type[BaseModel] | type[Rendered] | type[FileResult] | None


@dataclass(frozen=True)
class Operation:
    name: str
    input: type[BaseModel]
    run: Callable[[Context, Any], Awaitable[Any]]
    access: Access
    role: Role | None
    summary: str
    effect: Effect
    transaction: Transaction
    output: OutputSpec | _Undeclared = UNDECLARED


class Registry:
    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def operation(
        self,
        name: str,
        input: type[InputT],
        *,
        output: OutputSpec | _Undeclared = UNDECLARED,
        access: Access = Access.WRITE,
        role: Role | None = None,
        summary: str = "",
        effect: Effect | None = None,
        transaction: Transaction | None = None,
    ) -> Callable[[Callable[[Context, InputT], Awaitable[Any]]], Callable[[Context, InputT], Awaitable[Any]]]:
        """Register `run(ctx, params)` under `name`; a name may be registered once.

        `output` is what it answers (see the module docstring); None means no body (204).

        Defaults: Access.WRITE and Access.SYSTEM operations write, PUBLIC and USER ones read;
        a writing operation runs in the registry's transaction, a reading one in none. An
        operation that writes but manages its own transactions says so with `transaction`,
        and its effect stays WRITE (so a read-scope token or a frozen account cannot call it).
        """
        effect = effect or (Effect.WRITE if access in (Access.WRITE, Access.SYSTEM) else Effect.READ)
        if access is Access.WRITE and effect is Effect.READ:
            raise ValueError(f"operation {name!r}: Access.WRITE operations write; use Access.USER for a read")
        transaction = transaction or (Transaction.NONE if effect is Effect.READ else Transaction.REGISTRY)

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
                effect=effect,
                transaction=transaction,
                output=output,
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
        if operation.effect is Effect.WRITE and user.status == UserStatus.FROZEN.value:
            raise Forbidden("this account is frozen and cannot change anything", code="account-frozen")
        if operation.role is not None:
            ctx.require_role(operation.role)

    async def call(self, ctx: Context, name: str, raw: dict[str, Any]) -> Any:
        operation = self.get(name)
        self.authorize(ctx, operation)
        params = self.parse(name, raw, ctx)
        try:
            if operation.transaction is not Transaction.REGISTRY:
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
