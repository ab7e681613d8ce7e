"""Declared state machines: the one description of every durable process.

A durable model (a job, a delivery, an inbox activity ...) takes its bookkeeping columns from
`Durable` and is described once by a `Machine`: its states, the moves a handler may make, the
terminal states, where a give-up goes, the retry policy, lease length and attempt limit. The
declaration is checked when it is made, at import, so a handler that names an undeclared move
stops the server at start instead of failing in production.

Handlers return what happens next (`Go`, `Retry`, `GiveUp`); the runner (runner.py) writes the
bookkeeping columns. A handler never touches state, attempts, next_at or the lease itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from tortoise import fields
from tortoise.models import Model

from .backoff import Policy

if TYPE_CHECKING:
    from ..context import Site
    from .runner import Lease

__all__ = [
    "Durable", "EngineError", "Go", "GiveUp", "Machine", "Machines", "MACHINES", "Outcome", "Pump", "Retry",
]

M = TypeVar("M", bound=Model)
T = TypeVar("T")
Tunable: TypeAlias = "T | Callable[[Site], T]"  # a figure, or read from the site's settings


class EngineError(Exception):
    """A machine declared or used against its own declaration: a bug, found at import if possible."""


class Durable(Model):
    """The bookkeeping columns every machine's rows share; only the runner writes them."""

    state = fields.CharField(max_length=16)
    attempts = fields.IntField(default=0)  # tries started (a claim counts one)
    next_at = fields.DatetimeField(null=True)  # not due before this; null means due now
    lease_owner = fields.CharField(max_length=100, null=True)  # who holds the current try
    lease_expires_at = fields.DatetimeField(null=True)  # after this, another runner may take it
    last_error = fields.CharField(max_length=500, null=True)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Go:
    """Move to `state` (a declared move), writing `values` (domain columns) in the same update."""

    state: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Retry:
    """Try again later: after `after` seconds, or the machine's policy (at least `retry_after`)."""

    error: str
    after: float | None = None
    retry_after: float | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GiveUp:
    """Stop for good: to the machine's failed state, or another declared terminal `state`."""

    reason: str
    state: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


Outcome = Go | Retry | GiveUp
# The site comes first (Any: a toy machine in tests runs without one), then the row(s) and the lease.
Handler = Callable[[Any, Any, "Lease"], Awaitable[Outcome]]
BatchHandler = Callable[[Any, list[Any], "Lease"], Awaitable[Mapping[str, Outcome]]]
Hook = Callable[[list[Any], datetime], Awaitable[None]]


@dataclass(frozen=True)
class Pump:
    """Cursor work the runner does each round (events into activities, say); returns work done."""

    name: str
    run: Callable[["Site"], Awaitable[int]]


