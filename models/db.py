"""Tortoise configuration: one app, our table modules, built-in migrations."""

from __future__ import annotations

import os
from typing import Any

from .base import APP

__all__ = ["TABLE_MODULES", "tortoise_config", "TORTOISE_ORM"]

TABLE_MODULES = [
    "models.actors", "models.tokens", "models.ledger", "models.sets", "models.events", "models.jobs", "models.federation",
    "models.webhooks", "models.oauth", "models.exports",
    "models.agents",
]


def tortoise_config(database_url: str, *, max_connections: int = 10) -> dict[str, Any]:
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("postgres") and "maxsize=" not in url:
        url += ("&" if "?" in url else "?") + f"minsize=1&maxsize={max_connections}"
    if url.startswith("sqlite") and "journal_mode" not in url:
        # WAL lets readers in other processes proceed during a write; busy_timeout waits for locks.
        url += ("&" if "?" in url else "?") + "journal_mode=WAL&busy_timeout=10000"
    return {
        "connections": {"default": url},
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
