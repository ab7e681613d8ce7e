"""A real HTTP server on 127.0.0.1 for one test: the routes a test gives it, every request recorded.

The one way tests stand up a peer (a remote ActivityPub server, a WebFinger host, a webhook
receiver): `async with Loopback() as peer` in async tests, `with peer.in_thread()` in sync tests
that drive real server processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from aiohttp import web

__all__ = ["Handler", "Loopback"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Loopback:
    """An aiohttp app on a free 127.0.0.1 port; `requests` holds what its routes were sent, in order."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[dict[str, Any]] = []
        self.app = web.Application(middlewares=[self._record])
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None:  # no route: not recorded (answered 404/405)
            return await handler(request)
        body = await request.read()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        self.requests.append({"method": request.method, "path": request.path_qs, "headers": dict(request.headers),
                              "body": body, "json": parsed})
        return await handler(request)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Loopback:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextmanager
    def in_thread(self) -> Iterator[Loopback]:
        """Serve from an event loop on its own thread, for tests that block (on processes)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="loopback", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(30)
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()
