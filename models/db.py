"""Tortoise configuration: one app, our table modules, built-in migrations."""

from __future__ import annotations

import os
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

from .base import APP

__all__ = ["TABLE_MODULES", "tortoise_config", "TORTOISE_ORM"]

TABLE_MODULES = [
    "models.actors", "models.tokens", "models.ledger", "models.sets", "models.events", "models.jobs", "models.federation",
    "models.webhooks", "models.job_callbacks", "models.oauth", "models.exports",
    "models.agents", "models.delegations", "models.market", "models.pools", "models.contracts", "models.watchers",
    "models.moderation", "models.organizations", "models.stores", "models.identities", "models.networks",
    "models.allocations", "models.mail", "models.email_links", "models.boards", "models.login_throttle",
    "models.promotions",
]


def _sqlite_engine(url: str) -> dict[str, Any]:
    """Tortoise's settings for the URL, on our SQLite client (write transactions in several processes)."""
    expanded = expand_db_url(url)
    return {**expanded, "engine": "models.sqlite_engine"}


def _postgres_engine(url: str) -> dict[str, Any]:
    """Tortoise's settings for the URL, on our asyncpg client (a cancelled BEGIN frees its connection)."""
    expanded = expand_db_url(url)
    return {**expanded, "engine": "models.postgres_engine"}


def tortoise_config(database_url: str, *, max_connections: int = 10, sqlite_synchronous: str = "full") -> dict[str, Any]:
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("postgres") and "maxsize=" not in url:
        url += ("&" if "?" in url else "?") + f"minsize=1&maxsize={max_connections}"
    if url.startswith("sqlite") and "journal_mode" not in url:
        # WAL lets readers in other processes proceed during a write; busy_timeout waits for locks.
        url += ("&" if "?" in url else "?") + "journal_mode=WAL&busy_timeout=10000"
    if url.startswith("sqlite") and "synchronous=" not in url:
        # An fsync per commit ("full") or only at checkpoints ("normal"): DatabaseSettings says which.
        url += ("&" if "?" in url else "?") + f"synchronous={sqlite_synchronous.upper()}"
    return {
        "connections": {"default": _sqlite_engine(url) if url.startswith("sqlite") else _postgres_engine(url)},
        "apps": {
            APP: {
                "models": TABLE_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For `tortoise makemigrations` (developers only).
TORTOISE_ORM = tortoise_config(os.environ.get("TALLYSTICK_DATABASE_URL", "sqlite://:memory:"))
