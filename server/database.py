"""Open, migrate and close the database with tortoise's built-in migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from asyncpg.exceptions import InvalidAuthorizationSpecificationError, InvalidCatalogNameError
from tortoise import Tortoise, connections
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError
from tortoise.migrations.api import migrate

from models.db import tortoise_config

from .settings import Settings

__all__ = ["DatabaseUnavailable", "open_database", "close_database", "run_migrations", "shown_url"]

T = TypeVar("T")

# What a database that is down, missing or refusing us raises while connecting.
_CONNECT_ERRORS = (OSError, DBConnectionError, InvalidAuthorizationSpecificationError, InvalidCatalogNameError)


class DatabaseUnavailable(Exception):
    """The database (or the data dir that holds it) cannot be opened; the message says why."""


def shown_url(url: str) -> str:
    """The database URL without its password and query, for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_sqlite_file(config: dict[str, Any]) -> None:
    """Open the SQLite file once, synchronously, before tortoise does.

    Tortoise takes a client's lock before connecting and does not release it when the connect
    fails, so a file that cannot be opened (a missing directory) made `migrate` wait on that
    lock forever, printing nothing. Checking here turns that into a one-line error.
    """
    path = config["connections"]["default"]["credentials"]["file_path"]
    if path == ":memory:":
        return
    try:
        sqlite3.connect(path).close()
    except sqlite3.Error as error:
        where = Path(path).parent
        reason = "its directory does not exist" if not where.is_dir() else str(error)
        raise DatabaseUnavailable(f"cannot open the SQLite database {path}: {reason}") from None


def _config(settings: Settings) -> dict[str, Any]:
    if settings.is_sqlite:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUnavailable(f"cannot create the data dir {settings.data_dir}: {error.strerror}") from None
    database = settings.database
    config = tortoise_config(settings.resolved_database_url, max_connections=database.max_connections,
                             sqlite_synchronous=database.sqlite_synchronous)
    if settings.is_sqlite:
        _check_sqlite_file(config)
    return config


async def _connecting(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    try:
        return await work()
    except _CONNECT_ERRORS as error:
        errno = getattr(error, "errno", None)
        reason = (os.strerror(errno) if isinstance(errno, int) else str(error).strip()) or type(error).__name__
        raise DatabaseUnavailable(f"cannot connect to the database {shown_url(settings.resolved_database_url)}: {reason}") from None


async def run_migrations(settings: Settings, target: str | None = None) -> None:
    """Apply every pending migration (or those up to `target`, "app.name"), then release the
    connections it opened."""
    config = _config(settings)
    try:
        await _connecting(settings, lambda: migrate(config=config, target=target))
    finally:
        await Tortoise.close_connections()


async def open_database(settings: Settings) -> TortoiseContext:
    """Open the connections; keep the returned context to close exactly these later.

    Tortoise keeps its state in a ContextVar: code running in another context (aiohttp's
    cleanup, a test fixture's teardown) must close through this object, or an aiosqlite
    thread stays alive and the interpreter never exits.
    """
    config = _config(settings)
    orm = await Tortoise.init(config=config)
    try:
        # Tortoise connects lazily: connect now, so a database that is down stops start-up
        # with one clear line instead of failing the first request.
        await _connecting(settings, lambda: connections.get("default").execute_query("SELECT 1"))
    except DatabaseUnavailable:
        await orm.close_connections()
        raise
    return orm


async def close_database(orm: TortoiseContext | None = None) -> None:
    if orm is not None:
        await orm.close_connections()
    else:
        await Tortoise.close_connections()
