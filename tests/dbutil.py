"""Fresh, migrated databases for tests: SQLite files or PostgreSQL databases from a template.

Set TALLYSTICK_DATABASE_URL=postgres://user:pass@host:port/db to run the suite on PostgreSQL;
the given database is only used to connect: each test gets its own database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from server.database import run_migrations
from server.settings import Settings, load_settings

__all__ = ["BASE_URL", "is_postgres", "TemplateDatabase", "empty_database"]

BASE_URL = os.environ.get("TALLYSTICK_DATABASE_URL", "")
# PostgreSQL copies of the template made ahead on a thread (see _DatabaseMaker); 0 makes each
# one when a test asks, as before (to compare, or to rule the thread out when debugging).
DATABASES_AHEAD = int(os.environ.get("TEST_DATABASES_AHEAD", "2"))


def is_postgres() -> bool:
    return BASE_URL.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


async def _admin_connect() -> Any:
    import asyncpg

    parts = urlsplit(BASE_URL)
    return await asyncpg.connect(_with_database(BASE_URL, "postgres").replace(parts.scheme + "://", "postgresql://", 1))


async def _admin_execute(sql: str, connection: Any = None) -> None:
    """Run one statement on the maintenance database (on `connection` when given)."""
    if connection is not None:
        await connection.execute(sql)
        return
    connection = await _admin_connect()
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _drop_database(name: str, connection: Any = None) -> None:
    """DROP ... WITH (FORCE), or, when an autovacuum worker is in that database (a non-superuser
    may not terminate it: "must be a member of the role whose process is being terminated"),
    end our own sessions and use a plain DROP, which stops autovacuum by itself."""
    import asyncpg

    try:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', connection)
    except asyncpg.InsufficientPrivilegeError:
        await _admin_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{name}' AND usename = current_user AND pid <> pg_backend_pid()",
            connection,
        )
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}"', connection)


class _DatabaseMaker:
    """Copies of the template made ahead, and dropped behind, on a thread of its own.

    CREATE DATABASE ... TEMPLATE and DROP DATABASE cost a test ~0.1 s on an idle server (several
    times that on a busy one), all spent waiting on PostgreSQL. Here they run while the tests
    run: a test takes a copy that is already there, and its drop goes on after it. Every test
    still gets a database nobody used before; only the waiting moves off the tests' path.
    """

    def __init__(self, template: str, ahead: int) -> None:
        self.template = template
        # Made here, used only on the thread's loop (asyncio binds them to a loop at first use).
        self.lock = asyncio.Lock()  # one statement at a time on the admin connection
        self.ready: asyncio.Queue[str | Exception] = asyncio.Queue()
        self.room = asyncio.Semaphore(ahead)  # copies that may be made before a test takes one
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-databases", daemon=True)
        self.thread.start()
        self.drops: list[Future[None]] = []
        self.closing = False
        self.failure: Exception | None = None
        self.filler = self._call(self._start())

    def _call(self, work: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    async def _start(self) -> None:
        async with self.lock:
            self.connection = await _admin_connect()
        while True:
            await self.room.acquire()
            if self.closing:
                return
            name = f"ts_{uuid.uuid4().hex[:12]}"
            try:
                async with self.lock:
                    await self.connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            except Exception as error:  # the tests that ask from now on fail with it
                self.failure = error
                self.ready.put_nowait(error)
                return
            self.ready.put_nowait(name)

    async def _take(self) -> str:
        if self.failure is not None and self.ready.empty():
            raise self.failure
        item = await self.ready.get()
        self.room.release()
        if isinstance(item, Exception):
            raise item
        return item

    async def _drop(self, name: str) -> None:
        async with self.lock:
            await _drop_database(name, self.connection)

    def take(self) -> str:
        """The name of a fresh copy of the template (waits for one if none is ready)."""
        if self.filler.done():  # it stopped on an error, or was never started: say why
            self.filler.result()
        return self._call(self._take()).result()  # type: ignore[no-any-return]

    def drop(self, name: str) -> None:
        self.drops.append(self._call(self._drop(name)))

    async def _close(self) -> None:
        self.closing = True
        self.room.release()  # a filler waiting for room wakes up, sees `closing` and returns
        await asyncio.gather(asyncio.wrap_future(self.filler), return_exceptions=True)  # after its CREATE
        while not self.ready.empty():
            name = self.ready.get_nowait()
            if isinstance(name, str):
                await self._drop(name)
        if hasattr(self, "connection"):
            await self.connection.close()

    def close(self) -> None:
        """Wait for every drop, drop the copies made ahead, and stop the thread."""
        failures = [drop.exception() for drop in self.drops]
        try:
            self._call(self._close()).result()
            for failure in failures:
                if failure is not None:
                    raise failure
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


@contextmanager
def empty_database(data_dir: Path) -> Iterator[str]:
    """A database with no tables at all (for upgrade tests that migrate step by step)."""
    if not is_postgres():
        yield f"sqlite://{data_dir / 'empty.sqlite3'}"
        return
    name = f"ts_up_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(BASE_URL, name)
    finally:
        asyncio.run(_drop_database(name))


def test_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("TALLYSTICK_")}
    overrides.setdefault("secret_key", "test-secret")
    return load_settings(environ, data_dir=str(data_dir), database_url=database_url, **overrides)


class TemplateDatabase:
    """Migrate once per session; hand each test a copy (file copy or CREATE DATABASE TEMPLATE)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"ts_tmpl_{uuid.uuid4().hex[:10]}"
        if is_postgres():
            asyncio.run(_admin_execute(f'CREATE DATABASE "{self.name}"'))
            url = _with_database(BASE_URL, self.name)
        else:
            url = f"sqlite://{root / 'template.sqlite3'}"
        asyncio.run(run_migrations(test_settings(root, url)))
        self.maker: _DatabaseMaker | None = None
        if is_postgres() and DATABASES_AHEAD > 0:
            self.maker = _DatabaseMaker(self.name, DATABASES_AHEAD)

    def new_database(self, data_dir: Path) -> str:
        if self.maker is not None:
            return _with_database(BASE_URL, self.maker.take())
        if is_postgres():
            name = f"ts_{uuid.uuid4().hex[:12]}"
            asyncio.run(_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
            return _with_database(BASE_URL, name)
        target = data_dir / "tallystick.sqlite3"
        shutil.copyfile(self.root / "template.sqlite3", target)
        return f"sqlite://{target}"

    def drop(self, url: str) -> None:
        if self.maker is not None:
            self.maker.drop(urlsplit(url).path.lstrip("/"))
        elif is_postgres():
            asyncio.run(_drop_database(urlsplit(url).path.lstrip("/")))

    def close(self) -> None:
        if self.maker is not None:
            self.maker.close()
        if is_postgres():
            asyncio.run(_drop_database(self.name))