class Machine(Generic[M]):
    """One durable process: its rows, states, moves, retry policy and handler."""

    def __init__(
        self,
        *,
        name: str,
        model: type[M],
        states: Iterable[str],
        ready: str,
        failed: str,
        transitions: Mapping[str, Iterable[str]],
        terminal: Iterable[str],
        retry: Policy,
        max_attempts: Tunable[int],
        lease_seconds: Tunable[float],
        running: str | None = None,
        manual: Mapping[str, Iterable[str]] | None = None,
        batch: Tunable[int] = 1,
        concurrency: Tunable[int] = 1,
        order: tuple[str, ...] = ("next_at", "id"),
        only: tuple[str, ...] | None = None,
        on_renew: Hook | None = None,
        on_release: Hook | None = None,
        on_reaped: Callable[[Any, bool, datetime], Awaitable[None]] | None = None,
        attempts_column: str | None = None,
        claim_values: Callable[[datetime], Mapping[str, Any]] | None = None,
        prepare: Callable[[Any, list[Any], Lease], Awaitable[None]] | None = None,
        registry: Machines | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.states = frozenset(states)
        self.ready = ready
        self.running = running
        self.failed = failed
        self.terminal = frozenset(terminal)
        self.transitions = {source: frozenset(targets) for source, targets in transitions.items()}
        self.manual = {source: frozenset(targets) for source, targets in (manual or {}).items()}
        self.retry = retry
        self._max_attempts = max_attempts
        self._lease_seconds = lease_seconds
        self._batch = batch
        self._concurrency = concurrency
        self.order = order
        self.only = only
        self.on_renew = on_renew
        self.on_release = on_release
        self.on_reaped = on_reaped  # in the reap's transaction: (row, gave_up, now)
        self.attempts_column = attempts_column  # a column holding each row's own attempt limit
        self.claim_values = claim_values  # domain columns a claim also writes (a job's started_at)
        self.prepare = prepare  # once per claimed batch, before the handler (one write for many rows)
        self.run_one: Handler | None = None
        self.run_batch: BatchHandler | None = None
        self.may: frozenset[str] = frozenset()
        self._check()
        if not issubclass(model, Durable):
            raise EngineError(f"machine {name}: {model.__name__} does not take its columns from Durable")
        (MACHINES if registry is None else registry).add(self)

    # ---------------------------------------------------------------- the declaration's checks

    @property
    def source(self) -> str:
        """The state a handler moves from: running while claimed, if the machine shows it."""
        return self.running or self.ready

    def _check(self) -> None:
        named = {self.ready, self.failed, *self.terminal, *([self.running] if self.running else [])}
        for source, targets in [*self.transitions.items(), *self.manual.items()]:
            named |= {source, *targets}
        unknown = named - self.states
        if unknown:
            raise EngineError(f"machine {self.name}: undeclared state(s) {sorted(unknown)}")
        if self.failed not in self.terminal:
            raise EngineError(f"machine {self.name}: the failed state {self.failed!r} must be terminal")
        if self.ready in self.terminal or (self.running and self.running in self.terminal):
            raise EngineError(f"machine {self.name}: a working state cannot be terminal")
        for state in self.terminal:
            if self.transitions.get(state):
                raise EngineError(
                    f"machine {self.name}: terminal state {state!r} has moves {sorted(self.transitions[state])}"
                    " (only people move rows out of a terminal state: declare those as manual)"
                )
        if self.failed not in self.transitions.get(self.source, frozenset()):
            raise EngineError(f"machine {self.name}: {self.source!r} -> {self.failed!r} must be declared")

    def allows(self, source: str, target: str) -> bool:
        """An automatic move (a handler's outcome, a retry, a reap)."""
        if target == self.ready and source in (self.ready, self.running):
            return True  # a retry, or a reaped / released claim
        return target in self.transitions.get(source, frozenset())

    def allows_manual(self, source: str, target: str) -> bool:
        return target in self.manual.get(source, frozenset())

    def _register(self, may: Iterable[str]) -> frozenset[str]:
        if self.run_one is not None or self.run_batch is not None:
            raise EngineError(f"machine {self.name} has a handler already")
        declared = frozenset(may)
        undeclared = {state for state in declared if not self.allows(self.source, state)}
        if undeclared:
            raise EngineError(
                f"machine {self.name}: the handler may move {self.source!r} to {sorted(undeclared)}, "
                "which is not a declared transition"
            )
        self.may = declared | {self.ready, self.failed}
        return declared

    def handler(self, *, may: Iterable[str]) -> Callable[[Handler], Handler]:
        """Decorate the one-row handler: `@MACHINE.handler(may={"done"})`; the runner renews the lease."""

        def register(function: Handler) -> Handler:
            self._register(may)
            self.run_one = function
            return function

        return register

    def batch_handler(self, *, may: Iterable[str]) -> Callable[[BatchHandler], BatchHandler]:
        """Decorate the batch handler: it gets every claimed row and answers an outcome per row id."""

        def register(function: BatchHandler) -> BatchHandler:
            self._register(may)
            self.run_batch = function
            return function

        return register

    # ---------------------------------------------------------------- settings-dependent figures

    @staticmethod
    def _tuned(value: Tunable[T], site: Site | None) -> T:
        if callable(value):
            if site is None:
                raise EngineError("this machine's figures come from the site's settings: pass a site")
            return value(site)
        return value

    def max_attempts(self, site: Site | None) -> int:
        return self._tuned(self._max_attempts, site)

    def lease_seconds(self, site: Site | None) -> float:
        return self._tuned(self._lease_seconds, site)

    def batch(self, site: Site | None) -> int:
        return self._tuned(self._batch, site)

    def concurrency(self, site: Site | None) -> int:
        return self._tuned(self._concurrency, site)

    def check_outcome(self, outcome: Outcome) -> str:
        """The state an outcome leads to, refused when the handler did not declare it."""
        if isinstance(outcome, Go):
            target = outcome.state
        elif isinstance(outcome, GiveUp):
            target = outcome.state or self.failed
            if target not in self.terminal:
                raise EngineError(f"machine {self.name}: give up to non-terminal {target!r}")
        elif isinstance(outcome, Retry):
            target = self.ready
        else:
            raise EngineError(f"machine {self.name}: {outcome!r} is not an outcome")
        if target not in self.may:
            raise EngineError(f"machine {self.name}: the handler did not declare the move to {target!r}")
        return target

    def __repr__(self) -> str:
        return f"Machine({self.name})"


class Machines:
    """Every declared machine and pump, and who to wake when one has new work."""

    def __init__(self) -> None:
        self._machines: dict[str, Machine[Any]] = {}
        self.pumps: dict[str, Pump] = {}
        self._listeners: set[Callable[[str | None], None]] = set()

    def add(self, machine: Machine[Any]) -> None:
        if machine.name in self._machines:
            raise EngineError(f"machine {machine.name} is declared twice")
        self._machines[machine.name] = machine

    def pump(self, name: str) -> Callable[[Callable[[Site], Awaitable[int]]], Callable[[Site], Awaitable[int]]]:
        """Declare cursor work the runner does each round: `@MACHINES.pump("federation.outbox")`."""

        def register(function: Callable[[Site], Awaitable[int]]) -> Callable[[Site], Awaitable[int]]:
            if name in self.pumps:
                raise EngineError(f"pump {name} is declared twice")
            self.pumps[name] = Pump(name, function)
            return function

        return register

    def get(self, name: str) -> Machine[Any]:
        return self._machines[name]

    def __iter__(self) -> Iterator[Machine[Any]]:
        return iter(list(self._machines.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._machines

    def listen(self, listener: Callable[[str | None], None]) -> None:
        self._listeners.add(listener)

    def unlisten(self, listener: Callable[[str | None], None]) -> None:
        self._listeners.discard(listener)

    def wake(self, name: str | None = None) -> None:
        """New work for machine `name` (None: any): runners in this process skip their poll wait."""
        for listener in list(self._listeners):
            listener(name)


MACHINES = Machines()
