"""Open, migrate and close the database with tortoise's built-in migrations."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate

from models.db import tortoise_config

from .settings import Settings

__all__ = ["open_database", "close_database", "run_migrations"]


def _config(settings: Settings) -> dict:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = settings.database
    return tortoise_config(settings.resolved_database_url, max_connections=database.max_connections,
                           sqlite_synchronous=database.sqlite_synchronous)


async def run_migrations(settings: Settings, target: str | None = None) -> None:
    """Apply every pending migration (or those up to `target`, "app.name"), then release the
    connections it opened."""
    try:
        await migrate(config=_config(settings), target=target)
    finally:
        await Tortoise.close_connections()


async def open_database(settings: Settings) -> TortoiseContext:
    """Open the connections; keep the returned context to close exactly these later.

    Tortoise keeps its state in a ContextVar: code running in another context (aiohttp's
    cleanup, a test fixture's teardown) must close through this object, or an aiosqlite
    thread stays alive and the interpreter never exits.
    """
    return await Tortoise.init(config=_config(settings))


async def close_database(orm: TortoiseContext | None = None) -> None:
    if orm is not None:
        await orm.close_connections()
    else:
        await Tortoise.close_connections()
