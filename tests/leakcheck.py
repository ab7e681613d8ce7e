"""Opt-in diagnostics for SQLite connections that outlive their test (not loaded by default).

    python -m pytest -p tests.leakcheck tests/...

aiosqlite runs each connection on its own thread. A connection that is never closed is
stopped from `__del__` whenever the garbage collector gets to it, often in a later test whose
event loop is already closed; its thread then fails with "Event loop is closed" and pytest
reports PytestUnhandledThreadExceptionWarning under whichever test was running. This plugin
names the test that opened such a connection:

- LEAK: a connection deleted without being closed (where it was opened, with the stack);
- THREAD-ERROR: an exception escaping a connection's worker thread;
- LOOP-SWITCH: tortoise replacing a connection made on another event loop (the replaced one is
  not closed: tortoise-orm issue 2240);
- OPEN-AT-END: connections still open when the session ends.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from typing import Any

import aiosqlite.core as _aiosqlite
from tortoise.backends.base import client as _client

_init = _aiosqlite.Connection.__init__
_del = _aiosqlite.Connection.__del__
_worker = _aiosqlite._connection_worker_thread
_check_loop = _client.BaseDBAsyncClient._check_loop


def _test() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)")


def _report(line: str) -> None:
    sys.stderr.write(f"\nleakcheck {line}\n")


def _tracked_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    self._leakcheck = (_test(), "".join(traceback.format_stack(limit=16)[:-1]))


def _tracked_del(self: Any) -> None:
    if self._connection is not None:
        made_in, stack = getattr(self, "_leakcheck", ("?", ""))
        _report(f"LEAK: opened in {made_in}, deleted unclosed during {_test()}\n{stack}")
    _del(self)


def _tracked_worker(tx: Any) -> None:
    try:
        _worker(tx)
    except BaseException as error:
        _report(f"THREAD-ERROR: {error!r} during {_test()}")
        raise


def _tracked_check_loop(self: Any) -> bool:
    same = _check_loop(self)
    if not same:
        _report(f"LOOP-SWITCH: {type(self).__name__} reconnected on a new event loop during {_test()}")
    return same


_aiosqlite.Connection.__init__ = _tracked_init  # type: ignore[method-assign]
_aiosqlite.Connection.__del__ = _tracked_del  # type: ignore[method-assign]
_aiosqlite._connection_worker_thread = _tracked_worker
_client.BaseDBAsyncClient._check_loop = _tracked_check_loop  # type: ignore[method-assign]


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    gc.collect()
    still_open = [item for item in gc.get_objects() if isinstance(item, _aiosqlite.Connection) and item._connection is not None]
    for connection in still_open:
        made_in, stack = getattr(connection, "_leakcheck", ("?", ""))
        _report(f"OPEN-AT-END: opened in {made_in}\n{stack}")
    _report(f"OPEN-AT-END: {len(still_open)} connection(s)")
