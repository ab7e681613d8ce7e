"""Per-event-loop state: `PerLoop` values and the time-limited `LoopMemo` of database answers.

State that holds futures or memoised rows must not cross event loops (each test runs its own);
the remote actor cache, the domain states and the verification memo are built on these.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["LoopMemo", "PerLoop"]


T = TypeVar("T")


class PerLoop(Generic[T]):
    """One value per running event loop, made by `factory` on first use there.

    State that holds futures or memoised rows must not cross loops: each test runs its own, and
    a process runs one. The last loop's value is kept at hand (a weak-dictionary lookup was 8%
    of an inbox POST).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], T] | None = None

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:  # the usual case
            return last[1]
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._factory()
        self._last = (weakref.ref(loop), value)
        return value


class LoopMemo:
    """A small per-event-loop, time-limited memo of database answers read on every inbox POST.

    Each process (and each test, with its own loop) keeps its own; entries expire after `ttl`
    seconds, so a change made by another process is seen within that time.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._maps: PerLoop[dict[str, tuple[float, Any]]] = PerLoop(dict)

    def _map(self) -> dict[str, tuple[float, Any]]:
        return self._maps.get()

    def get(self, key: str) -> Any:
        entry = self._map().get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: Any) -> None:
        memo = self._map()
        if len(memo) > 10_000:
            memo.clear()
        memo[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._map().clear()
        else:
            self._map().pop(key, None)
