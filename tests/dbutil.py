"""Fresh, migrated databases for tests: SQLite files or PostgreSQL databases from a template.

Set TALLYSTICK_DATABASE_URL=postgres://user:pass@host:port/db to run the suite on PostgreSQL;
the given database is only used to connect: each test gets its own database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from server.database import run_migrations
from server.settings import Settings, load_settings

__all__ = ["BASE_URL", "is_postgres", "TemplateDatabase", "empty_database"]

BASE_URL = os.environ.get("TALLYSTICK_DATABASE_URL", "")


def is_postgres() -> bool:
    return BASE_URL.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


async def _admin_execute(sql: str) -> None:
    import asyncpg

    parts = urlsplit(BASE_URL)
    connection = await asyncpg.connect(_with_database(BASE_URL, "postgres").replace(parts.scheme + "://", "postgresql://", 1))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _drop_database(name: str) -> None:
    """DROP ... WITH (FORCE), or, when an autovacuum worker is in that database (a non-superuser
    may not terminate it: "must be a member of the role whose process is being terminated"),
    end our own sessions and use a plain DROP, which stops autovacuum by itself."""
    import asyncpg

    try:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except asyncpg.InsufficientPrivilegeError:
        await _admin_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{name}' AND usename = current_user AND pid <> pg_backend_pid()"
        )
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}"')


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

    def new_database(self, data_dir: Path) -> str:
        if is_postgres():
            name = f"ts_{uuid.uuid4().hex[:12]}"
            asyncio.run(_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
            return _with_database(BASE_URL, name)
        target = data_dir / "tallystick.sqlite3"
        shutil.copyfile(self.root / "template.sqlite3", target)
        return f"sqlite://{target}"

    def drop(self, url: str) -> None:
        if is_postgres():
            asyncio.run(_drop_database(urlsplit(url).path.lstrip("/")))

    def close(self) -> None:
        if is_postgres():
            asyncio.run(_drop_database(self.name))
